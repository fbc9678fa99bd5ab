use super::*;
use crate::levels::client_report::ClientReport;
use crate::levels::testutil::{FakeNodes, LEVEL, synthetic_report, t, valid};
use crate::remote::fake::{FakeRemote, contains, exit, ok};

/// The test level: `served` (mitigate 99% over 30 s), `room` (exit 0 of `df` on app1, with
/// persistence) and the guard `rows` (`count` on db at least its baseline).
fn baselines() -> BTreeMap<String, String> {
    BTreeMap::from([("guards.rows".to_string(), "3".to_string())])
}

fn ctx<'a>(
    report: &'a ClientReport,
    baselines: &'a BTreeMap<String, String>,
    now: i64,
) -> Context<'a> {
    Context {
        report,
        since: t(32),
        now: t(now),
        live: false,
        baselines,
        after_reboot: Retry {
            attempts: 3,
            delay: Duration::ZERO,
        },
        ledger: None,
        databases: &[],
        excluded: &[],
    }
}

fn verdict(id: &str, description: &str, met: bool, note: Option<&str>) -> Verdict {
    Verdict {
        id: id.into(),
        description: description.into(),
        met,
        note: note.map(str::to_string),
        unknown: note.is_some_and(|n| n.starts_with("cannot") || n.starts_with("no baseline")),
        hidden: false,
    }
}

async fn run(nodes: &FakeNodes, now: i64) -> (Evaluation, Vec<String>) {
    let level = valid(LEVEL);
    // The report as it stood at `now`.
    let mut report = ClientReport::parse(std::path::Path::new("client.jsonl"), &synthetic_report());
    report.seconds.retain(|s| s.ts < t(now));
    let b = baselines();
    let mut said = Vec::new();
    let eval = evaluate(&level, nodes, &ctx(&report, &b, now), &mut |s| {
        said.push(s.to_string())
    })
    .await;
    (eval, said)
}

#[tokio::test]
async fn while_it_still_fails_nothing_is_rebooted() {
    let nodes = FakeNodes::new(vec![
        FakeRemote::new("app1").on(contains("df"), exit(1, "")),
        FakeRemote::new("db").on(contains("count"), ok("3\n")),
    ]);
    // At 14:01:10 the last 30 s include failures.
    let (eval, said) = run(&nodes, 70).await;
    assert_eq!(
        eval,
        Evaluation {
            objectives: vec![
                verdict(
                    "served",
                    "Users are served again",
                    false,
                    Some("90% of requests succeeded over the last 30 s (needs 99%)")
                ),
                verdict("room", "The app server can write its data", false, None),
            ],
            guards: vec![verdict("rows", "No todo is lost", true, None)],
            rebooted: vec![],
            reboot_spans: vec![],
        }
    );
    assert!(!eval.solved(&valid(LEVEL)));
    assert!(said.is_empty());
    assert!(nodes.reboots().is_empty());
    // Every check runs under `timeout` on its node.
    assert_eq!(
        nodes.nodes["app1"].commands(),
        ["sudo -n sh -c 'timeout 30 sh -c df'"]
    );
    assert_eq!(
        nodes.nodes["db"].commands(),
        ["sudo -n sh -c 'timeout 30 sh -c count'"]
    );
}

#[tokio::test]
async fn a_persistent_fix_is_checked_after_a_reboot_once_all_else_is_met() {
    let nodes = FakeNodes::new(vec![
        // Before the reboot it holds; right after it, the service is still starting once.
        FakeRemote::new("app1")
            .once(contains("df"), ok(""))
            .once(contains("df"), exit(1, "starting"))
            .on(contains("df"), ok("")),
        FakeRemote::new("db").on(contains("count"), ok("4\n")),
    ]);
    let (eval, said) = run(&nodes, 150).await;
    assert_eq!(
        eval.objectives,
        vec![
            verdict(
                "served",
                "Users are served again",
                true,
                Some("100% of requests succeeded over the last 30 s (needs 99%)")
            ),
            verdict(
                "room",
                "The app server can write its data",
                true,
                Some("still holds after app1 rebooted")
            ),
        ]
    );
    assert_eq!(
        eval.guards,
        vec![verdict("rows", "No todo is lost", true, None)]
    );
    assert_eq!(eval.rebooted, ["app1"]);
    assert!(eval.solved(&valid(LEVEL)));
    assert_eq!(
        said,
        ["rebooting app1 to see that the fix lasts (this takes a few minutes)..."]
    );
    assert_eq!(nodes.reboots(), ["app1"]);
    // The guard ran before and after the reboot.
    assert_eq!(nodes.nodes["db"].commands().len(), 2);
    assert_eq!(nodes.nodes["app1"].commands().len(), 3);
    nodes.nodes["app1"].assert_all_used();
}

#[tokio::test]
async fn a_fix_that_does_not_survive_the_reboot_is_not_met() {
    let nodes = FakeNodes::new(vec![
        FakeRemote::new("app1")
            .once(contains("df"), ok(""))
            .on(contains("df"), exit(1, "")),
        FakeRemote::new("db").on(contains("count"), ok("3\n")),
    ]);
    let (eval, _) = run(&nodes, 150).await;
    assert_eq!(
        eval.objectives[1],
        verdict(
            "room",
            "The app server can write its data",
            false,
            Some("did not last: not met after app1 rebooted")
        )
    );
    assert!(!eval.solved(&valid(LEVEL)));
    // One check before the reboot, three attempts after it.
    assert_eq!(nodes.nodes["app1"].commands().len(), 4);
}

#[tokio::test]
async fn a_violated_guard_blocks_the_reboot_and_the_solve() {
    let nodes = FakeNodes::new(vec![
        FakeRemote::new("app1").on(contains("df"), ok("")),
        FakeRemote::new("db").on(contains("count"), ok("2\n")),
    ]);
    let (eval, _) = run(&nodes, 150).await;
    assert_eq!(
        eval.guards,
        vec![verdict("rows", "No todo is lost", false, None)]
    );
    assert_eq!(
        eval.objectives[1].note.as_deref(),
        Some(
            "holds for now; once everything else is met, `check` reboots app1 to see that it lasts"
        )
    );
    assert!(nodes.reboots().is_empty());
    assert!(!eval.solved(&valid(LEVEL)));
}

#[tokio::test]
async fn a_check_that_hangs_is_stopped_and_says_so() {
    // `timeout` exits 124: the guard's query waited behind a lock for 30 s.
    let nodes = FakeNodes::new(vec![
        FakeRemote::new("app1").on(contains("df"), exit(1, "")),
        FakeRemote::new("db").on(contains("count"), exit(124, "")),
    ]);
    let (eval, _) = run(&nodes, 70).await;
    assert_eq!(
        eval.guards,
        [verdict(
            "rows",
            "No todo is lost",
            false,
            Some("cannot run the check: it did not finish within 30 s on db")
        )]
    );
}

#[tokio::test]
async fn an_unreachable_node_is_not_met_and_says_why() {
    let nodes = FakeNodes::new(vec![
        FakeRemote::new("app1").fail(contains("df"), "connection reset"),
        FakeRemote::new("db").on(contains("count"), ok("3\n")),
    ]);
    let (eval, _) = run(&nodes, 150).await;
    assert_eq!(
        eval.objectives[1],
        verdict(
            "room",
            "The app server can write its data",
            false,
            Some("cannot run the check: app1: connection reset")
        )
    );
}

#[tokio::test]
async fn baselines_are_recorded_from_the_healthy_lab() {
    let level = valid(LEVEL);
    let nodes = FakeNodes::new(vec![
        FakeRemote::new("db").on(contains("count"), ok(" 3\n")),
    ]);
    assert_eq!(
        capture_baselines(&level, &nodes).await.unwrap(),
        baselines()
    );
    let nodes = FakeNodes::new(vec![
        FakeRemote::new("db").on(contains("count"), exit(1, "ERROR 1045: Access denied")),
    ]);
    assert_eq!(
        capture_baselines(&level, &nodes)
            .await
            .unwrap_err()
            .to_string(),
        "db: recording the baseline of guards.rows failed (exit 1): ERROR 1045: Access denied\n  \
         hint: the check must work on the healthy lab; fix it in labs/levels/t.yaml"
    );
}

#[test]
fn every_expectation() {
    let out = |status: u32, stdout: &str| Output {
        status,
        stdout: stdout.as_bytes().to_vec(),
        stderr: vec![],
    };
    let now = t(0);
    assert!(judge(&[Expect::Exit(3)], &out(3, ""), None, now));
    // Without `exit`, the command must succeed.
    assert!(!judge(
        &[Expect::StdoutContains("a".into())],
        &out(1, "a"),
        None,
        now
    ));
    assert!(judge(
        &[Expect::StdoutContains("enabled".into())],
        &out(0, "enabled\n"),
        None,
        now
    ));
    assert!(judge(
        &[Expect::StdoutLacks("DOWN".into())],
        &out(0, "app1 UP\n"),
        None,
        now
    ));
    assert!(!judge(
        &[Expect::StdoutLacks("DOWN".into())],
        &out(0, "app1 DOWN\n"),
        None,
        now
    ));
    assert!(judge(
        &[Expect::StdoutIs("0".into())],
        &out(0, " 0\n"),
        None,
        now
    ));
    assert!(!judge(
        &[Expect::StdoutIs("0".into())],
        &out(0, "10\n"),
        None,
        now
    ));
    assert!(judge(
        &[Expect::AtLeastBaseline],
        &out(0, "12\n"),
        Some("12"),
        now
    ));
    assert!(!judge(
        &[Expect::AtLeastBaseline],
        &out(0, "11\n"),
        Some("12"),
        now
    ));
    assert!(!judge(
        &[Expect::AtLeastBaseline],
        &out(0, "lots\n"),
        Some("12"),
        now
    ));
    assert!(!judge(
        &[Expect::AtLeastBaseline],
        &out(0, "12\n"),
        None,
        now
    ));
    assert!(judge(
        &[Expect::SameAsBaseline],
        &out(0, "abc  /opt/todo/app.py\n"),
        Some("abc  /opt/todo/app.py"),
        now
    ));
    assert!(!judge(
        &[Expect::SameAsBaseline],
        &out(0, "abd\n"),
        Some("abc"),
        now
    ));
    let ts = now.timestamp();
    assert!(judge(
        &[Expect::ClockWithin(5)],
        &out(0, &format!("{}\n", ts - 5)),
        None,
        now
    ));
    assert!(!judge(
        &[Expect::ClockWithin(5)],
        &out(0, &format!("{}\n", ts - 10_800)),
        None,
        now
    ));
}

#[tokio::test]
async fn a_live_clock_check_compares_with_the_time_of_the_answer() {
    use crate::levels::level::StateCheck;
    use crate::spec::{At, Pos};
    let pos = Pos { line: 1, column: 1 };
    let check = StateCheck {
        pos,
        node: At {
            value: "app1".into(),
            pos,
        },
        command: "date +%s".into(),
        expect: vec![Expect::ClockWithin(5)],
    };
    // The node's clock is right now; `check` began long before (as when earlier checks ran).
    let right_now = format!("{}\n", Utc::now().timestamp());
    let nodes = FakeNodes::new(vec![
        FakeRemote::new("app1").on(contains("date +%s"), ok(&right_now)),
    ]);
    let report = ClientReport::default();
    let b = baselines();
    let mut live = ctx(&report, &b, 0);
    live.live = true;
    assert_eq!(
        run_state(&nodes, &check, "k", &live).await,
        (true, None, false)
    );
    let stale = ctx(&report, &b, 0);
    assert_eq!(
        run_state(&nodes, &check, "k", &stale).await,
        (false, None, false)
    );
}
