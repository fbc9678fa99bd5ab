//! The hypervisor on libvirt, through the `virt` crate.

use super::xml::parse;
use super::{
    DomainInfo, DomainState, HostUpdate, HvError, Hypervisor, NetworkInfo, SnapshotInfo,
    ensure_owned,
};
use virt::connect::Connect;
use virt::domain::Domain;
use virt::network::Network;
use virt::sys;

/// A libvirt connection (libvirt connections are thread-safe).
pub(crate) struct Libvirt {
    uri: String,
    conn: Connect,
    /// This firedrill home's mark: objects with another home's mark are not ours.
    installation: String,
}

fn call(action: &'static str, object: &str) -> impl FnOnce(virt::error::Error) -> HvError {
    let object = object.to_string();
    move |e| HvError::Call {
        action,
        object,
        message: e.message().to_string(),
    }
}

fn is_missing(e: &virt::error::Error) -> bool {
    use virt::error::ErrorNumber;
    e.code().is_any(vec![
        ErrorNumber::NoDomain,
        ErrorNumber::NoNetwork,
        ErrorNumber::NoDomainSnapshot,
    ])
}

/// A snapshot's XML: its name, what it is for (shown by `virsh snapshot-list`), and its disks:
/// writable ones inside their qcow2, read-only ones (the seed) not at all, since libvirt would
/// otherwise ask a raw file for an internal snapshot it cannot hold.
fn snapshot_xml(name: &str, disks: &[(String, bool)]) -> String {
    let mut x = format!(
        "<domainsnapshot>\n  <name>{}</name>\n  <description>firedrill: this node's part of a snapshot of its whole lab, taken and restored with every node together</description>\n  <disks>\n",
        quick_xml::escape::escape(name)
    );
    for (dev, readonly) in disks {
        let how = if *readonly { "no" } else { "internal" };
        x += &format!(
            "    <disk name='{}' snapshot='{how}'/>\n",
            quick_xml::escape::escape(dev.as_str())
        );
    }
    x + "  </disks>\n</domainsnapshot>\n"
}

/// The `<creationTime>` of a snapshot's XML (UNIX seconds), 0 when it has none.
fn creation_time(xml: &str) -> i64 {
    xml.split_once("<creationTime>")
        .and_then(|(_, rest)| rest.split_once("</creationTime>"))
        .and_then(|(t, _)| t.trim().parse().ok())
        .unwrap_or(0)
}

impl Libvirt {
    /// `LIBVIRT_DEFAULT_URI`, else `qemu:///system`: what `open(None)` opens.
    pub(crate) fn default_uri() -> String {
        std::env::var("LIBVIRT_DEFAULT_URI")
            .ok()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| "qemu:///system".to_string())
    }

    /// Opens `uri`, else `LIBVIRT_DEFAULT_URI`, else `qemu:///system`.
    pub(crate) fn open(uri: Option<&str>) -> Result<Libvirt, HvError> {
        virt::error::clear_error_callback();
        let uri = uri.map_or_else(Libvirt::default_uri, str::to_string);
        let conn = Connect::open(Some(&uri)).map_err(|e| HvError::Connect {
            uri: uri.clone(),
            message: e.message().to_string(),
        })?;
        Ok(Libvirt {
            uri,
            conn,
            installation: crate::paths::Home::from_env().installation(),
        })
    }

    /// libvirt's and the hypervisor's versions, encoded as major * 1,000,000 + minor * 1,000 +
    /// micro.
    pub(crate) fn versions(&self) -> Result<(u32, u32), HvError> {
        let lib = self
            .conn
            .lib_version()
            .map_err(call("read the version of", &self.uri))?;
        let hyp = self
            .conn
            .hyp_version()
            .map_err(call("read the hypervisor version of", &self.uri))?;
        Ok((lib, hyp))
    }

    fn with<T>(&self, f: impl FnOnce(&Connect) -> Result<T, HvError>) -> Result<T, HvError> {
        f(&self.conn)
    }

    /// The domain named `name`, which must exist.
    fn lookup(&self, name: &str) -> Result<Domain, HvError> {
        self.conn
            .lookup_domain_by_name(name)
            .map_err(call("look up domain", name))
    }
}

fn network_info(n: &Network, installation: &str) -> Result<NetworkInfo, HvError> {
    let name = n.name().map_err(call("read network", "?"))?;
    let xml = n.xml_desc(0).map_err(call("read network", &name))?;
    let parsed = parse(&xml);
    Ok(NetworkInfo {
        uuid: n.uuid_string().map_err(call("read network", &name))?,
        active: n.is_active().map_err(call("read network", &name))?,
        owner: parsed.owner(installation),
        bridge: parsed.bridge,
        cidr: parsed.cidr,
        dhcp_hosts: parsed.dhcp_hosts,
        dns_hosts: parsed.dns_hosts,
        name,
    })
}

fn domain_info(d: &Domain, installation: &str) -> Result<DomainInfo, HvError> {
    let name = d.name().map_err(call("read domain", "?"))?;
    let xml = d.xml_desc(0).map_err(call("read domain", &name))?;
    let parsed = parse(&xml);
    let info = d.info().map_err(call("read domain", &name))?;
    let inactive = d
        .xml_desc(sys::VIR_DOMAIN_XML_INACTIVE)
        .map_err(call("read domain", &name))?;
    let defined = parse(&inactive);
    use virt::domain::DomainState as S;
    let state = match info.state.unwrap_or(S::NoState) {
        S::Running | S::Blocked => DomainState::Running,
        S::Paused | S::PMSuspended => DomainState::Paused,
        S::Shutoff | S::Shutdown => DomainState::Shutoff,
        S::Crashed => DomainState::Crashed,
        S::NoState => DomainState::Other,
    };
    Ok(DomainInfo {
        uuid: d.uuid_string().map_err(call("read domain", &name))?,
        state,
        owner: parsed.owner(installation).zip(parsed.node),
        memory_mib: info.memory / 1024,
        cpus: info.nr_virt_cpu,
        max_memory_mib: info.max_mem / 1024,
        defined_memory_mib: defined
            .memory_kib
            .map(|k| k / 1024)
            .unwrap_or(info.max_mem / 1024),
        defined_cpus: defined.vcpus.unwrap_or(info.nr_virt_cpu),
        name,
    })
}

impl Hypervisor for Libvirt {
    fn uri(&self) -> &str {
        &self.uri
    }

    fn networks(&self) -> Result<Vec<NetworkInfo>, HvError> {
        self.with(|c| {
            let flags =
                sys::VIR_CONNECT_LIST_NETWORKS_ACTIVE | sys::VIR_CONNECT_LIST_NETWORKS_INACTIVE;
            c.list_all_networks(flags)
                .map_err(call("list", "networks"))?
                .iter()
                .map(|n| network_info(n, &self.installation))
                .collect()
        })
    }

    fn network(&self, name: &str) -> Result<Option<NetworkInfo>, HvError> {
        self.with(|c| match c.lookup_network_by_name(name) {
            Ok(n) => network_info(&n, &self.installation).map(Some),
            Err(e) if is_missing(&e) => Ok(None),
            Err(e) => Err(call("look up network", name)(e)),
        })
    }

    fn define_network(&self, xml: &str) -> Result<NetworkInfo, HvError> {
        let name = super::xml::name_of(xml);
        self.with(|c| {
            let n = c
                .define_network_xml(xml)
                .map_err(call("define network", &name))?;
            n.set_autostart(true)
                .map_err(call("set autostart on network", &name))?;
            network_info(&n, &self.installation)
        })
    }

    fn start_network(&self, name: &str) -> Result<(), HvError> {
        self.with(|c| {
            let n = c
                .lookup_network_by_name(name)
                .map_err(call("look up network", name))?;
            if !n.is_active().map_err(call("read network", name))? {
                n.create().map_err(call("start network", name))?;
            }
            Ok(())
        })
    }

    fn remove_network(&self, name: &str, lab: &str) -> Result<(), HvError> {
        self.with(|c| {
            let n = match c.lookup_network_by_name(name) {
                Ok(n) => n,
                Err(e) if is_missing(&e) => return Ok(()),
                Err(e) => return Err(call("look up network", name)(e)),
            };
            let info = network_info(&n, &self.installation)?;
            ensure_owned("network", name, info.owner.as_deref(), lab)?;
            if info.active {
                n.destroy().map_err(call("stop network", name))?;
            }
            n.undefine().map_err(call("undefine network", name))
        })
    }

    fn update_network(&self, name: &str, lab: &str, update: &HostUpdate) -> Result<(), HvError> {
        use super::xml::{dhcp_host_xml, dns_host_xml};
        let (command, section, xml) = match update {
            HostUpdate::AddLease(h) => (
                sys::VIR_NETWORK_UPDATE_COMMAND_ADD_LAST,
                sys::VIR_NETWORK_SECTION_IP_DHCP_HOST,
                dhcp_host_xml(h),
            ),
            HostUpdate::RemoveLease(h) => (
                sys::VIR_NETWORK_UPDATE_COMMAND_DELETE,
                sys::VIR_NETWORK_SECTION_IP_DHCP_HOST,
                dhcp_host_xml(h),
            ),
            HostUpdate::AddDns(h) => (
                sys::VIR_NETWORK_UPDATE_COMMAND_ADD_LAST,
                sys::VIR_NETWORK_SECTION_DNS_HOST,
                dns_host_xml(h, ""),
            ),
            HostUpdate::RemoveDns(h) => (
                sys::VIR_NETWORK_UPDATE_COMMAND_DELETE,
                sys::VIR_NETWORK_SECTION_DNS_HOST,
                dns_host_xml(h, ""),
            ),
        };
        self.with(|c| {
            let n = c
                .lookup_network_by_name(name)
                .map_err(call("look up network", name))?;
            let info = network_info(&n, &self.installation)?;
            ensure_owned("network", name, info.owner.as_deref(), lab)?;
            let mut flags = sys::VIR_NETWORK_UPDATE_AFFECT_CONFIG;
            if info.active {
                flags |= sys::VIR_NETWORK_UPDATE_AFFECT_LIVE;
            }
            n.update(command, section, -1, &xml, flags)
                .map_err(call("update network", name))
        })
    }

    fn domains(&self) -> Result<Vec<DomainInfo>, HvError> {
        self.with(|c| {
            let flags =
                sys::VIR_CONNECT_LIST_DOMAINS_ACTIVE | sys::VIR_CONNECT_LIST_DOMAINS_INACTIVE;
            c.list_all_domains(flags)
                .map_err(call("list", "domains"))?
                .iter()
                .map(|d| domain_info(d, &self.installation))
                .collect()
        })
    }

    fn domain(&self, name: &str) -> Result<Option<DomainInfo>, HvError> {
        self.with(|c| match c.lookup_domain_by_name(name) {
            Ok(d) => domain_info(&d, &self.installation).map(Some),
            Err(e) if is_missing(&e) => Ok(None),
            Err(e) => Err(call("look up domain", name)(e)),
        })
    }

    fn define_domain(&self, xml: &str) -> Result<DomainInfo, HvError> {
        let name = super::xml::name_of(xml);
        self.with(|c| {
            // Redefining (a new size for the next boot) must keep the domain's UUID, or libvirt
            // refuses it as a second domain of the same name.
            let xml = match c.lookup_domain_by_name(&name) {
                Ok(d) => {
                    let uuid = d.uuid_string().map_err(call("read domain", &name))?;
                    super::xml::with_uuid(xml, &uuid)
                }
                Err(e) if is_missing(&e) => xml.to_string(),
                Err(e) => return Err(call("look up domain", &name)(e)),
            };
            let d = c
                .define_domain_xml(&xml)
                .map_err(call("define domain", &name))?;
            domain_info(&d, &self.installation)
        })
    }

    fn start_domain(&self, name: &str, paused: bool) -> Result<(), HvError> {
        let d = self.lookup(name)?;
        if !d.is_active().map_err(call("read domain", name))? {
            let flags = if paused {
                sys::VIR_DOMAIN_START_PAUSED
            } else {
                0
            };
            d.create_with_flags(flags)
                .map_err(call("start domain", name))?;
        }
        Ok(())
    }

    fn set_memory_live(&self, name: &str, mib: u64) -> Result<(), HvError> {
        let d = self.lookup(name)?;
        d.set_memory_flags(mib * 1024, sys::VIR_DOMAIN_MEM_LIVE)
            .map_err(call("set the memory of", name))
    }

    fn shutdown_domain(&self, name: &str, timeout: std::time::Duration) -> Result<bool, HvError> {
        let d = self.lookup(name)?;
        if !d.is_active().map_err(call("read domain", name))? {
            return Ok(true);
        }
        d.shutdown().map_err(call("shut down domain", name))?;
        let deadline = std::time::Instant::now() + timeout;
        while std::time::Instant::now() < deadline {
            if !d.is_active().map_err(call("read domain", name))? {
                return Ok(true);
            }
            std::thread::sleep(std::time::Duration::from_millis(250));
        }
        d.destroy().map_err(call("stop domain", name))?;
        Ok(false)
    }

    fn reset_domain(&self, name: &str) -> Result<(), HvError> {
        let d = self.lookup(name)?;
        d.reset().map_err(call("reset domain", name))
    }

    fn remove_domain(&self, name: &str, lab: &str) -> Result<(), HvError> {
        self.with(|c| {
            let d = match c.lookup_domain_by_name(name) {
                Ok(d) => d,
                Err(e) if is_missing(&e) => return Ok(()),
                Err(e) => return Err(call("look up domain", name)(e)),
            };
            let info = domain_info(&d, &self.installation)?;
            ensure_owned(
                "domain",
                name,
                info.owner.as_ref().map(|(l, _)| l.as_str()),
                lab,
            )?;
            if d.is_active().map_err(call("read domain", name))? {
                d.destroy().map_err(call("stop domain", name))?;
            }
            d.undefine_flags(
                sys::VIR_DOMAIN_UNDEFINE_MANAGED_SAVE | sys::VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA,
            )
            .map_err(call("undefine domain", name))
        })
    }

    fn suspend_domain(&self, name: &str) -> Result<(), HvError> {
        let d = self.lookup(name)?;
        d.suspend().map_err(call("pause domain", name))
    }

    fn resume_domain(&self, name: &str) -> Result<(), HvError> {
        let d = self.lookup(name)?;
        d.resume().map_err(call("resume domain", name))
    }

    fn snapshot_domain(&self, name: &str, snapshot: &str) -> Result<(), HvError> {
        let d = self.lookup(name)?;
        match Domain::lookup_snapshot_by_name(&d, snapshot, 0) {
            Ok(old) => old.delete(0).map_err(call("delete snapshot of", name))?,
            Err(e) if is_missing(&e) => {}
            Err(e) => return Err(call("look up snapshot of", name)(e)),
        }
        let disks = parse(&d.xml_desc(0).map_err(call("read domain", name))?).disks;
        d.create_snapshot_xml(
            &snapshot_xml(snapshot, &disks),
            sys::VIR_DOMAIN_SNAPSHOT_CREATE_ATOMIC,
        )
        .map(|_| ())
        .map_err(call("snapshot domain", name))
    }

    fn revert_domain(&self, name: &str, snapshot: &str) -> Result<bool, HvError> {
        let d = self.lookup(name)?;
        let snap = match Domain::lookup_snapshot_by_name(&d, snapshot, 0) {
            Ok(s) => s,
            Err(e) if is_missing(&e) => return Ok(false),
            Err(e) => return Err(call("look up snapshot of", name)(e)),
        };
        snap.revert(sys::VIR_DOMAIN_SNAPSHOT_REVERT_RUNNING)
            .map(|()| true)
            .map_err(call("revert domain", name))
    }

    fn snapshots(&self, name: &str) -> Result<Vec<SnapshotInfo>, HvError> {
        let d = self.lookup(name)?;
        let mut all = d
            .list_all_snapshots(0)
            .map_err(call("list snapshots of", name))?
            .iter()
            .map(|s| {
                Ok(SnapshotInfo {
                    name: s.name().map_err(call("read a snapshot of", name))?,
                    created: creation_time(
                        &s.xml_desc(0).map_err(call("read a snapshot of", name))?,
                    ),
                })
            })
            .collect::<Result<Vec<_>, HvError>>()?;
        all.sort_by(|a, b| (a.created, &a.name).cmp(&(b.created, &b.name)));
        Ok(all)
    }

    fn delete_snapshot(&self, name: &str, snapshot: &str) -> Result<bool, HvError> {
        let d = self.lookup(name)?;
        match Domain::lookup_snapshot_by_name(&d, snapshot, 0) {
            Ok(s) => s
                .delete(0)
                .map(|()| true)
                .map_err(call("delete snapshot of", name)),
            Err(e) if is_missing(&e) => Ok(false),
            Err(e) => Err(call("look up snapshot of", name)(e)),
        }
    }
}

/// Against libvirt's built-in test driver: no daemon needed. `test:///default` is shared within
/// the process, so each test uses names of its own.
#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::hypervisor::xml::{self, Accel, DomainSpec, ForwardMode, NetworkSpec};

    fn hv() -> Libvirt {
        Libvirt::open(Some("test:///default")).expect("test driver")
    }

    pub(crate) fn net(name: &str, lab: &str, third_octet: u8) -> NetworkSpec {
        NetworkSpec {
            name: name.into(),
            lab: lab.into(),
            installation: crate::paths::Home::from_env().installation(),
            bridge: format!("fdt{third_octet}"),
            mode: ForwardMode::Nat,
            domain: format!("{lab}.lab"),
            cidr: format!("10.99.{third_octet}.0/24").parse().unwrap(),
            gateway: format!("10.99.{third_octet}.1").parse().unwrap(),
            hosts: vec![],
            dns: vec![],
        }
    }

    pub(crate) fn dom(name: &str, lab: &str, network: &str) -> DomainSpec {
        DomainSpec {
            name: name.into(),
            lab: lab.into(),
            installation: crate::paths::Home::from_env().installation(),
            node: "web".into(),
            accel: Accel::Tcg,
            memory_mib: 256,
            cpus: 1,
            kernel: "/nonexistent/vmlinuz".into(),
            initrd: "/nonexistent/initrd.img".into(),
            cmdline: "console=ttyS0".into(),
            disk: "/nonexistent/disk.qcow2".into(),
            seed: "/nonexistent/seed.iso".into(),
            console_log: "/nonexistent/console.log".into(),
            network: network.into(),
            mac: "52:54:00:00:00:01".into(),
            more_nics: Vec::new(),
            run_as: (0, 0),
        }
    }

    #[test]
    fn network_define_start_remove() {
        let hv = hv();
        let info = hv
            .define_network(&xml::network_xml(&net("fd-t1-lan", "t1", 1)))
            .unwrap();
        assert_eq!(info.owner.as_deref(), Some("t1"));
        assert_eq!(info.cidr, Some("10.99.1.0/24".parse().unwrap()));
        assert!(!info.active);
        hv.start_network("fd-t1-lan").unwrap();
        assert!(hv.network("fd-t1-lan").unwrap().unwrap().active);
        assert!(hv.networks().unwrap().iter().any(|n| n.name == "fd-t1-lan"));
        hv.remove_network("fd-t1-lan", "t1").unwrap();
        assert_eq!(hv.network("fd-t1-lan").unwrap(), None);
        // Removing what is already gone is not an error: `down` must be re-runnable.
        hv.remove_network("fd-t1-lan", "t1").unwrap();
    }

    #[test]
    fn network_records_change_live_and_read_back() {
        use crate::hypervisor::xml::{DnsHost, HostEntry};
        let hv = hv();
        hv.define_network(&xml::network_xml(&net("fd-t9-lan", "t9", 9)))
            .unwrap();
        hv.start_network("fd-t9-lan").unwrap();
        let lease = HostEntry {
            name: "app3".into(),
            mac: "52:54:00:00:00:03".into(),
            ip: "10.99.9.14".parse().unwrap(),
        };
        let dns = DnsHost {
            ip: lease.ip,
            names: vec!["app3.t9.lab".into(), "app3".into()],
        };
        hv.update_network("fd-t9-lan", "t9", &HostUpdate::AddLease(lease.clone()))
            .unwrap();
        hv.update_network("fd-t9-lan", "t9", &HostUpdate::AddDns(dns.clone()))
            .unwrap();
        let info = hv.network("fd-t9-lan").unwrap().unwrap();
        assert!(info.active, "the network kept running");
        assert_eq!(info.dhcp_hosts, vec![lease.clone()]);
        assert_eq!(info.dns_hosts, vec![dns.clone()]);
        // Another lab's name cannot change it.
        let err = hv
            .update_network("fd-t9-lan", "other", &HostUpdate::RemoveDns(dns.clone()))
            .unwrap_err();
        assert!(matches!(err, HvError::NotOurs { .. }), "{err}");
        hv.update_network("fd-t9-lan", "t9", &HostUpdate::RemoveDns(dns))
            .unwrap();
        hv.update_network("fd-t9-lan", "t9", &HostUpdate::RemoveLease(lease))
            .unwrap();
        let info = hv.network("fd-t9-lan").unwrap().unwrap();
        assert_eq!((info.dhcp_hosts.len(), info.dns_hosts.len()), (0, 0));
        hv.remove_network("fd-t9-lan", "t9").unwrap();
    }

    #[test]
    fn the_balloon_changes_a_running_domains_memory_up_to_its_maximum() {
        let hv = hv();
        let spec = dom("fd-t10-app", "t10", "default");
        hv.define_domain(&xml::domain_xml(&spec)).unwrap();
        hv.start_domain("fd-t10-app", false).unwrap();
        hv.set_memory_live("fd-t10-app", spec.memory_mib - 64)
            .unwrap();
        let d = hv.domain("fd-t10-app").unwrap().unwrap();
        assert_eq!(
            (d.memory_mib, d.max_memory_mib),
            (spec.memory_mib - 64, spec.memory_mib)
        );
        hv.set_memory_live("fd-t10-app", spec.memory_mib).unwrap();
        assert_eq!(
            hv.domain("fd-t10-app").unwrap().unwrap().memory_mib,
            spec.memory_mib
        );
        // Beyond the size it booted with: libvirt refuses, and says so.
        let err = hv
            .set_memory_live("fd-t10-app", spec.memory_mib + 256)
            .unwrap_err();
        assert!(err.to_string().contains("fd-t10-app"), "{err}");
        hv.remove_domain("fd-t10-app", "t10").unwrap();
    }

    #[test]
    fn a_redefined_domain_reports_its_new_size_and_keeps_running_with_the_old() {
        let hv = hv();
        let mut spec = dom("fd-t8-app", "t8", "default");
        hv.define_domain(&xml::domain_xml(&spec)).unwrap();
        hv.start_domain("fd-t8-app", false).unwrap();
        let before = hv.domain("fd-t8-app").unwrap().unwrap();
        assert_eq!(
            (before.memory_mib, before.cpus),
            (spec.memory_mib, spec.cpus)
        );
        spec.memory_mib += 256;
        spec.cpus += 1;
        hv.define_domain(&xml::domain_xml(&spec)).unwrap();
        let after = hv.domain("fd-t8-app").unwrap().unwrap();
        assert_eq!(
            (after.defined_memory_mib, after.defined_cpus),
            (spec.memory_mib, spec.cpus)
        );
        assert_eq!(
            (after.memory_mib, after.cpus),
            (before.memory_mib, before.cpus)
        );
        assert!(
            hv.shutdown_domain("fd-t8-app", std::time::Duration::from_secs(5))
                .unwrap()
        );
        let off = hv.domain("fd-t8-app").unwrap().unwrap();
        assert_eq!(off.state, DomainState::Shutoff);
        hv.remove_domain("fd-t8-app", "t8").unwrap();
    }

    #[test]
    fn refuses_to_remove_a_network_of_another_lab_or_none() {
        let hv = hv();
        hv.define_network(&xml::network_xml(&net("fd-t2-lan", "t2", 2)))
            .unwrap();
        let err = hv.remove_network("fd-t2-lan", "other").unwrap_err();
        assert!(matches!(err, HvError::NotOurs { .. }), "{err}");
        assert!(
            err.to_string()
                .contains("was not created by firedrill for lab `other`")
        );
        assert!(hv.network("fd-t2-lan").unwrap().is_some());
        // The test driver's own `default` network carries no marker at all.
        let err = hv.remove_network("default", "t2").unwrap_err();
        assert!(matches!(err, HvError::NotOurs { .. }));
        assert!(hv.network("default").unwrap().is_some());
        hv.remove_network("fd-t2-lan", "t2").unwrap();
    }

    #[test]
    fn a_snapshots_creation_time_is_read_from_its_xml() {
        let xml = "<domainsnapshot>\n  <name>a</name>\n  <creationTime>1764523800</creationTime>\n</domainsnapshot>";
        assert_eq!(creation_time(xml), 1_764_523_800);
        assert_eq!(creation_time("<domainsnapshot/>"), 0);
    }

    #[test]
    fn snapshot_of_paused_domains_then_revert_running() {
        let hv = hv();
        hv.define_network(&xml::network_xml(&net("fd-t4-lan", "t4", 4)))
            .unwrap();
        hv.start_network("fd-t4-lan").unwrap();
        hv.define_domain(&xml::domain_xml(&dom("fd-t4-web", "t4", "fd-t4-lan")))
            .unwrap();
        hv.start_domain("fd-t4-web", false).unwrap();
        assert!(
            !hv.revert_domain("fd-t4-web", "baseline").unwrap(),
            "no snapshot yet"
        );
        hv.suspend_domain("fd-t4-web").unwrap();
        assert_eq!(
            hv.domain("fd-t4-web").unwrap().unwrap().state,
            DomainState::Paused
        );
        hv.snapshot_domain("fd-t4-web", "baseline").unwrap();
        // Taking it again replaces it instead of failing on the name.
        hv.snapshot_domain("fd-t4-web", "baseline").unwrap();
        hv.snapshot_domain("fd-t4-web", "second").unwrap();
        let names: Vec<String> = hv
            .snapshots("fd-t4-web")
            .unwrap()
            .into_iter()
            .map(|s| s.name)
            .collect();
        assert_eq!(names, ["baseline", "second"]);
        assert!(hv.delete_snapshot("fd-t4-web", "second").unwrap());
        assert!(!hv.delete_snapshot("fd-t4-web", "second").unwrap());
        assert_eq!(hv.snapshots("fd-t4-web").unwrap().len(), 1);
        hv.resume_domain("fd-t4-web").unwrap();
        hv.reset_domain("fd-t4-web").unwrap();
        // The snapshot was taken paused; a revert always leaves the domain running.
        assert!(hv.revert_domain("fd-t4-web", "baseline").unwrap());
        assert_eq!(
            hv.domain("fd-t4-web").unwrap().unwrap().state,
            DomainState::Running
        );
        // Removing the domain removes its snapshots' metadata too.
        hv.remove_domain("fd-t4-web", "t4").unwrap();
        assert_eq!(hv.domain("fd-t4-web").unwrap(), None);
        hv.remove_network("fd-t4-lan", "t4").unwrap();
    }

    #[test]
    fn domain_define_start_reset_remove() {
        let hv = hv();
        hv.define_network(&xml::network_xml(&net("fd-t3-lan", "t3", 3)))
            .unwrap();
        hv.start_network("fd-t3-lan").unwrap();
        let info = hv
            .define_domain(&xml::domain_xml(&dom("fd-t3-web", "t3", "fd-t3-lan")))
            .unwrap();
        assert_eq!(info.owner, Some(("t3".into(), "web".into())));
        assert_eq!(info.state, DomainState::Shutoff);
        assert_eq!(info.memory_mib, 256);
        hv.start_domain("fd-t3-web", false).unwrap();
        assert_eq!(
            hv.domain("fd-t3-web").unwrap().unwrap().state,
            DomainState::Running
        );
        // Starting a running domain converges instead of failing.
        hv.start_domain("fd-t3-web", false).unwrap();
        hv.reset_domain("fd-t3-web").unwrap();
        let err = hv.remove_domain("fd-t3-web", "t9").unwrap_err();
        assert!(matches!(err, HvError::NotOurs { .. }), "{err}");
        hv.remove_domain("fd-t3-web", "t3").unwrap();
        assert_eq!(hv.domain("fd-t3-web").unwrap(), None);
        hv.remove_domain("fd-t3-web", "t3").unwrap();
        hv.remove_network("fd-t3-lan", "t3").unwrap();
    }

    #[test]
    fn refuses_a_domain_it_did_not_create() {
        let hv = hv();
        // The test driver ships a domain called `test`, created by nobody we know.
        let info = hv
            .domain("test")
            .unwrap()
            .expect("test driver's own domain");
        assert_eq!(info.owner, None);
        let err = hv.remove_domain("test", "t4").unwrap_err();
        assert!(matches!(err, HvError::NotOurs { .. }));
        assert!(hv.domain("test").unwrap().is_some());
    }

    #[test]
    fn a_bad_uri_says_what_to_do() {
        let err = Libvirt::open(Some("qemu+unix:///system?socket=/nonexistent/sock"))
            .err()
            .unwrap();
        let msg = err.to_string();
        assert!(msg.contains("cannot connect to libvirt"), "{msg}");
        assert!(msg.contains("hint: is libvirtd running?"), "{msg}");
    }
}
