//! Every level in labs/levels and every exercise in labs/exercises validates without a single
//! problem, and the set of levels the issue asks for ships: one level per required fault kind,
//! and the named scenarios.

use super::level::FaultSpec;
use std::path::PathBuf;

fn shipped() -> Vec<super::Level> {
    shipped_in("labs/levels")
}

fn shipped_in(dir: &str) -> Vec<super::Level> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(dir);
    let files = super::level_files(&dir);
    assert!(!files.is_empty(), "no level files in {}", dir.display());
    files
        .iter()
        .map(|f| match super::check_file(f, &super::testutil::host()) {
            Ok(c) if c.warnings.is_empty() => c.level,
            Ok(c) => panic!("{}", crate::spec::Problems(c.warnings)),
            Err(problems) => panic!("{problems}"),
        })
        .collect()
}

#[test]
fn every_shipped_level_validates() {
    let levels = shipped();
    for l in &levels {
        assert!(
            l.lab_path.is_file(),
            "{}: lab {}",
            l.id.value,
            l.lab_path.display()
        );
        assert!(!l.solution.is_empty(), "{}", l.id.value);
    }
}

#[test]
fn every_shipped_exercise_validates_as_an_exercise() {
    for l in shipped_in("labs/exercises") {
        assert_eq!(l.kind, super::level::Kind::Exercise, "{}", l.id.value);
        assert!(l.faults.is_empty(), "{}", l.id.value);
        assert!(!l.solution.is_empty(), "{}", l.id.value);
    }
}

#[test]
fn the_required_levels_ship() {
    let levels = shipped();
    let ids: Vec<&str> = levels.iter().map(|l| l.id.value.as_str()).collect();
    for kind in [
        "disk-full",
        "memory-hog",
        "cpu-hog",
        "reboot-no-unit",
        "time-drift",
        "bad-permissions",
    ] {
        let has = levels.iter().any(|l| {
            l.faults.len() == 1
                && matches!(&l.faults[0], FaultSpec::Kind { kind: k, .. } if k.value == kind)
        });
        assert!(has, "no level for the fault kind {kind}");
    }
    for id in [
        "db-lock",
        "payload-too-large",
        "missing-index",
        "app-down-a",
        "app-down-b",
        "timezone",
    ] {
        assert!(ids.contains(&id), "level {id} is missing from {ids:?}");
    }
}
