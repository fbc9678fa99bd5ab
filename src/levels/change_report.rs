//! The Markdown change report `firedrill report` writes for an exercise: the ticket, a timeline
//! of the change against what the customers saw (the mock client's success and latency in
//! buckets of a few seconds, with the lab's events, hints and checks in the bucket they fell
//! in), each stream's totals, the write ledger's verdict, the score, the debrief, and the
//! sections of a change review for the learner. Pure, like the incident report.

use super::client_report::{Second, percent};
use super::incident::Input;
use super::score::{Outcome, explain};
use crate::report_html::{Mark, MarkKind};
use chrono::{DateTime, Duration, Utc};
use std::collections::BTreeMap;
use std::fmt::Write;

/// At most this many rows of client buckets: the bucket grows with the play.
const MAX_ROWS: i64 = 90;

fn hms(t: DateTime<Utc>) -> String {
    t.format("%H:%M:%S").to_string()
}

/// Seconds per bucket: 10, or a multiple of 10 that keeps the table under `MAX_ROWS` rows.
fn bucket_seconds(span: Duration) -> i64 {
    let per = (span.num_seconds() + MAX_ROWS - 1) / MAX_ROWS;
    ((per + 9) / 10 * 10).max(10)
}

/// What happened at a time, besides the client: the play's own steps and the lab's events (the
/// Markdown timeline's notes and the HTML chart's marks).
pub(super) fn happenings(i: &Input, end: DateTime<Utc>) -> Vec<Mark> {
    let play = i.play;
    let clock = play.started_at.unwrap_or(play.prepared_at);
    let mut rows = vec![Mark::new(
        clock,
        MarkKind::Phase,
        "change window opens (ticket delivered)",
    )];
    rows.extend(super::incident::event_marks(
        i.report,
        clock,
        end,
        &["level-started"],
        "",
    ));
    if play.end.is_some() {
        rows.extend(super::incident::gm_marks(play));
    }
    for (n, at) in play.hints.iter().enumerate() {
        rows.push(Mark::new(
            *at,
            MarkKind::Hint,
            format!("hint {} taken", n + 1),
        ));
    }
    for c in &play.checks {
        rows.push(Mark::new(
            c.at,
            MarkKind::Check,
            format!(
                "check: {} of {} objectives met{}",
                c.met,
                c.objectives,
                match (c.guards_ok, c.guards_unknown) {
                    (true, _) => "",
                    (false, true) => ", a guard not judged yet",
                    (false, false) => ", a guard broken",
                }
            ),
        ));
    }
    if let Some(e) = &play.end {
        let what = match e.outcome {
            Outcome::Solved => "done: every objective met, every guard held",
            Outcome::GaveUp => "the learner gave up",
            Outcome::Reset => "the exercise was reset",
        };
        rows.push(Mark::new(e.at, MarkKind::Phase, what));
    }
    rows.sort_by_key(|m| m.at);
    rows
}

/// One bucket of the client's seconds, all streams together, and the streams that failed.
#[derive(Default)]
struct Bucket {
    results: u64,
    bad: u64,
    p99: f64,
    failing: BTreeMap<String, u64>,
}

fn add(b: &mut Bucket, s: &Second) {
    b.results += s.results();
    b.bad += s.bad();
    b.p99 = b.p99.max(s.p99_ms.unwrap_or(0.0));
    if s.bad() > 0 {
        *b.failing.entry(s.stream.clone()).or_default() += s.bad();
    }
}

fn timeline(out: &mut String, i: &Input, from: DateTime<Utc>, end: DateTime<Utc>) {
    let step = bucket_seconds(end - from);
    let _ = writeln!(
        out,
        "\n## Timeline (UTC): the change against what customers saw\n\n\
         Each row is {step} s of the mock client (every stream together): requests answered,\n\
         failed, the success rate and the slowest second's p99; then what happened in it.\n\n\
         | Time | Requests | Failed | Success | p99 | What happened |\n|---|---:|---:|---:|---:|---|"
    );
    let mut buckets: BTreeMap<i64, Bucket> = BTreeMap::new();
    for s in i.report.between(from, end) {
        add(
            buckets
                .entry((s.ts - from).num_seconds() / step)
                .or_default(),
            s,
        );
    }
    let mut events: BTreeMap<i64, Vec<String>> = BTreeMap::new();
    for m in happenings(i, end) {
        let k = ((m.at - from).num_seconds() / step).max(0);
        events.entry(k).or_default().push(m.text);
    }
    let last = buckets
        .keys()
        .chain(events.keys())
        .max()
        .copied()
        .unwrap_or(0);
    for k in 0..=last {
        let b = buckets.remove(&k).unwrap_or_default();
        let mut what = events.remove(&k).unwrap_or_default();
        if !b.failing.is_empty() && b.failing.len() < 2 && b.failing.contains_key("default") {
            // One stream: the Failed column says it all.
        } else if !b.failing.is_empty() {
            let per: Vec<String> = b.failing.iter().map(|(s, n)| format!("{s} {n}")).collect();
            what.push(format!("failed by stream: {}", per.join(", ")));
        }
        if b.results == 0 && what.is_empty() {
            continue;
        }
        let success = if b.results == 0 {
            "-".to_string()
        } else {
            percent((b.results - b.bad) as f64 * 100.0 / b.results as f64)
        };
        let mark = if b.bad > 0 { " **!**" } else { "" };
        let p99 = if b.results == 0 {
            "-".to_string()
        } else {
            format!("{:.0} ms", b.p99)
        };
        let _ = writeln!(
            out,
            "| {} | {} | {}{mark} | {success} | {p99} | {} |",
            hms(from + Duration::seconds(k * step)),
            b.results,
            b.bad,
            what.join("; ")
        );
    }
}

/// Totals per stream over the change window.
fn customers(out: &mut String, i: &Input, from: DateTime<Utc>, end: DateTime<Utc>) {
    let _ = writeln!(
        out,
        "\n## What the customers saw\n\n| Stream | Requests | Failed | Success | Seconds with failures | Worst p99 |\n|---|---:|---:|---:|---:|---:|"
    );
    let mut streams: BTreeMap<&str, Vec<&Second>> = BTreeMap::new();
    for s in i.report.between(from, end) {
        streams.entry(s.stream.as_str()).or_default().push(s);
    }
    if streams.is_empty() {
        let _ = writeln!(out, "| - | 0 | 0 | - | 0 | - |");
    }
    for (name, seconds) in streams {
        let results: u64 = seconds.iter().map(|s| s.results()).sum();
        let bad: u64 = seconds.iter().map(|s| s.bad()).sum();
        let bad_seconds = seconds.iter().filter(|s| s.bad() > 0).count();
        let p99 = seconds
            .iter()
            .filter_map(|s| s.p99_ms)
            .fold(0.0_f64, f64::max);
        let success = if results == 0 {
            "-".to_string()
        } else {
            percent((results - bad) as f64 * 100.0 / results as f64)
        };
        let _ = writeln!(
            out,
            "| {name} | {results} | {bad} | {success} | {bad_seconds} | {p99:.0} ms |"
        );
    }
    // What kind of failure each was: a timeout (slow), refused or reset (nothing listening, a
    // restart), 5xx (the app or the load balancer said so).
    let kinds = streams_kinds(i.report.between(from, end).into_iter());
    if !kinds.is_empty() {
        let _ = writeln!(out, "\nFailed requests by kind: {}.", kinds.join("; "));
    }
    let ledger = i.play.checks.iter().rev().find(|c| !c.ledger.is_empty());
    match ledger {
        Some(c) => {
            for l in &c.ledger {
                let _ = writeln!(out, "\nWrite ledger (at {}): {l}.", hms(c.at));
            }
        }
        None => {
            let _ = writeln!(
                out,
                "\nWrite ledger: not checked yet (`firedrill check` runs the ledger checks)."
            );
        }
    }
}

/// Per stream with failures, "stream: timeout 2, 5xx 1" (only the kinds seen, `dropped` for
/// requests the client could not send on time).
fn streams_kinds<'a>(seconds: impl Iterator<Item = &'a Second>) -> Vec<String> {
    let mut per: BTreeMap<&str, [u64; 10]> = BTreeMap::new();
    for s in seconds.filter(|s| s.bad() > 0) {
        let c = &s.classes;
        let n = per.entry(s.stream.as_str()).or_default();
        let these = [
            c.timeout, c.refused, c.reset, c.tls, c.http5xx, c.http4xx, c.http413, c.json, c.other,
            s.dropped,
        ];
        for (total, x) in n.iter_mut().zip(these) {
            *total += x;
        }
    }
    const NAMES: [&str; 10] = [
        "timeout", "refused", "reset", "tls", "5xx", "4xx", "413", "json", "other", "dropped",
    ];
    per.into_iter()
        .map(|(stream, n)| {
            let seen: Vec<String> = NAMES
                .iter()
                .zip(n)
                .filter(|(_, k)| *k > 0)
                .map(|(name, k)| format!("{name} {k}"))
                .collect();
            format!("{stream}: {}", seen.join(", "))
        })
        .collect()
}

pub(crate) fn render(i: &Input) -> String {
    let (level, play) = (i.level, i.play);
    let end = play.end.as_ref().map_or(i.now, |e| e.at);
    let clock = play.started_at.unwrap_or(play.prepared_at);
    let mut out = super::incident::head(
        i,
        &super::incident::Head {
            title: "Change report",
            what: "Exercise",
            ongoing: "in progress",
            briefing: "The ticket",
        },
    );
    timeline(&mut out, i, clock, end);
    customers(&mut out, i, clock, end);
    let score = play.end.as_ref().map_or_else(
        || play.score(level, i.report, end, Outcome::Solved),
        |e| e.score.clone(),
    );
    let _ = writeln!(
        out,
        "\n## Score\n\n- Hints used: {} of {}; checks run: {}.\n\n```\n{}```",
        play.hints.len(),
        level.hints.len(),
        play.checks.len(),
        explain(&score, play.hints.len(), level.minutes, level.slo)
    );
    if play.end.is_some() {
        let _ = writeln!(out, "\n## Debrief\n\n{}", level.debrief.trim_end());
    }
    out.push_str(REVIEW);
    out
}

/// A change review's sections, for the learner.
const REVIEW: &str = "
## The plan

_The steps you planned, in order, and how you would have rolled each back._

## What happened

_Where the timeline above differs from the plan, and why. Which step did customers feel?_

## What you would do differently

- 

## Follow-ups

| Action | Owner | Due |
|---|---|---|
| | | |
";

#[cfg(test)]
#[path = "change_report_tests.rs"]
mod tests;
