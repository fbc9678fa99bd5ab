//! The score of a play, and the history of scores in `FIREDRILL_HOME/scores.jsonl`.
//!
//! A solved level starts from a base by difficulty (easy 500, medium 750, hard 1000) and loses
//! - the cost of every hint taken;
//! - 10 points per full minute beyond the level's estimate;
//! - 5 points per 1% of a 30-day error budget that the incident burned: the failed requests
//!   the mock client saw, as seconds of full outage at the observed request rate, against the
//!   outage the SLO allows in 30 days (99.9% allows 43 min 12 s).
//!
//! Giving up, a reset before solving, and a level solved by the reference solution score 0.

use super::client_report::{Totals, percent};
use super::level::Difficulty;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt::Write;

const BUDGET_WINDOW_S: f64 = 30.0 * 86_400.0;
const PER_MINUTE_OVER: u32 = 10;
const PER_BUDGET_PERCENT: f64 = 5.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Outcome {
    Solved,
    GaveUp,
    Reset,
}

impl Outcome {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Outcome::Solved => "solved",
            Outcome::GaveUp => "gave up",
            Outcome::Reset => "reset",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Score {
    pub base: u32,
    pub hints: u32,
    pub time: u32,
    pub budget: u32,
    pub total: u32,
    pub budget_burned_pct: f64,
    /// From the incident clock's start to the end of the play.
    pub elapsed_s: u64,
    /// Why the total is 0 although the level was solved, if it is.
    pub zero_because: Option<String>,
}

pub(crate) struct ScoreInput {
    pub difficulty: Difficulty,
    pub minutes: u32,
    pub slo: f64,
    pub hint_costs: u32,
    pub elapsed_s: u64,
    /// The client's requests from the fault injection to the end of the play.
    pub totals: Totals,
    pub outcome: Outcome,
    pub used_solution: bool,
}

pub(crate) fn base(d: Difficulty) -> u32 {
    match d {
        Difficulty::Easy => 500,
        Difficulty::Medium => 750,
        Difficulty::Hard => 1000,
    }
}

/// The share of a 30-day error budget (at `slo` percent) that `totals` used, in percent.
pub(crate) fn budget_burned_pct(totals: Totals, slo: f64) -> f64 {
    if totals.results == 0 {
        return 0.0;
    }
    let outage_s = totals.bad as f64 * totals.seconds as f64 / totals.results as f64;
    let allowed_s = BUDGET_WINDOW_S * (100.0 - slo) / 100.0;
    outage_s * 100.0 / allowed_s
}

pub(crate) fn compute(i: &ScoreInput) -> Score {
    let base = base(i.difficulty);
    let over_s = i.elapsed_s.saturating_sub(u64::from(i.minutes) * 60);
    let time = u32::try_from(over_s / 60)
        .unwrap_or(u32::MAX)
        .saturating_mul(PER_MINUTE_OVER);
    let burned = budget_burned_pct(i.totals, i.slo);
    let budget = (burned * PER_BUDGET_PERCENT)
        .round()
        .min(f64::from(u32::MAX)) as u32;
    let zero_because = match (i.outcome, i.used_solution) {
        (Outcome::Solved, false) => None,
        (Outcome::Solved, true) => Some("the reference solution was applied".to_string()),
        (Outcome::GaveUp, _) => Some("the level was given up".to_string()),
        (Outcome::Reset, _) => Some("the level was reset before it was solved".to_string()),
    };
    let total = if zero_because.is_some() {
        0
    } else {
        base.saturating_sub(i.hint_costs)
            .saturating_sub(time)
            .saturating_sub(budget)
    };
    Score {
        base,
        hints: i.hint_costs,
        time,
        budget,
        total,
        budget_burned_pct: burned,
        elapsed_s: i.elapsed_s,
        zero_because,
    }
}

/// `1h02m03s`, `4m05s`, `9s`.
pub(crate) fn duration(s: u64) -> String {
    match s {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m{:02}s", s / 60, s % 60),
        s => format!("{}h{:02}m{:02}s", s / 3600, (s % 3600) / 60, s % 60),
    }
}

/// The breakdown `check` and `give-up` print, one line per item.
pub(crate) fn explain(s: &Score, hints_used: usize, minutes: u32, slo: f64) -> String {
    let mut out = format!("score {} of {}", s.total, s.base);
    if let Some(why) = &s.zero_because {
        let _ = write!(out, " ({why})");
    }
    let _ = write!(
        out,
        "\n  -{} for {hints_used} hint(s)\n  -{} for time: {} on the clock, estimate {minutes} min\n  -{} for the error budget: {} of a 30-day budget at {} burned\n",
        s.hints,
        s.time,
        duration(s.elapsed_s),
        s.budget,
        percent(s.budget_burned_pct),
        percent(slo)
    );
    out
}

/// One line of `scores.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ScoreEntry {
    pub at: DateTime<Utc>,
    pub level: String,
    pub title: String,
    pub difficulty: Difficulty,
    pub outcome: Outcome,
    pub elapsed_s: u64,
    pub hints: usize,
    pub budget_burned_pct: f64,
    pub score: u32,
}

/// `firedrill score`: every past play, oldest first, then totals.
pub(crate) fn render_history(entries: &[ScoreEntry]) -> String {
    if entries.is_empty() {
        return "no plays yet: start one with `firedrill play LEVEL` or `firedrill play --random`\n".to_string();
    }
    let mut out = format!(
        "{:<16}  {:<20} {:<10} {:<8} {:>8} {:>5} {:>8} {:>6}\n",
        "WHEN (UTC)", "LEVEL", "DIFFICULTY", "OUTCOME", "TIME", "HINTS", "BUDGET", "SCORE"
    );
    for e in entries {
        let _ = writeln!(
            out,
            "{:<16}  {:<20} {:<10} {:<8} {:>8} {:>5} {:>8} {:>6}",
            e.at.format("%Y-%m-%d %H:%M"),
            e.level,
            e.difficulty.name(),
            e.outcome.name(),
            duration(e.elapsed_s),
            e.hints,
            percent(e.budget_burned_pct),
            e.score
        );
    }
    let solved = entries
        .iter()
        .filter(|e| e.outcome == Outcome::Solved)
        .count();
    let total: u64 = entries.iter().map(|e| u64::from(e.score)).sum();
    let _ = writeln!(
        out,
        "{} play(s), {solved} solved, {total} points in all",
        entries.len()
    );
    out
}

#[cfg(test)]
#[path = "score_tests.rs"]
mod tests;
