//! The lab's healthy baseline: a libvirt snapshot of every node, disks and memory, taken when a
//! level starts (after the health check, before the level changes anything). `reset` returns
//! every node to it, so whatever the learner changed, deleted or broke is gone, in seconds
//! rather than the minutes a rebuild takes under TCG.
//!
//! The nodes are paused together and snapshotted, so the baseline is one moment across the lab
//! (the app's view of the database matches the database). A snapshot keeps the guest clock of
//! its moment, and a paused guest's clock stands still, so each node's clock is set from the
//! host's afterwards.

use super::nodes::Nodes;
use crate::hypervisor::{HvError, Hypervisor, Libvirt, blocking};
use crate::state::LabState;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The snapshot's name on every domain of the lab.
pub(crate) const SNAPSHOT: &str = "firedrill-baseline";

/// The lab's domains, in the order of its nodes.
pub(crate) fn domains(state: &LabState) -> Vec<String> {
    state.nodes.iter().map(|n| n.domain.clone()).collect()
}

/// `take` on the lab's own libvirt connection, off the async runtime.
pub(crate) async fn take_lab(state: &LabState) -> Result<Duration, HvError> {
    let (uri, domains) = (state.uri.clone(), domains(state));
    blocking(move || take(&Libvirt::open(Some(&uri))?, &domains)).await
}

/// `restore` on the lab's own libvirt connection, off the async runtime.
pub(crate) async fn restore_lab(state: &LabState) -> Result<bool, HvError> {
    let (uri, domains) = (state.uri.clone(), domains(state));
    blocking(move || restore(&Libvirt::open(Some(&uri))?, &domains)).await
}

/// Runs `f` for every domain at once and collects the failures.
fn each(domains: &[String], f: impl Fn(&str) -> Result<(), HvError> + Sync) -> Vec<HvError> {
    std::thread::scope(|s| {
        let handles: Vec<_> = domains
            .iter()
            .map(|d| {
                let f = &f;
                s.spawn(move || f(d))
            })
            .collect();
        handles
            .into_iter()
            .filter_map(|h| match h.join() {
                Ok(r) => r.err(),
                Err(_) => Some(HvError::Join("a snapshot thread panicked".to_string())),
            })
            .collect()
    })
}

/// Pauses every domain, snapshots each, and resumes every domain, also after a failure.
/// Returns how long the lab was paused.
pub(crate) fn take(hv: &dyn Hypervisor, domains: &[String]) -> Result<Duration, HvError> {
    let start = Instant::now();
    let mut paused = Vec::new();
    let mut failure = None;
    for d in domains {
        match hv.suspend_domain(d) {
            Ok(()) => paused.push(d.clone()),
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    if failure.is_none() {
        failure = each(domains, |d| hv.snapshot_domain(d, SNAPSHOT))
            .into_iter()
            .next();
    }
    for d in &paused {
        if let Err(e) = hv.resume_domain(d) {
            failure.get_or_insert(e);
        }
    }
    match failure {
        None => Ok(start.elapsed()),
        Some(e) => Err(e),
    }
}

/// Returns every domain to the baseline, running. `Ok(false)`: some domain has no baseline
/// (the lab was rebuilt since), so the caller must converge the lab another way.
pub(crate) fn restore(hv: &dyn Hypervisor, domains: &[String]) -> Result<bool, HvError> {
    let missing = std::sync::Mutex::new(Vec::new());
    let failures = each(domains, |d| {
        if !hv.revert_domain(d, SNAPSHOT)? {
            missing.lock().map(|mut m| m.push(d.to_string())).ok();
        }
        Ok(())
    });
    if let Some(e) = failures.into_iter().next() {
        return Err(e);
    }
    Ok(missing.lock().map(|m| m.is_empty()).unwrap_or(false))
}

/// How long a node may take to answer after a revert.
const REACH: Duration = Duration::from_secs(30);

/// `date` that sets the clock to `now` (UNIX seconds and nanoseconds), quiet.
fn set_clock(now: Duration) -> String {
    format!(
        "date -u -s @{}.{:09} >/dev/null",
        now.as_secs(),
        now.subsec_nanos()
    )
}

/// Sets each node's clock from the host's, allowing for half the round trip of a command.
/// Returns the nodes that could not be set, with why.
pub(crate) async fn sync_clocks<N: Nodes>(nodes: &N, names: &[String]) -> Vec<String> {
    let mut failures = Vec::new();
    for node in names {
        // The first command also opens the session, so the second's round trip is a command's.
        // Right after a revert the node's new network port may not forward yet ("no route to
        // host" for a second or two): try for up to 30 s.
        let deadline = Instant::now() + REACH;
        let (first, rtt) = loop {
            let start = Instant::now();
            let first = nodes.run(node, "true").await;
            let rtt = start.elapsed();
            if first.is_ok() || Instant::now() >= deadline {
                break (first, rtt);
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        };
        let result = match first {
            Ok(_) => {
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default()
                    + rtt.min(Duration::from_secs(2)) / 2;
                nodes.run(node, &set_clock(now)).await
            }
            Err(e) => Err(e),
        };
        match result {
            Ok(out) if out.status == 0 => {}
            Ok(out) => failures.push(format!("{node}: date: {}", out.stderr_tail(2))),
            Err(e) => failures.push(e.to_string()),
        }
    }
    failures
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hypervisor::DomainState;
    use crate::hypervisor::xml;
    use crate::hypervisor::{Libvirt, test_domain, test_network};

    /// Two running domains of lab `lab` on libvirt's test driver.
    fn lab(hv: &Libvirt, lab: &str, octet: u8) -> Vec<String> {
        let net = format!("fd-{lab}-lan");
        hv.define_network(&xml::network_xml(&test_network(&net, lab, octet)))
            .unwrap();
        hv.start_network(&net).unwrap();
        ["app", "db"]
            .iter()
            .map(|node| {
                let name = format!("fd-{lab}-{node}");
                hv.define_domain(&xml::domain_xml(&test_domain(&name, lab, &net)))
                    .unwrap();
                hv.start_domain(&name).unwrap();
                name
            })
            .collect()
    }

    fn state(hv: &Libvirt, d: &str) -> DomainState {
        hv.domain(d).unwrap().unwrap().state
    }

    #[test]
    fn take_leaves_every_node_running_and_restore_returns_to_it() {
        let hv = Libvirt::open(Some("test:///default")).unwrap();
        let domains = lab(&hv, "bl1", 41);
        assert!(!restore(&hv, &domains).unwrap(), "no baseline yet");
        take(&hv, &domains).unwrap();
        for d in &domains {
            assert_eq!(state(&hv, d), DomainState::Running, "{d}");
        }
        hv.suspend_domain(&domains[1]).unwrap();
        assert!(restore(&hv, &domains).unwrap());
        for d in &domains {
            assert_eq!(state(&hv, d), DomainState::Running, "{d}");
        }
        for d in &domains {
            hv.remove_domain(d, "bl1").unwrap();
        }
        hv.remove_network("fd-bl1-lan", "bl1").unwrap();
    }

    #[test]
    fn a_failed_take_still_resumes_what_it_paused() {
        let hv = Libvirt::open(Some("test:///default")).unwrap();
        let mut domains = lab(&hv, "bl2", 42);
        domains.push("fd-bl2-gone".to_string());
        let err = take(&hv, &domains).unwrap_err();
        assert!(err.to_string().contains("fd-bl2-gone"), "{err}");
        for d in &domains[..2] {
            assert_eq!(state(&hv, d), DomainState::Running, "{d}");
        }
        for d in &domains[..2] {
            hv.remove_domain(d, "bl2").unwrap();
        }
        hv.remove_network("fd-bl2-lan", "bl2").unwrap();
    }

    #[test]
    fn the_clock_command_is_exact_to_the_nanosecond() {
        assert_eq!(
            set_clock(Duration::new(1_763_800_000, 5_000_000)),
            "date -u -s @1763800000.005000000 >/dev/null"
        );
    }

    #[tokio::test]
    async fn clocks_are_set_from_the_host_and_failures_are_named() {
        use crate::remote::fake::{FakeRemote, exact, exit, ok, prefix};
        let nodes = crate::levels::testutil::FakeNodes::new(vec![
            FakeRemote::new("app")
                .logged_in_as_root()
                // Just reverted: the first attempt finds no route; the next one works.
                .fail_once(exact("sh -c true"), "cannot connect: No route to host")
                .once(exact("sh -c true"), ok(""))
                .once(prefix("sh -c 'date -u -s @"), ok("")),
            FakeRemote::new("db")
                .logged_in_as_root()
                .once(exact("sh -c true"), ok(""))
                .once(
                    prefix("sh -c 'date -u -s @"),
                    exit(1, "date: cannot set date: Operation not permitted"),
                ),
        ]);
        let before = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let failures = sync_clocks(&nodes, &["app".to_string(), "db".to_string()]).await;
        assert_eq!(
            failures,
            ["db: date: date: cannot set date: Operation not permitted"]
        );
        let app = nodes.nodes["app"].commands();
        assert_eq!(app.len(), 3, "{app:?}");
        let secs: u64 = app[2]
            .strip_prefix("sh -c 'date -u -s @")
            .and_then(|r| r.split('.').next())
            .and_then(|n| n.parse().ok())
            .unwrap();
        assert!(secs >= before && secs <= before + 5, "{app:?}");
        for n in nodes.nodes.values() {
            n.assert_all_used();
        }
    }
}
