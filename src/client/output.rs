//! What the learner reads: one line per second, events on their own lines, and the summary. Pure
//! rendering; color only when asked (stdout is a terminal and NO_COLOR is unset).

use super::class::Class;
use super::stats::{Percentiles, SecondStats, Totals};
use crate::events::Event;
use chrono::{DateTime, FixedOffset, Utc};
use std::fmt::Write;
use std::time::Duration;

/// How to print: in color or not, and in which time zone.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Style {
    pub(crate) color: bool,
    pub(crate) zone: FixedOffset,
}

const RED: &str = "\x1b[31m";
const GREEN: &str = "\x1b[32m";
const YELLOW: &str = "\x1b[33m";
const CYAN: &str = "\x1b[36m";
const BOLD: &str = "\x1b[1m";
const RESET: &str = "\x1b[0m";

impl Style {
    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("{code}{text}{RESET}")
        } else {
            text.to_string()
        }
    }

    fn clock(&self, t: DateTime<Utc>, millis: bool) -> String {
        let local = t.with_timezone(&self.zone);
        if millis {
            local.format("%H:%M:%S%.3f").to_string()
        } else {
            local.format("%H:%M:%S").to_string()
        }
    }
}

pub(crate) fn fmt_latency(d: Duration) -> String {
    fmt_ms(d.as_secs_f64() * 1000.0)
}

/// `0.42ms`, `12.3ms`, `250ms`, `1.25s`: three significant digits, enough to compare.
pub(crate) fn fmt_ms(ms: f64) -> String {
    if ms >= 1000.0 {
        format!("{:.2}s", ms / 1000.0)
    } else if ms >= 100.0 {
        format!("{ms:.0}ms")
    } else if ms >= 10.0 {
        format!("{ms:.1}ms")
    } else {
        format!("{ms:.2}ms")
    }
}

fn fmt_percent(ratio: f64) -> String {
    format!("{:.2}%", ratio * 100.0)
}

/// The failure classes with a count, `5xx 3 timeout 1`; empty when there were none.
fn breakdown(counts: &super::stats::Counts) -> String {
    Class::FAILED
        .iter()
        .filter(|&&c| counts.get(c) > 0)
        .map(|&c| format!("{} {}", c.name(), counts.get(c)))
        .collect::<Vec<_>>()
        .join(" ")
}

fn fmt_percentiles(p: Option<Percentiles>, with_p90: bool) -> String {
    match p {
        None => "p50 -  p99 -  max -".to_string(),
        Some(p) if with_p90 => format!(
            "p50 {}  p90 {}  p99 {}  max {}",
            fmt_ms(p.p50),
            fmt_ms(p.p90),
            fmt_ms(p.p99),
            fmt_ms(p.max)
        ),
        Some(p) => format!(
            "p50 {}  p99 {}  max {}",
            fmt_ms(p.p50),
            fmt_ms(p.p99),
            fmt_ms(p.max)
        ),
    }
}

/// `14:03:07 +5s  sent 50  ok 48  failed 2 (5xx 2)  dropped 0  inflight 1  p50 ... 96.00% ok`;
/// with a `label` (the stream's name, when a run has several) after the time: `+5s  old  sent`;
/// with a `target` (a ramp's rate in this second) before the counts: `+5s  target 20/s  sent`.
pub(crate) fn second_line(
    s: &SecondStats,
    start: DateTime<Utc>,
    slo: f64,
    label: Option<&str>,
    target: Option<f64>,
    style: Style,
) -> String {
    let at = start + Duration::from_secs(s.second);
    let failed = s.counts.failed();
    let dropped = s.counts.get(Class::Dropped);
    let mut line = format!("{} +{}s  ", style.clock(at, false), s.second);
    if let Some(name) = label {
        line.push_str(&style.paint(BOLD, name));
        line.push_str("  ");
    }
    if let Some(rate) = target {
        let _ = write!(line, "target {rate}/s  ");
    }
    let _ = write!(line, "sent {}  ok {}  ", s.sent, s.counts.get(Class::Ok));
    if failed > 0 {
        let text = format!("failed {} ({})", failed, breakdown(&s.counts));
        line.push_str(&style.paint(RED, &text));
    } else {
        line.push_str("failed 0");
    }
    line.push_str("  ");
    let dropped_text = format!("dropped {dropped}");
    if dropped > 0 {
        line.push_str(&style.paint(RED, &dropped_text));
    } else {
        line.push_str(&dropped_text);
    }
    let _ = write!(
        line,
        "  inflight {}  {}  ",
        s.inflight,
        fmt_percentiles(s.latency, false)
    );
    match s.success_ratio() {
        None => line.push_str("-% ok"),
        Some(r) => {
            let code = if r * 100.0 >= slo {
                GREEN
            } else if r >= 0.9 {
                YELLOW
            } else {
                RED
            };
            line.push_str(&style.paint(code, &format!("{} ok", fmt_percent(r))));
        }
    }
    if s.retried > 0 {
        let _ = write!(line, "  retried {}", s.retried);
    }
    line
}

/// `14:03:07.123  event fault-injected: fault disk-full injected on app1`
pub(crate) fn event_line(e: &Event, style: Style) -> String {
    let text = format!("event {}: {}", e.kind, e.message);
    format!(
        "{}  {}",
        style.clock(e.ts, true),
        style.paint(&format!("{BOLD}{CYAN}"), &text)
    )
}

/// What the summary needs besides the totals.
#[derive(Debug, Clone)]
pub(crate) struct RunInfo {
    pub(crate) start: DateTime<Utc>,
    pub(crate) elapsed: Duration,
    /// The rate, or for a ramp the mean target over the run.
    pub(crate) target_rate: f64,
    /// A ramp's stages, as written.
    pub(crate) ramp: Option<String>,
    pub(crate) slo: f64,
    /// The stream's name, when the run has several.
    pub(crate) stream: Option<String>,
}

pub(crate) fn summary(t: &Totals, run: &RunInfo, style: Style) -> String {
    let mut out = String::new();
    let end = run.start + run.elapsed;
    let achieved = t
        .achieved_rate
        .map_or("-".to_string(), |r| format!("{r:.1}/s"));
    let title = match &run.stream {
        Some(name) => format!("summary of stream {name}"),
        None => "summary".to_string(),
    };
    let target = match &run.ramp {
        None => format!("{}/s", run.target_rate),
        Some(stages) => format!("ramp {stages} (mean {:.1}/s)", run.target_rate),
    };
    let _ = writeln!(
        out,
        "{} {} to {} ({:.1}s), target {target}, achieved {}",
        style.paint(BOLD, &title),
        style.clock(run.start, false),
        style.clock(end, false),
        run.elapsed.as_secs_f64(),
        achieved,
    );
    let _ = writeln!(
        out,
        "  scheduled {}  sent {}  ok {}  failed {}  dropped {}",
        t.scheduled(),
        t.sent,
        t.counts.get(Class::Ok),
        t.counts.failed(),
        t.counts.get(Class::Dropped)
    );
    for class in Class::ALL.iter().filter(|c| **c != Class::Ok) {
        let n = t.counts.get(*class);
        if n == 0 {
            continue;
        }
        let reason = t
            .reasons
            .iter()
            .find(|(c, _)| c == class)
            .map_or("", |(_, r)| r.as_str());
        let _ = writeln!(out, "  {:<8} {:>7}  {}", class.name(), n, reason);
    }
    if t.retried > 0 {
        let _ = writeln!(
            out,
            "  retried  {:>7}  GET/HEAD sent again on a new connection: the reused keep-alive one closed before answering",
            t.retried
        );
    }
    let _ = writeln!(out, "  latency  {}", fmt_percentiles(t.latency, true));
    // The client's own share of every latency above: how late it sent.
    let _ = writeln!(out, "  client lag  {}", fmt_percentiles(t.lag, true));
    match &t.longest_failure {
        None => {
            let _ = writeln!(out, "  longest failure stretch: none");
        }
        Some(s) => {
            let _ = writeln!(
                out,
                "  longest failure stretch: {} requests, {} to {} ({:.2}s)",
                s.requests,
                style.clock(run.start + s.start, true),
                style.clock(run.start + s.end, true),
                (s.end - s.start).as_secs_f64()
            );
        }
    }
    match t.availability() {
        None => {
            let _ = writeln!(out, "  availability: no requests were scheduled");
        }
        Some(a) => {
            let verdict = if a >= run.slo {
                style.paint(GREEN, "met")
            } else {
                style.paint(RED, "MISSED")
            };
            let _ = writeln!(
                out,
                "  availability {a:.3}% against an SLO of {}%: {verdict}",
                run.slo
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::outage::Stretch;
    use crate::client::request::Outcome;
    use crate::client::stats::Stats;
    use crate::events::EventKind;
    use chrono::TimeZone;

    fn plain() -> Style {
        Style {
            color: false,
            zone: FixedOffset::east_opt(0).expect("utc"),
        }
    }

    fn start() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 5, 1, 14, 3, 2)
            .single()
            .expect("valid")
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn sample() -> SecondStats {
        let mut s = Stats::new();
        s.sent(ms(0), ms(0));
        s.sent(ms(500), ms(0));
        s.done(
            0,
            ms(0),
            ms(2),
            &Outcome {
                class: Class::Ok,
                latency: Some(ms(2)),
                reason: None,
                ack: None,
                retried: false,
            },
        );
        s.done(
            1,
            ms(500),
            ms(530),
            &Outcome {
                class: Class::Http5xx,
                latency: Some(ms(30)),
                reason: Some("HTTP 500".into()),
                ack: None,
                retried: false,
            },
        );
        s.dropped(2, ms(700), "every slot busy");
        s.flush(0)
    }

    #[test]
    fn second_line_plain() {
        assert_eq!(
            second_line(&sample(), start(), 99.9, None, None, plain()),
            "14:03:02 +0s  sent 2  ok 1  failed 1 (5xx 1)  dropped 1  inflight 0  p50 2.00ms  p99 30.0ms  max 30.0ms  33.33% ok"
        );
    }

    #[test]
    fn second_line_color_marks_failures_and_ratio() {
        let style = Style {
            color: true,
            ..plain()
        };
        let line = second_line(&sample(), start(), 99.9, None, None, style);
        assert!(line.contains("\x1b[31mfailed 1 (5xx 1)\x1b[0m"), "{line}");
        assert!(line.contains("\x1b[31m33.33% ok\x1b[0m"), "{line}");
    }

    #[test]
    fn event_line_plain() {
        let e = Event {
            ts: start() + ms(1234),
            kind: EventKind::FaultInjected,
            node: Some("app1".into()),
            message: "fault disk-full injected on app1".into(),
        };
        assert_eq!(
            event_line(&e, plain()),
            "14:03:03.234  event fault-injected: fault disk-full injected on app1"
        );
    }

    #[test]
    fn latency_formats() {
        assert_eq!(fmt_ms(0.4249), "0.42ms");
        assert_eq!(fmt_ms(12.34), "12.3ms");
        assert_eq!(fmt_ms(250.4), "250ms");
        assert_eq!(fmt_ms(1250.0), "1.25s");
        assert_eq!(fmt_latency(Duration::from_secs(2)), "2.00s");
    }

    #[test]
    fn summary_plain() {
        let mut s = Stats::new();
        for i in 0..4u64 {
            s.sent(ms(i * 100), ms(0));
        }
        s.done(
            0,
            ms(0),
            ms(1),
            &Outcome {
                class: Class::Ok,
                latency: Some(ms(1)),
                reason: None,
                ack: None,
                retried: false,
            },
        );
        s.done(
            1,
            ms(100),
            ms(101),
            &Outcome {
                class: Class::Http5xx,
                latency: Some(ms(1)),
                reason: Some("HTTP 500".into()),
                ack: None,
                retried: false,
            },
        );
        s.done(
            2,
            ms(200),
            ms(201),
            &Outcome {
                class: Class::Http5xx,
                latency: Some(ms(1)),
                reason: Some("HTTP 503".into()),
                ack: None,
                retried: false,
            },
        );
        s.done(
            3,
            ms(300),
            ms(301),
            &Outcome {
                class: Class::Ok,
                latency: Some(ms(1)),
                reason: None,
                ack: None,
                retried: false,
            },
        );
        let t = s.finish();
        assert_eq!(
            t.longest_failure,
            Some(Stretch {
                first: 1,
                last: 2,
                start: ms(100),
                end: ms(200),
                requests: 2
            })
        );
        let run = RunInfo {
            start: start(),
            elapsed: ms(400),
            target_rate: 10.0,
            ramp: None,
            slo: 99.9,
            stream: None,
        };
        assert_eq!(
            summary(&t, &run, plain()),
            "summary 14:03:02 to 14:03:02 (0.4s), target 10/s, achieved 10.0/s\n\
             \x20 scheduled 4  sent 4  ok 2  failed 2  dropped 0\n\
             \x20 5xx            2  HTTP 500\n\
             \x20 latency  p50 1.00ms  p90 1.00ms  p99 1.00ms  max 1.00ms\n\
             \x20 client lag  p50 0.00ms  p90 0.00ms  p99 0.00ms  max 0.00ms\n\
             \x20 longest failure stretch: 2 requests, 14:03:02.100 to 14:03:02.200 (0.10s)\n\
             \x20 availability 50.000% against an SLO of 99.9%: MISSED\n"
        );
    }
}
