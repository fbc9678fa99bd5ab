//! The Markdown incident report and postmortem skeleton that `firedrill report` writes: facts
//! from the play and the mock client's report (timeline, impact, error budget, hints, score),
//! then the sections of a blameless postmortem for the learner to fill in. Pure: everything
//! comes in as arguments, so the output is tested against a golden file.

use super::Level;
use super::client_report::{ClientReport, percent};
use super::level::FaultSpec;
use super::play_state::Play;
use super::score::{Outcome, Score, duration, explain};
use crate::report_html::{Mark, MarkKind};
use chrono::{DateTime, Utc};
use std::fmt::Write;

pub(crate) struct Input<'a> {
    pub level: &'a Level,
    pub play: &'a Play,
    pub report: &'a ClientReport,
    /// When the report is written; the end of the timeline while the level is still played.
    pub now: DateTime<Utc>,
}

fn hms(t: DateTime<Utc>) -> String {
    t.format("%H:%M:%S").to_string()
}

/// What was broken, named only once the level has ended.
fn faults(level: &Level) -> String {
    let names: Vec<String> = level
        .faults
        .iter()
        .map(|f| match f {
            FaultSpec::Kind { kind, node, .. } => format!("{} on {}", kind.value, node.value),
            FaultSpec::Script(s) => format!("a scripted fault on {}", s.node.value),
        })
        .collect();
    names.join(", ")
}

/// What happened, in time order: the Markdown timeline's rows and the HTML chart's marks.
pub(super) fn timeline(i: &Input, end: DateTime<Utc>) -> Vec<Mark> {
    let (play, report) = (i.play, i.report);
    let ended = play.end.is_some();
    let mut rows = vec![Mark::new(
        play.prepared_at,
        MarkKind::Phase,
        "level started; the lab was healthy and the mock client began sending traffic",
    )];
    if let Some(at) = play.faults_at {
        let what = if ended {
            format!("faults injected: {}", faults(i.level))
        } else {
            "faults injected".to_string()
        };
        rows.push(Mark::new(at, MarkKind::Fault, what));
    }
    let clock = play.started_at.unwrap_or(play.prepared_at);
    rows.push(Mark::new(
        clock,
        MarkKind::Phase,
        "briefing delivered; the incident clock starts",
    ));
    if let Some(p) = &play.paged {
        rows.push(Mark::new(
            p.at,
            MarkKind::Phase,
            format!("Alertmanager paged {}: {}", p.alert, p.summary),
        ));
    }
    let from = play.faults_at.unwrap_or(clock);
    if let Some(at) = report.first_error(from, end) {
        rows.push(Mark::new(
            at,
            MarkKind::Phase,
            "first failed request seen by the mock client (impact starts)",
        ));
    }
    if ended {
        // The play's own events ("a fault of the level changed a node", "incident started")
        // say less than the rows above; the rest (a node rebooted, a fault reverted) is news.
        rows.extend(event_marks(
            report,
            from,
            end,
            &["level-fault", "level-started"],
            "event ",
        ));
    }
    if ended {
        rows.extend(gm_marks(play));
    }
    for (n, at) in play.hints.iter().enumerate() {
        let cost = i.level.hints.get(n).map_or(0, |h| h.cost);
        rows.push(Mark::new(
            *at,
            MarkKind::Hint,
            format!("hint {} taken (-{cost} points)", n + 1),
        ));
    }
    for c in &play.checks {
        let guards = match (c.guards_ok, c.guards_unknown) {
            (true, _) => "every guard held",
            (false, true) => "a guard not judged yet",
            (false, false) => "a guard was violated",
        };
        rows.push(Mark::new(
            c.at,
            MarkKind::Check,
            format!(
                "`firedrill check`: {} of {} objectives met, {guards}",
                c.met, c.objectives
            ),
        ));
    }
    if let Some(at) = report.mitigated_at(from, end) {
        rows.push(Mark::new(
            at,
            MarkKind::Phase,
            "errors stop: no failed request from here on (mitigated)",
        ));
    }
    if let Some(e) = &play.end {
        let what = match e.outcome {
            Outcome::Solved => "resolved: every objective met and every guard held",
            Outcome::GaveUp => "the learner gave up; the faults were reverted",
            Outcome::Reset => "the level was reset; the faults were reverted",
        };
        rows.push(Mark::new(e.at, MarkKind::Phase, what));
    }
    // Stable: events at the same second keep the order above.
    rows.sort_by_key(|m| m.at);
    rows
}

pub(crate) fn render(i: &Input) -> String {
    let (level, play, report) = (i.level, i.play, i.report);
    let end = play.end.as_ref().map_or(i.now, |e| e.at);
    let clock = play.started_at.unwrap_or(play.prepared_at);
    let from = play.faults_at.unwrap_or(clock);
    let mut out = head(
        i,
        &Head {
            title: "Incident report",
            what: "Level",
            ongoing: "still being played",
            briefing: "Briefing",
        },
    );
    let _ = writeln!(
        out,
        "\n## Timeline (UTC)\n\n| Time | What happened |\n|---|---|"
    );
    for m in timeline(i, end) {
        let _ = writeln!(out, "| {} | {} |", hms(m.at), m.text);
    }
    let _ = writeln!(
        out,
        "| | _add what you looked at and what you changed, with times_ |"
    );

    let totals = report.totals(from, end);
    let _ = writeln!(out, "\n## Impact\n");
    if totals.results == 0 {
        let _ = writeln!(
            out,
            "- The mock client recorded no answered request during the incident."
        );
    } else {
        let _ = writeln!(
            out,
            "- Requests from the first fault to the end: {}, of which {} failed ({}).",
            totals.results,
            totals.bad,
            percent(totals.bad as f64 * 100.0 / totals.results as f64)
        );
    }
    match (
        report.first_error(from, end),
        report.mitigated_at(from, end),
    ) {
        (None, _) => {
            let _ = writeln!(
                out,
                "- The mock client saw no failed request: the impact was elsewhere (see the briefing)."
            );
        }
        (Some(first), Some(m)) => {
            let _ = writeln!(
                out,
                "- Users saw errors for {} (from {} to {}).",
                duration(u64::try_from((m - first).num_seconds()).unwrap_or(0)),
                hms(first),
                hms(m)
            );
        }
        (Some(first), None) => {
            let _ = writeln!(
                out,
                "- Users saw errors from {} until the end of the record.",
                hms(first)
            );
        }
    }
    if let Some(line) = time_to_detect(level, play) {
        let _ = writeln!(out, "- {line}");
    }
    let score = play.end.as_ref().map_or_else(
        || play.score(level, report, end, Outcome::Solved),
        |e| e.score.clone(),
    );
    let _ = writeln!(
        out,
        "- Error budget burned: {} of a 30-day budget at an SLO of {}.",
        percent(score.budget_burned_pct),
        percent(level.slo)
    );
    let _ = writeln!(
        out,
        "- _Who was affected, and how? What could users not do?_"
    );

    let _ = writeln!(out, "\n## Hints and score\n");
    let _ = writeln!(
        out,
        "- Hints used: {} of {}.",
        play.hints.len(),
        level.hints.len()
    );
    let _ = writeln!(out, "- Checks run: {}.", play.checks.len());
    write_score(&mut out, &score, play, level);

    if play.end.is_some() {
        let _ = writeln!(out, "\n## Debrief\n\n{}", level.debrief.trim_end());
    }
    out.push_str(SKELETON);
    out
}

/// For a level paged by Alertmanager: the time from the first fault to the page.
pub(crate) fn time_to_detect(level: &Level, play: &Play) -> Option<String> {
    let alert = &level.page.as_ref()?.alert.value;
    let faults = play.faults_at?;
    Some(match &play.paged {
        Some(p) => format!(
            "Time to detect: {}, from the first fault to Alertmanager's page ({alert}: {}).",
            duration(u64::try_from((p.at - faults).num_seconds()).unwrap_or(0)),
            p.summary
        ),
        None => format!(
            "Time to detect: not detected; Alertmanager did not page {alert} within {} of the faults.",
            duration(super::page::TIMEOUT.as_secs())
        ),
    })
}

/// What a game master injected (`firedrill gm`), shown once the play is over.
pub(crate) fn gm_marks(play: &super::play_state::Play) -> Vec<Mark> {
    play.gm
        .iter()
        .map(|g| {
            Mark::new(
                g.at,
                MarkKind::Fault,
                format!(
                    "the game master injected {} on {} ({})",
                    g.kind, g.node, g.id
                ),
            )
        })
        .collect()
}

/// The lab's events in `[from, end]` as marks, `prefix` before each, without the kinds in
/// `own` (the play's own, which its other rows already say better).
pub(crate) fn event_marks(
    report: &ClientReport,
    from: DateTime<Utc>,
    end: DateTime<Utc>,
    own: &[&str],
    prefix: &str,
) -> Vec<Mark> {
    report
        .events
        .iter()
        .filter(|e| e.ts >= from && e.ts <= end && !own.contains(&e.kind.as_str()))
        .map(|e| {
            let node = e
                .node
                .as_deref()
                .map_or(String::new(), |n| format!(" ({n})"));
            Mark::new(
                e.ts,
                MarkKind::of(&e.kind),
                format!("{prefix}{}{node}: {}", e.kind, e.message),
            )
        })
        .collect()
}

/// The words that differ between the incident report's head and the change report's.
pub(crate) struct Head {
    pub title: &'static str,
    pub what: &'static str,
    pub ongoing: &'static str,
    pub briefing: &'static str,
}

/// A report's title, its table of facts (level, lab, date, status, when written) and the
/// briefing, quoted.
pub(crate) fn head(i: &Input, h: &Head) -> String {
    let (level, play) = (i.level, i.play);
    let clock = play.started_at.unwrap_or(play.prepared_at);
    let mut out = String::new();
    let _ = writeln!(out, "# {}: {}\n", h.title, level.title);
    let status = match &play.end {
        Some(e) => format!(
            "{} after {}",
            e.outcome.name(),
            duration(u64::try_from((e.at - clock).num_seconds()).unwrap_or(0))
        ),
        None => h.ongoing.to_string(),
    };
    let _ = writeln!(out, "| | |\n|---|---|");
    let _ = writeln!(
        out,
        "| {} | `{}`: {} ({}, about {} minutes) |",
        h.what, level.id.value, level.title, level.difficulty, level.minutes
    );
    let _ = writeln!(out, "| Lab | {} |", play.lab);
    let _ = writeln!(out, "| Date | {} |", clock.format("%Y-%m-%d"));
    let _ = writeln!(out, "| Status | {status} |");
    let _ = writeln!(
        out,
        "| Written | {} UTC by `firedrill report` |\n",
        i.now.format("%Y-%m-%d %H:%M:%S")
    );
    let _ = writeln!(out, "## {}\n", h.briefing);
    for line in level.briefing.value.trim_end().lines() {
        let _ = writeln!(out, "> {line}");
    }
    out
}

fn write_score(out: &mut String, score: &Score, play: &Play, level: &Level) {
    let title = if play.end.is_some() {
        "Score"
    } else {
        "Score so far (if it were solved now)"
    };
    let _ = writeln!(
        out,
        "\n{title}:\n\n```\n{}```",
        explain(score, play.hints.len(), level.minutes, level.slo)
    );
}

/// The blameless postmortem's sections, for the learner.
const SKELETON: &str = "
## Summary

_Two or three sentences for someone who was not there: what broke, for whom, for how long._

## Root cause

_The chain of causes, down to the one that, had it been different, would have prevented the incident._

## Trigger and detection

_What set it off, and how it was noticed. Would monitoring have caught it before users did?_

## Resolution

_What mitigated the impact, and what fixed the root cause. Why does the fix last?_

## What went well

- 

## What went wrong

- 

## Where we got lucky

- 

## Action items

| Action | Kind (prevent, detect, mitigate) | Owner | Due |
|---|---|---|---|
| | | | |
";

#[cfg(test)]
#[path = "incident_tests.rs"]
mod tests;
