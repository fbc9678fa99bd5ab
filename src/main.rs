//! firedrill: build a lab of libvirt VMs from YAML, configure a real service, break it on purpose.

mod cli;
mod error;
#[cfg(test)]
mod golden;
mod host;
mod hypervisor;
mod lab;
mod image;
mod paths;
mod plan;
mod progress;
mod remote;
mod roles;
mod spec;
mod ssh;
mod state;
mod seed;

fn main() -> std::process::ExitCode {
    cli::main()
}
