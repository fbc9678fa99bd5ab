//! Changing a lab that runs: what `up` will do compared with what was last applied (the stored
//! plan, and libvirt's own view of each domain and network), and the steps that apply it without
//! stopping the others: live network records, redefinition plus a restart the user asked for,
//! and removing nodes that left the file.

use super::LabError;
use crate::hypervisor::xml::{self, DnsHost, NetworkSpec};
use crate::hypervisor::{HostUpdate, Hypervisor, blocking};
use crate::paths::{Home, LabDir};
use crate::plan::{Apply, BootImage, Change, NodePlan, Plan, PlanInputs, plan};
use crate::spec::ValidLab;
use crate::state::LabState;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// How long a node may take to shut down cleanly for `--restart` before it is switched off.
const SHUTDOWN: Duration = Duration::from_secs(90);

/// The changes from the lab as last applied to `plan`; `None` when there is nothing to compare
/// with (a new lab, or one brought up by a firedrill that did not store its plan).
pub(crate) fn changes(previous: Option<&LabState>, plan: &Plan) -> Option<Vec<Change>> {
    Some(crate::plan::diff(&previous?.plan, plan))
}

/// A lab is changed only through the libvirtd that holds it: `up` with another one in the
/// environment would build a second copy there and leave the first unmanaged.
pub(crate) fn refuse_other_libvirt(previous: Option<&LabState>, uri: &str) -> Result<(), LabError> {
    match previous {
        Some(p) if !p.uri.is_empty() && p.uri != uri => Err(LabError::OtherLibvirt {
            lab: p.name.to_string(),
            was: p.uri.clone(),
            now: uri.to_string(),
        }),
        _ => Ok(()),
    }
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
    /// The most memory the running domain can have live (the size it booted with); 0 when it
    /// is off.
    pub(crate) live_max_mib: u64,
}

impl Resize {
    /// Its memory changes live, through the balloon: the domain runs and the new size is no
    /// more than the one it booted with. More memory, or other vCPUs, need a restart.
    pub(crate) fn memory_live(&self) -> bool {
        self.running.0 != self.planned.0 && self.planned.0 <= self.live_max_mib
    }

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
            let off = d.state == crate::hypervisor::DomainState::Shutoff;
            let running = if off {
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
                    live_max_mib: if off { 0 } else { d.max_memory_mib },
                });
            }
        }
        Ok(out)
    })
    .await
}

/// Applies resizes: every definition is brought to the plan (libvirt applies it at the next
/// boot); memory that the balloon can give or take is changed live; the nodes in `restart` are
/// shut down now, for `up` to start them again. Returns the resizes left waiting for a restart.
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
        let mut r = r;
        if r.memory_live() && !restart.contains(&r.node) {
            let (from, to) = (r.running.0, r.planned.0);
            let got = balloon(hv.clone(), &node.domain.name, to).await?;
            let note = if got == to {
                String::new()
            } else {
                format!(" (the guest has {got} MiB so far; it gives memory back as it frees it)")
            };
            say(&format!(
                "{}: memory {from} → {to} MiB live, through the balloon; the next boot starts with {to} MiB{note}",
                r.node
            ));
            r.running.0 = to;
            if r.running == r.planned {
                continue;
            }
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

/// How long the guest gets to give memory back to (or take it from) its balloon.
const BALLOON_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// Sets domain `name`'s memory to `mib` through its balloon and waits (at most
/// `BALLOON_WAIT`) until the guest has it. Returns the memory the guest has then.
async fn balloon(hv: Arc<dyn Hypervisor>, name: &str, mib: u64) -> Result<u64, LabError> {
    let (h, n) = (hv.clone(), name.to_string());
    blocking(move || h.set_memory_live(&n, mib)).await?;
    let deadline = std::time::Instant::now() + BALLOON_WAIT;
    loop {
        let (h, n) = (hv.clone(), name.to_string());
        let now = blocking(move || h.domain(&n))
            .await?
            .map_or(mib, |d| d.memory_mib);
        if now == mib || std::time::Instant::now() > deadline {
            return Ok(now);
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
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
        for h in &net.hosts {
            if !live.dhcp_hosts.contains(h) {
                updates.push(HostUpdate::AddLease(h.clone()));
            }
        }
        // DNS: libvirt keeps one record per address, so a record changes by removal and
        // addition. Records that gain a name change first, those that only lose one after, and
        // records that go last: a name that moves between addresses (`database` from db1 to
        // db2) resolves at every moment, for a few updates to both.
        let before = |w: &DnsHost| live.dns_hosts.iter().find(|h| h.ip == w.ip);
        let gains =
            |w: &DnsHost| before(w).is_none_or(|h| w.names.iter().any(|n| !h.names.contains(n)));
        let mut dns = Vec::new();
        for gaining in [true, false] {
            for w in net.dns.iter().filter(|w| gains(w) == gaining) {
                if live.dns_hosts.contains(w) {
                    continue;
                }
                if let Some(old) = before(w) {
                    dns.push(HostUpdate::RemoveDns(old.clone()));
                }
                dns.push(HostUpdate::AddDns(w.clone()));
            }
        }
        if prune {
            for h in &live.dns_hosts {
                if !net.dns.iter().any(|w| w.ip == h.ip) {
                    dns.push(HostUpdate::RemoveDns(h.clone()));
                }
            }
        }
        updates.extend(dns);
        let mut lines = Vec::new();
        // The records as they are between updates: libvirt finds the record to delete by its
        // address or any of its names, and refuses a delete that matches two records (the old
        // and the new holder of a moving name). A delete names only what is its own.
        let mut current = live.dns_hosts.clone();
        for u in &updates {
            let sent = match u {
                HostUpdate::RemoveDns(h) => {
                    current.retain(|c| c != h);
                    let own: Vec<String> = h
                        .names
                        .iter()
                        .filter(|n| !current.iter().any(|c| c.names.contains(n)))
                        .cloned()
                        .collect();
                    match own.is_empty() {
                        true => u.clone(),
                        false => HostUpdate::RemoveDns(DnsHost {
                            ip: h.ip,
                            names: own,
                        }),
                    }
                }
                HostUpdate::AddDns(h) => {
                    current.push(h.clone());
                    u.clone()
                }
                _ => u.clone(),
            };
            hv.update_network(&net.name, &net.lab, &sent)?;
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

/// `up --dry-run`: plans, compares and prints; creates, writes and locks nothing.
pub(crate) async fn dry_run(
    home: &Home,
    hv: Arc<dyn Hypervisor>,
    lab: &ValidLab,
    dir: &crate::paths::LabDir,
    accel: xml::Accel,
    opts: &super::UpOptions,
) -> Result<(), LabError> {
    let mut images = BTreeMap::new();
    for node in &lab.nodes {
        if images.contains_key(&node.image) {
            continue;
        }
        let image = match crate::image::find(home, &node.image)? {
            Some(i) => BootImage {
                disk: i.disk,
                kernel: i.kernel,
                initrd: i.initrd,
                first_boot: i.manifest.first_boot,
            },
            None => {
                println!(
                    "image {} is not built: `up` would build it first (about 10 minutes, once)",
                    node.image
                );
                let d = home.images().join(&node.image);
                BootImage {
                    disk: d.join("disk.qcow2"),
                    kernel: d.join("vmlinuz"),
                    initrd: d.join("initrd.img"),
                    first_boot: true,
                }
            }
        };
        images.insert(node.image.clone(), image);
    }
    let run_as = {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(home.root())
            .map(|m| (m.uid(), m.gid()))
            .unwrap_or((0, 0))
    };
    let plan = plan(
        lab,
        &PlanInputs {
            dir,
            accel,
            run_as,
            images: &images,
        },
    )?;
    let previous = LabState::load(dir)?;
    let changes = changes(previous.as_ref(), &plan);
    if previous.is_some() && changes.is_none() {
        println!(
            "lab {} was brought up by an older firedrill, which kept no plan to compare with: `up` would check every node",
            lab.name
        );
        return Ok(());
    }
    let resizes = if previous.is_some() {
        resizes(hv, &plan).await?
    } else {
        vec![]
    };
    print_dry_run(
        lab.name.as_str(),
        changes.as_deref(),
        &plan,
        &resizes,
        &opts.restart,
    );
    if let Some(changes) = &changes {
        for c in changes {
            if let crate::plan::Change::RemoveNode { node } = c {
                let active = crate::faults::active(dir).unwrap_or_default();
                let ids: Vec<&str> = active
                    .iter()
                    .filter(|(_, n)| n == node)
                    .map(|(id, _)| id.as_str())
                    .collect();
                if !ids.is_empty() {
                    println!(
                        "  node {node} has active fault(s) {}: `up` would refuse to remove it",
                        ids.join(", ")
                    );
                }
            }
        }
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
        } else if r.memory_live() && r.running.1 == r.planned.1 {
            "live, through the balloon".to_string()
        } else if r.memory_live() {
            format!("memory live; the cpus need a restart: --restart {}", r.node)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hypervisor::xml::HostEntry;
    use crate::hypervisor::{Libvirt, test_network};

    #[test]
    fn a_lab_is_changed_only_through_the_libvirtd_that_holds_it() {
        let state = crate::state::sample();
        refuse_other_libvirt(None, "qemu:///system").unwrap();
        refuse_other_libvirt(Some(&state), "test:///default").unwrap();
        let err = refuse_other_libvirt(Some(&state), "qemu:///system").unwrap_err();
        assert_eq!(
            err.to_string(),
            "lab `minimal` was brought up through libvirt at `test:///default`, but this command talks to `qemu:///system`\n  hint: run it where that libvirtd is, with LIBVIRT_DEFAULT_URI=test:///default; or remove the lab there first (`firedrill down --lab minimal` reads its libvirt from the lab's state)"
        );
    }

    fn resize(running: u64, planned: u64, live_max_mib: u64) -> Resize {
        Resize {
            node: "app1".into(),
            running: (running, 1),
            planned: (planned, 1),
            defined: false,
            live_max_mib,
        }
    }

    #[test]
    fn memory_changes_live_within_the_boot_size_of_a_running_domain() {
        assert!(
            resize(448, 384, 448).memory_live(),
            "less: the balloon takes it"
        );
        assert!(
            resize(384, 448, 448).memory_live(),
            "back up to the boot size"
        );
        assert!(
            !resize(448, 512, 448).memory_live(),
            "more than it booted with"
        );
        assert!(!resize(448, 384, 0).memory_live(), "a domain that is off");
        let mut cpus = resize(448, 448, 448);
        cpus.planned.1 = 2;
        assert!(!cpus.memory_live(), "vCPUs need a restart");
    }

    #[tokio::test]
    async fn the_balloon_gives_a_running_domain_its_new_memory() {
        let lv = Libvirt::open(Some("test:///default")).unwrap();
        let spec = crate::hypervisor::test_domain("fd-c8-app", "c8", "default");
        lv.define_domain(&crate::hypervisor::xml::domain_xml(&spec))
            .unwrap();
        lv.start_domain("fd-c8-app", false).unwrap();
        let hv: Arc<dyn Hypervisor> = Arc::new(lv);
        assert_eq!(balloon(hv.clone(), "fd-c8-app", 192).await.unwrap(), 192);
        let d = hv.domain("fd-c8-app").unwrap().unwrap();
        assert_eq!((d.memory_mib, d.max_memory_mib), (192, 256));
    }

    fn lease(name: &str, last: u8) -> HostEntry {
        HostEntry {
            name: name.into(),
            mac: format!("52:54:00:00:00:{last:02x}"),
            ip: format!("10.99.7.{last}").parse().unwrap(),
        }
    }

    fn dns(name: &str, last: u8, extra: &[&str]) -> DnsHost {
        let mut names = vec![format!("{name}.c7.lab"), name.to_string()];
        names.extend(extra.iter().map(|s| s.to_string()));
        DnsHost {
            ip: format!("10.99.7.{last}").parse().unwrap(),
            names,
        }
    }

    #[tokio::test]
    async fn records_follow_the_plan_live_and_removals_wait_for_prune() {
        let hv: Arc<dyn Hypervisor> = Arc::new(Libvirt::open(Some("test:///default")).unwrap());
        let mut net = test_network("fd-c7-lan", "c7", 7);
        net.hosts = vec![lease("web", 10), lease("db", 11)];
        net.dns = vec![dns("web", 10, &[]), dns("db", 11, &[])];
        hv.define_network(&xml::network_xml(&net)).unwrap();
        hv.start_network("fd-c7-lan").unwrap();

        // app comes, db gets an extra name, web leaves the plan.
        let mut want = net.clone();
        want.hosts = vec![lease("db", 11), lease("app", 12)];
        want.dns = vec![
            dns("db", 11, &["database.c7.lab", "database"]),
            dns("app", 12, &[]),
        ];
        let lines = sync_records(hv.clone(), &want, false).await.unwrap();
        assert_eq!(
            lines,
            [
                "lease app 52:54:00:00:00:0c 10.99.7.12 added",
                "dns 10.99.7.11 db.c7.lab db removed",
                "dns 10.99.7.11 db.c7.lab db database.c7.lab database added",
                "dns 10.99.7.12 app.c7.lab app added",
            ]
        );
        let live = hv.network("fd-c7-lan").unwrap().unwrap();
        assert!(live.active);
        assert!(
            live.dhcp_hosts.contains(&lease("web", 10)),
            "web stays until prune"
        );
        // Once web's node is gone: prune.
        let lines = sync_records(hv.clone(), &want, true).await.unwrap();
        assert_eq!(
            lines,
            [
                "lease web 52:54:00:00:00:0a 10.99.7.10 removed",
                "dns 10.99.7.10 web.c7.lab web removed",
            ]
        );
        let live = hv.network("fd-c7-lan").unwrap().unwrap();
        assert_eq!(live.dhcp_hosts, want.hosts);
        assert_eq!(live.dns_hosts, want.dns);
        // In step: nothing to do.
        assert!(
            sync_records(hv.clone(), &want, true)
                .await
                .unwrap()
                .is_empty()
        );
        hv.remove_network("fd-c7-lan", "c7").unwrap();
    }

    #[tokio::test]
    async fn a_name_that_moves_is_added_to_its_new_address_before_it_leaves_the_old() {
        let hv: Arc<dyn Hypervisor> = Arc::new(Libvirt::open(Some("test:///default")).unwrap());
        let mut net = test_network("fd-c8-lan", "c8", 7);
        net.hosts = vec![lease("db1", 10), lease("db2", 11)];
        net.dns = vec![
            dns("db1", 10, &["database.c7.lab", "database"]),
            dns("db2", 11, &[]),
        ];
        hv.define_network(&xml::network_xml(&net)).unwrap();
        hv.start_network("fd-c8-lan").unwrap();
        let mut want = net.clone();
        want.dns = vec![
            dns("db1", 10, &[]),
            dns("db2", 11, &["database.c7.lab", "database"]),
        ];
        let lines = sync_records(hv.clone(), &want, false).await.unwrap();
        assert_eq!(
            lines,
            [
                "dns 10.99.7.11 db2.c7.lab db2 removed",
                "dns 10.99.7.11 db2.c7.lab db2 database.c7.lab database added",
                "dns 10.99.7.10 db1.c7.lab db1 database.c7.lab database removed",
                "dns 10.99.7.10 db1.c7.lab db1 added",
            ]
        );
        let mut live = hv.network("fd-c8-lan").unwrap().unwrap().dns_hosts;
        live.sort_by_key(|h| h.ip);
        assert_eq!(live, want.dns);
        // In step: nothing to do.
        assert!(
            sync_records(hv.clone(), &want, true)
                .await
                .unwrap()
                .is_empty()
        );
        hv.remove_network("fd-c8-lan", "c8").unwrap();
    }
}
