//! Bringing one node up: disk, seed, domain, boot, readiness. Each step converges: what exists
//! is left alone and reported as such.

use super::LabError;
use crate::hypervisor::{DomainState, Hypervisor, blocking, xml};
use crate::plan::{NodePlan, USER};
use crate::progress::NodeProgress;
use crate::seed::SeedInput;
use crate::ssh::{self, Phase, Target};
use crate::state::Timings;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What `up` did to a node, and the SSH session that proved it ready (kept for configuring
/// its roles, which saves a handshake per node).
pub(crate) struct NodeOutcome {
    pub(crate) name: String,
    /// Human-readable changes ("disk created", "domain started"); empty when nothing changed.
    pub(crate) changes: Vec<String>,
    pub(crate) timings: Timings,
    pub(crate) session: Option<ssh::Session>,
    /// The output of `NodeJob::check`, when it ran in the command that found the node ready.
    pub(crate) checked: Option<crate::remote::Output>,
}

#[derive(Clone)]
pub(crate) struct NodeJob {
    pub(crate) plan: NodePlan,
    /// How to reach the node once it boots (`Lab::target`).
    pub(crate) target: Target,
    pub(crate) authorized_key: String,
    pub(crate) host_key: ssh::KeyPair,
    pub(crate) dns: std::net::Ipv4Addr,
    pub(crate) lab: String,
    pub(crate) timeout: Duration,
    pub(crate) events: std::path::PathBuf,
    /// Shared by every node of one `up`, so a slow libvirt is reported once.
    pub(crate) slow_libvirt: Arc<super::slow_libvirt::OnceWarning>,
    /// The roles' one-pass check, run in the readiness command of a node that was already
    /// running (a booting node's peers may not answer its check yet).
    pub(crate) check: Option<ssh::Piggyback>,
    /// Shared by every node of one `up`: how many running nodes are checked at once.
    pub(crate) checking: Arc<tokio::sync::Semaphore>,
}

/// How many of a lab's `nodes` running nodes `up` checks at once on a host with `cores` cores.
/// While a mock client loads the lab: half the cores, at least one. Under emulation a node's
/// check keeps its vCPU busy for about a second, and checking every node at once took the
/// host's CPU from the nodes that serve: during dns-cutover's no-change `up` (four one-vCPU
/// nodes on two cores) the client saw 21 of 746 requests time out. With no client, all of them
/// at once: a no-change `up` of four TCG nodes on two cores took 2.7–3.5 s so, 6.3–10.8 s one
/// at a time.
pub(crate) fn checks_at_once(cores: usize, nodes: usize, loaded: bool) -> usize {
    if loaded {
        (cores / 2).max(1)
    } else {
        nodes.max(1)
    }
}

impl NodeJob {
    /// Appends to the lab's event log, which the mock client shows. A failure to log never
    /// stops the lab: it is reported and `up` carries on.
    fn record(&self, kind: crate::events::EventKind, message: &str) {
        let event = crate::events::Event::now(kind, Some(&self.plan.name), message);
        if let Err(e) = crate::events::append_to(&self.events, &event) {
            eprintln!("warning: {e}");
        }
    }
}

fn node_err(node: &str, step: &'static str) -> impl FnOnce(String) -> LabError {
    let node = node.to_string();
    move |message| LabError::Node {
        node,
        step,
        message,
    }
}

/// The last `n` lines of a node's console log, to show why it is not ready.
pub(crate) fn console_tail(path: &Path, n: usize) -> String {
    match std::fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(n)..]
                .iter()
                .map(|l| format!("    | {}", l.trim_end()))
                .collect::<Vec<_>>()
                .join("\n")
        }
        Err(e) => format!("    (no console log at {}: {e})", path.display()),
    }
}

async fn create_disk(job: &NodeJob) -> Result<bool, LabError> {
    let p = &job.plan;
    let disk = &p.domain.disk;
    if disk.exists() {
        return Ok(false);
    }
    let dir = disk.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| node_err(&p.name, "create disk")(e.to_string()))?;
    // A linked clone: the node writes only its own changes; the golden image stays shared.
    let tmp = dir.join("disk.qcow2.tmp");
    let out = tokio::process::Command::new("qemu-img")
        .arg("create")
        .args(["-q", "-f", "qcow2", "-F", "qcow2", "-b"])
        .arg(&p.backing)
        .arg(&tmp)
        .arg(format!("{}G", p.disk_gib))
        .output()
        .await
        .map_err(|e| {
            node_err(&p.name, "create disk")(format!("qemu-img: {e} (install qemu-utils)"))
        })?;
    if !out.status.success() {
        return Err(node_err(&p.name, "create disk")(
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ));
    }
    std::fs::rename(&tmp, disk).map_err(|e| node_err(&p.name, "create disk")(e.to_string()))?;
    Ok(true)
}

fn write_seed(job: &NodeJob) -> Result<bool, LabError> {
    let p = &job.plan;
    if p.domain.seed.exists() {
        return Ok(false);
    }
    let input = SeedInput {
        instance_id: format!("{}-{}", job.lab, p.name),
        hostname: p.name.clone(),
        fqdn: p.fqdn.clone(),
        user: USER.to_string(),
        authorized_key: job.authorized_key.clone(),
        host_key_private: job.host_key.private_openssh.clone(),
        host_key_public: job.host_key.public_openssh.clone(),
        mac: p.mac.clone(),
        ip: p.ip,
        prefix: p.prefix,
        more_nics: p
            .nics()
            .into_iter()
            .skip(1)
            .map(|(_, mac, ip, prefix)| crate::seed::SeedNic {
                mac: mac.to_string(),
                ip,
                prefix,
            })
            .collect(),
        routes: p.routes.iter().map(|r| (r.to, r.via)).collect(),
        gateway: p.gateway,
        dns: p.resolver.unwrap_or(job.dns),
        domain: p.search_domain.clone(),
        time: p.time.clone(),
    };
    let files =
        crate::seed::render(&input).map_err(|e| node_err(&p.name, "render seed")(e.to_string()))?;
    crate::seed::write_iso(&files, &p.domain.seed)
        .map_err(|e| node_err(&p.name, "write seed")(e.to_string()))?;
    Ok(true)
}

/// Looks the node's domain up in libvirt and defines it when missing: its state, and whether it
/// was defined now.
async fn ensure_defined(
    hv: Arc<dyn Hypervisor>,
    p: &NodePlan,
    lab: &str,
) -> Result<(DomainState, bool), LabError> {
    let existing = {
        let hv = hv.clone();
        let name = p.domain.name.clone();
        blocking(move || hv.domain(&name)).await?
    };
    match existing {
        None => {
            let xml = xml::domain_xml(&p.domain);
            blocking(move || hv.define_domain(&xml)).await?;
            Ok((DomainState::Shutoff, true))
        }
        Some(d) => {
            crate::hypervisor::ensure_owned(
                "domain",
                &p.domain.name,
                d.owner.as_ref().map(|(l, _)| l.as_str()),
                lab,
            )?;
            Ok((d.state, false))
        }
    }
}

/// Brings one node to ready. Runs concurrently with the other nodes.
pub(crate) async fn bring_up(
    hv: Arc<dyn Hypervisor>,
    job: NodeJob,
    progress: NodeProgress,
    gate: super::start_gate::Ticket,
) -> Result<NodeOutcome, LabError> {
    let p = &job.plan;
    let started = Instant::now();
    let mut changes = Vec::new();
    let mut timings = Timings::default();

    progress.phase("preparing disk and seed");
    if create_disk(&job).await? {
        changes.push("disk created".to_string());
    }
    // genisoimage runs as a child process: off the async runtime.
    let seed_job = job.clone();
    let wrote = tokio::task::spawn_blocking(move || write_seed(&seed_job))
        .await
        .map_err(|e| node_err(&p.name, "write seed")(e.to_string()))??;
    if wrote {
        changes.push("seed written".to_string());
    }

    let name = p.domain.name.clone();
    let define = Instant::now();
    let lookup_and_define = ensure_defined(hv.clone(), p, &job.lab);
    tokio::pin!(lookup_and_define);
    // Said while the call still runs: a libvirt that re-probes QEMU can take minutes here.
    let (state, defined) = tokio::select! {
        r = &mut lookup_and_define => r?,
        () = tokio::time::sleep(super::slow_libvirt::SLOW) => {
            if let Some(w) = job.slow_libvirt.check(&p.name, define.elapsed(), p.domain.accel) {
                progress.println(&w);
            }
            lookup_and_define.await?
        }
    };
    if defined {
        changes.push("domain defined".to_string());
    }
    timings.define_s = Some(define.elapsed().as_secs_f64());
    timings.prepare_s = Some(started.elapsed().as_secs_f64());
    if state == DomainState::Running {
        drop(gate);
    } else {
        // Paused until the lab's other nodes are started too (`start_gate`). A node left
        // paused (an `up` or a snapshot that died half-way) is resumed here as well.
        progress.phase("starting");
        let start = Instant::now();
        let (hv2, name2) = (hv.clone(), name.clone());
        blocking(move || hv2.start_domain(&name2, true)).await?;
        let started_paused = start.elapsed();
        gate.started().await;
        let resume = Instant::now();
        if matches!(
            state,
            DomainState::Shutoff | DomainState::Crashed | DomainState::Paused
        ) {
            let (hv2, name2) = (hv.clone(), name.clone());
            blocking(move || hv2.resume_domain(&name2)).await?;
        }
        // libvirt's time: the wait for the other nodes is not part of it.
        timings.start_s = Some((started_paused + resume.elapsed()).as_secs_f64());
        let done = if state == DomainState::Paused {
            "resumed"
        } else {
            "started"
        };
        changes.push(format!("domain {done}"));
        job.record(
            crate::events::EventKind::NodeStarted,
            &format!("node {} {done}", p.name),
        );
    }

    let boot = Instant::now();
    let mut ssh_at: Option<Duration> = None;
    let was_running = state == DomainState::Running;
    let check = job.check.as_ref().filter(|_| was_running);
    let phases = |phase| match phase {
        Phase::WaitingForSsh => progress.phase("waiting for SSH"),
        Phase::WaitingForTurn => progress.phase(&phase.to_string()),
        Phase::WaitingForCloudInit => {
            ssh_at = Some(boot.elapsed());
            progress.phase(if check.is_some() {
                "checking readiness and roles"
            } else {
                "waiting for its setup (first boot)"
            });
        }
        Phase::Ready => {}
    };
    // Only a check waits for its turn, once logged in; a booting node does not.
    let result =
        ssh::wait_ready_with(&job.target, job.timeout, phases, check, Some(&job.checking)).await;
    let (session, checked) = match result {
        Ok(ready) => ready,
        Err(e) => {
            progress.finish("not ready");
            return Err(node_err(&p.name, "wait for ready")(format!(
                "{e}\n  last lines of its console ({}):\n{}\n  hint: `firedrill console {}` shows the whole log",
                p.domain.console_log.display(),
                console_tail(&p.domain.console_log, 15),
                p.name
            )));
        }
    };
    let ready = boot.elapsed();
    let ssh_s = ssh_at.unwrap_or(ready).as_secs_f64();
    timings.boot_to_ssh_s = Some(ssh_s);
    timings.cloud_init_s = Some(ready.as_secs_f64() - ssh_s);
    timings.total_s = Some(started.elapsed().as_secs_f64());
    progress.finish(&if changes.is_empty() {
        "ready (unchanged)".to_string()
    } else {
        format!("ready in {:.0}s", started.elapsed().as_secs_f64())
    });
    Ok(NodeOutcome {
        name: p.name.clone(),
        changes,
        timings,
        session: Some(session),
        checked,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn under_load_half_the_cores_check_at_once_else_every_node_and_never_none() {
        let loaded: Vec<usize> = [1, 2, 3, 4, 16]
            .map(|c| super::checks_at_once(c, 4, true))
            .to_vec();
        assert_eq!(loaded, [1, 1, 1, 2, 8]);
        let idle: Vec<usize> = [1, 2, 16]
            .map(|c| super::checks_at_once(c, 4, false))
            .to_vec();
        assert_eq!(idle, [4, 4, 4]);
        assert_eq!(super::checks_at_once(2, 0, false), 1);
    }
}
