//! Command-line interface: clap definitions and dispatch. Printing errors and choosing the exit
//! code happens here and nowhere else.

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "firedrill",
    version,
    about = "Build a lab of libvirt VMs, run a real service on it, and break it on purpose"
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Send open-loop traffic to the lab's service and show, second by second, what a user feels
    Client(crate::client::ClientArgs),
}

pub(crate) fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode, crate::error::Error> {
    match cli.command {
        Command::Client(args) => Ok(if crate::client::run(&args)? {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        }),
    }
}
