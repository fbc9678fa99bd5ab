//! `firedrill snapshot save|list|restore|rm`, and what `down` says of the snapshots it takes
//! with the lab.

use super::take::{self, on_lab};
use super::{SnapshotError, SnapshotName, sizes};
use crate::lab::{Lab, SshNodes};
use crate::paths::Home;
use crate::state::LabState;

#[derive(Debug, clap::Subcommand)]
pub(crate) enum SnapshotCommand {
    /// Snapshot the whole lab: every node's disks and memory, with every node paused together
    /// so the databases and the app servers agree.
    Save {
        /// Lowercase letters, digits and '-', at most 40.
        name: String,
        #[arg(long)]
        lab: Option<String>,
    },
    /// The lab's snapshots: when each was taken, its nodes, the memory it saved, and the room
    /// the lab's disks take on the host.
    List {
        #[arg(long)]
        lab: Option<String>,
    },
    /// Return every node to snapshot NAME (disks and memory) and set the guests' clocks.
    Restore {
        name: String,
        #[arg(long)]
        lab: Option<String>,
    },
    /// Remove snapshot NAME from every node.
    Rm {
        name: String,
        #[arg(long)]
        lab: Option<String>,
    },
}

pub(crate) async fn run(command: SnapshotCommand, home: &Home) -> Result<(), SnapshotError> {
    match command {
        SnapshotCommand::Save { name, lab } => {
            let name = SnapshotName::parse(&name)?;
            save(
                &Lab::lock(home, lab.as_deref(), "`firedrill snapshot save`")?,
                &name,
            )
            .await
        }
        SnapshotCommand::List { lab } => list(&Lab::open(home, lab.as_deref())?).await,
        SnapshotCommand::Restore { name, lab } => {
            let name = SnapshotName::parse(&name)?;
            let lab = Lab::lock(home, lab.as_deref(), "`firedrill snapshot restore`")?;
            restore(&lab, &name).await
        }
        SnapshotCommand::Rm { name, lab } => {
            let name = SnapshotName::parse(&name)?;
            remove(
                &Lab::lock(home, lab.as_deref(), "`firedrill snapshot rm`")?,
                &name,
            )
            .await
        }
    }
}

async fn save(lab: &Lab, name: &SnapshotName) -> Result<(), SnapshotError> {
    let have = on_lab(&lab.state, |hv, m| Ok(take::list(hv, m)?)).await?;
    if have.iter().any(|s| s.name == name.as_str()) {
        return Err(SnapshotError::Exists {
            lab: lab.name().to_string(),
            name: name.to_string(),
        });
    }
    println!(
        "pausing the {} nodes of lab {} together for snapshot {name}...",
        lab.state.nodes().count(),
        lab.name()
    );
    let nodes = SshNodes::of(lab);
    let saved = super::save_lab(&lab.state, &nodes, name).await;
    nodes.close().await;
    let saved = saved?;
    warn_clocks(&saved.clock_failures);
    println!(
        "snapshot {name} of lab {}: every node's disks and memory (the lab was paused for {:.1} s); `firedrill snapshot restore {name}` returns to it",
        lab.name(),
        saved.paused.as_secs_f64()
    );
    Ok(())
}

async fn restore(lab: &Lab, name: &SnapshotName) -> Result<(), SnapshotError> {
    let nodes = SshNodes::of(lab);
    let restored = super::restore_lab(&lab.state, &nodes, name).await;
    nodes.close().await;
    let restored = restored?;
    warn_clocks(&restored.clock_failures);
    // A fault applied since the snapshot is gone from the node, but its record is still open.
    if let Ok(active) = crate::faults::active(&lab.dir)
        && !active.is_empty()
    {
        let ids: Vec<String> = active.into_iter().map(|(id, _)| id).collect();
        eprintln!(
            "warning: faults {} are still recorded as applied: `firedrill fault status` shows whether each still holds, and `firedrill fault revert ID` closes its record",
            ids.join(", ")
        );
    }
    println!(
        "lab {} is back at snapshot {name} ({} nodes reverted in {:.1} s, answering {:.1} s later; their clocks set from this host's)",
        lab.name(),
        lab.state.nodes().count(),
        restored.took.as_secs_f64(),
        restored.answered.as_secs_f64()
    );
    Ok(())
}

async fn remove(lab: &Lab, name: &SnapshotName) -> Result<(), SnapshotError> {
    let n = name.to_string();
    let (removed, have) = on_lab(&lab.state, move |hv, m| {
        let removed = take::remove(hv, m, &n)?;
        Ok((removed, take::list(hv, m)?))
    })
    .await?;
    if removed == 0 {
        return Err(SnapshotError::NotFound {
            lab: lab.name().to_string(),
            name: name.to_string(),
            have: have
                .into_iter()
                .map(|s| s.name)
                .filter(|s| !SnapshotName::is_reserved(s))
                .collect(),
        });
    }
    println!(
        "snapshot {name} of lab {}: removed from {removed} nodes",
        lab.name()
    );
    Ok(())
}

async fn list(lab: &Lab) -> Result<(), SnapshotError> {
    let snapshots = on_lab(&lab.state, |hv, m| Ok(take::list(hv, m)?)).await?;
    let mut disks = Vec::new();
    let mut unread = Vec::new();
    for n in lab.state.nodes() {
        match sizes::read(&lab.dir.disk(&n.name)).await {
            Ok(s) => disks.push(s),
            Err(e) => unread.push(format!("{}: {e}", n.name)),
        }
    }
    print!(
        "{}",
        render(lab.name(), &snapshots, &disks, lab.state.nodes().count())
    );
    for u in unread {
        eprintln!("warning: sizes unknown for {u}");
    }
    Ok(())
}

/// The table `list` prints: each snapshot with its time (UTC), nodes and saved memory, then the
/// room the lab's disks take with every snapshot in them.
pub(super) fn render(
    lab: &str,
    snapshots: &[take::LabSnapshot],
    disks: &[sizes::DiskSizes],
    node_count: usize,
) -> String {
    if snapshots.is_empty() {
        return format!("lab {lab} has no snapshots; `firedrill snapshot save NAME` takes one\n");
    }
    let mut out = format!(
        "{:<24} {:<20} {:>5} {:>10}\n",
        "NAME", "TAKEN (UTC)", "NODES", "MEMORY"
    );
    for s in snapshots {
        let taken = chrono::DateTime::from_timestamp(s.created, 0)
            .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
            .unwrap_or_else(|| "?".to_string());
        let memory: u64 = disks.iter().filter_map(|d| d.memory.get(&s.name)).sum();
        let nodes = if s.nodes.len() == node_count {
            s.nodes.len().to_string()
        } else {
            format!("{}/{node_count}", s.nodes.len())
        };
        let note = if SnapshotName::is_reserved(&s.name) {
            "  (the level's baseline, for `firedrill reset`)"
        } else {
            ""
        };
        out += &format!(
            "{:<24} {:<20} {:>5} {:>10}{note}\n",
            s.name,
            taken,
            nodes,
            sizes::human(memory)
        );
    }
    let on_host: u64 = disks.iter().map(|d| d.on_host).sum();
    out += &format!(
        "the lab's disks take {} on this host, with every snapshot's disk state in them\n",
        sizes::human(on_host)
    );
    out
}

fn warn_clocks(failures: &[String]) {
    for f in failures {
        eprintln!("warning: could not set the clock of {f}");
    }
}

/// The snapshots the lab has, for `down` to name as it removes them with the disks; none when
/// libvirt cannot say.
pub(crate) async fn removed_with_lab(state: &LabState) -> Vec<String> {
    on_lab(state, |hv, m| Ok(take::list(hv, m)?))
        .await
        .map(|all| all.into_iter().map(|s| s.name).collect())
        .unwrap_or_default()
}
