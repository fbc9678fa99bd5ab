//! Reading the mock client's `--report` file (see `client::report`): one `"type": "second"`
//! object per second, `"type": "event"` lines, and a summary at the end. The mitigate check,
//! the score's error budget and the incident timeline are all computed from the seconds here.

use super::LevelError;
use super::level::{ClientBudget, Mitigate};
use crate::client::report::Record;
use crate::jsonl::BadLine;
use chrono::{DateTime, Utc};
use std::path::Path;

/// One second of the client's run, as the client wrote it (one type for writer and reader).
pub(crate) use crate::client::report::SecondRecord as Second;
/// An event of the lab's log, as the client copied it into its report.
pub(crate) use crate::events::Event as ReportEvent;

#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct ClientReport {
    pub seconds: Vec<Second>,
    pub events: Vec<ReportEvent>,
    /// Lines that are not a record: torn by a crash, or the one being written right now.
    pub damaged: Vec<BadLine>,
}

impl ClientReport {
    /// The report `file` holds `text`. Records of kinds this build does not know (a newer
    /// client's) are skipped; lines that are no record at all are kept in `damaged`.
    pub(crate) fn parse(file: &Path, text: &str) -> ClientReport {
        let (lines, damaged) = crate::jsonl::parse::<Record>(file, text, 1);
        let mut report = ClientReport {
            damaged,
            ..ClientReport::default()
        };
        for line in lines {
            match line {
                Record::Second(s) => report.seconds.push(s),
                Record::Event(e) => report.events.push(e),
                Record::Summary(_) | Record::Unknown => {}
            }
        }
        report
    }

    /// A report that does not exist yet is empty: the client may not have written a second.
    pub(crate) fn read(path: &Path) -> Result<ClientReport, LevelError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Ok(ClientReport::parse(path, &text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ClientReport::default()),
            Err(source) => Err(LevelError::Read {
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    /// The seconds that start in `[from, to)`.
    pub(crate) fn between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<&Second> {
        self.seconds
            .iter()
            .filter(|s| s.ts >= from && s.ts < to)
            .collect()
    }

    /// Requests answered and failed (or dropped) in `[from, to)`, and the seconds they span.
    pub(crate) fn totals(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Totals {
        let seconds = self.between(from, to);
        // Seconds of wall clock: the streams of a run each write a line for every second.
        let mut clock: Vec<DateTime<Utc>> = seconds.iter().map(|s| s.ts).collect();
        clock.sort();
        clock.dedup();
        Totals {
            results: seconds.iter().map(|s| s.results()).sum(),
            bad: seconds.iter().map(|s| s.bad()).sum(),
            seconds: clock.len() as u64,
        }
    }

    /// The start of the first second with a failure at or after `from`.
    pub(crate) fn first_error(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        self.between(from, to)
            .into_iter()
            .find(|s| s.bad() > 0)
            .map(|s| s.ts)
    }

    /// When errors stopped for good before `to`: the end of the last second with a failure,
    /// if a second without failures follows it. `None` while it still fails (or never did).
    pub(crate) fn mitigated_at(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        let seconds = self.between(from, to);
        // By time, not by position: the seconds of several streams interleave.
        let last_bad = seconds.iter().filter(|s| s.bad() > 0).map(|s| s.ts).max()?;
        let after = seconds
            .iter()
            .map(|s| s.ts)
            .filter(|&ts| ts > last_bad)
            .min()?;
        seconds
            .iter()
            .any(|s| s.ts == after && s.ok > 0)
            .then_some(after)
    }

    /// The longest run of consecutive seconds in `[from, to)` with a failure in any stream: the
    /// start of its first second and the end of its last (the earliest run when several tie).
    pub(crate) fn longest_outage(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        let mut bad: Vec<DateTime<Utc>> = self
            .between(from, to)
            .into_iter()
            .filter(|s| s.bad() > 0)
            .map(|s| s.ts)
            .collect();
        bad.sort();
        bad.dedup();
        let second = chrono::Duration::seconds(1);
        let mut best: Option<(DateTime<Utc>, DateTime<Utc>)> = None;
        let mut run: Option<(DateTime<Utc>, DateTime<Utc>)> = None;
        for ts in bad {
            run = match run {
                Some((start, end)) if ts == end => Some((start, ts + second)),
                _ => Some((ts, ts + second)),
            };
            if let Some((start, end)) = run
                && best.is_none_or(|(a, b)| end - start > b - a)
            {
                best = run;
            }
        }
        best
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Totals {
    pub results: u64,
    pub bad: u64,
    pub seconds: u64,
}

/// The verdict of a mitigate check and what the learner is told.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Mitigation {
    pub met: bool,
    pub detail: String,
    /// Nothing to judge yet (the client has not reported): not met, and no one's damage.
    pub unknown: bool,
}

/// A stretch of time when firedrill itself disturbed the service (a persistence reboot by
/// `check`): what the client saw then is not the learner's doing, so neither mitigate windows
/// nor budgets count it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Span {
    pub(crate) from: DateTime<Utc>,
    pub(crate) to: DateTime<Utc>,
}

/// The seconds not disturbed by firedrill: a span is left out from its start until the first
/// second after its end in which requests were answered and none failed (a rebooted node's
/// services come up after SSH does). Without such a second yet, everything after the span's
/// start is left out.
fn undisturbed<'a>(seconds: &'a [Second], excluded: &[Span]) -> Vec<&'a Second> {
    let ends: Vec<(DateTime<Utc>, Option<DateTime<Utc>>)> = excluded
        .iter()
        .map(|span| {
            let recovered = seconds
                .iter()
                .filter(|s| s.ts > span.to)
                .filter(|s| {
                    // Every stream of that second answered cleanly.
                    let same: Vec<&Second> = seconds.iter().filter(|o| o.ts == s.ts).collect();
                    same.iter().all(|o| o.bad() == 0) && same.iter().any(|o| o.ok > 0)
                })
                .map(|s| s.ts)
                .next();
            (span.from, recovered)
        })
        .collect();
    seconds
        .iter()
        .filter(|s| {
            !ends
                .iter()
                .any(|(from, until)| s.ts >= *from && until.is_none_or(|u| s.ts < u))
        })
        .collect()
}

/// A report whose newest second is older than this means the client is not running.
const STALE_S: i64 = 10;

/// Whether the client saw at least `success_percent` over the last `seconds` (all of them after
/// `since`, the start of the incident), and no second above `p99_ms`.
pub(crate) fn mitigation(
    report: &ClientReport,
    m: &Mitigate,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
    excluded: &[Span],
) -> Mitigation {
    let not = |detail: String| Mitigation {
        met: false,
        detail,
        unknown: false,
    };
    let Some(newest) = report.seconds.last() else {
        return not("the mock client has not reported yet".to_string());
    };
    let age = (now - newest.ts).num_seconds();
    if age > STALE_S {
        return not(format!(
            "the mock client stopped reporting {age} s ago; `firedrill reset` and play again to restart it"
        ));
    }
    let window: Vec<&Second> = undisturbed(&report.seconds, excluded)
        .into_iter()
        .filter(|s| s.ts >= since)
        .collect();
    let want = m.seconds as usize;
    if window.len() < want {
        let after_reboot = if excluded.is_empty() {
            ""
        } else {
            " (not counting firedrill's reboot and the service's recovery from it)"
        };
        let mut detail = format!(
            "{} s of traffic observed since the incident started{after_reboot}; {want} s are needed",
            window.len()
        );
        // How the window is going, so a learner (and the Level CI) can tell a service that
        // serves but has not been watched long enough from one that fails.
        if let Some((on_track, figures)) = judge_window(&window, m, "") {
            detail += &format!("; so far {figures}");
            if on_track {
                detail += ON_TRACK;
            }
        }
        return not(detail);
    }
    let window = &window[window.len() - want..];
    match judge_window(window, m, &format!(" over the last {want} s")) {
        Some((met, detail)) => Mitigation {
            met,
            detail,
            unknown: false,
        },
        None => not(format!("no request was answered in the last {want} s")),
    }
}

/// Ends the note of a mitigate window that is not full yet but meets its thresholds so far.
const ON_TRACK: &str = ": on track";

/// Whether the seconds of `window` meet `m`'s thresholds, and the figures as `check` shows
/// them (`over` says which seconds they are); `None` when no request was answered in them.
fn judge_window(window: &[&Second], m: &Mitigate, over: &str) -> Option<(bool, String)> {
    let ok: u64 = window.iter().map(|s| s.ok).sum();
    let results: u64 = window.iter().map(|s| s.results()).sum();
    if results == 0 {
        return None;
    }
    let pct = ok as f64 * 100.0 / results as f64;
    let mut detail = format!(
        "{} of requests succeeded{over} (needs {})",
        percent(pct),
        percent(m.success_percent)
    );
    let mut met = pct >= m.success_percent;
    if let Some(limit) = m.p99_ms {
        let worst = window
            .iter()
            .filter_map(|s| s.p99_ms)
            .fold(0.0_f64, f64::max);
        detail += &format!("; slowest p99 {worst:.0} ms (needs at most {limit:.0} ms)");
        met &= worst <= limit;
    }
    Some((met, detail))
}

/// Whether what the mock client saw since `since` (one stream, or all) stays within `b`.
/// Seconds in `excluded` (firedrill's own reboots) are not counted.
pub(crate) fn budget(
    report: &ClientReport,
    b: &ClientBudget,
    since: DateTime<Utc>,
    excluded: &[Span],
) -> Mitigation {
    let stream = b.stream.as_ref().map(|s| s.value.as_str());
    let seconds: Vec<&Second> = undisturbed(&report.seconds, excluded)
        .into_iter()
        .filter(|s| s.ts >= since)
        .filter(|s| stream.is_none_or(|want| s.stream == want))
        .collect();
    let who = stream.map_or("the mock client".to_string(), |s| format!("stream {s}"));
    if seconds.is_empty() {
        return Mitigation {
            met: false,
            detail: format!("{who} has not reported yet"),
            unknown: true,
        };
    }
    let bad: u64 = seconds.iter().map(|s| s.bad()).sum();
    let all: u64 = seconds.iter().map(|s| s.results()).sum();
    // Seconds of wall clock with any failure, whichever stream saw it.
    let mut bad_seconds: Vec<DateTime<Utc>> = seconds
        .iter()
        .filter(|s| s.bad() > 0)
        .map(|s| s.ts)
        .collect();
    bad_seconds.dedup();
    let pct = if all == 0 {
        0.0
    } else {
        bad as f64 * 100.0 / all as f64
    };
    let mut met = true;
    let mut detail = format!("{who}: {bad} of {all} requests failed");
    if let Some(max) = b.max_failed {
        met &= bad <= max;
        detail += &format!(" (at most {max})");
    }
    if let Some(max) = b.max_failed_percent {
        met &= pct <= max;
        detail += &format!(", {} (at most {})", percent(pct), percent(max));
    }
    if let Some(max) = b.max_bad_seconds {
        met &= bad_seconds.len() as u64 <= max;
        detail += &format!(", {} s with failures (at most {max} s)", bad_seconds.len());
    }
    Mitigation {
        met,
        detail,
        unknown: false,
    }
}

/// `99.5%`, `100%`, `97.25%`: at most two decimals, no trailing zeros.
pub(crate) fn percent(p: f64) -> String {
    let s = format!("{p:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    format!("{s}%")
}

#[cfg(test)]
#[path = "client_report_tests.rs"]
mod tests;
