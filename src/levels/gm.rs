//! `firedrill gm`: a game master for a team. A second person injects a hidden fault into the
//! play that is running (a fault kind from the catalogue, or the faults of another level), the
//! player sees only its symptoms, `check` counts each one as one more hidden objective ("the
//! game master's fault is gone"), the end of the play reverts it with the level's own, and the
//! report shows when it went in once the play is over.

use super::LevelError;
use super::evaluate::Verdict;
use super::level::FaultSpec;
use super::play_state::{GmFault, Play};
use crate::faults::status::OnNode;
use crate::paths::Home;
use chrono::Utc;
use clap::Subcommand;
use std::collections::BTreeMap;
use std::fmt::Write;

#[derive(Debug, Subcommand)]
pub(crate) enum GmCommand {
    /// What a game master can inject into the running play: every fault kind and its
    /// parameters, and the levels whose faults fit the play's lab.
    List,
    /// Inject a hidden fault into the running play; the player sees only the symptoms.
    Inject {
        /// A fault kind (see `firedrill gm list`), with the node to put it on.
        #[arg(value_parser = crate::faults::command::kind_names(), required_unless_present = "level")]
        kind: Option<String>,
        /// The node, as in the lab file.
        #[arg(required_unless_present = "level")]
        node: Option<String>,
        /// A parameter of the kind, e.g. --param leave=100 (repeatable).
        #[arg(long = "param", value_name = "KEY=VALUE", value_parser = crate::faults::params::parse_param)]
        params: Vec<(String, String)>,
        /// Inject every fault of this level (its fault kinds) instead of one kind.
        #[arg(long, conflicts_with_all = ["kind", "node", "params"])]
        level: Option<String>,
    },
    /// For the game master's eyes: what was injected, and whether each still holds.
    Status,
}

pub(crate) async fn run(cmd: GmCommand, home: &Home) -> Result<(), LevelError> {
    match cmd {
        GmCommand::List => list(home),
        GmCommand::Inject {
            kind,
            node,
            params,
            level,
        } => {
            let faults = match (level, kind, node) {
                (Some(level), _, _) => faults_of_level(home, &level)?,
                (None, Some(kind), Some(node)) => vec![(kind, node, params)],
                _ => unreachable!("clap requires a kind and a node, or --level"),
            };
            inject(home, &faults).await
        }
        GmCommand::Status => status(home).await,
    }
}

/// A fault to inject: kind, node, parameters.
type Planned = (String, String, Vec<(String, String)>);

/// The fault kinds of another level, to inject as they are written there.
fn faults_of_level(home: &Home, id: &str) -> Result<Vec<Planned>, LevelError> {
    let file = super::play::resolve_level(home, id)?;
    let level = super::check_file(&file, &crate::host::HostFacts::default())
        .map_err(LevelError::Invalid)?
        .level;
    let faults = kinds_of(&level);
    if faults.is_empty() {
        return Err(LevelError::NoFaultKinds(id.to_string()));
    }
    Ok(faults)
}

fn kinds_of(level: &super::Level) -> Vec<Planned> {
    level
        .faults
        .iter()
        .filter_map(|f| match f {
            FaultSpec::Kind { kind, node, params } => Some((
                kind.value.clone(),
                node.value.clone(),
                params
                    .iter()
                    .map(|(k, v)| (k.value.clone(), v.clone()))
                    .collect(),
            )),
            FaultSpec::Script(_) => None,
        })
        .collect()
}

async fn inject(home: &Home, faults: &[Planned]) -> Result<(), LevelError> {
    let mut play = Play::current(home)?;
    play.ensure_running()?;
    for (kind, node, params) in faults {
        let target = crate::faults::Target {
            lab: Some(&play.lab),
            kind,
            node,
            params,
            duration: None,
            // The event log and `fault status` keep it secret, as a level's own faults.
            hidden: true,
        };
        let rec = crate::faults::apply(home, target).await?;
        eprintln!(
            "injected {} ({kind} on {node}); the player sees only the symptoms. `firedrill gm status` shows whether it holds",
            rec.id
        );
        play.gm.push(GmFault {
            at: Utc::now(),
            kind: kind.clone(),
            node: node.clone(),
            id: rec.id,
        });
        play.save(home)?;
    }
    Ok(())
}

/// Each game master's fault as one hidden objective: met once it no longer holds on its node.
pub(crate) async fn verdicts(home: &Home, play: &Play) -> Vec<Verdict> {
    if play.gm.is_empty() {
        return Vec::new();
    }
    let ids: Vec<String> = play.gm.iter().map(|g| g.id.clone()).collect();
    let found = crate::faults::status::holds(home, &play.lab, &ids).await;
    judge(&play.gm, found)
}

fn judge(gm: &[GmFault], found: Result<BTreeMap<String, OnNode>, String>) -> Vec<Verdict> {
    gm.iter()
        .enumerate()
        .map(|(n, g)| {
            let on_node = match &found {
                Ok(by_id) => by_id.get(&g.id).cloned().unwrap_or(OnNode::Skipped),
                Err(e) => OnNode::Unreachable { error: e.clone() },
            };
            let (met, note, unknown) = match on_node {
                // Its record says nothing is left on the node (reverted by hand with
                // `fault revert`, or by its timer).
                OnNode::Skipped => (true, None, false),
                OnNode::Checked(v) => (!v.active, None, false),
                OnNode::Unreachable { error } => {
                    (false, Some(format!("cannot run the check: {error}")), true)
                }
            };
            Verdict {
                id: format!("gm-{}", n + 1),
                description: format!(
                    "the game master's fault {} is gone ({} on {})",
                    n + 1,
                    g.kind,
                    g.node
                ),
                met,
                note,
                unknown,
                hidden: true,
            }
        })
        .collect()
}

async fn status(home: &Home) -> Result<(), LevelError> {
    let play = Play::current(home)?;
    if play.gm.is_empty() {
        println!(
            "the game master has injected nothing into `{}`; `firedrill gm inject KIND NODE` does",
            play.level
        );
        return Ok(());
    }
    let v = verdicts(home, &play).await;
    print!("{}", render_status(&play, &v));
    Ok(())
}

fn render_status(play: &Play, verdicts: &[Verdict]) -> String {
    let mut out = format!("game master's faults in `{}`:\n", play.level);
    for (g, v) in play.gm.iter().zip(verdicts) {
        let state = match (v.met, v.unknown) {
            (true, _) => "gone (the player fixed it, or it was reverted)",
            (false, true) => "unknown",
            (false, false) => "holds",
        };
        let _ = writeln!(
            out,
            "  {} {} on {}, injected {} UTC: {state}{}",
            g.id,
            g.kind,
            g.node,
            g.at.format("%H:%M:%S"),
            v.note.as_ref().map_or(String::new(), |n| format!(" ({n})"))
        );
    }
    out
}

fn list(home: &Home) -> Result<(), LevelError> {
    print!(
        "{}",
        crate::faults::command::format_list(crate::faults::KINDS)
    );
    let play = Play::load(home)?;
    let search = super::sources::Search::all(home)?;
    let mut levels = String::new();
    for found in search.entries() {
        let Ok(checked) = super::check_file(&found.file, &crate::host::HostFacts::default()) else {
            continue;
        };
        if play
            .as_ref()
            .is_some_and(|p| p.lab_file.file_name() != checked.level.lab_path.file_name())
        {
            continue;
        }
        let kinds = kinds_of(&checked.level);
        if kinds.is_empty() {
            continue;
        }
        let what: Vec<String> = kinds
            .iter()
            .map(|(k, n, _)| format!("{k} on {n}"))
            .collect();
        let _ = writeln!(levels, "  --level {:<22} {}", found.id, what.join(", "));
    }
    if !levels.is_empty() {
        println!("\nlevels whose faults fit the play's lab (`firedrill gm inject --level ID`):");
        print!("{levels}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::Verdict as OnNodeVerdict;

    fn gm(id: &str, kind: &str, node: &str) -> GmFault {
        GmFault {
            at: chrono::DateTime::from_timestamp(1_700_000_000, 0).expect("time"),
            kind: kind.into(),
            node: node.into(),
            id: id.into(),
        }
    }

    fn checked(active: bool) -> OnNode {
        OnNode::Checked(OnNodeVerdict {
            active,
            detail: "what the node said".into(),
        })
    }

    /// A fault still on its node is an unmet hidden objective; a gone or reverted one is met;
    /// a node that does not answer cannot be judged.
    #[test]
    fn each_fault_is_a_hidden_objective_met_once_gone() {
        let faults = [
            gm("f3", "disk-full", "app2"),
            gm("f4", "cpu-hog", "db"),
            gm("f5", "memory-hog", "app1"),
            gm("f6", "process-freeze", "lb"),
        ];
        let found = BTreeMap::from([
            ("f3".to_string(), checked(true)),
            ("f4".to_string(), checked(false)),
            (
                "f6".to_string(),
                OnNode::Unreachable {
                    error: "lb: connection refused".into(),
                },
            ),
        ]);
        let v = judge(&faults, Ok(found));
        let summary: Vec<(&str, bool, bool, bool)> = v
            .iter()
            .map(|v| (v.id.as_str(), v.met, v.unknown, v.hidden))
            .collect();
        assert_eq!(
            summary,
            [
                ("gm-1", false, false, true),
                ("gm-2", true, false, true),
                ("gm-3", true, false, true),
                ("gm-4", false, true, true),
            ]
        );
        assert_eq!(
            v[0].description,
            "the game master's fault 1 is gone (disk-full on app2)"
        );
        assert_eq!(
            v[3].note.as_deref(),
            Some("cannot run the check: lb: connection refused")
        );
        let unreadable = judge(&faults[..1], Err("no lab `x`".into()));
        assert!(!unreadable[0].met && unreadable[0].unknown);
    }

    #[test]
    fn status_shows_each_fault_and_its_state() {
        let mut play = crate::levels::testutil::played();
        play.gm = vec![gm("f3", "disk-full", "app2"), gm("f4", "cpu-hog", "db")];
        let v = judge(
            &play.gm,
            Ok(BTreeMap::from([
                ("f3".to_string(), checked(true)),
                ("f4".to_string(), checked(false)),
            ])),
        );
        assert_eq!(
            render_status(&play, &v),
            format!(
                "game master's faults in `{}`:\n  f3 disk-full on app2, injected 22:13:20 UTC: holds\n  \
                 f4 cpu-hog on db, injected 22:13:20 UTC: gone (the player fixed it, or it was reverted)\n",
                play.level
            )
        );
    }
}
