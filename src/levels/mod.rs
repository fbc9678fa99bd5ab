//! Incident levels: a lab, hidden faults, a pager-style briefing, checks a program can run
//! (objectives and guards), tiered hints, a score and an incident report.
//!
//! - `level.rs`, `load.rs`, `validate.rs`: the level file (types, parsing, checks), reusing the
//!   span-keeping YAML tree and problem reporting of `spec`, so a level file gets the same
//!   `file:line:column: path: message` errors as a lab file;
//! - `evaluate.rs`: objectives and guards against the nodes (`lab::Nodes`) and the mock client's
//!   report (`client_report.rs`);
//! - `score.rs`, `incident.rs`: the score and the Markdown incident report, both pure;
//! - `play.rs`, `finish.rs`, `client_proc.rs`, `health.rs`: the commands and their side
//!   effects. Faults are applied and reverted in-process through `faults::apply` and
//!   `faults::revert` (recorded, verified and rolled back there); the mock client is a separate
//!   process because it must outlive the command.

mod change_report;
mod client_proc;
pub(crate) mod client_report;
mod commands;
mod error;
mod evaluate;
mod finish;
pub(crate) mod gm;
mod health;
mod incident;
mod ledger_check;
mod level;
mod load;
mod load_checks;
pub(crate) mod page;
mod play;
mod play_state;
mod score;
mod sources;
mod timeline;
mod validate;

#[cfg(test)]
mod exercise_tests;
/// The Level CI's rule that a fault is felt; tests/level_ci.rs compiles it by path, so
/// firedrill itself only tests it.
#[cfg(test)]
mod felt;
#[cfg(test)]
mod felt_tests;
#[cfg(test)]
mod load_tests;
#[cfg(test)]
mod shipped_tests;
#[cfg(test)]
mod testutil;
#[cfg(test)]
mod validate_tests;

pub(crate) use commands::{check, hint, report, score};
pub(crate) use error::LevelError;
pub(crate) use finish::{give_up, reset};
pub(crate) use level::{Difficulty, Level};
pub(crate) use play::{PlayOptions, list, play};
pub(crate) use score::{budget_burned_pct, duration};

pub(crate) use validate::LabLoader;

use crate::host::HostFacts;
use crate::spec::{Problem, Problems};
use std::path::{Path, PathBuf};

/// Whether `validate` should treat `path`, whose content is `text`, as a level file: it lives
/// in a `levels` directory, or its top level has keys only a level has.
pub(crate) fn is_level(path: &Path, text: &str) -> bool {
    if is_companion(path) {
        return false;
    }
    path.components()
        .any(|c| c.as_os_str() == "levels" || c.as_os_str() == "exercises")
        || text.lines().any(|l| {
            ["briefing:", "objectives:", "debrief:"]
                .iter()
                .any(|k| l.starts_with(k))
        })
}

/// A level that passed every check, the lab it plays on, and the warnings of both files.
#[derive(Debug)]
pub(crate) struct Checked {
    pub level: Level,
    /// Its lab, as `up` would plan it.
    pub plan: crate::plan::Plan,
    pub warnings: Vec<Problem>,
}

/// Reads a level file once (with a size bound), then `check_text` with its lab file checked
/// against `host` as `firedrill validate` checks a lab.
pub(crate) fn check_file(path: &Path, host: &HostFacts) -> Result<Checked, Problems> {
    let hint = "check the path; `firedrill play --list` lists the ready-made levels";
    let text = crate::spec::read_input(path, "level file", hint)?;
    check_level(path, &text, host)
}

/// A level file's text checked, with its lab file read and checked against `host`.
pub(crate) fn check_level(path: &Path, text: &str, host: &HostFacts) -> Result<Checked, Problems> {
    check_text(path, text, &|lab: &Path| validate::load_lab(lab, host))
}

/// `check_file` on text in memory, with the lab file checked by `lab_loader` (tests give their
/// own). The lab file's problems follow the level's, each with the lab file's name.
pub(crate) fn check_text(
    path: &Path,
    text: &str,
    lab_loader: &LabLoader<'_>,
) -> Result<Checked, Problems> {
    let (level, mut problems) = load::parse(path, text);
    let Some(level) = level else {
        return Err(Problems(crate::spec::in_file_order(problems)));
    };
    let checked = validate::validate(&level, lab_loader);
    problems.extend(checked.problems);
    let mut problems = crate::spec::in_file_order(problems);
    problems.extend(checked.lab_problems);
    match checked.lab {
        Some(plan) if !problems.iter().any(Problem::is_error) => Ok(Checked {
            level,
            plan,
            warnings: problems,
        }),
        _ => Err(Problems(problems)),
    }
}

/// What `firedrill validate` prints for a valid level.
pub(crate) fn summary(level: &Level) -> String {
    format!(
        "{}: level `{}` is valid\n{} ({}, about {} minutes) on lab {}: {} fault(s), {} objective(s), {} guard(s), {} hint(s)\n",
        level.source.display(),
        level.id.value,
        level.title,
        level.difficulty,
        level.minutes,
        level.lab_path.display(),
        level.faults.len(),
        level.objectives.len(),
        level.guards.len(),
        level.hints.len()
    )
}

/// A file that goes with a level rather than being one: a lab file its solution brings up
/// (`NAME.lab.yaml`) or its client's streams (`NAME.streams.yaml`).
pub(crate) fn is_companion(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.ends_with(".lab.yaml") || n.ends_with(".streams.yaml"))
}

/// Every level file in `dir` (not its companions), sorted by name.
pub(crate) fn level_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
                .filter(|p| !is_companion(p))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}
