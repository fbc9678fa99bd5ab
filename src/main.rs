//! firedrill: build a lab of libvirt VMs from YAML, configure a real service, break it on purpose.

mod cli;
mod client;
mod error;
mod events;
mod paths;
mod remote;

fn main() -> std::process::ExitCode {
    cli::main()
}
