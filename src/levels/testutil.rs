//! Helpers for the level tests: labs checked from text (labs/three-tier.yaml is compiled in),
//! and checks rendered to the exact text a user sees.

use super::level::Level;
use crate::host::HostFacts;
use crate::plan::Plan;
use crate::spec::{Problem, Problems};
use std::path::Path;

/// A host on which the shipped labs are valid without a warning.
pub(super) fn host() -> HostFacts {
    HostFacts {
        mem_total_mib: 16 * 1024,
        cpus: 4,
        images: vec!["debian-12".into()],
        ..HostFacts::default()
    }
}

/// labs/three-tier.yaml, as the test level's `lab: ../three-tier.yaml` finds it.
const THREE_TIER: &str = include_str!("../../labs/three-tier.yaml");
/// labs/monitored.yaml: three-tier with a monitor node, for levels paged by Alertmanager.
const MONITORED: &str = include_str!("../../labs/monitored.yaml");

/// A lab named `../../etc`: a name that must never become a path.
pub(super) const ETC_LAB: &str = "\
name: ../../etc
networks:
  - {name: lan, cidr: 10.77.0.0/24}
nodes:
  - {name: app1, roles: [app]}
";

/// The app and its database on one node, no load balancer (labs/single-server.yaml).
const SINGLE_SERVER: &str = "\
name: single-server
networks:
  - {name: lan, cidr: 10.79.0.0/24}
nodes:
  - name: server
    roles: [app, mysql]
    app: {port: 80}
";

/// The lab files the test levels can name, by the path the level resolves: three-tier, and
/// `../etc.yaml` with `ETC_LAB`.
fn lab_file(path: &Path) -> Result<(Plan, Vec<Problem>), Problems> {
    let grown = format!("{THREE_TIER}{APP3}");
    let text = match path.to_str() {
        Some("labs/levels/../three-tier.yaml") => THREE_TIER,
        Some("labs/levels/../etc.yaml") => ETC_LAB,
        Some("labs/levels/../single-server.yaml") => SINGLE_SERVER,
        Some("labs/levels/../monitored.yaml") => MONITORED,
        Some("labs/levels/grow.lab.yaml") => &grown,
        _ => {
            return Err(Problems(vec![Problem {
                severity: crate::spec::Severity::Error,
                file: path.to_path_buf(),
                line: None,
                column: None,
                path: String::new(),
                message: "cannot read the lab file: No such file or directory (os error 2)".into(),
                hint: None,
            }]));
        }
    };
    let (lab, warnings) = crate::spec::check_text(path, text, &host(), false)?;
    Ok((crate::plan::preview(&lab), warnings))
}

/// What `labs/levels/grow.lab.yaml` adds to three-tier: an exercise's solution brings it up.
const APP3: &str =
    "  - name: app3\n    roles: [app]\n    memory: 384\n    app:\n      database: db\n";

/// A valid exercise: the customers' guards, a node the solution adds, a baseline that must
/// change. Line numbers matter to the tests.
pub(super) const EXERCISE: &str = "\
kind: exercise
id: t
title: Grow the pool
difficulty: medium
minutes: 30
lab: ../three-tier.yaml
client: {rate: 5, write_ratio: 0.2}
briefing: Marketing expects twice the traffic on Monday; add an app server.
objectives:
  - id: grown
    description: Three app servers take requests
    check:
      state: {node: app3, command: systemctl is-active todo, expect: {stdout_is: active}}
  - id: rebooted
    description: app1 runs the new kernel
    check:
      state: {node: app1, command: cat /proc/sys/kernel/random/boot_id, expect: {differs_from_baseline: true}}
guards:
  - id: customers
    description: No customer saw an error
    check: {client: {max_failed: 0}}
  - id: writes
    description: No acknowledged write is lost
    check: {ledger: {max_lost: 0, node: db}}
hints:
  - {text: Edit a copy of the lab file, cost: 10}
debrief: Add capacity before you need it.
solution:
  - {up: grow.lab.yaml, restart: [app1]}
  - {node: app1, run: reboot}
";

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
    super::check_text(Path::new(FILE), text, &lab_file).map(|c| (c.level, c.warnings))
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

/// 14:00:00 UTC on 2024-05-01 plus `s` seconds.
pub(super) fn t(s: i64) -> chrono::DateTime<chrono::Utc> {
    use chrono::TimeZone;
    chrono::Utc
        .with_ymd_and_hms(2024, 5, 1, 14, 0, 0)
        .single()
        .expect("valid time")
        + chrono::Duration::seconds(s)
}

/// One `"type": "second"` line, written with the client's own report type.
pub(super) fn second_line(second: i64, ok: u64, failed: u64, p99_ms: f64) -> String {
    use crate::client::report::{ClassCounts, Record, SecondRecord};
    let record = Record::Second(SecondRecord {
        stream: "default".into(),
        second: u64::try_from(second).expect("a second of the run"),
        ts: t(second),
        target_rate: Some((ok + failed) as f64),
        sent: ok + failed,
        ok,
        failed,
        dropped: 0,
        classes: ClassCounts {
            refused: 0,
            timeout: 0,
            reset: 0,
            tls: 0,
            http5xx: failed,
            http4xx: 0,
            http413: 0,
            json: 0,
            other: 0,
        },
        p50_ms: Some(12.5),
        p99_ms: Some(p99_ms),
        max_ms: Some(p99_ms),
        success_ratio: Some(ok as f64 / (ok + failed).max(1) as f64),
        inflight: 0,
        lag_max_ms: 0.3,
        retried: 0,
    });
    serde_json::to_string(&record).expect("a record serialises")
}

/// A client run at 10 requests/s from 14:00:00: healthy for 30 s, a fault injected at 14:00:30
/// after which one request in ten fails for 60 s (p99 900 ms), then healthy until 14:02:30; an
/// event line, and half a line at the end as a report being written has.
pub(super) fn synthetic_report() -> String {
    let mut lines = Vec::new();
    for s in 0..150 {
        if s == 30 {
            lines.push(r#"{"type":"event","ts":"2024-05-01T14:00:30.250Z","kind":"fault-injected","node":"app1","message":"fault injected on app1"}"#.to_string());
        }
        let (ok, failed, p99) = if (30..90).contains(&s) {
            (9, 1, 900.0)
        } else {
            (10, 0, 40.0)
        };
        lines.push(second_line(s, ok, failed, p99));
    }
    lines.push(
        r#"{"type":"second","second":150,"ts":"2024-05-01T14:02:30.000Z","sent":10,"ok"#
            .to_string(),
    );
    lines.join("\n") + "\n"
}

/// The test level played from 14:00:00: faults at 14:00:30, the incident clock at 14:00:32, a
/// hint at 14:00:50 and checks at 14:01:00 and 14:02:30; not ended.
pub(super) fn played() -> super::play_state::Play {
    use super::play_state::{AppliedFault, CheckRecord, Play};
    Play {
        level: "t".into(),
        title: "Saving fails".into(),
        difficulty: crate::levels::level::Difficulty::Easy,
        file: "/levels/t.yaml".into(),
        lab: "three-tier".into(),
        lab_file: "/labs/three-tier.yaml".into(),
        dir: "/home/play/t-20240501T140000Z".into(),
        prepared_at: t(0),
        baseline_at: None,
        faults_at: Some(t(30)),
        started_at: Some(t(32)),
        client: None,
        setup_done: 0,
        faults: vec![AppliedFault {
            index: 0,
            id: Some("f1".into()),
        }],
        baselines: std::collections::BTreeMap::new(),
        hints: vec![t(50)],
        checks: vec![
            CheckRecord {
                at: t(60),
                met: 0,
                objectives: 2,
                guards_ok: true,
                guards_unknown: false,
                ledger: vec![],
            },
            CheckRecord {
                at: t(150),
                met: 2,
                objectives: 2,
                guards_ok: true,
                guards_unknown: false,
                ledger: vec![],
            },
        ],
        used_solution: false,
        end: None,
        gm: Vec::new(),
        firedrill_reboots: Vec::new(),
        paged: None,
    }
}

pub(super) use crate::lab::FakeNodes;
