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
        "number-index",
        "split-horizon",
    ] {
        assert!(ids.contains(&id), "level {id} is missing from {ids:?}");
    }
}

/// Every exercise in labs/exercises validates without a single problem, is an exercise, and
/// guards what customers saw and wrote; the twelve of the issue ship.
#[test]
fn every_shipped_exercise_validates_and_guards_the_customers() {
    use super::level::{Check, Kind};
    let exercises = shipped_in("labs/exercises");
    for e in &exercises {
        assert_eq!(e.kind, Kind::Exercise, "{}", e.id.value);
        assert!(e.faults.is_empty(), "{}", e.id.value);
        assert!(!e.solution.is_empty(), "{}", e.id.value);
        let guards = |want: fn(&Check) -> bool| e.guards.iter().any(|g| want(&g.check));
        // A step load is meant to go past what the lab carries: its failures are the
        // measurement, not the customers' budget.
        assert!(
            e.client.ramp.is_some() || guards(|c| matches!(c, Check::Client(_))),
            "{}: no guard on the client's failures",
            e.id.value
        );
        assert!(
            guards(|c| matches!(c, Check::Ledger(_))),
            "{}: no guard on acknowledged writes",
            e.id.value
        );
    }
    let ids: Vec<&str> = exercises.iter().map(|e| e.id.value.as_str()).collect();
    for id in [
        "os-update-single-server",
        "app-update-single-server",
        "drain-app-server",
        "grow-the-pool",
        "two-api-versions",
        "deprecate-old-api",
        "copy-db-maintenance-window",
        "move-db-live",
        "split-a-field",
        "dns-cutover",
        "bottleneck",
        "resize-a-server",
    ] {
        assert!(ids.contains(&id), "exercise {id} is missing: {ids:?}");
    }
}

/// A level whose fault changes a record of the lab's zone (dns-stale, dns-wrong-record) changes
/// a name the lab's roles look up: an app's database or a haproxy backend reached by a `dns:`
/// name. An app given its database's address never asks: dns-stale once passed the Level CI
/// with its fault unfelt that way.
#[test]
fn a_record_fault_changes_a_name_the_lab_looks_up() {
    let mut seen = 0;
    for level in shipped() {
        for fault in &level.faults {
            let FaultSpec::Kind { kind, params, .. } = fault else {
                continue;
            };
            if !["dns-stale", "dns-wrong-record"].contains(&kind.value.as_str()) {
                continue;
            }
            seen += 1;
            let name = params
                .iter()
                .find(|(k, _)| k.value == "name")
                .map(|(_, v)| v.as_str())
                .expect("a record fault names its record");
            let plan = crate::plan::testing::plan_of(&level.lab_path.to_string_lossy(), |_| {});
            let looked_up: Vec<&str> = plan
                .nodes
                .iter()
                .flat_map(|n| n.database_host.iter().chain(n.backend_hosts.values()))
                .filter_map(|fqdn| fqdn.split('.').next())
                .collect();
            assert!(
                looked_up.contains(&name),
                "{}: {} changes `{name}`, which no role of its lab looks up ({looked_up:?})",
                level.id.value,
                kind.value
            );
        }
    }
    assert!(seen > 0, "no shipped level has a record fault");
}
