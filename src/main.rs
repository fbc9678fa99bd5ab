//! firedrill: build a lab of libvirt VMs from YAML, configure a real service, break it on purpose.

mod builtin;
mod cli;
mod client;
mod color;
mod doctor;
mod error;
mod events;
mod export;
mod faults;
mod fsutil;
#[cfg(test)]
mod golden;
mod host;
mod hypervisor;
mod image;
mod jsonl;
mod lab;
mod levels;
mod manpage;
mod paths;
mod plan;
mod progress;
mod remote;
mod report_html;
mod roles;
mod seed;
mod spec;
mod ssh;
mod state;
mod topology;

fn main() -> std::process::ExitCode {
    cli::main()
}
