//! firedrill: build a lab of libvirt VMs from YAML, configure a real service, break it on purpose.

mod cli;
mod error;
mod image;
mod paths;
mod remote;
mod seed;

fn main() -> std::process::ExitCode {
    cli::main()
}
