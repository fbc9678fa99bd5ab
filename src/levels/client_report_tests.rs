use super::*;
use crate::levels::testutil::{synthetic_report, t};
use crate::spec::Pos;

fn rule(success_percent: f64, seconds: u32, p99_ms: Option<f64>) -> Mitigate {
    Mitigate {
        pos: Pos { line: 1, column: 1 },
        success_percent,
        seconds,
        p99_ms,
    }
}

#[test]
fn reads_seconds_and_events_and_names_a_torn_line() {
    let r = ClientReport::parse(std::path::Path::new("client.jsonl"), &synthetic_report());
    assert_eq!(r.seconds.len(), 150);
    assert_eq!(
        r.damaged
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        [
            "client.jsonl:152: not a whole record (EOF while parsing a string at line 1 column 75): a crash cut it off mid-write, or it was edited; the line is left out"
        ]
    );
    let s = &r.seconds[31];
    assert_eq!(
        (s.ts, s.sent, s.ok, s.failed, s.dropped, s.p99_ms),
        (t(31), 10, 9, 1, 0, Some(900.0))
    );
    assert_eq!(
        r.events,
        vec![ReportEvent {
            ts: t(30) + chrono::Duration::milliseconds(250),
            kind: "fault-injected".into(),
            node: Some("app1".into()),
            message: "fault injected on app1".into(),
        }]
    );
}

#[test]
fn timeline_facts() {
    let r = ClientReport::parse(std::path::Path::new("client.jsonl"), &synthetic_report());
    assert_eq!(r.first_error(t(0), t(150)), Some(t(30)));
    assert_eq!(r.first_error(t(90), t(150)), None);
    assert_eq!(r.mitigated_at(t(0), t(150)), Some(t(90)));
    // Still failing at the end of the range: not mitigated.
    assert_eq!(r.mitigated_at(t(0), t(60)), None);
    assert_eq!(
        r.totals(t(30), t(150)),
        Totals {
            results: 1200,
            bad: 60,
            seconds: 120
        }
    );
}

#[test]
fn the_longest_outage_and_the_end_of_errors_across_streams() {
    let mut r = ClientReport::parse(std::path::Path::new("client.jsonl"), &synthetic_report());
    assert_eq!(r.longest_outage(t(0), t(150)), Some((t(30), t(90))));
    assert_eq!(r.longest_outage(t(40), t(50)), Some((t(40), t(50))));
    assert_eq!(r.longest_outage(t(90), t(150)), None);
    // A second stream that fails for 2 s before and 5 s after a healthy gap: the runs of
    // seconds with a failure in any stream are 28-29 and 30-89 together, and 100-104.
    let mut other: Vec<Second> = r.seconds.clone();
    for s in &mut other {
        s.stream = "writer".into();
        let failing = (28..30).contains(&s.second) || (100..105).contains(&s.second);
        (s.ok, s.failed) = if failing { (1, 1) } else { (2, 0) };
    }
    // Interleaved as the client writes them: every stream's line for a second, in turn.
    let default = std::mem::take(&mut r.seconds);
    r.seconds = default
        .into_iter()
        .zip(other)
        .flat_map(|(a, b)| [a, b])
        .collect();
    assert_eq!(r.longest_outage(t(0), t(150)), Some((t(28), t(90))));
    assert_eq!(r.first_error(t(0), t(150)), Some(t(28)));
    // By time: the writer's failure at 104 is the last, and 105 answered.
    assert_eq!(r.mitigated_at(t(0), t(150)), Some(t(105)));
    assert_eq!(r.mitigated_at(t(0), t(95)), Some(t(90)));
    // Two streams' lines for each second: still 150 seconds (the error budget's outage time).
    assert_eq!(
        r.totals(t(0), t(150)),
        Totals {
            results: 1500 + 300,
            bad: 60 + 7,
            seconds: 150
        }
    );
}

#[test]
fn mitigation_over_the_last_seconds() {
    let r = ClientReport::parse(std::path::Path::new("client.jsonl"), &synthetic_report());
    let now = t(150);
    assert_eq!(
        mitigation(&r, &rule(99.0, 30, None), t(30), now, &[]),
        Mitigation {
            met: true,
            detail: "100% of requests succeeded over the last 30 s (needs 99%)".into(),
            unknown: false,
        }
    );
    // 70 s back reaches into the failing minute: 10 failures in 700 requests.
    assert_eq!(
        mitigation(&r, &rule(99.0, 70, None), t(30), now, &[]),
        Mitigation {
            met: false,
            detail: "98.57% of requests succeeded over the last 70 s (needs 99%)".into(),
            unknown: false,
        }
    );
    assert_eq!(
        mitigation(&r, &rule(95.0, 70, Some(500.0)), t(30), now, &[]),
        Mitigation {
            met: false,
            detail: "98.57% of requests succeeded over the last 70 s (needs 95%); slowest p99 900 ms (needs at most 500 ms)".into(),
            unknown: false,
        }
    );
}

#[test]
fn mitigation_needs_a_live_client_and_a_full_window_after_the_start() {
    let r = ClientReport::parse(std::path::Path::new("client.jsonl"), &synthetic_report());
    assert_eq!(
        mitigation(&r, &rule(99.0, 30, None), t(130), t(150), &[]),
        Mitigation {
            met: false,
            detail: "20 s of traffic observed since the incident started; 30 s are needed; so far 100% of requests succeeded (needs 99%): on track".into(),
            unknown: false,
        }
    );
    assert_eq!(
        mitigation(&r, &rule(99.0, 30, None), t(30), t(200), &[]),
        Mitigation {
            met: false,
            detail: "the mock client stopped reporting 51 s ago; `firedrill reset` and play again to restart it".into(),
            unknown: false,
        }
    );
    assert_eq!(
        mitigation(
            &ClientReport::default(),
            &rule(99.0, 30, None),
            t(30),
            t(200),
            &[]
        )
        .detail,
        "the mock client has not reported yet"
    );
}

#[test]
fn percentages_print_short() {
    assert_eq!(percent(100.0), "100%");
    assert_eq!(percent(99.5), "99.5%");
    assert_eq!(percent(97.254), "97.25%");
    assert_eq!(percent(0.0), "0%");
}

fn within_budget(
    stream: Option<&str>,
    max_failed: Option<u64>,
    pct: Option<f64>,
    secs: Option<u64>,
) -> ClientBudget {
    ClientBudget {
        pos: Pos { line: 1, column: 1 },
        stream: stream.map(|s| crate::spec::At {
            value: s.to_string(),
            pos: Pos { line: 1, column: 1 },
        }),
        max_failed,
        max_failed_percent: pct,
        max_bad_seconds: secs,
    }
}

#[test]
fn a_budget_counts_failures_percent_and_bad_seconds_since_the_start() {
    let r = ClientReport::parse(std::path::Path::new("client.jsonl"), &synthetic_report());
    // 60 failures in 60 seconds (30..90) of 1,500 answered requests.
    let v = budget(&r, &within_budget(None, Some(0), None, None), t(0), &[]);
    assert!(!v.met);
    assert_eq!(
        v.detail,
        "the mock client: 60 of 1500 requests failed (at most 0)"
    );
    let v = budget(
        &r,
        &within_budget(None, Some(60), Some(5.0), Some(60)),
        t(0),
        &[],
    );
    assert!(v.met, "{}", v.detail);
    assert_eq!(
        v.detail,
        "the mock client: 60 of 1500 requests failed (at most 60), 4% (at most 5%), 60 s with failures (at most 60 s)"
    );
    assert!(!budget(&r, &within_budget(None, None, None, Some(59)), t(0), &[]).met);
    // Only what happened after the play started counts.
    let v = budget(&r, &within_budget(None, Some(0), None, None), t(90), &[]);
    assert!(v.met, "{}", v.detail);
    // Another stream saw nothing yet: not met, and said so.
    let v = budget(
        &r,
        &within_budget(Some("new"), Some(0), None, None),
        t(0),
        &[],
    );
    assert!(
        !v.met && v.unknown,
        "nothing to judge yet is not a broken budget"
    );
    assert_eq!(v.detail, "stream new has not reported yet");
    assert!(
        budget(
            &r,
            &within_budget(Some("default"), Some(60), None, None),
            t(0),
            &[]
        )
        .met
    );
}

/// firedrill's own persistence reboot is left out of budgets and mitigate windows, until the
/// first clean second after it (services come up after SSH does).
#[test]
fn firedrill_reboots_are_not_counted() {
    let r = ClientReport::parse(std::path::Path::new("client.jsonl"), &synthetic_report());
    // The synthetic client fails one request in ten from 30 to 89.
    let reboot = Span {
        from: t(30),
        to: t(60),
    };
    let v = budget(
        &r,
        &within_budget(None, Some(0), None, None),
        t(0),
        &[reboot],
    );
    assert!(v.met, "{}", v.detail);
    assert_eq!(
        v.detail,
        "the mock client: 0 of 900 requests failed (at most 0)"
    );
    assert_eq!(
        mitigation(&r, &rule(99.0, 70, None), t(30), t(150), &[reboot]),
        Mitigation {
            met: false,
            detail: "60 s of traffic observed since the incident started (not counting firedrill's reboot and the service's recovery from it); 70 s are needed; so far 100% of requests succeeded (needs 99%): on track".into(),
            unknown: false,
        }
    );
    assert!(mitigation(&r, &rule(99.0, 60, None), t(30), t(150), &[reboot]).met);
    // Not recovered yet: everything from the reboot on is left out.
    let late = Span {
        from: t(85),
        to: t(149),
    };
    let v = budget(&r, &within_budget(None, None, None, None), t(80), &[late]);
    assert_eq!(v.detail, "the mock client: 5 of 50 requests failed");
}
