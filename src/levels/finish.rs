//! The end of a play: stop the client, revert the faults and the setup, record the outcome and
//! its score. `give-up` and `reset` end a play by hand; `check` ends it when it is solved.

use super::client_report::ClientReport;
use super::level::{FaultSpec, Level, SolutionStep, Step};
use super::play::level_of;
use super::play_state::{End, Play, append_score};
use super::score::{Outcome, explain};
use super::{LevelError, client_proc, health};
use crate::lab::{AccelChoice, UpOptions};
use crate::lab::{Lab, Nodes, SshNodes};
use crate::paths::Home;
use crate::state::LabState;
use chrono::Utc;
use std::time::Duration;

/// Runs a step's `run` script as root on its node; a non-zero exit is an error.
pub(crate) async fn run_step<N: Nodes>(
    nodes: &N,
    step: &Step,
    what: &str,
) -> Result<(), LevelError> {
    script(nodes, &step.node.value, &step.run, what).await
}

async fn script<N: Nodes>(
    nodes: &N,
    node: &str,
    script: &str,
    what: &str,
) -> Result<(), LevelError> {
    nodes
        .run(node, script)
        .await?
        .check(node, what)
        .map(|_| ())
        .map_err(|failed| LevelError::Step {
            failed,
            hint:
                "the level file's script does not work on this lab; fix it, then `firedrill reset`"
                    .to_string(),
        })
}

/// Undoes everything the play did, newest first: the client, the faults, the setup. Goes on
/// after a failure and reports every one at the end. With `restored`, every node was just
/// returned to the snapshot taken before the setup: what the setup, the scripted faults and the
/// faults on the nodes changed is gone, so only their records are closed and the faults on the
/// host side reverted, with no command on a node (each costs about a second on a node just
/// restored under emulation).
pub(crate) async fn undo<N: Nodes>(
    home: &Home,
    level: &Level,
    play: &mut Play,
    nodes: &N,
    restored: bool,
) -> Result<(), LevelError> {
    let mut failures = Vec::new();
    if let Some(c) = &play.client {
        client_proc::stop(c.pid, &c.report.to_string_lossy()).await;
    }
    let kinds = play
        .faults
        .iter()
        .any(|f| matches!(level.faults.get(f.index), Some(FaultSpec::Kind { .. })));
    if kinds || !play.gm.is_empty() {
        // Over the play's own sessions when they are this lab's: no second login per node.
        let reverted = match nodes.ssh() {
            Some(ssh) if ssh.state().name.as_str() == play.lab.as_str() => {
                crate::faults::revert_all_over(home, ssh, restored).await
            }
            _ => crate::faults::revert(home, Some(&play.lab), None, true, false).await,
        };
        if let Err(e) = reverted {
            failures.push(e.to_string());
        }
    }
    // The scripts ran on the nodes: a restore from before the setup undid them.
    if !restored {
        for f in play.faults.iter().rev() {
            if let Some(FaultSpec::Script(step)) = level.faults.get(f.index) {
                let revert = step.revert.as_deref().unwrap_or("true");
                if let Err(e) = script(
                    nodes,
                    &step.node.value,
                    revert,
                    "reverting a scripted fault",
                )
                .await
                {
                    failures.push(e.to_string());
                }
            }
        }
        for step in level.setup.iter().take(play.setup_done).rev() {
            if let Some(revert) = &step.revert
                && let Err(e) = script(nodes, &step.node.value, revert, "reverting the setup").await
            {
                failures.push(e.to_string());
            }
        }
    }
    play.save(home)?;
    if failures.is_empty() {
        Ok(())
    } else {
        Err(LevelError::Undo(failures))
    }
}

/// Ends the play with `outcome`: undo (`restored`: see `undo`), score, record.
pub(crate) async fn end<N: Nodes>(
    home: &Home,
    level: &Level,
    play: &mut Play,
    nodes: &N,
    outcome: Outcome,
    restored: bool,
) -> Result<(), LevelError> {
    let undone = undo(home, level, play, nodes, restored).await;
    record_end(home, level, play, outcome)?;
    undone
}

/// Scores the play and records its end.
fn record_end(
    home: &Home,
    level: &Level,
    play: &mut Play,
    outcome: Outcome,
) -> Result<(), LevelError> {
    let at = Utc::now();
    let report = match &play.client {
        Some(c) => ClientReport::read(&c.report)?,
        None => ClientReport::default(),
    };
    super::commands::warn_bad_lines(&report.damaged);
    let score = play.score(level, &report, at, outcome);
    println!(
        "\n{}",
        explain(&score, play.hints.len(), level.minutes, level.slo).trim_end()
    );
    let end = End { at, outcome, score };
    append_score(home, &play.score_entry(&end))?;
    play.end = Some(end);
    play.save(home)
}

/// Ends a play whose lab is gone (`down --force` while it was played): the mock client is
/// stopped and the play recorded; the faults went with the nodes, so nothing can be reverted.
async fn end_without_lab(
    home: &Home,
    level: &Level,
    play: &mut Play,
    outcome: Outcome,
) -> Result<(), LevelError> {
    if let Some(c) = &play.client {
        client_proc::stop(c.pid, &c.report.to_string_lossy()).await;
    }
    eprintln!(
        "lab {} is gone (removed while the level was played): its nodes, and the level's faults on them, went with it; nothing could be reverted",
        play.lab
    );
    record_end(home, level, play, outcome)
}

fn solution(level: &Level) -> String {
    let mut out = String::from("\nThe reference solution (commands run as root):\n");
    for s in &level.solution {
        match s {
            SolutionStep::Node(s) => {
                out += &format!("  on {}:\n", s.node.value);
                for line in s.run.trim_end().lines() {
                    out += &format!("    {line}\n");
                }
            }
            SolutionStep::Up { path, restart, .. } => {
                out += &format!("  on this machine:\n    firedrill up {}", path.display());
                for r in restart {
                    out += &format!(" --restart {}", r.value);
                }
                out += "\n";
            }
        }
    }
    out
}

pub(crate) async fn give_up(home: &Home, show_solution: bool) -> Result<(), LevelError> {
    let mut play = Play::current(home)?;
    let _lock = crate::lab::LabLock::acquire(&home.lab(&play.lab), "`firedrill give-up`")?;
    let level = level_of(&play)?;
    let result = match (&play.end, Lab::find(home, &play.lab)?) {
        (Some(_), _) => Ok(()),
        (None, None) => end_without_lab(home, &level, &mut play, Outcome::GaveUp).await,
        (None, Some(lab)) => {
            let nodes = SshNodes::of(&lab);
            let r = end(home, &level, &mut play, &nodes, Outcome::GaveUp, false).await;
            nodes.close().await;
            r
        }
    };
    println!("\nDebrief: {}\n\n{}", level.title, level.debrief.trim_end());
    if show_solution {
        print!("{}", solution(&level));
    } else {
        println!(
            "\n(`firedrill give-up --solution` shows the reference solution; `firedrill report` writes the incident report)"
        );
    }
    result
}

/// Returns the lab to its healthy baseline: the snapshot taken when the level started, when
/// there is one (everything the learner changed is gone, in seconds); then reverts the play's
/// faults (which finds nothing left on the nodes, and closes their records). Without a
/// snapshot, or when the lab is not healthy after it, `up` converges the lab to its file
/// (rewrites changed configuration, restarts what it must). Either way it ends with a health
/// check.
pub(crate) async fn reset(
    home: &Home,
    accel: AccelChoice,
    timeout: Duration,
) -> Result<(), LevelError> {
    let mut play = Play::current(home)?;
    let _lock = crate::lab::LabLock::acquire(&home.lab(&play.lab), "`firedrill reset`")?;
    let level = level_of(&play)?;
    // `up` with the level's lab file: what brings the lab back when the snapshot cannot.
    let up = UpOptions {
        file: play.lab_file.clone(),
        accel,
        force: false,
        timeout,
        dry_run: false,
        restart: vec![],
    };
    let Some(lab) = Lab::find(home, &play.lab)? else {
        if play.end.is_none() {
            end_without_lab(home, &level, &mut play, Outcome::Reset).await?;
        }
        eprintln!(
            "bringing lab {} up again from {}",
            play.lab,
            play.lab_file.display()
        );
        crate::lab::up(home, &up).await?;
        return Ok(());
    };
    // An exercise may have changed the lab itself (a node added, one resized): `up` puts the
    // lab file's nodes and sizes back first, so that the snapshots fit the nodes again.
    let lab = match reshaped(&lab.state, &play.lab_file) {
        Some(restart) => {
            println!(
                "the lab's nodes or sizes differ from {}: converging it first",
                play.lab_file.display()
            );
            let reshape = UpOptions {
                file: play.lab_file.clone(),
                force: true,
                restart,
                ..up
            };
            crate::lab::up(home, &reshape).await?;
            Lab::find(home, &play.lab)?.unwrap_or(lab)
        }
        None => lab,
    };
    let nodes = SshNodes::of(&lab);
    let restore = async {
        match play.baseline_at {
            Some(at) => restore_baseline(&lab.state, &nodes, at).await,
            None => false,
        }
    };
    // The mock client stops (writing its summary) while the nodes go back to the snapshot: its
    // report ends before the restore, and `end` finds it stopped.
    let client = async {
        if let Some(c) = &play.client {
            client_proc::stop(c.pid, &c.report.to_string_lossy()).await;
        }
    };
    let (restored, ()) = tokio::join!(restore, client);
    let undone = if play.end.is_none() {
        end(home, &level, &mut play, &nodes, Outcome::Reset, restored).await
    } else {
        undo(home, &level, &mut play, &nodes, restored).await
    };
    if let Err(e) = undone {
        eprintln!("error: {e}");
    }
    // Over the sessions the clocks were set through: no second login per node.
    let healthy = restored && health::problems_on(&nodes).await.is_empty();
    nodes.close().await;
    if !healthy {
        crate::lab::up(home, &up).await?;
        let problems = health::problems_after_up(home, &play.lab).await?;
        if !problems.is_empty() {
            return Err(LevelError::Unhealthy {
                lab: play.lab.to_string(),
                file: play.lab_file.clone(),
                detail: problems.join("\n"),
            });
        }
    }
    println!(
        "lab {} is back to its healthy baseline; `firedrill play` starts a level",
        play.lab
    );
    Ok(())
}

/// `Some(nodes to restart)` when the running lab's nodes or their sizes, or its networks' `dns:`
/// names, are not the lab file's (an exercise added, removed or resized a node, or repointed a
/// name); `None` when they are, or when the file cannot be read (the snapshot, then `up` as
/// before, deal with the rest). A snapshot holds the nodes, not the network's DNS.
fn reshaped(state: &LabState, lab_file: &std::path::Path) -> Option<Vec<String>> {
    let (lab, _) = crate::spec::check(lab_file, &crate::host::HostFacts::default(), true).ok()?;
    let mut restart = Vec::new();
    let mut differs = state.nodes().count() != lab.nodes.len() || names_moved(&state.plan, &lab);
    for want in &lab.nodes {
        match state.node(&want.name) {
            None => differs = true,
            Some(n) if n.domain.memory_mib != want.memory_mib || n.domain.cpus != want.cpus => {
                differs = true;
                restart.push(want.name.clone());
            }
            Some(_) => {}
        }
    }
    differs.then_some(restart)
}

/// True when a network's `dns:` names (not the nodes' own) point elsewhere in the plan last
/// applied than in the lab file, or one is missing on either side.
fn names_moved(applied: &crate::plan::Plan, lab: &crate::spec::ValidLab) -> bool {
    use std::collections::BTreeSet;
    use std::net::Ipv4Addr;
    let own: BTreeSet<&str> = applied
        .nodes
        .iter()
        .flat_map(|n| [n.name.as_str(), n.fqdn.as_str()])
        .collect();
    lab.networks.iter().any(|net| {
        let libvirt_name = crate::plan::network_name(&lab.name, &net.name);
        let Some(running) = applied.networks.iter().find(|n| n.name == libvirt_name) else {
            return true;
        };
        let want: BTreeSet<(String, Ipv4Addr)> = net
            .dns
            .iter()
            .flat_map(|(name, ip)| [(name.clone(), *ip), (format!("{name}.{}", net.domain), *ip)])
            .collect();
        let have: BTreeSet<(String, Ipv4Addr)> = running
            .dns
            .iter()
            .flat_map(|h| h.names.iter().map(move |name| (name.clone(), h.ip)))
            .filter(|(name, _)| !own.contains(name.as_str()))
            .collect();
        want != have
    })
}

#[cfg(test)]
#[path = "finish_tests.rs"]
mod tests;

/// Every node back to the play's snapshot, clocks set; false (and why, on stderr) when that
/// cannot be done.
async fn restore_baseline(state: &LabState, nodes: &SshNodes, at: chrono::DateTime<Utc>) -> bool {
    use crate::lab::snapshot::{SnapshotError, SnapshotName, restore_lab};
    match restore_lab(state, nodes, &SnapshotName::baseline()).await {
        Ok(restored) => {
            for f in restored.clock_failures {
                eprintln!("warning: could not set the clock of {f}");
            }
            println!(
                "every node is back at the snapshot of {} ({:.1} s; every node answered {:.1} s later)",
                at.format("%H:%M:%S UTC"),
                restored.took.as_secs_f64(),
                restored.answered.as_secs_f64()
            );
            true
        }
        Err(SnapshotError::NotFound { .. } | SnapshotError::Incomplete { .. }) => {
            eprintln!(
                "the lab has no snapshot from the start of the level (was it rebuilt?); converging it with `up`"
            );
            false
        }
        Err(e) => {
            eprintln!(
                "warning: could not restore the snapshot ({e}); converging the lab with `up`"
            );
            false
        }
    }
}
