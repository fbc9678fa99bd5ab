//! Helpers for the level tests: a lab like labs/three-tier.yaml without reading it, and checks
//! rendered to the exact text a user sees.

use super::level::Level;
use super::validate::LabView;
use crate::spec::{Problem, Problems, Role};
use std::path::Path;

/// labs/three-tier.yaml as validation sees it.
pub(super) fn three_tier() -> LabView {
    LabView {
        name: "three-tier".into(),
        nodes: vec![
            ("lb".into(), vec![Role::Haproxy]),
            ("app1".into(), vec![Role::App]),
            ("app2".into(), vec![Role::App]),
            ("db".into(), vec![Role::Mysql]),
        ],
    }
}

/// The path every test level is reported under; its id must be `t`.
pub(super) const FILE: &str = "labs/levels/t.yaml";

/// A valid level: every optional section used once. Line numbers matter to the tests.
pub(super) const LEVEL: &str = "\
id: t
title: Saving fails
difficulty: easy
minutes: 15
lab: ../three-tier.yaml
briefing: Users say that saving an item fails.
faults:
  - kind: disk-full
    node: app1
    params: {leave: 0}
objectives:
  - id: served
    description: Users are served again
    check: {mitigate: {success_percent: 99, seconds: 30}}
  - id: room
    description: The app server can write its data
    check:
      state: {node: app1, command: df, expect: {exit: 0}}
    persistence: true
guards:
  - id: rows
    description: No todo is lost
    check:
      state: {node: db, command: count, expect: {at_least_baseline: true}}
hints:
  - {text: Look at the disks, cost: 10}
debrief: The disk was full.
solution:
  - {node: app1, run: rm -f /var/backups/todo-uploads.tar}
";

pub(super) fn run(text: &str) -> Result<(Level, Vec<Problem>), Problems> {
    super::check_text(Path::new(FILE), text, &|path| {
        if path == Path::new("labs/levels/../three-tier.yaml") {
            Ok(three_tier())
        } else {
            Err("No such file or directory (os error 2)".into())
        }
    })
}

/// Every problem, errors and warnings, as displayed.
pub(super) fn problems(text: &str) -> Vec<String> {
    let list = match run(text) {
        Ok((_, warnings)) => warnings,
        Err(Problems(problems)) => problems,
    };
    list.iter().map(ToString::to_string).collect()
}

/// `LEVEL` with `from` replaced by `to` (which must occur).
pub(super) fn edit(from: &str, to: &str) -> String {
    assert!(LEVEL.contains(from), "{from:?} is not in the test level");
    LEVEL.replacen(from, to, 1)
}

pub(super) fn valid(text: &str) -> Level {
    match run(text) {
        Ok((level, warnings)) if warnings.is_empty() => level,
        Ok((_, warnings)) => panic!("unexpected warnings: {}", Problems(warnings)),
        Err(problems) => panic!("unexpected problems:\n{problems}"),
    }
}
