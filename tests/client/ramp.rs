//! `--ramp`: a step load whose sent rate follows its stages, and the target in every record.

use super::Client;
use super::server::{Server, healthy};
use serde_json::Value;
use std::time::Duration;

/// 10/s for 2 s, 30/s for 2 s, 60/s for 2 s, then 60/s holds to the end of 7 s: 20 + 60 + 120 +
/// 60 = 260 requests.
#[test]
fn the_sent_rate_follows_the_stages_and_the_last_one_holds() {
    let server = Server::start(|_, req| healthy(req));
    let run = Client::new()
        .args(&[
            "--url",
            &server.url(),
            "--ramp",
            "10:2,30:2,60:2",
            "--duration",
            "7s",
        ])
        .with_report()
        .run(Duration::from_secs(20));
    assert_eq!(
        run.code, 0,
        "stdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
    assert_eq!(run.count("scheduled"), 260);
    assert_eq!(run.count("ok"), 260);
    assert_eq!(server.received().len(), 260);
    let seconds = run.seconds();
    let targets: Vec<f64> = seconds
        .iter()
        .map(|s| s["target_rate"].as_f64().expect("a target rate"))
        .collect();
    assert_eq!(targets, [10.0, 10.0, 30.0, 30.0, 60.0, 60.0, 60.0]);
    // Each second sends about its target: a send that slips past a second's end (a busy
    // machine) moves to the next one, so allow a few either way.
    for s in &seconds {
        let (sent, target) = (
            s["sent"].as_u64().expect("sent"),
            s["target_rate"].as_f64().expect("target"),
        );
        let slack = 3.0 + target * 0.1;
        assert!(
            (sent as f64 - target).abs() <= slack,
            "second {}: sent {sent}, target {target}\n{}",
            s["second"],
            run.stdout
        );
    }
    // Per stage the counts are exact but for a request or two at each boundary.
    let sent_in = |range: std::ops::Range<usize>| -> u64 {
        seconds[range]
            .iter()
            .map(|s| s["sent"].as_u64().expect("sent"))
            .sum()
    };
    for (range, want) in [(0..2, 20i64), (2..4, 60), (4..7, 180)] {
        let got = sent_in(range.clone()) as i64;
        assert!(
            (got - want).abs() <= 3,
            "seconds {range:?}: sent {got}, want {want}"
        );
    }
    // The lines show the ramp's target; the summary its stages and mean.
    assert!(
        run.stdout.contains(" +2s  target 30/s  sent "),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("target ramp 10:2,30:2,60:2 (mean 37.1/s)"),
        "{}",
        run.stdout
    );
    let summary = run.summary();
    assert_eq!(summary["ramp"], Value::from("10:2,30:2,60:2"));
}
