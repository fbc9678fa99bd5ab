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
    /// Build, list and remove golden images (`image build` needs root).
    Image {
        #[command(subcommand)]
        command: crate::image::command::ImageCommand,
    },
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
    let home = crate::paths::Home::from_env();
    match cli.command {
        Command::Image { command } => crate::image::command::run(command, &home)?,
    }
    Ok(ExitCode::SUCCESS)
}
