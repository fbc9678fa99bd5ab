//! firedrill: build a lab of libvirt VMs from YAML, configure a real service, break it on purpose.

mod cli;
mod error;
mod paths;
mod remote;
mod roles;

fn main() -> std::process::ExitCode {
    cli::main()
}
