//! Running a level's objectives and guards. What `check` prints comes from here: each item's
//! description, met or not, and a note that never shows a command or its output (that would
//! give the cause away); only the mock client's success rate and reachability problems.
//!
//! Persistence: an objective with `persistence: true` is checked once more after its node
//! reboots, but only when every other objective and every guard is met, since a reboot costs
//! minutes and disturbs the service. The guards run again after the reboot.

use super::LevelError;
use super::client_report::{ClientReport, budget, mitigation};
use super::level::{Check, Expect, Level, StateCheck};
use crate::lab::Nodes;
use crate::remote::Output;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Verdict {
    pub id: String,
    pub description: String,
    pub met: bool,
    pub note: Option<String>,
    /// The check could not be run (its node did not answer, it timed out): not met, and not
    /// the learner's damage either.
    pub unknown: bool,
    /// A hidden objective: `check` shows its description only once it is met.
    pub hidden: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Evaluation {
    pub objectives: Vec<Verdict>,
    pub guards: Vec<Verdict>,
    /// Whether the persistence reboots ran (and so `solved` covers them).
    pub rebooted: Vec<String>,
    /// When each of those reboots ran, until its checks were done.
    pub reboot_spans: Vec<super::client_report::Span>,
}

impl Evaluation {
    pub(crate) fn met(&self) -> usize {
        self.objectives.iter().filter(|v| v.met).count()
    }
    pub(crate) fn guards_ok(&self) -> bool {
        self.guards.iter().all(|v| v.met)
    }
    pub(crate) fn solved(&self, level: &Level) -> bool {
        let persistence_done = level
            .objectives
            .iter()
            .filter(|o| o.persistent())
            .all(|o| match &o.check {
                Check::State(s) => self.rebooted.contains(&s.node.value),
                _ => true,
            });
        self.met() == self.objectives.len() && self.guards_ok() && persistence_done
    }

    /// The level's nudges whose condition holds: each `met` id met, each `not_met` id not.
    pub(crate) fn nudges<'l>(&self, level: &'l Level) -> Vec<&'l str> {
        let met = |id: &str| {
            self.objectives
                .iter()
                .chain(self.guards.iter())
                .find(|v| v.id == id)
                .map(|v| v.met)
        };
        level
            .nudges
            .iter()
            .filter(|n| {
                n.met.iter().all(|id| met(&id.value) == Some(true))
                    && n.not_met.iter().all(|id| met(&id.value) == Some(false))
            })
            .map(|n| n.text.as_str())
            .collect()
    }
}

/// How often a check is retried after a reboot, while the node's services come up.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Retry {
    pub attempts: u32,
    pub delay: Duration,
}

pub(crate) struct Context<'a> {
    pub report: &'a ClientReport,
    /// The start of the incident clock: the mitigate window must lie after it.
    pub since: DateTime<Utc>,
    pub now: DateTime<Utc>,
    /// Clock checks compare with the host clock read when each answer arrives; without
    /// `live` (tests), `now` stands for it.
    pub live: bool,
    pub baselines: &'a BTreeMap<String, String>,
    pub after_reboot: Retry,
    /// The play's write ledger, for `ledger` checks.
    pub ledger: Option<&'a std::path::Path>,
    /// The lab's database nodes and their engines, for `ledger` checks.
    pub databases: &'a [(String, crate::roles::Engine)],
    /// firedrill's own persistence reboots so far: the client's failures then do not count.
    pub excluded: &'a [super::client_report::Span],
}

pub(crate) fn objective_key(id: &str) -> String {
    format!("objectives.{id}")
}
pub(crate) fn guard_key(id: &str) -> String {
    format!("guards.{id}")
}

/// Whether `out` fulfils every expectation. Without an `exit` expectation the command must
/// exit 0: a check whose command failed has shown nothing.
pub(crate) fn judge(
    expects: &[Expect],
    out: &Output,
    baseline: Option<&str>,
    now: DateTime<Utc>,
) -> bool {
    let stdout = out.stdout_str();
    let text = stdout.trim();
    let number = |s: &str| s.trim().parse::<i128>().ok();
    if !expects.iter().any(|e| matches!(e, Expect::Exit(_))) && out.status != 0 {
        return false;
    }
    expects.iter().all(|e| match e {
        Expect::Exit(code) => out.status == *code,
        Expect::StdoutContains(s) => stdout.contains(s.as_str()),
        Expect::StdoutLacks(s) => !stdout.contains(s.as_str()),
        Expect::StdoutIs(s) => text == s.trim(),
        Expect::AtLeastBaseline => match (number(text), baseline.and_then(number)) {
            (Some(now), Some(then)) => now >= then,
            _ => false,
        },
        Expect::SameAsBaseline => baseline.is_some_and(|b| b.trim() == text),
        Expect::DiffersFromBaseline => baseline.is_some_and(|b| b.trim() != text),
        Expect::ClockWithin(s) => number(text)
            .is_some_and(|t| (t - i128::from(now.timestamp())).unsigned_abs() <= u128::from(*s)),
    })
}

/// How long a state check may run on its node. A check can hang: a query queued behind a lock
/// (the db-lock level), a node swamped by the incident. `timeout` on the node stops it, so no
/// check process is left behind, and the check says it could not tell.
const CHECK_SECS: u32 = 30;

/// `command` as the node runs it: under `timeout`.
fn bounded(command: &str) -> String {
    format!("timeout {CHECK_SECS} sh -c {}", crate::ssh::quote(command))
}

/// A check's verdict: met, the note `check` prints, and whether it could not be judged.
pub(crate) type Judged = (bool, Option<String>, bool);

async fn run_state<N: Nodes>(nodes: &N, s: &StateCheck, key: &str, ctx: &Context<'_>) -> Judged {
    let result = nodes.run(&s.node.value, &bounded(&s.command)).await;
    // A clock check compares with the host's time when the answer came back, not when `check`
    // began: the checks before it may have taken longer than its tolerance.
    let answered = if ctx.live { Utc::now() } else { ctx.now };
    match result {
        // coreutils `timeout` exits 124 when it stopped the command.
        Ok(out) if out.status == 124 => (
            false,
            Some(format!(
                "cannot run the check: it did not finish within {CHECK_SECS} s on {}",
                s.node.value
            )),
            true,
        ),
        Ok(out) => {
            let baseline = ctx.baselines.get(key).map(String::as_str);
            if s.needs_baseline() && baseline.is_none() {
                return (false, Some("no baseline was recorded when the level started; `firedrill reset` and play again".into()), true);
            }
            (judge(&s.expect, &out, baseline, answered), None, false)
        }
        Err(e) => (false, Some(format!("cannot run the check: {e}")), true),
    }
}

async fn check<N: Nodes>(nodes: &N, c: &Check, key: &str, ctx: &Context<'_>) -> Judged {
    match c {
        Check::Mitigate(m) => {
            let v = mitigation(ctx.report, m, ctx.since, ctx.now, ctx.excluded);
            (v.met, Some(v.detail), false)
        }
        Check::State(s) => run_state(nodes, s, key, ctx).await,
        Check::Client(b) => {
            let v = budget(ctx.report, b, ctx.since, ctx.excluded);
            (v.met, Some(v.detail), v.unknown)
        }
        Check::Ledger(l) => super::ledger_check::judge(nodes, l, ctx.ledger, ctx.databases).await,
    }
}

pub(crate) async fn evaluate<N: Nodes>(
    level: &Level,
    nodes: &N,
    ctx: &Context<'_>,
    progress: &mut (dyn FnMut(&str) + Send),
) -> Evaluation {
    let mut objectives = Vec::new();
    for o in &level.objectives {
        let (met, note, unknown) = check(nodes, &o.check, &objective_key(&o.id.value), ctx).await;
        objectives.push(Verdict {
            id: o.id.value.clone(),
            description: o.description.value.clone(),
            met,
            note,
            unknown,
            hidden: o.hidden,
        });
    }
    let mut eval = Evaluation {
        objectives,
        guards: run_guards(level, nodes, ctx).await,
        rebooted: Vec::new(),
        reboot_spans: Vec::new(),
    };
    let persistent: Vec<(usize, &StateCheck)> = level
        .objectives
        .iter()
        .enumerate()
        .filter(|(_, o)| o.persistent())
        .filter_map(|(i, o)| match &o.check {
            Check::State(s) => Some((i, s)),
            _ => None,
        })
        .collect();
    if persistent.is_empty() {
        return eval;
    }
    if eval.met() < eval.objectives.len() || !eval.guards_ok() {
        for (i, s) in &persistent {
            if eval.objectives[*i].met {
                eval.objectives[*i].note = Some(format!(
                    "holds for now; once everything else is met, `check` reboots {} to see that it lasts",
                    s.node.value
                ));
            }
        }
        return eval;
    }
    let mut to_reboot: Vec<&str> = persistent
        .iter()
        .map(|(_, s)| s.node.value.as_str())
        .collect();
    to_reboot.dedup();
    for node in to_reboot {
        progress(&format!(
            "rebooting {node} to see that the fix lasts (this takes a few minutes)..."
        ));
        let from = chrono::Utc::now();
        if let Err(e) = nodes.reboot(node).await {
            for (i, _) in persistent.iter().filter(|(_, s)| s.node.value == node) {
                eval.objectives[*i].met = false;
                eval.objectives[*i].note = Some(format!(
                    "could not reboot {node}: {}",
                    first_line(&e.to_string())
                ));
            }
            continue;
        }
        eval.rebooted.push(node.to_string());
        for (i, s) in persistent.iter().filter(|(_, s)| s.node.value == node) {
            let key = objective_key(&level.objectives[*i].id.value);
            let mut met = false;
            for attempt in 0..ctx.after_reboot.attempts.max(1) {
                if attempt > 0 {
                    tokio::time::sleep(ctx.after_reboot.delay).await;
                }
                met = run_state(nodes, s, &key, ctx).await.0;
                if met {
                    break;
                }
            }
            eval.objectives[*i].met = met;
            eval.objectives[*i].note = Some(if met {
                format!("still holds after {node} rebooted")
            } else {
                format!("did not last: not met after {node} rebooted")
            });
        }
        eval.reboot_spans.push(super::client_report::Span {
            from,
            to: chrono::Utc::now(),
        });
    }
    eval.guards = run_guards(level, nodes, ctx).await;
    eval
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s)
}

async fn run_guards<N: Nodes>(level: &Level, nodes: &N, ctx: &Context<'_>) -> Vec<Verdict> {
    let mut guards = Vec::new();
    for g in &level.guards {
        let (met, note, unknown) = check(nodes, &g.check, &guard_key(&g.id.value), ctx).await;
        guards.push(Verdict {
            id: g.id.value.clone(),
            description: g.description.value.clone(),
            met,
            note,
            unknown,
            hidden: false,
        });
    }
    guards
}

/// Runs every check that compares with a baseline, on the healthy lab before the faults, and
/// keeps its output.
pub(crate) async fn capture_baselines<N: Nodes>(
    level: &Level,
    nodes: &N,
) -> Result<BTreeMap<String, String>, LevelError> {
    let checks = level
        .objectives
        .iter()
        .map(|o| (objective_key(&o.id.value), &o.check))
        .chain(
            level
                .guards
                .iter()
                .map(|g| (guard_key(&g.id.value), &g.check)),
        );
    let mut out = BTreeMap::new();
    for (key, c) in checks {
        let Check::State(s) = c else { continue };
        if !s.needs_baseline() {
            continue;
        }
        let result = nodes.run(&s.node.value, &bounded(&s.command)).await?;
        if !result.success() {
            return Err(LevelError::Step {
                failed: result.failure(&s.node.value, &format!("recording the baseline of {key}")),
                hint: format!(
                    "the check must work on the healthy lab; fix it in {}",
                    level.source.display()
                ),
            });
        }
        out.insert(key, result.stdout_str().trim().to_string());
    }
    Ok(out)
}

#[cfg(test)]
#[path = "evaluate_tests.rs"]
mod tests;
