//! `firedrill up`: validate, then converge the lab to its file: network, then every node in
//! parallel, then the access files and a summary.

use super::LabError;
use super::facts::{AccelChoice, host_facts, resolve_accel};
use super::node::{NodeJob, NodeOutcome, bring_up};
use crate::hypervisor::{Hypervisor, Libvirt, blocking, ensure_owned, xml};
use crate::paths::Home;
use crate::plan::{BootImage, NodePlan, Plan, PlanInputs, USER, plan};
use crate::progress::Progress;
use crate::spec::ValidLab;
use crate::state::{LabPhase, LabState, NodeState};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub(crate) struct UpOptions {
    pub(crate) file: PathBuf,
    pub(crate) accel: AccelChoice,
    pub(crate) force: bool,
    /// How long each node may take from start to ready.
    pub(crate) timeout: Duration,
    /// Print what would change and change nothing.
    pub(crate) dry_run: bool,
    /// Nodes that may be restarted to apply a new memory or vCPU size.
    pub(crate) restart: Vec<String>,
}

pub(crate) async fn up(home: &Home, opts: &UpOptions) -> Result<(), LabError> {
    let started = Instant::now();
    let progress = Progress::new();
    let hv: Arc<dyn Hypervisor> =
        Arc::new(blocking(|| Libvirt::open(None).map_err(LabError::from)).await?);

    // Validate before anything is created.
    let facts = {
        let (hv, home) = (hv.clone(), home.clone());
        blocking(move || host_facts(hv.as_ref(), &home)).await?
    };
    let (lab, warnings) =
        crate::spec::check(&opts.file, &facts, opts.force).map_err(LabError::Invalid)?;
    for w in &warnings {
        progress.println(&w.to_string());
    }
    for node in &opts.restart {
        if !lab.nodes.iter().any(|n| &n.name == node) {
            return Err(LabError::NoRestartNode {
                node: node.clone(),
                nodes: lab.nodes.iter().map(|n| n.name.clone()).collect(),
            });
        }
    }
    let (accel, accel_warning) = resolve_accel(opts.accel)?;
    if let Some(w) = accel_warning {
        progress.println(&w);
    }

    let dir = home.lab(&lab.name);
    if opts.dry_run {
        return super::converge::dry_run(home, hv, &lab, &dir, accel, opts).await;
    }
    // Keys, seeds and state are written under the lock only, so a node's seed and its pinned
    // host key can never disagree.
    let lock = super::LabLock::create(&dir, "`firedrill up`")?;
    let images = ensure_images(home, &lab, &progress).await?;
    let plan = plan(
        &lab,
        &PlanInputs {
            dir: &dir,
            accel,
            run_as: owner_of(home.root()),
            images: &images,
        },
    )?;

    // What changes, checked before anything is created: a change `up` cannot make to a running
    // lab stops it here with nothing touched.
    let previous = LabState::load(&dir)?;
    super::converge::refuse_other_libvirt(previous.as_ref(), hv.uri())?;
    let changes = super::converge::changes(previous.as_ref(), &plan);
    if let Some(changes) = &changes {
        super::converge::refuse_unappliable(changes)?;
    }
    refuse_dropping_faulted_nodes(&dir, &lab, previous.as_ref())?;
    let user_key = crate::ssh::ensure_keypair(&dir.ssh_key(), &format!("firedrill-{}", lab.name))?;
    let mut host_keys = BTreeMap::new();
    for node in &plan.nodes {
        let key = crate::ssh::ensure_keypair(&node.host_key, &format!("{}@{}", USER, node.fqdn))?;
        host_keys.insert(node.name.clone(), key);
    }

    // Record intent before creating anything, so `down` finds all of it even if `up` dies.
    // Nodes that left the file stay in the state until they are removed.
    let was_up = previous.as_ref().is_some_and(|p| p.phase == LabPhase::Up);
    let mut state = initial_state(&lab, &plan, hv.uri(), accel, &host_keys, previous.as_ref());
    let leaving: Vec<NodePlan> = previous
        .as_ref()
        .map(|p| {
            p.nodes()
                .filter(|n| plan.nodes.iter().all(|w| w.name != n.name))
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    state.leaving = leaving.clone();
    if let Some(p) = &previous {
        let kept = p
            .observed
            .iter()
            .filter(|o| leaving.iter().any(|n| n.name == o.name));
        state.observed.extend(kept.cloned());
    }
    state.save(&dir)?;
    // From here on, the lab is the handle every node is reached through.
    let mut handle = super::Lab::held(dir, state, lock);

    for net in &plan.networks {
        let change = ensure_network(hv.clone(), net).await?;
        progress.println(&format!("network {}: {change}", net.name));
        // Records go once their nodes have gone (below); with none leaving, at once.
        for line in super::converge::sync_records(hv.clone(), net, leaving.is_empty()).await? {
            progress.println(&format!("network {}: {line}", net.name));
        }
    }

    // New sizes go into the definitions; the nodes the user let restart are shut down here and
    // started again with the others below.
    let resizes = super::converge::resizes(hv.clone(), &plan).await?;
    let say = |line: &str| progress.println(line);
    let pending =
        super::converge::apply_resizes(hv.clone(), &plan, resizes, &opts.restart, &say).await?;

    // A lab that was up has every node configured: each running node's roles are checked in
    // the command that finds it ready, and a lab with nothing to change is done with that.
    let checks = if was_up {
        role_checks(&handle.dir, &handle.state, &plan)?
    } else {
        BTreeMap::new()
    };
    let slow_libvirt = Arc::new(super::slow_libvirt::OnceWarning::for_this_host());
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let loaded = !checks.is_empty() && super::loading::loaded(&handle.dir);
    let at_once = super::node::checks_at_once(cores, checks.len(), loaded);
    if loaded && at_once < checks.len() {
        progress.println(&format!(
            "a mock client is loading the lab: checking {at_once} running node(s) at a time, so that the others keep serving"
        ));
    }
    let checking = Arc::new(tokio::sync::Semaphore::new(at_once));
    let mut tasks = tokio::task::JoinSet::new();
    let mut gate = super::start_gate::tickets(plan.nodes.len(), super::start_gate::MAX_WAIT);
    for node in &plan.nodes {
        let net = plan
            .networks
            .iter()
            .find(|n| n.name == node.domain.network)
            .map(|n| n.gateway)
            .unwrap_or(node.gateway);
        let job = NodeJob {
            plan: node.clone(),
            target: handle.target(node),
            authorized_key: user_key.public_openssh.clone(),
            host_key: host_keys[&node.name].clone(),
            dns: net,
            lab: lab.name.to_string(),
            timeout: opts.timeout,
            events: handle.dir.events_file(),
            slow_libvirt: slow_libvirt.clone(),
            checking: checking.clone(),
            check: checks.get(&node.name).map(|c| crate::ssh::Piggyback {
                script: c.script(),
                stdin: c.stdin().map(<[u8]>::to_vec),
            }),
        };
        let name = node.name.clone();
        let bar = progress.node(&name);
        let hv = hv.clone();
        let ticket = gate.pop().expect("a ticket per node");
        tasks.spawn(async move { (name, bring_up(hv, job, bar, ticket).await) });
    }
    let mut outcomes: Vec<NodeOutcome> = Vec::new();
    let mut sessions = std::collections::HashMap::new();
    let mut failures: Vec<String> = Vec::new();
    let mut checked = BTreeMap::new();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((name, Ok(mut outcome))) => {
                if let (Some(out), Some(check)) = (&outcome.checked, checks.get(&name)) {
                    checked.insert(name.clone(), check.in_place(out));
                }
                if let Some(s) = outcome.session.take() {
                    sessions.insert(name, s);
                }
                outcomes.push(outcome);
            }
            Ok((_, Err(e))) => failures.push(e.to_string()),
            Err(e) => failures.push(format!("a node task failed: {e}")),
        }
    }

    for o in &outcomes {
        if let Some(n) = handle.state.observed.iter_mut().find(|n| n.name == o.name) {
            n.ready = true;
            if !o.changes.is_empty() {
                n.timings = o.timings.clone();
            }
        }
    }
    super::access::write_access_files(&handle.dir, &handle.state)?;
    handle.state.save(&handle.dir)?;

    // Roles need every node: a database that did not boot would fail its apps anyway.
    let mut configured = Vec::new();
    if failures.is_empty() {
        let config_started = Instant::now();
        if let Some(previous) = previous.as_ref().filter(|_| was_up && !leaving.is_empty()) {
            let names: Vec<String> = leaving.iter().map(|n| n.name.clone()).collect();
            for w in super::configure::drain_leaving(&handle, previous, &names).await {
                progress.println(&format!("warning: {w}"));
            }
        }
        let how = super::configure::How {
            overwrite_edits: opts.force,
            checked,
            ..super::configure::How::for_change(was_up, changes.as_deref())
        };
        let (reports, role_failures) =
            super::configure::configure(&handle, &progress, &mut sessions, &how).await?;
        if !reports.is_empty() || !role_failures.is_empty() {
            progress.println(&format!(
                "roles configured in {:.1}s",
                config_started.elapsed().as_secs_f64()
            ));
        }
        configured = reports;
        failures.extend(role_failures);
    } else if handle.state.nodes().any(|n| !n.roles.is_empty()) {
        progress.println("roles not configured: not every node is ready");
    }
    for (_, s) in sessions.drain() {
        s.close().await;
    }

    // Nodes that left the file go once nothing refers to them any more (their load balancer
    // was reconfigured above), then their network records.
    if failures.is_empty() {
        for n in &leaving {
            match super::converge::remove_node(hv.clone(), &handle.dir, &n.name, &n.domain.name)
                .await
            {
                Ok(()) => {
                    progress.println(&format!("node {}: removed", n.name));
                    handle.state.leaving.retain(|s| s.name != n.name);
                    handle.state.observed.retain(|s| s.name != n.name);
                }
                Err(e) => failures.push(e.to_string()),
            }
        }
        for net in plan.networks.iter().filter(|_| !leaving.is_empty()) {
            for line in super::converge::sync_records(hv.clone(), net, true).await? {
                progress.println(&format!("network {}: {line}", net.name));
            }
        }
        if !leaving.is_empty() {
            super::access::write_access_files(&handle.dir, &handle.state)?;
        }
    } else if !leaving.is_empty() {
        progress.println("nodes that left the lab file are kept until `up` succeeds");
    }

    handle.state.phase = if failures.is_empty() {
        LabPhase::Up
    } else {
        LabPhase::Failed
    };
    handle.state.save(&handle.dir)?;

    for f in &failures {
        eprintln!("error: {f}");
    }
    if failures.is_empty() {
        let event = crate::events::Event::now(
            crate::events::EventKind::LabUp,
            None,
            format!(
                "lab {} up ({} nodes)",
                handle.state.name,
                handle.state.nodes().count()
            ),
        );
        if let Err(e) = crate::events::append(&handle.dir, &event) {
            eprintln!("warning: {e}");
        }
    }
    print_summary(&handle.state, &outcomes, &configured, started.elapsed());
    if !failures.is_empty() {
        return Err(LabError::NodesFailed {
            failed: failures.len(),
            total: plan.nodes.len(),
        });
    }
    let edited: Vec<String> = configured
        .iter()
        .flat_map(|c| c.report.edited.iter().map(|p| format!("{}: {p}", c.node)))
        .collect();
    if !edited.is_empty() {
        return Err(LabError::EditedFiles(edited));
    }
    if !pending.is_empty() {
        return Err(LabError::PendingRestart(
            pending
                .iter()
                .map(|r| format!("{} (--restart {})", r.describe(), r.node))
                .collect(),
        ));
    }
    Ok(())
}

/// Each planned node's one-pass check of its roles.
fn role_checks(
    dir: &crate::paths::LabDir,
    state: &LabState,
    plan: &Plan,
) -> Result<BTreeMap<String, crate::roles::Check>, LabError> {
    let secrets = super::configure::secrets(dir)?;
    let mut checks = BTreeMap::new();
    for ctx in super::configure::contexts(state)? {
        if plan.nodes.iter().all(|n| n.name != ctx.node) {
            continue;
        }
        // A context the roles refuse is reported by `configure`, with the node's other steps.
        if let Ok(Some(check)) = crate::roles::Check::of(&ctx, &secrets) {
            checks.insert(ctx.node.clone(), check);
        }
    }
    Ok(checks)
}

/// The boot files of every image the lab uses, building the missing ones.
async fn ensure_images(
    home: &Home,
    lab: &ValidLab,
    progress: &Progress,
) -> Result<BTreeMap<String, BootImage>, LabError> {
    let mut out = BTreeMap::new();
    for node in &lab.nodes {
        if out.contains_key(&node.image) {
            continue;
        }
        let image = match crate::image::find(home, &node.image)? {
            Some(i) => i,
            None => {
                progress.println(&format!(
                    "image {} is not built yet: building it now (about 10 minutes, once)",
                    node.image
                ));
                crate::image::build(home, &node.image, false, &mut |line| progress.println(line))
                    .await?
            }
        };
        out.insert(
            node.image.clone(),
            BootImage {
                disk: image.disk,
                kernel: image.kernel,
                initrd: image.initrd,
                first_boot: image.manifest.first_boot,
            },
        );
    }
    Ok(out)
}

/// QEMU runs as the owner of the state directory, so it can read the lab's files wherever they
/// are (see `DomainSpec::run_as`).
fn owner_of(path: &std::path::Path) -> (u32, u32) {
    use std::os::unix::fs::MetadataExt;
    let _ = std::fs::create_dir_all(path);
    std::fs::metadata(path)
        .map(|m| (m.uid(), m.gid()))
        .unwrap_or((0, 0))
}

async fn ensure_network(
    hv: Arc<dyn Hypervisor>,
    net: &xml::NetworkSpec,
) -> Result<&'static str, LabError> {
    let name = net.name.clone();
    let lab = net.lab.clone();
    let spec_xml = xml::network_xml(net);
    let cidr = net.cidr;
    let r = blocking(move || -> Result<&'static str, LabError> {
        let change = match hv.network(&name)? {
            None => {
                hv.define_network(&spec_xml)?;
                "created"
            }
            Some(existing) => {
                ensure_owned("network", &name, existing.owner.as_deref(), &lab)?;
                if existing.cidr != Some(cidr) {
                    return Err(LabError::from(crate::hypervisor::HvError::Call {
                        action: "reuse network",
                        object: name.clone(),
                        message: format!(
                            "it has subnet {} but the lab file says {cidr}; run `firedrill down --lab {lab}` first",
                            existing.cidr.map(|c| c.to_string()).unwrap_or_else(|| "none".into())
                        ),
                    }));
                }
                if existing.active { "exists, unchanged" } else { "exists, starting" }
            }
        };
        hv.start_network(&name)?;
        Ok(change)
    })
    .await?;
    Ok(r)
}

/// A node that leaves the lab file while a fault may still be on it would take the fault's
/// record out of reach (revert needs the node's address and key): refuse, and say what to do.
fn refuse_dropping_faulted_nodes(
    dir: &crate::paths::LabDir,
    lab: &ValidLab,
    previous: Option<&LabState>,
) -> Result<(), LabError> {
    let Some(previous) = previous else {
        return Ok(());
    };
    let active = crate::faults::active(dir).map_err(|e| LabError::Node {
        node: lab.name.to_string(),
        step: "read the fault records",
        message: e.to_string(),
    })?;
    for n in previous.nodes() {
        if lab.nodes.iter().any(|v| v.name == n.name) {
            continue;
        }
        let ids: Vec<String> = active
            .iter()
            .filter(|(_, node)| *node == n.name)
            .map(|(id, _)| id.clone())
            .collect();
        if !ids.is_empty() {
            return Err(LabError::NodeHasFaults {
                node: n.name.clone(),
                ids,
            });
        }
    }
    Ok(())
}

/// The state `up` starts a lab from, before any node has a host key: the roles' contexts
/// (`contexts`) built from it are those `up` configures the nodes with. For `export`.
pub(crate) fn planned_state(lab: &ValidLab, plan: &Plan, accel: xml::Accel) -> LabState {
    initial_state(lab, plan, "", accel, &BTreeMap::new(), None)
}

fn initial_state(
    lab: &ValidLab,
    plan: &Plan,
    uri: &str,
    accel: xml::Accel,
    host_keys: &BTreeMap<String, crate::ssh::KeyPair>,
    previous: Option<&LabState>,
) -> LabState {
    let observed = plan
        .nodes
        .iter()
        .map(|p| NodeState {
            name: p.name.clone(),
            // None yet before `up` makes them (`planned_state`).
            host_key: host_keys
                .get(&p.name)
                .map(|k| k.public_openssh.clone())
                .unwrap_or_default(),
            ready: false,
            timings: previous
                .and_then(|s| s.observed(&p.name))
                .map(|n| n.timings.clone())
                .unwrap_or_default(),
        })
        .collect();
    LabState {
        name: lab.name.clone(),
        source: std::fs::canonicalize(&lab.source).unwrap_or_else(|_| lab.source.clone()),
        uri: uri.to_string(),
        accel,
        phase: LabPhase::Creating,
        user: USER.to_string(),
        plan: plan.clone(),
        leaving: Vec::new(),
        observed,
    }
}

fn print_summary(
    state: &LabState,
    outcomes: &[NodeOutcome],
    configured: &[super::configure::Configured],
    elapsed: Duration,
) {
    let secs = |v: Option<f64>| v.map(|s| format!("{s:.1}s")).unwrap_or_else(|| "-".into());
    println!();
    println!(
        "{:<10} {:<15} {:<28} {:>8} {:>7} {:>6} {:>9} {:>8} {:>8}  {:<24} ROLES",
        "NODE",
        "IP",
        "DNS NAME",
        "PREPARE",
        "DEFINE",
        "START",
        "BOOT→SSH",
        "SETUP",
        "TOTAL",
        "VM CHANGES",
    );
    for n in state.nodes() {
        let outcome = outcomes.iter().find(|o| o.name == n.name);
        let (t, changes) = match outcome {
            Some(o) if o.changes.is_empty() => (None, "none".to_string()),
            Some(o) => (Some(&o.timings), o.changes.join(", ")),
            None => (None, "FAILED".to_string()),
        };
        let roles = if n.roles.is_empty() {
            "-".to_string()
        } else {
            configured
                .iter()
                .find(|c| c.node == n.name)
                .map(|c| format!("{} ({:.1}s)", c.report.summary(), c.seconds))
                .unwrap_or_else(|| "not configured".into())
        };
        println!(
            "{:<10} {:<15} {:<28} {:>8} {:>7} {:>6} {:>9} {:>8} {:>8}  {:<24} {}",
            n.name,
            n.ip.to_string(),
            n.fqdn,
            secs(t.and_then(|t| t.prepare_s)),
            secs(t.and_then(|t| t.define_s)),
            secs(t.and_then(|t| t.start_s)),
            secs(t.and_then(|t| t.boot_to_ssh_s)),
            secs(t.and_then(|t| t.cloud_init_s)),
            secs(t.and_then(|t| t.total_s)),
            changes,
            roles
        );
    }
    let unchanged = outcomes.iter().all(|o| o.changes.is_empty())
        && outcomes.len() == state.nodes().count()
        && configured.iter().all(|c| c.report.changed.is_empty());
    println!();
    if state.phase != LabPhase::Up {
        println!(
            "lab {}: NOT ready after {:.1}s (errors above)",
            state.name,
            elapsed.as_secs_f64()
        );
        return;
    }
    if unchanged {
        println!(
            "lab {}: up, nothing changed ({:.1}s)",
            state.name,
            elapsed.as_secs_f64()
        );
    } else {
        println!("lab {}: up in {:.1}s", state.name, elapsed.as_secs_f64());
    }
    println!(
        "  firedrill ssh {}    firedrill status    firedrill down",
        state
            .nodes()
            .next()
            .map(|n| n.name.as_str())
            .unwrap_or("NODE")
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::HostFacts;

    fn three_tier() -> ValidLab {
        let host = HostFacts {
            mem_total_mib: 16 * 1024,
            images: vec!["debian-12".into()],
            ..HostFacts::default()
        };
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("labs/three-tier.yaml");
        crate::spec::check(&path, &host, false)
            .expect("shipped lab is valid")
            .0
    }

    #[test]
    fn a_node_with_an_active_fault_cannot_leave_the_lab() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = crate::paths::Home::at(tmp.path()).lab(&"three-tier".into());
        let mut lab = three_tier();
        let mut previous = crate::state::sample();
        previous.name = "three-tier".into();
        previous.plan.nodes[0].name = "app2".into();
        let id = crate::faults::testing::active_on(&dir, "app2");
        // app2 is still in the file: fine.
        refuse_dropping_faulted_nodes(&dir, &lab, Some(&previous)).unwrap();
        lab.nodes.retain(|n| n.name != "app2");
        let err = refuse_dropping_faulted_nodes(&dir, &lab, Some(&previous)).unwrap_err();
        assert!(err.is_usage());
        assert_eq!(
            err.to_string(),
            "node app2 is no longer in the lab file, but fault(s) f1 may still be on it\n  hint: put it back and revert them first (`firedrill fault revert --all`), then remove it"
        );
        crate::faults::testing::mark_reverted(&dir, &id);
        refuse_dropping_faulted_nodes(&dir, &lab, Some(&previous)).unwrap();
    }
}
