//! `firedrill hint`, `check`, `report` and `score`: commands on the level being played.

use super::LevelError;
use super::client_report::ClientReport;
use super::evaluate::{Context, Evaluation, Retry, evaluate};
use super::finish::run_step;
use super::level::{Level, SolutionStep};
use super::play::level_of;
use super::play_state::{CheckRecord, Play};
use super::score::Outcome;
use crate::lab::{Lab, SshNodes};
use crate::paths::Home;
use chrono::Utc;
use std::path::PathBuf;
use std::time::Duration;

/// Retries of a persistent check after its node rebooted, while services start.
const AFTER_REBOOT: Retry = Retry {
    attempts: 20,
    delay: Duration::from_secs(6),
};

pub(crate) fn hint(home: &Home) -> Result<(), LevelError> {
    let mut play = Play::current(home)?;
    play.ensure_running()?;
    let level = level_of(&play)?;
    let n = play.hints.len();
    let Some(h) = level.hints.get(n) else {
        println!(
            "no more hints ({} of {} taken); `firedrill give-up` shows the debrief",
            n,
            level.hints.len()
        );
        return Ok(());
    };
    play.hints.push(Utc::now());
    play.save(home)?;
    println!(
        "hint {} of {} (-{} points):\n  {}",
        n + 1,
        level.hints.len(),
        h.cost,
        h.text.trim_end().replace('\n', "\n  ")
    );
    Ok(())
}

/// `check`: evaluates the objectives and guards, and ends the play when it is solved.
/// `confirm` > 1 (Level CI): a "solved" must be said that many times in a row, a few seconds
/// apart, before the play ends; a verdict that changes in between is an error (a flaky check is
/// a defect of the level).
pub(crate) async fn check(
    home: &Home,
    apply_solution: bool,
    confirm: u32,
) -> Result<(), LevelError> {
    let mut play = Play::current(home)?;
    play.ensure_running()?;
    let _lock = crate::lab::LabLock::acquire(&home.lab(&play.lab), "`firedrill check`")?;
    let level = level_of(&play)?;
    if apply_solution {
        play.used_solution = true;
        play.save(home)?;
        apply_reference_solution(home, &level, &play).await?;
        println!("applied the reference solution (this play scores 0)");
    }
    // Read after the solution: an `up` in it may have added or removed nodes.
    let nodes = SshNodes::of(&Lab::at(home, &play.lab)?);
    let databases = databases(nodes.state());
    let mut eval = None;
    for round in 0..confirm.max(1) {
        if round > 0 {
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
        let report = match &play.client {
            Some(c) => ClientReport::read(&c.report)?,
            None => ClientReport::default(),
        };
        if round == 0 {
            warn_bad_lines(&report.damaged);
        }
        let ctx = Context {
            report: &report,
            since: play.started_at.unwrap_or(play.prepared_at),
            now: Utc::now(),
            live: true,
            baselines: &play.baselines,
            after_reboot: AFTER_REBOOT,
            ledger: play.client.as_ref().and_then(|c| c.ledger.as_deref()),
            databases: &databases,
            excluded: &play.firedrill_reboots,
        };
        let mut e = evaluate(&level, &nodes, &ctx, &mut |s| println!("{s}")).await;
        if !e.reboot_spans.is_empty() {
            play.firedrill_reboots
                .extend(e.reboot_spans.iter().copied());
            play.save(home)?;
        }
        e.objectives.extend(super::gm::verdicts(home, &play).await);
        let solved = e.solved(&level);
        if round > 0 {
            println!("check {} of {confirm}:", round + 1);
            print!("{}", render_check(&e));
            if !solved {
                nodes.close().await;
                return Err(LevelError::Flaky {
                    level: level.id.value.clone(),
                    detail: render_check(&e),
                });
            }
        }
        let stop = !solved;
        eval = Some(e);
        if stop {
            break;
        }
    }
    let eval = eval.expect("one round at least");
    let solved = eval.solved(&level);
    play.checks.push(CheckRecord {
        at: Utc::now(),
        met: eval.met(),
        objectives: eval.objectives.len(),
        guards_ok: eval.guards_ok(),
        guards_unknown: !eval.guards_ok() && eval.guards.iter().all(|v| v.met || v.unknown),
        ledger: ledger_notes(&level, &eval),
    });
    play.save(home)?;
    if confirm <= 1 || !solved {
        print!("{}", render_check(&eval));
        if !solved {
            for text in eval.nudges(&level) {
                println!("note: {}", text.trim_end().replace('\n', "\n  "));
            }
        }
    }
    if solved {
        super::finish::end(home, &level, &mut play, &nodes, Outcome::Solved, false).await?;
        println!("\nSolved.\n\n{}", level.debrief.trim_end());
    } else {
        println!(
            "{} of {} objectives met; keep going (`firedrill hint` if you are stuck)",
            eval.met(),
            eval.objectives.len()
        );
    }
    nodes.close().await;
    Ok(())
}

/// What the level's ledger checks said, for the report.
fn ledger_notes(level: &Level, eval: &super::evaluate::Evaluation) -> Vec<String> {
    let ledger_ids: Vec<&str> = level
        .objectives
        .iter()
        .map(|o| (&o.id, &o.check))
        .chain(level.guards.iter().map(|g| (&g.id, &g.check)))
        .filter(|(_, c)| matches!(c, super::level::Check::Ledger(_)))
        .map(|(id, _)| id.value.as_str())
        .collect();
    eval.objectives
        .iter()
        .chain(eval.guards.iter())
        .filter(|v| ledger_ids.contains(&v.id.as_str()))
        .filter_map(|v| v.note.clone())
        .collect()
}

/// The lab's database nodes and their engines (for `ledger` checks).
pub(crate) fn databases(state: &crate::state::LabState) -> Vec<(String, crate::roles::Engine)> {
    state
        .nodes()
        .filter_map(|n| Some((n.name.clone(), crate::client::verify_run::engine_of(n)?)))
        .collect()
}

/// Runs the reference solution: scripts on nodes, and `up` with another lab file on this host.
pub(crate) async fn apply_reference_solution(
    home: &Home,
    level: &Level,
    play: &Play,
) -> Result<(), LevelError> {
    let mut nodes = SshNodes::of(&Lab::at(home, &play.lab)?);
    for step in &level.solution {
        match step {
            SolutionStep::Node(step) => run_step(&nodes, step, "the reference solution").await?,
            SolutionStep::Up { path, restart, .. } => {
                let accel = match nodes.state().accel {
                    crate::hypervisor::xml::Accel::Kvm => crate::lab::AccelChoice::Kvm,
                    crate::hypervisor::xml::Accel::Tcg => crate::lab::AccelChoice::Tcg,
                };
                println!("firedrill up {}", path.display());
                let up = crate::lab::UpOptions {
                    file: path.clone(),
                    accel,
                    force: false,
                    timeout: Duration::from_secs(900),
                    dry_run: false,
                    restart: restart.iter().map(|r| r.value.clone()).collect(),
                };
                nodes.close().await;
                crate::lab::up(home, &up).await?;
                nodes = SshNodes::of(&Lab::at(home, &play.lab)?);
            }
        }
    }
    nodes.close().await;
    Ok(())
}

pub(crate) fn render_check(eval: &Evaluation) -> String {
    let mut out = String::from("objectives:\n");
    let note = |n: &Option<String>| n.as_ref().map_or(String::new(), |n| format!(" ({n})"));
    for v in &eval.objectives {
        out += &match (v.hidden, v.met) {
            (true, false) => {
                "  [   ] a hidden check (its description shows once it is met)\n".into()
            }
            (true, true) => format!("  [met] {} (was hidden){}\n", v.description, note(&v.note)),
            (false, met) => format!(
                "  [{}] {}{}\n",
                if met { "met" } else { "   " },
                v.description,
                note(&v.note)
            ),
        };
    }
    if !eval.guards.is_empty() {
        out += "guards:\n";
        for v in &eval.guards {
            out += &format!(
                "  [{}] {}{}\n",
                // A guard that could not be judged (its node did not answer) is not the
                // learner's damage, and it still blocks "solved".
                match (v.met, v.unknown) {
                    (true, _) => "ok",
                    (false, true) => "unknown",
                    (false, false) => "VIOLATED",
                },
                v.description,
                note(&v.note)
            );
        }
    }
    out
}

/// `report`: the Markdown report, or with `html` the HTML timeline.
pub(crate) fn report(home: &Home, out: Option<PathBuf>, html: bool) -> Result<(), LevelError> {
    let play = Play::current(home)?;
    let level = level_of(&play)?;
    let client = match &play.client {
        Some(c) => ClientReport::read(&c.report)?,
        None => ClientReport::default(),
    };
    warn_bad_lines(&client.damaged);
    let now = Utc::now();
    let input = super::incident::Input {
        level: &level,
        play: &play,
        report: &client,
        now,
    };
    let name = match level.kind {
        super::level::Kind::Incident => "incident",
        super::level::Kind::Exercise => "change",
    };
    let (text, ext) = match (level.kind, html) {
        (_, true) => (super::timeline::render(&input), "html"),
        (super::level::Kind::Incident, false) => (super::incident::render(&input), "md"),
        (super::level::Kind::Exercise, false) => (super::change_report::render(&input), "md"),
    };
    let path = out.unwrap_or_else(|| {
        PathBuf::from(format!(
            "{name}-{}-{}.{ext}",
            play.level,
            now.format("%Y%m%d-%H%M")
        ))
    });
    crate::fsutil::write_atomic(&path, text.as_bytes(), 0o644).map_err(|source| {
        LevelError::Write {
            path: path.clone(),
            source,
        }
    })?;
    println!("wrote {}", path.display());
    Ok(())
}

pub(crate) fn score(home: &Home) -> Result<(), LevelError> {
    let (scores, bad) = super::play_state::read_scores(home)?;
    warn_bad_lines(&bad);
    print!("{}", super::score::render_history(&scores));
    Ok(())
}

/// Lines of a log that could not be read, on stderr: a torn line is named, never dropped silently.
pub(crate) fn warn_bad_lines(bad: &[crate::jsonl::BadLine]) {
    for b in bad {
        eprintln!("warning: {b}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::levels::evaluate::Verdict;

    #[test]
    fn check_output_shows_descriptions_and_notes_only() {
        let v = |id: &str, d: &str, met: bool, note: Option<&str>| Verdict {
            id: id.into(),
            description: d.into(),
            met,
            note: note.map(String::from),
            unknown: note.is_some_and(|n| n.starts_with("cannot")),
            hidden: false,
        };
        let eval = Evaluation {
            objectives: vec![
                v(
                    "served",
                    "Users are served again",
                    true,
                    Some("100% of requests succeeded over the last 30 s (needs 99%)"),
                ),
                v("room", "The app server can write its data", false, None),
            ],
            guards: vec![
                v("rows", "No todo is lost", false, None),
                v(
                    "data",
                    "The data directory is kept",
                    false,
                    Some("cannot run the check: db: connection reset"),
                ),
            ],
            rebooted: vec![],
            reboot_spans: vec![],
        };
        assert_eq!(
            render_check(&eval),
            "objectives:\n  [met] Users are served again (100% of requests succeeded over the last 30 s (needs 99%))\n  \
             [   ] The app server can write its data\nguards:\n  [VIOLATED] No todo is lost\n  \
             [unknown] The data directory is kept (cannot run the check: db: connection reset)\n"
        );
    }

    /// A hidden objective shows as "a hidden check" until met; then its description, marked.
    /// A nudge is offered while its condition holds.
    #[test]
    fn hidden_checks_show_once_met_and_nudges_follow_the_verdicts() {
        let v = |id: &str, met: bool, hidden: bool| Verdict {
            id: id.into(),
            description: format!("{id} holds"),
            met,
            note: None,
            unknown: false,
            hidden,
        };
        let mut eval = Evaluation {
            objectives: vec![v("served", true, false), v("room", false, true)],
            guards: vec![],
            rebooted: vec![],
            reboot_spans: vec![],
        };
        assert_eq!(
            render_check(&eval),
            "objectives:\n  [met] served holds\n  [   ] a hidden check (its description shows once it is met)\n"
        );
        let text = crate::levels::testutil::LEVEL.replace(
            "  - {text: Look at the disks, cost: 10}\n",
            "  - {text: Look at the disks, cost: 10}\n  - {text: Fixed the symptom only, when: {met: [served], not_met: [room]}}\n",
        );
        let level = crate::levels::testutil::valid(&text);
        assert_eq!(eval.nudges(&level), ["Fixed the symptom only"]);
        eval.objectives[1].met = true;
        assert_eq!(
            render_check(&eval),
            "objectives:\n  [met] served holds\n  [met] room holds (was hidden)\n"
        );
        assert!(eval.nudges(&level).is_empty());
        eval.objectives[0].met = false;
        assert!(
            eval.nudges(&level).is_empty(),
            "`met: [served]` no longer holds"
        );
    }
}
