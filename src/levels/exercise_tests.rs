//! Exercises: the level file's new parts (kind, the customers' checks, `up` steps), their
//! cross-checks, and the ledger check against scripted database nodes.

use super::level::{Check, Expect, Kind, SolutionStep};
use super::testutil::{EXERCISE, FakeNodes, problems, valid};
use crate::remote::fake::{FakeRemote, contains, exit, ok};

fn edit(from: &str, to: &str) -> String {
    assert!(
        EXERCISE.contains(from),
        "{from:?} is not in the test exercise"
    );
    EXERCISE.replacen(from, to, 1)
}

#[test]
fn an_exercise_parses_with_its_checks_and_up_steps() {
    let e = valid(EXERCISE);
    assert_eq!(e.kind, Kind::Exercise);
    assert!(e.faults.is_empty());
    let Check::State(s) = &e.objectives[1].check else {
        panic!("a state check")
    };
    assert_eq!(s.expect, vec![Expect::DiffersFromBaseline]);
    assert!(s.needs_baseline());
    let Check::Client(b) = &e.guards[0].check else {
        panic!("a client check")
    };
    assert_eq!(
        (b.max_failed, b.max_failed_percent, b.max_bad_seconds),
        (Some(0), None, None)
    );
    let Check::Ledger(l) = &e.guards[1].check else {
        panic!("a ledger check")
    };
    assert_eq!(l.max_lost, 0);
    assert_eq!(l.node.as_ref().map(|n| n.value.as_str()), Some("db"));
    let SolutionStep::Up { path, restart, .. } = &e.solution[0] else {
        panic!("an up step")
    };
    assert_eq!(path, std::path::Path::new("labs/levels/grow.lab.yaml"));
    assert_eq!(restart[0].value, "app1");
    assert!(matches!(&e.solution[1], SolutionStep::Node(s) if s.node.value == "app1"));
}

#[test]
fn an_exercise_breaks_nothing_and_an_incident_must() {
    let with_fault = edit(
        "objectives:",
        "faults:\n  - {kind: disk-full, node: app1}\nobjectives:",
    );
    assert_eq!(
        problems(&with_fault),
        [
            "labs/levels/t.yaml:10:29: faults[0]: an exercise has no faults: nothing is broken on purpose\n  hint: remove `faults`; prepare the lab with `setup` steps (each with its `revert`), or make the level `kind: incident`"
        ]
    );
    let incident = edit("kind: exercise\n", "kind: incident\n");
    assert!(
        problems(&incident)
            .iter()
            .any(|p| p.contains("the level has no fault")),
        "{:?}",
        problems(&incident)
    );
    let unknown = edit("kind: exercise\n", "kind: excercise\n");
    assert_eq!(
        problems(&unknown),
        [
            "labs/levels/t.yaml:1:7: kind: unknown kind `excercise`\n  hint: did you mean `exercise`? Use incident or exercise"
        ]
    );
}

#[test]
fn up_steps_name_a_lab_file_of_the_same_lab_and_its_nodes() {
    let missing = edit("{up: grow.lab.yaml", "{up: gone.yaml");
    let p = problems(&missing);
    assert!(
        p.iter()
            .any(|p| p.contains("solution[0].up: cannot use lab file `gone.yaml`")),
        "{p:?}"
    );
    // Without the grown lab, app3 is no node of the level.
    assert!(
        p.iter()
            .any(|p| p.contains("node `app3` is not in lab `three-tier`")),
        "{p:?}"
    );
    let other = edit("{up: grow.lab.yaml", "{up: ../etc.yaml");
    let p = problems(&other);
    assert!(p.iter().any(|p| p.contains("solution[0].up")), "{p:?}");
    let restart = edit("restart: [app1]", "restart: [app9]");
    assert_eq!(
        problems(&restart),
        [
            "labs/levels/t.yaml:29:35: solution[0].restart: node `app9` is not in lab file `grow.lab.yaml`\n  hint: name nodes of that lab file"
        ]
    );
    let stray = edit(
        "{node: app1, run: reboot}",
        "{node: app1, run: reboot, restart: [app1]}",
    );
    assert_eq!(
        problems(&stray),
        [
            "labs/levels/t.yaml:30:40: solution[1].restart: `restart` goes with `up`\n  hint: write `{up: FILE.yaml, restart: [NODE]}`, or remove `restart`"
        ]
    );
    let both = edit("{up: grow.lab.yaml,", "{up: grow.lab.yaml, node: app1,");
    assert!(
        problems(&both)
            .iter()
            .any(|p| p.contains("a step has either `up` or `node` and `run`")),
        "{:?}",
        problems(&both)
    );
}

#[test]
fn the_customers_checks_are_checked() {
    let no_budget = edit("{client: {max_failed: 0}}", "{client: {stream: default}}");
    assert!(
        problems(&no_budget)
            .iter()
            .any(|p| p.contains("a client check needs a budget")),
        "{:?}",
        problems(&no_budget)
    );
    let stream = edit(
        "{client: {max_failed: 0}}",
        "{client: {stream: old, max_failed: 0}}",
    );
    assert_eq!(
        problems(&stream),
        [
            "labs/levels/t.yaml:21:30: guards[0].check.client.stream: no stream `old`\n  hint: the client's streams are: default"
        ]
    );
    let not_db = edit("node: db}}", "node: app1}}");
    assert_eq!(
        problems(&not_db),
        [
            "labs/levels/t.yaml:24:41: guards[1].check.ledger.node: `app1` is not a database node of the lab\n  hint: its database nodes are: db"
        ]
    );
    let both = edit(
        "{client: {max_failed: 0}}",
        "{client: {max_failed: 0}, ledger: {max_lost: 0}}",
    );
    assert!(
        problems(&both)
            .iter()
            .any(|p| p.contains("a check has one of `client` and `ledger`, not both")),
        "{:?}",
        problems(&both)
    );
    let streams_and_rate = edit(
        "client: {rate: 5, write_ratio: 0.2}",
        "client: {rate: 5, streams: s.yaml}",
    );
    assert!(
        problems(&streams_and_rate)
            .iter()
            .any(|p| p.contains("`streams` replaces `rate`")),
        "{:?}",
        problems(&streams_and_rate)
    );
}

/// A ledger of three acknowledged writes (ids 1, 2, 3).
fn ledger_file(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("ledger.jsonl");
    let line = |id: u32| {
        format!(
            r#"{{"ts":"2024-05-01T14:00:0{id}.000Z","stream":"default","seq":{id},"method":"POST","path":"/todos","status":201,"id":{id},"content":{{"id":{id},"name":"task {id}","completed":false}}}}"#
        )
    };
    std::fs::write(&path, format!("{}\n{}\n{}\n", line(1), line(2), line(3))).unwrap();
    path
}

const DUMP_12: &str = "id\tname\tcompleted\n1\ttask 1\t0\n2\ttask 2\t0\n";
const DUMP_123: &str = "id\tname\tcompleted\n1\ttask 1\tf\n2\ttask 2\tf\n3\ttask 3\tf\n";

fn ledger_check(max_lost: u64, node: Option<&str>) -> super::level::LedgerCheck {
    let pos = crate::spec::Pos { line: 1, column: 1 };
    super::level::LedgerCheck {
        pos,
        max_lost,
        node: node.map(|n| crate::spec::At {
            value: n.to_string(),
            pos,
        }),
    }
}

#[tokio::test]
async fn the_ledger_check_counts_writes_no_database_holds() {
    use crate::roles::Engine;
    let tmp = tempfile::tempdir().unwrap();
    let ledger = ledger_file(tmp.path());
    let nodes = FakeNodes::new(vec![
        FakeRemote::new("mysql").on(contains("SELECT * FROM todos"), ok(DUMP_12)),
        FakeRemote::new("postgres").on(contains("COPY (SELECT * FROM todos"), ok(DUMP_123)),
        FakeRemote::new("old").on(contains("SELECT * FROM todos"), exit(1, "Can't connect")),
    ]);
    let dbs = [
        ("mysql".to_string(), Engine::Mysql),
        ("postgres".to_string(), Engine::Postgres),
    ];
    let judge = |check, dbs: &'static [(String, Engine)]| {
        let (nodes, ledger) = (&nodes, &ledger);
        async move { super::ledger_check::judge(nodes, &check, Some(ledger), dbs).await }
    };
    let dbs: &'static [(String, Engine)] = Box::leak(Box::new(dbs));
    // Write 3 is only in postgres: kept, as `client verify` keeps it.
    assert_eq!(
        judge(ledger_check(0, None), dbs).await,
        (
            true,
            Some("0 of 3 acknowledged writes lost (at most 0)".into())
        )
    );
    // Only mysql counts: write 3 is lost.
    assert_eq!(
        judge(ledger_check(0, Some("mysql")), dbs).await,
        (
            false,
            Some("1 of 3 acknowledged writes lost (at most 0)".into())
        )
    );
    assert!(judge(ledger_check(1, Some("mysql")), dbs).await.0);
    // A database that no longer answers is left out, and said so; alone, it cannot be judged.
    let with_old: &'static [(String, Engine)] = Box::leak(Box::new([
        ("old".to_string(), Engine::Mysql),
        ("postgres".to_string(), Engine::Postgres),
    ]));
    let (met, note) = judge(ledger_check(0, None), with_old).await;
    assert!(met);
    assert!(
        note.as_deref().is_some_and(
            |n| n.starts_with("0 of 3 acknowledged writes lost (at most 0); not read: old")
        ),
        "{note:?}"
    );
    let (met, note) = judge(ledger_check(0, Some("old")), with_old).await;
    assert!(!met);
    assert!(
        note.as_deref()
            .is_some_and(|n| n.starts_with("cannot read the todo table on old")),
        "{note:?}"
    );
    // No ledger yet: nothing lost so far.
    let none = super::ledger_check::judge(
        &nodes,
        &ledger_check(0, None),
        Some(&tmp.path().join("none.jsonl")),
        dbs,
    )
    .await;
    assert_eq!(none, (true, Some("no write acknowledged yet".into())));
}

#[test]
fn a_changed_baseline_is_what_differs_from_baseline_wants() {
    use super::evaluate::judge;
    let now = super::testutil::t(0);
    let out = ok("b-2\n");
    assert!(judge(
        &[Expect::DiffersFromBaseline],
        &out,
        Some("b-1"),
        now
    ));
    assert!(!judge(
        &[Expect::DiffersFromBaseline],
        &out,
        Some("b-2"),
        now
    ));
    // No baseline recorded: not met.
    assert!(!judge(&[Expect::DiffersFromBaseline], &out, None, now));
}
