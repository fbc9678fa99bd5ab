//! Changing a lab that runs: what `up` will do compared with what was last applied (the stored
//! plan, and libvirt's own view of each domain and network), and the steps that apply it without
//! stopping the others: live network records, redefinition plus a restart the user asked for,
//! and removing nodes that left the file.

use super::LabError;
use crate::hypervisor::xml::{self, NetworkSpec};
use crate::hypervisor::{HostUpdate, Hypervisor, blocking};
use crate::paths::LabDir;
use crate::plan::{Apply, Change, NodePlan, Plan};
use crate::state::LabState;
use std::sync::Arc;
use std::time::Duration;

/// How long a node may take to shut down cleanly for `--restart` before it is switched off.
const SHUTDOWN: Duration = Duration::from_secs(90);

/// The changes from the lab as last applied to `plan`; `None` when there is nothing to compare
/// with (a new lab, or one brought up by a firedrill that did not store its plan).
pub(crate) fn changes(previous: Option<&LabState>, plan: &Plan) -> Option<Vec<Change>> {
    let old = previous?.plan.as_ref()?;
    Some(crate::plan::diff(old, plan))
}

/// Refuses changes `up` cannot make to a running lab, before anything is touched.
pub(crate) fn refuse_unappliable(changes: &[Change]) -> Result<(), LabError> {
    let lines: Vec<String> = changes
        .iter()
        .filter(|c| c.apply() == Apply::Recreate)
        .map(|c| c.to_string())
        .collect();
    if lines.is_empty() {
        Ok(())
    } else {
        Err(LabError::Unappliable(lines))
    }
}

/// A node whose domain does not have the memory or vCPUs its plan says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Resize {
    pub(crate) node: String,
    /// What the running domain has: (memory MiB, vCPUs).
    pub(crate) running: (u64, u32),
    pub(crate) planned: (u64, u32),
    /// Its definition already says `planned`.
    pub(crate) defined: bool,
}

impl Resize {
    pub(crate) fn describe(&self) -> String {
        let mut parts = Vec::new();
        if self.running.0 != self.planned.0 {
            parts.push(format!(
                "memory {} → {} MiB",
                self.running.0, self.planned.0
            ));
        }
        if self.running.1 != self.planned.1 {
            parts.push(format!("cpus {} → {}", self.running.1, self.planned.1));
        }
        format!("{} {}", self.node, parts.join(", "))
    }
}

/// The nodes whose running domain differs from the plan in memory or vCPUs. A domain that is
/// off takes its definition at the next start, so only its definition counts.
pub(crate) async fn resizes(hv: Arc<dyn Hypervisor>, plan: &Plan) -> Result<Vec<Resize>, LabError> {
    let nodes: Vec<NodePlan> = plan.nodes.clone();
    blocking(move || -> Result<Vec<Resize>, LabError> {
        let mut out = Vec::new();
        for n in &nodes {
            let Some(d) = hv.domain(&n.domain.name)? else {
                continue;
            };
            let planned = (n.domain.memory_mib, n.domain.cpus);
            let defined = (d.defined_memory_mib, d.defined_cpus) == planned;
            let running = if d.state == crate::hypervisor::DomainState::Shutoff {
                (d.defined_memory_mib, d.defined_cpus)
            } else {
                (d.memory_mib, d.cpus)
            };
            if running != planned || !defined {
                out.push(Resize {
                    node: n.name.clone(),
                    running,
                    planned,
                    defined,
                });
            }
        }
        Ok(out)
    })
    .await
}

/// Applies resizes: every definition is brought to the plan (libvirt applies it at the next
/// boot); the nodes in `restart` are shut down now, for `up` to start them again. Returns the
/// resizes left waiting for a restart.
pub(crate) async fn apply_resizes(
    hv: Arc<dyn Hypervisor>,
    plan: &Plan,
    resizes: Vec<Resize>,
    restart: &[String],
    say: &(dyn Fn(&str) + Sync),
) -> Result<Vec<Resize>, LabError> {
    let mut pending = Vec::new();
    for r in resizes {
        let node = plan
            .nodes
            .iter()
            .find(|n| n.name == r.node)
            .expect("resizes come from the plan");
        if !r.defined {
            let (hv, xml) = (hv.clone(), xml::domain_xml(&node.domain));
            blocking(move || hv.define_domain(&xml)).await?;
        }
        if r.running == r.planned {
            continue;
        }
        if restart.contains(&r.node) {
            say(&format!(
                "{}: restarting to apply {}",
                r.node,
                r.describe().trim_start_matches(&r.node).trim()
            ));
            let (hv, name) = (hv.clone(), node.domain.name.clone());
            let clean = blocking(move || hv.shutdown_domain(&name, SHUTDOWN)).await?;
            if !clean {
                say(&format!(
                    "{}: did not shut down within {}s; switched off",
                    r.node,
                    SHUTDOWN.as_secs()
                ));
            }
        } else {
            pending.push(r);
        }
    }
    Ok(pending)
}

/// Brings a running network's DHCP leases and DNS records to the plan's with libvirt's network
/// update, so no one's lease drops and the network never restarts. With `prune`, records the
/// plan no longer has are removed too (after their nodes are gone); otherwise only records that
/// changed are replaced. Returns a line per change.
pub(crate) async fn sync_records(
    hv: Arc<dyn Hypervisor>,
    net: &NetworkSpec,
    prune: bool,
) -> Result<Vec<String>, LabError> {
    let net = net.clone();
    blocking(move || -> Result<Vec<String>, LabError> {
        let Some(live) = hv.network(&net.name)? else {
            return Ok(vec![]);
        };
        let mut updates = Vec::new();
        for h in &live.dhcp_hosts {
            let replaced = net
                .hosts
                .iter()
                .any(|w| (w.mac == h.mac || w.ip == h.ip) && w != h);
            let gone = !net.hosts.iter().any(|w| w.mac == h.mac || w.ip == h.ip);
            if replaced || (prune && gone) {
                updates.push(HostUpdate::RemoveLease(h.clone()));
            }
        }
        for h in &live.dns_hosts {
            let replaced = net.dns.iter().any(|w| w.ip == h.ip && w != h);
            let gone = !net.dns.iter().any(|w| w.ip == h.ip);
            if replaced || (prune && gone) {
                updates.push(HostUpdate::RemoveDns(h.clone()));
            }
        }
        for h in &net.hosts {
            if !live.dhcp_hosts.contains(h) {
                updates.push(HostUpdate::AddLease(h.clone()));
            }
        }
        for h in &net.dns {
            if !live.dns_hosts.contains(h) {
                updates.push(HostUpdate::AddDns(h.clone()));
            }
        }
        let mut lines = Vec::new();
        for u in &updates {
            hv.update_network(&net.name, &net.lab, u)?;
            lines.push(match u {
                HostUpdate::AddLease(h) => format!("lease {} {} {} added", h.name, h.mac, h.ip),
                HostUpdate::RemoveLease(h) => {
                    format!("lease {} {} {} removed", h.name, h.mac, h.ip)
                }
                HostUpdate::AddDns(h) => format!("dns {} {} added", h.ip, h.names.join(" ")),
                HostUpdate::RemoveDns(h) => {
                    format!("dns {} {} removed", h.ip, h.names.join(" "))
                }
            });
        }
        Ok(lines)
    })
    .await
}

/// Removes a node that left the lab file: its domain, then its files. Its network records go
/// with the next `sync_records(.., prune)`.
pub(crate) async fn remove_node(
    hv: Arc<dyn Hypervisor>,
    dir: &LabDir,
    node: &str,
    domain: &str,
) -> Result<(), LabError> {
    let (name, lab) = (domain.to_string(), dir.name().to_string());
    blocking(move || hv.remove_domain(&name, &lab)).await?;
    let node_dir = dir.node_dir(node);
    if std::fs::symlink_metadata(&node_dir).is_ok() {
        crate::fsutil::remove_tree_inside(&dir.dir().join("nodes"), &node_dir).map_err(|e| {
            LabError::Node {
                node: node.to_string(),
                step: "remove node files",
                message: e.to_string(),
            }
        })?;
    }
    let event = crate::events::Event::now(
        crate::events::EventKind::NodeRemoved,
        Some(node),
        format!("node {node} removed"),
    );
    if let Err(e) = crate::events::append(dir, &event) {
        eprintln!("warning: {e}");
    }
    Ok(())
}

/// `up --dry-run`: what `up` would do, node by node, and what it would not apply.
pub(crate) fn print_dry_run(
    lab: &str,
    changes: Option<&[Change]>,
    plan: &Plan,
    resizes: &[Resize],
    restart: &[String],
) {
    let Some(changes) = changes else {
        println!("lab {lab} is not up: `up` would create it:");
        for net in &plan.networks {
            println!("+ network {} {}", net.name, net.cidr);
        }
        for n in &plan.nodes {
            let roles: Vec<&str> = n.roles.iter().map(|r| r.name()).collect();
            println!(
                "+ node {} {} ({} MiB, {} cpus, roles: {})",
                n.name,
                n.ip,
                n.domain.memory_mib,
                n.domain.cpus,
                if roles.is_empty() {
                    "-".to_string()
                } else {
                    roles.join(", ")
                }
            );
        }
        return;
    };
    let mut lines: Vec<String> = changes
        .iter()
        .filter(|c| !matches!(c, Change::Memory { .. } | Change::Cpus { .. }))
        .map(|c| c.to_string())
        .collect();
    // Resizes come from libvirt's view, so one left pending by an earlier `up` shows too.
    for r in resizes {
        if r.running == r.planned {
            continue;
        }
        let how = if restart.contains(&r.node) {
            "restart now (--restart)".to_string()
        } else {
            format!("needs a restart: --restart {}", r.node)
        };
        lines.push(format!("~ {} ({how})", r.describe()));
    }
    if lines.is_empty() {
        println!("lab {lab}: nothing to change");
        return;
    }
    println!("lab {lab}: `up` would make these changes:");
    for l in &lines {
        println!("{l}");
    }
    let refused = changes
        .iter()
        .filter(|c| c.apply() == Apply::Recreate)
        .count();
    if refused > 0 {
        println!("{refused} of them cannot be applied to a running lab: `up` would refuse");
    }
}
