//! Command-line interface: clap definitions and dispatch. Printing errors and choosing the exit
//! code happens here and nowhere else.

use crate::error::Error;
use crate::host::HostFacts;
use crate::spec::{self, Problem, Severity};
use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};
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
    /// Check a lab file against itself and this host, and print every problem. Creates nothing.
    Validate {
        /// The lab file, e.g. labs/minimal.yaml
        lab: PathBuf,
        /// Accept more guest memory than the host has, as `up --force` does
        #[arg(long)]
        force: bool,
    },
}

pub(crate) fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(Error::Spec(problems)) => {
            print_problems(&problems.0);
            ExitCode::from(Error::Spec(problems).exit_code())
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode, Error> {
    match cli.command {
        Command::Validate { lab, force } => validate(&lab, force),
    }
}

fn validate(lab: &Path, force: bool) -> Result<ExitCode, Error> {
    let host = HostFacts::local()?;
    let (valid, warnings) = spec::check(lab, &host, force).map_err(Error::Spec)?;
    print_problems(&warnings);
    print!("{valid}");
    Ok(ExitCode::SUCCESS)
}

/// Each problem with its severity in front, then a count, on stderr.
fn print_problems(problems: &[Problem]) {
    let errors = problems.iter().filter(|p| p.is_error()).count();
    let warnings = problems.len() - errors;
    for p in problems {
        match p.severity {
            Severity::Error => eprintln!("error: {p}"),
            Severity::Warning => eprintln!("warning: {p}"),
        }
    }
    if errors > 0 {
        eprintln!(
            "{} and {}: fix the errors and run `firedrill validate` again",
            plural(errors, "error"),
            plural(warnings, "warning")
        );
    }
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}
