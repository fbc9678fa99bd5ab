//! The hypervisor behind a small interface: networks and domains, each marked as owned by a lab
//! in its `<metadata>`. Calls block (libvirt is synchronous), so async callers wrap them in
//! `tokio::task::spawn_blocking`.

mod libvirt;
pub(crate) mod xml;

pub(crate) use libvirt::Libvirt;
/// A network and a domain for tests against libvirt's test driver.
#[cfg(test)]
pub(crate) use libvirt::tests::{dom as test_domain, net as test_network};

use ipnetwork::Ipv4Network;

/// What the lab sees of a libvirt network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NetworkInfo {
    pub(crate) name: String,
    pub(crate) uuid: String,
    pub(crate) active: bool,
    pub(crate) bridge: Option<String>,
    pub(crate) cidr: Option<Ipv4Network>,
    /// The lab that created it, from our metadata; `None` for networks we did not create.
    pub(crate) owner: Option<String>,
    /// Its fixed DHCP leases and DNS records, as libvirt has them now.
    pub(crate) dhcp_hosts: Vec<xml::HostEntry>,
    pub(crate) dns_hosts: Vec<xml::DnsHost>,
}

/// One live change to a network's records (libvirt's network update: the network keeps
/// running, and dnsmasq rereads its hosts without dropping anyone's lease).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HostUpdate {
    AddLease(xml::HostEntry),
    RemoveLease(xml::HostEntry),
    AddDns(xml::DnsHost),
    RemoveDns(xml::DnsHost),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum DomainState {
    Running,
    Paused,
    Shutoff,
    Crashed,
    Other,
}

impl std::fmt::Display for DomainState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = match self {
            DomainState::Running => "running",
            DomainState::Paused => "paused",
            DomainState::Shutoff => "shut off",
            DomainState::Crashed => "crashed",
            DomainState::Other => "other",
        };
        f.write_str(s)
    }
}

/// What the lab sees of a libvirt domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DomainInfo {
    pub(crate) name: String,
    pub(crate) uuid: String,
    pub(crate) state: DomainState,
    /// `(lab, node)` from our metadata; `None` for domains we did not create.
    pub(crate) owner: Option<(String, String)>,
    /// What the domain has now (the memory the balloon leaves the guest, and its vCPUs, while
    /// it runs; its definition's when it is off).
    pub(crate) memory_mib: u64,
    pub(crate) cpus: u32,
    /// The most memory the running domain can have without a restart (the size it booted
    /// with): the balloon gives the guest anything up to it, live.
    pub(crate) max_memory_mib: u64,
    /// What its persistent definition says, which a redefinition changes before a restart
    /// applies it.
    pub(crate) defined_memory_mib: u64,
    pub(crate) defined_cpus: u32,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum HvError {
    #[error(
        "cannot connect to libvirt at {uri}: {message}\n  hint: is libvirtd running? Start it (e.g. `systemctl start libvirtd`, or `libvirtd -d`) or set LIBVIRT_DEFAULT_URI"
    )]
    Connect { uri: String, message: String },
    #[error("libvirt {action} {object}: {message}")]
    Call {
        action: &'static str,
        object: String,
        message: String,
    },
    #[error(
        "{kind} `{name}` exists but was not created by firedrill for lab `{lab}`; firedrill leaves it alone\n  hint: rename or remove it yourself (virsh {kind}-undefine {name}), or rename the lab"
    )]
    NotOurs {
        kind: &'static str,
        name: String,
        lab: String,
    },
    #[error("a blocking libvirt task failed: {0}")]
    Join(String),
}

/// Networks and domains. Implemented by `Libvirt`; the test driver (`test:///default`) makes it
/// testable without a daemon.
pub(crate) trait Hypervisor: Send + Sync {
    fn uri(&self) -> &str;
    fn networks(&self) -> Result<Vec<NetworkInfo>, HvError>;
    fn network(&self, name: &str) -> Result<Option<NetworkInfo>, HvError>;
    /// Defines a persistent network from XML; fails if one with that name exists.
    fn define_network(&self, xml: &str) -> Result<NetworkInfo, HvError>;
    fn start_network(&self, name: &str) -> Result<(), HvError>;
    /// Stops (if active) and undefines a network owned by `lab`; refuses any other.
    fn remove_network(&self, name: &str, lab: &str) -> Result<(), HvError>;
    /// Changes one record of a network owned by `lab`, live and in its definition.
    fn update_network(&self, name: &str, lab: &str, update: &HostUpdate) -> Result<(), HvError>;

    fn domains(&self) -> Result<Vec<DomainInfo>, HvError>;
    fn domain(&self, name: &str) -> Result<Option<DomainInfo>, HvError>;
    fn define_domain(&self, xml: &str) -> Result<DomainInfo, HvError>;
    /// Starts a defined domain; leaves an active one as it is. `paused`: QEMU is up and its
    /// devices ready, and no guest code runs until `resume_domain` (libvirt's test driver
    /// cannot start paused).
    fn start_domain(&self, name: &str, paused: bool) -> Result<(), HvError>;
    /// Shuts a running domain down cleanly (ACPI), waiting up to `timeout`; then pulls the plug.
    /// `Ok(true)` when it shut down cleanly.
    fn shutdown_domain(&self, name: &str, timeout: std::time::Duration) -> Result<bool, HvError>;
    /// Sets a running domain's memory through its balloon, live, up to its maximum.
    fn set_memory_live(&self, name: &str, mib: u64) -> Result<(), HvError>;
    /// Hard reset, as a power button would (the reboot faults use it).
    fn reset_domain(&self, name: &str) -> Result<(), HvError>;
    /// Stops (if running) and undefines a domain owned by `lab`; refuses any other.
    fn remove_domain(&self, name: &str, lab: &str) -> Result<(), HvError>;

    /// Pauses a running domain (its clock and devices stop), so that snapshots of several
    /// domains form one consistent moment.
    fn suspend_domain(&self, name: &str) -> Result<(), HvError>;
    fn resume_domain(&self, name: &str) -> Result<(), HvError>;
    /// Saves the domain's disks and memory as snapshot `snapshot`, inside its qcow2 disk,
    /// replacing a snapshot of that name.
    fn snapshot_domain(&self, name: &str, snapshot: &str) -> Result<(), HvError>;
    /// Returns the domain to snapshot `snapshot`, running. `Ok(false)` when it has none.
    fn revert_domain(&self, name: &str, snapshot: &str) -> Result<bool, HvError>;
    /// The domain's snapshots, oldest first.
    fn snapshots(&self, name: &str) -> Result<Vec<SnapshotInfo>, HvError>;
    /// Deletes the domain's snapshot `snapshot` (its disk and memory state too). `Ok(false)`
    /// when it has none.
    fn delete_snapshot(&self, name: &str, snapshot: &str) -> Result<bool, HvError>;
}

/// What libvirt says of one snapshot of a domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SnapshotInfo {
    pub(crate) name: String,
    /// When it was taken, in UNIX seconds.
    pub(crate) created: i64,
}

/// Refuses to touch an object that is not owned by `lab`.
pub(crate) fn ensure_owned(
    kind: &'static str,
    name: &str,
    owner: Option<&str>,
    lab: &str,
) -> Result<(), HvError> {
    if owner == Some(lab) {
        Ok(())
    } else {
        Err(HvError::NotOurs {
            kind,
            name: name.to_string(),
            lab: lab.to_string(),
        })
    }
}

/// Runs a blocking hypervisor call off the async runtime.
pub(crate) async fn blocking<T, E, F>(f: F) -> Result<T, E>
where
    T: Send + 'static,
    E: From<HvError> + Send + 'static,
    F: FnOnce() -> Result<T, E> + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| E::from(HvError::Join(e.to_string())))?
}
