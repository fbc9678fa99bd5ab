//! `firedrill hint`, `check`, `report` and `score`: commands on the level being played.

use super::LevelError;
use super::client_report::ClientReport;
use super::evaluate::{Context, Evaluation, Retry, evaluate};
use super::finish::run_step;
use super::nodes::SshNodes;
use super::play::{lab_state, level_of};
use super::play_state::{CheckRecord, Play};
use super::score::Outcome;
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

pub(crate) async fn check(home: &Home, apply_solution: bool) -> Result<(), LevelError> {
    let mut play = Play::current(home)?;
    play.ensure_running()?;
    let _lock = crate::lab::LabLock::acquire(&home.lab(&play.lab), "`firedrill check`")?;
    let level = level_of(&play)?;
    let nodes = SshNodes::new(home.lab(&play.lab), lab_state(home, &play.lab)?);
    if apply_solution {
        play.used_solution = true;
        play.save(home)?;
        for step in &level.solution {
            run_step(&nodes, step, "the reference solution").await?;
        }
        println!("applied the reference solution (this play scores 0)");
    }
    let report = match &play.client {
        Some(c) => ClientReport::read(&c.report)?,
        None => ClientReport::default(),
    };
    warn_bad_lines(&report.damaged);
    let ctx = Context {
        report: &report,
        since: play.started_at.unwrap_or(play.prepared_at),
        now: Utc::now(),
        live: true,
        baselines: &play.baselines,
        after_reboot: AFTER_REBOOT,
    };
    let eval = evaluate(&level, &nodes, &ctx, &mut |s| println!("{s}")).await;
    let solved = eval.solved(&level);
    play.checks.push(CheckRecord {
        at: Utc::now(),
        met: eval.met(),
        objectives: eval.objectives.len(),
        guards_ok: eval.guards_ok(),
    });
    play.save(home)?;
    print!("{}", render_check(&eval));
    if solved {
        super::finish::end(home, &level, &mut play, &nodes, Outcome::Solved).await?;
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

pub(crate) fn render_check(eval: &Evaluation) -> String {
    let mut out = String::from("objectives:\n");
    let note = |n: &Option<String>| n.as_ref().map_or(String::new(), |n| format!(" ({n})"));
    for v in &eval.objectives {
        out += &format!(
            "  [{}] {}{}\n",
            if v.met { "met" } else { "   " },
            v.description,
            note(&v.note)
        );
    }
    if !eval.guards.is_empty() {
        out += "guards:\n";
        for v in &eval.guards {
            out += &format!(
                "  [{}] {}{}\n",
                // A guard with a note could not be judged (its node did not answer): that is
                // not the learner's damage, and it still blocks "solved".
                match (v.met, &v.note) {
                    (true, _) => "ok",
                    (false, Some(_)) => "unknown",
                    (false, None) => "VIOLATED",
                },
                v.description,
                note(&v.note)
            );
        }
    }
    out
}

pub(crate) fn report(home: &Home, out: Option<PathBuf>) -> Result<(), LevelError> {
    let play = Play::current(home)?;
    let level = level_of(&play)?;
    let client = match &play.client {
        Some(c) => ClientReport::read(&c.report)?,
        None => ClientReport::default(),
    };
    warn_bad_lines(&client.damaged);
    let now = Utc::now();
    let text = super::incident::render(&super::incident::Input {
        level: &level,
        play: &play,
        report: &client,
        now,
    });
    let path = out.unwrap_or_else(|| {
        PathBuf::from(format!(
            "incident-{}-{}.md",
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
        };
        assert_eq!(
            render_check(&eval),
            "objectives:\n  [met] Users are served again (100% of requests succeeded over the last 30 s (needs 99%))\n  \
             [   ] The app server can write its data\nguards:\n  [VIOLATED] No todo is lost\n  \
             [unknown] The data directory is kept (cannot run the check: db: connection reset)\n"
        );
    }
}
