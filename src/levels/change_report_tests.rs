use super::*;
use crate::levels::client_report::ClientReport;
use crate::levels::client_report::ReportEvent;
use crate::levels::play_state::{CheckRecord, End, Play};
use crate::levels::testutil::{EXERCISE, synthetic_report, t, valid};

fn play() -> Play {
    Play {
        level: "t".into(),
        title: "Grow the pool".into(),
        difficulty: crate::levels::level::Difficulty::Medium,
        file: "/exercises/t.yaml".into(),
        lab: "three-tier".into(),
        lab_file: "/labs/three-tier.yaml".into(),
        dir: "/home/play/20240501T140000Z".into(),
        prepared_at: t(0),
        baseline_at: None,
        faults_at: Some(t(30)),
        started_at: Some(t(30)),
        client: None,
        setup_done: 0,
        faults: vec![],
        baselines: Default::default(),
        hints: vec![t(45)],
        checks: vec![CheckRecord {
            at: t(148),
            met: 2,
            objectives: 2,
            guards_ok: true,
            guards_unknown: false,
            ledger: vec!["0 of 31 acknowledged writes lost (at most 0)".into()],
        }],
        used_solution: false,
        end: None,
        gm: Vec::new(),
        firedrill_reboots: Vec::new(),
        paged: None,
    }
}

#[test]
fn a_change_report_puts_the_change_beside_what_customers_saw() {
    let level = valid(EXERCISE);
    let mut report = ClientReport::parse(std::path::Path::new("client.jsonl"), &synthetic_report());
    report.events.push(ReportEvent {
        ts: t(62),
        kind: "node-added".into(),
        node: Some("app3".into()),
        message: "node app3 joined the lab".into(),
    });
    let mut play = play();
    let score = play.score(&level, &report, t(150), Outcome::Solved);
    play.end = Some(End {
        at: t(150),
        outcome: Outcome::Solved,
        score,
    });
    let text = render(&Input {
        level: &level,
        play: &play,
        report: &report,
        now: t(200),
    });
    // The failures between 30 and 90 s show in their buckets, with the node joining at 62 s.
    assert!(
        text.contains("| 14:01:00 | 100 | 10 **!** | 90% | 900 ms | node-added (app3): node app3 joined the lab |"),
        "{text}"
    );
    assert!(
        text.contains("Write ledger (at 14:02:28): 0 of 31 acknowledged writes lost (at most 0)."),
        "{text}"
    );
    // Which kind of failure they were: slow (timeout), refused, or an error answer.
    assert!(
        text.contains("\nFailed requests by kind: default: 5xx 60.\n"),
        "{text}"
    );
    crate::golden::assert_golden("levels/change-solved.md", &text);
}

#[test]
fn buckets_grow_with_the_play_to_keep_the_table_short() {
    assert_eq!(bucket_seconds(Duration::seconds(120)), 10);
    assert_eq!(bucket_seconds(Duration::seconds(900)), 10);
    assert_eq!(bucket_seconds(Duration::seconds(901)), 20);
    assert_eq!(bucket_seconds(Duration::seconds(3600)), 40);
}

#[test]
fn a_guard_that_could_not_be_judged_yet_is_not_called_broken() {
    let level = valid(EXERCISE);
    let report = ClientReport::parse(std::path::Path::new("client.jsonl"), &synthetic_report());
    let mut play = play();
    // The first check of an exercise comes before the mock client's first report.
    play.checks[0].guards_ok = false;
    play.checks[0].guards_unknown = true;
    play.checks.push(CheckRecord {
        at: t(149),
        met: 2,
        objectives: 2,
        guards_ok: false,
        guards_unknown: false,
        ledger: vec![],
    });
    let text = render(&Input {
        level: &level,
        play: &play,
        report: &report,
        now: t(200),
    });
    assert!(
        text.contains("check: 2 of 2 objectives met, a guard not judged yet"),
        "{text}"
    );
    assert!(
        text.contains("check: 2 of 2 objectives met, a guard broken"),
        "{text}"
    );
}
