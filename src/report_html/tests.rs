use super::buckets::{self, Bucket};
use super::scale::{LogScale, TimeAxis, bucket_seconds, nice_max};
use super::*;
use crate::client::report::{ClassCounts, SecondRecord};
use chrono::{Duration, TimeZone};

/// 14:00:00 UTC on 2024-05-01 plus `s` seconds.
fn t(s: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 5, 1, 14, 0, 0)
        .single()
        .expect("valid")
        + Duration::seconds(s)
}

fn utc() -> FixedOffset {
    FixedOffset::east_opt(0).expect("utc")
}

/// A second of `stream`: `ok` answered, `timeouts` timed out, `dropped` dropped.
fn second(stream: &str, at: i64, ok: u64, timeouts: u64, dropped: u64, p99: f64) -> SecondRecord {
    SecondRecord {
        stream: stream.into(),
        second: u64::try_from(at).expect("a second"),
        ts: t(at),
        target_rate: None,
        sent: ok + timeouts,
        ok,
        failed: timeouts,
        dropped,
        classes: ClassCounts {
            refused: 0,
            timeout: timeouts,
            reset: 0,
            tls: 0,
            http5xx: 0,
            http4xx: 0,
            http413: 0,
            json: 0,
            other: 0,
        },
        p50_ms: Some(4.0),
        p99_ms: Some(p99),
        max_ms: Some(p99),
        success_ratio: None,
        inflight: 0,
        lag_max_ms: 0.1,
        retried: 0,
    }
}

#[test]
fn every_text_from_a_file_is_escaped() {
    assert_eq!(
        esc("<script>alert('x') & \"y\"</script>\u{7}\tok\n"),
        "&lt;script&gt;alert(&#39;x&#39;) &amp; &quot;y&quot;&lt;/script&gt;\u{fffd}\tok\n"
    );
}

#[test]
fn seconds_are_summed_in_buckets_only_when_they_outnumber_the_pixels() {
    assert_eq!(bucket_seconds(30), 1);
    assert_eq!(bucket_seconds(1000), 1);
    assert_eq!(bucket_seconds(1001), 2);
    assert_eq!(bucket_seconds(7200), 10);
    assert_eq!(bucket_seconds(86_400), 120);
    let axis = TimeAxis::new(t(0), t(7200));
    assert_eq!((axis.step, axis.buckets), (10, 720));
    let short = TimeAxis::new(t(0), t(30));
    assert_eq!((short.step, short.buckets), (1, 30));
}

#[test]
fn a_bucket_adds_counts_and_keeps_its_slowest_second() {
    let axis = TimeAxis::new(t(0), t(3000));
    assert_eq!(axis.step, 5);
    let seconds = [
        second("default", 0, 10, 0, 0, 40.0),
        second("default", 1, 8, 1, 1, 900.0),
        second("default", 4, 10, 0, 0, 50.0),
        second("default", 5, 10, 0, 0, 30.0),
    ];
    let b = buckets::sum(&axis, seconds.iter());
    assert_eq!(b.len(), 600);
    let first = b[0].clone().expect("seconds 0-4");
    assert_eq!((first.ok, first.bad, first.results()), (28, 2, 30));
    // timeout is the 2nd class, dropped the last.
    assert_eq!(first.classes[1], 1);
    assert_eq!(first.classes[buckets::CLASSES.len() - 1], 1);
    assert_eq!(first.p99, Some(900.0));
    assert_eq!(first.success(), Some(28.0 * 100.0 / 30.0));
    assert_eq!(b[1].as_ref().map(|b| b.ok), Some(10));
    assert_eq!(b[2], None);
    assert_eq!(Bucket::default().success(), None);
}

#[test]
fn time_ticks_fall_on_round_clock_times() {
    let axis = TimeAxis::new(t(0) + Duration::milliseconds(250), t(30));
    let labels: Vec<String> = axis.ticks(utc()).into_iter().map(|(_, l)| l).collect();
    assert_eq!(
        labels,
        [
            "14:00:05", "14:00:10", "14:00:15", "14:00:20", "14:00:25", "14:00:30"
        ]
    );
    let long = TimeAxis::new(t(0), t(7200));
    let labels: Vec<String> = long.ticks(utc()).into_iter().map(|(_, l)| l).collect();
    assert_eq!(
        labels,
        [
            "14:00", "14:15", "14:30", "14:45", "15:00", "15:15", "15:30", "15:45", "16:00"
        ]
    );
    // In the reader's zone.
    let plus2 = FixedOffset::east_opt(7200).expect("+02:00");
    let (x, label) = axis.ticks(plus2)[0].clone();
    assert_eq!(label, "16:00:05");
    assert!((x - axis.x(t(5))).abs() < 1e-9);
}

#[test]
fn counts_and_latency_get_round_scales() {
    assert_eq!(nice_max(0.0), 1.0);
    assert_eq!(nice_max(0.3), 0.5);
    assert_eq!(nice_max(1.0), 1.0);
    assert_eq!(nice_max(1.2), 2.0);
    assert_eq!(nice_max(7.0), 10.0);
    assert_eq!(nice_max(45.0), 50.0);
    let s = LogScale::around([5.0, 900.0, 12.0].into_iter()).expect("values");
    assert_eq!(s, LogScale { lo: 0, hi: 3 });
    let labels: Vec<String> = s.ticks().into_iter().map(|(_, l)| l).collect();
    assert_eq!(labels, ["1 ms", "10 ms", "100 ms", "1 s"]);
    assert_eq!(s.frac(100.0), 2.0 / 3.0);
    let fast = LogScale::around([0.02, 0.4].into_iter()).expect("values");
    assert_eq!(fast, LogScale { lo: -1, hi: 0 });
    assert_eq!(LogScale::around(std::iter::empty()), None);
}

/// A run of two streams with a hostile stream name and event.
fn page() -> String {
    let mut report = ClientReport::default();
    for s in 0..40 {
        let bad = u64::from((10..20).contains(&s));
        report
            .seconds
            .push(second("old<b>", s, 10 - bad, bad, 0, 30.0));
        report.seconds.push(second("new", s, 5, 0, 0, 8.0));
    }
    report.events.push(Event {
        ts: t(10),
        kind: EventKind::FaultInjected,
        node: Some("app1".into()),
        message: "fault <svg onload=alert(1)> injected".into(),
    });
    let summary = Summary::of(&report, t(0), t(40), "the start of the run", 99.9);
    let marks = report.events.iter().map(Mark::of_event).collect();
    render(&Timeline {
        title: "Run & <friends>".into(),
        facts: vec![("Requests".into(), "GET http://a/todos?x=1&y=2".into())],
        report: &report,
        from: t(0),
        to: t(40),
        summary,
        marks,
        zone: utc(),
        footer: "Written by a test.".into(),
    })
}

#[test]
fn the_page_is_self_contained_and_escapes_what_it_was_given() {
    let html = page();
    for banned in [
        "<script",
        "src=",
        "href=",
        "<link",
        "url(",
        "@import",
        "<svg onload",
    ] {
        assert!(!html.contains(banned), "{banned} in the page:\n{html}");
    }
    assert!(
        html.contains("<title>Run &amp; &lt;friends&gt;</title>"),
        "{html}"
    );
    assert!(
        html.contains("fault-injected (app1): fault &lt;svg onload=alert(1)&gt; injected"),
        "{html}"
    );
    assert!(html.contains("GET http://a/todos?x=1&amp;y=2"), "{html}");
}

#[test]
fn each_stream_has_its_own_panels_and_the_summary_counts_them_all() {
    let html = page();
    assert!(html.contains(">Stream old&lt;b&gt;</tspan>"), "{html}");
    assert!(html.contains(">Stream new</tspan>"), "{html}");
    assert!(html.contains("400 requests, 10 failed"), "{html}");
    assert!(html.contains("200 requests, 0 failed"), "{html}");
    assert_eq!(html.matches("success (% of requests)").count(), 2);
    // 600 requests, 10 failed: 10 s of outage from 14:00:10, mitigated at 14:00:20.
    assert!(html.contains("<div class=\"value\">600</div>"), "{html}");
    assert!(
        html.contains("<div class=\"value\">10 (1.67%)</div>"),
        "{html}"
    );
    assert!(
        html.contains("<div class=\"value\">10s</div><div class=\"detail\">14:00:10 to 14:00:20: every second had a failure</div>"),
        "{html}"
    );
    assert!(
        html.contains("first failure 14:00:10, errors stop 14:00:20"),
        "{html}"
    );
    // The legend names only the classes that occurred.
    assert!(html.contains("</i>timeout</span>"), "{html}");
    assert!(!html.contains("</i>refused</span>"), "{html}");
}

#[test]
fn a_run_without_seconds_or_marks_still_makes_a_page() {
    let report = ClientReport::default();
    let html = render(&Timeline {
        title: "Empty".into(),
        facts: Vec::new(),
        report: &report,
        from: t(10),
        // An end before the start (a clock set back) still gives a one-second axis.
        to: t(5),
        summary: Summary::of(&report, t(10), t(5), "the start of the run", 99.9),
        marks: Vec::new(),
        zone: utc(),
        footer: String::new(),
    });
    assert!(
        html.contains("The mock client recorded no second in this time."),
        "{html}"
    );
    assert!(
        html.contains("<p>Nothing was recorded besides the client's traffic.</p>"),
        "{html}"
    );
    assert!(html.contains("<div class=\"value\">0</div>"), "{html}");
    assert!(html.contains("no request failed"), "{html}");
    assert!(html.ends_with("</html>\n"), "{html}");
}
