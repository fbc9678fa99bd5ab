//! Libvirt XML: pure rendering of network and domain definitions from their specs, and the little
//! parsing firedrill needs back (ownership metadata, bridge, subnet).

use ipnetwork::Ipv4Network;
use quick_xml::Reader;
use quick_xml::events::Event;
use std::fmt::Write;
use std::net::Ipv4Addr;
use std::path::PathBuf;

/// The XML namespace of firedrill's ownership marker in `<metadata>`.
pub(crate) const NS: &str = "https://github.com/firedrill/firedrill/xmlns/lab/1";

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ForwardMode {
    Nat,
    Isolated,
}

impl ForwardMode {
    /// As the lab file writes it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            ForwardMode::Nat => "nat",
            ForwardMode::Isolated => "isolated",
        }
    }
}

/// A node's fixed DHCP lease.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct HostEntry {
    pub(crate) name: String,
    pub(crate) mac: String,
    pub(crate) ip: Ipv4Addr,
}

/// One address in the network's DNS and every name that resolves to it (a node's own names
/// first, then the lab file's `dns:` names for it).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct DnsHost {
    pub(crate) ip: Ipv4Addr,
    pub(crate) names: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct NetworkSpec {
    pub(crate) name: String,
    pub(crate) lab: String,
    /// Which firedrill home made it (`Home::installation`), so two homes on one libvirtd never
    /// adopt or remove each other's objects.
    pub(crate) installation: String,
    pub(crate) bridge: String,
    pub(crate) mode: ForwardMode,
    pub(crate) domain: String,
    pub(crate) cidr: Ipv4Network,
    pub(crate) gateway: Ipv4Addr,
    /// Fixed DHCP leases, one per node.
    pub(crate) hosts: Vec<HostEntry>,
    /// The network's DNS records.
    pub(crate) dns: Vec<DnsHost>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Accel {
    Kvm,
    Tcg,
}

/// A NIC of a domain: the libvirt network it is on and its MAC.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Nic {
    pub(crate) network: String,
    pub(crate) mac: String,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct DomainSpec {
    pub(crate) name: String,
    pub(crate) lab: String,
    /// As `NetworkSpec::installation`.
    pub(crate) installation: String,
    pub(crate) node: String,
    pub(crate) accel: Accel,
    pub(crate) memory_mib: u64,
    pub(crate) cpus: u32,
    pub(crate) kernel: PathBuf,
    pub(crate) initrd: PathBuf,
    pub(crate) cmdline: String,
    pub(crate) disk: PathBuf,
    pub(crate) seed: PathBuf,
    pub(crate) console_log: PathBuf,
    pub(crate) network: String,
    pub(crate) mac: String,
    /// The NICs on the node's other networks, after the first (`network`, `mac`).
    #[serde(default)]
    pub(crate) more_nics: Vec<Nic>,
    /// QEMU runs as this uid:gid, the user who owns the lab's files, so the disks can live in
    /// their home directory without relabelling (as qemu:///session would, but on the system
    /// daemon's networks).
    pub(crate) run_as: (u32, u32),
}

fn esc(s: &str) -> String {
    quick_xml::escape::escape(s).into_owned()
}

fn path(p: &std::path::Path) -> String {
    esc(&p.to_string_lossy())
}

pub(crate) fn network_xml(n: &NetworkSpec) -> String {
    let mut x = String::new();
    let _ = writeln!(x, "<network>");
    let _ = writeln!(x, "  <name>{}</name>", esc(&n.name));
    let _ = writeln!(
        x,
        "  <metadata>\n    <firedrill:lab xmlns:firedrill=\"{NS}\" home=\"{}\">{}</firedrill:lab>\n  </metadata>",
        esc(&n.installation),
        esc(&n.lab)
    );
    if n.mode == ForwardMode::Nat {
        let _ = writeln!(x, "  <forward mode='nat'/>");
    }
    // No spanning tree: a lab network is one bridge and cannot loop, and with STP on the
    // kernel holds a new port (a node started, or restarted by a snapshot's restore) in its
    // listening and learning states for 2 s each (it keeps a forward delay of at least 2 s
    // whatever libvirt asks): `reset` waited about 3 s for "no route to host" to end.
    let _ = writeln!(
        x,
        "  <bridge name='{}' stp='off' delay='0'/>",
        esc(&n.bridge)
    );
    let _ = writeln!(x, "  <domain name='{}' localOnly='yes'/>", esc(&n.domain));
    let _ = writeln!(x, "  <dns>");
    for h in &n.dns {
        let _ = writeln!(x, "{}", dns_host_xml(h, "    "));
    }
    let _ = writeln!(x, "  </dns>");
    let _ = writeln!(
        x,
        "  <ip address='{}' netmask='{}'>",
        n.gateway,
        n.cidr.mask()
    );
    let _ = writeln!(x, "    <dhcp>");
    for h in &n.hosts {
        let _ = writeln!(x, "      {}", dhcp_host_xml(h));
    }
    let _ = writeln!(x, "    </dhcp>");
    let _ = writeln!(x, "  </ip>");
    let _ = writeln!(x, "</network>");
    x
}

/// A DNS host element, as in the network's XML and as libvirt's network update takes it.
pub(crate) fn dns_host_xml(h: &DnsHost, indent: &str) -> String {
    let mut x = format!("{indent}<host ip='{}'>", h.ip);
    for name in &h.names {
        let _ = write!(x, "\n{indent}  <hostname>{}</hostname>", esc(name));
    }
    let _ = write!(x, "\n{indent}</host>");
    x
}

/// A fixed DHCP lease element, as in the network's XML and as libvirt's network update takes it.
pub(crate) fn dhcp_host_xml(h: &HostEntry) -> String {
    format!(
        "<host mac='{}' name='{}' ip='{}'/>",
        esc(&h.mac),
        esc(&h.name),
        h.ip
    )
}

/// `xml` with `<uuid>` set after its `<name>` (for redefining an existing domain).
pub(crate) fn with_uuid(xml: &str, uuid: &str) -> String {
    match xml.find("</name>") {
        Some(i) if !xml.contains("<uuid>") => {
            let at = i + "</name>".len();
            format!("{}\n  <uuid>{}</uuid>{}", &xml[..at], esc(uuid), &xml[at..])
        }
        _ => xml.to_string(),
    }
}

/// QEMU's TCG translation cache for a guest of `memory_mib`, in MiB: a quarter of the guest's
/// memory, at least 160 and at most 256. QEMU's default, 1 GiB, made each TCG guest's QEMU about
/// 1.5 GB resident for a 384-768 MiB guest. 64 MiB kept a guest's QEMU near its memory but was
/// too small for a running node's code: on a three-tier lab under TCG it was flushed and
/// translated again a dozen times in 30 s of SSH commands (`info jit` in QEMU's monitor), and
/// a role check took 3.3-5 s. A quarter of the guest's memory (96 MiB for the 384 MiB load
/// balancer, 112 for a 448 MiB app node) then sat at the edge: after `up`, one `status` and one
/// no-change `up` the code they run filled 99.6 of lb's 100.7 MB and 103 of app1's 117 MB, so
/// every few commands the cache was flushed and the next command on the node ran cold (up to
/// 10 s instead of 3-5). The cache is only resident as far as code was translated into it, so
/// a node that runs little code costs no more for the larger one.
pub(crate) fn tb_cache_mib(memory_mib: u64) -> u64 {
    (memory_mib / 4).clamp(160, 256)
}

pub(crate) fn domain_xml(d: &DomainSpec) -> String {
    let (kind, cpu, tcg) = match d.accel {
        Accel::Kvm => ("kvm", "  <cpu mode='host-passthrough'/>\n", String::new()),
        Accel::Tcg => (
            "qemu",
            "",
            format!(
                "    <tcg>\n      <tb-cache unit='MiB'>{}</tb-cache>\n    </tcg>\n",
                tb_cache_mib(d.memory_mib)
            ),
        ),
    };
    let mut x = String::new();
    let _ = writeln!(x, "<domain type='{kind}'>");
    let _ = writeln!(x, "  <name>{}</name>", esc(&d.name));
    let _ = writeln!(
        x,
        "  <metadata>\n    <firedrill:lab xmlns:firedrill=\"{NS}\" node=\"{}\" home=\"{}\">{}</firedrill:lab>\n  </metadata>",
        esc(&d.node),
        esc(&d.installation),
        esc(&d.lab)
    );
    let _ = writeln!(x, "  <memory unit='MiB'>{}</memory>", d.memory_mib);
    let _ = writeln!(x, "  <vcpu>{}</vcpu>", d.cpus);
    let _ = writeln!(x, "  <os>");
    let _ = writeln!(x, "    <type arch='x86_64' machine='q35'>hvm</type>");
    let _ = writeln!(x, "    <kernel>{}</kernel>", path(&d.kernel));
    let _ = writeln!(x, "    <initrd>{}</initrd>", path(&d.initrd));
    let _ = writeln!(x, "    <cmdline>{}</cmdline>", esc(&d.cmdline));
    let _ = writeln!(x, "  </os>");
    let _ = write!(
        x,
        "  <features>\n    <acpi/>\n    <apic/>\n{tcg}  </features>\n"
    );
    x.push_str(cpu);
    let _ = writeln!(x, "  <clock offset='utc'/>");
    let _ = writeln!(x, "  <on_poweroff>destroy</on_poweroff>");
    let _ = writeln!(x, "  <on_reboot>restart</on_reboot>");
    let _ = writeln!(x, "  <on_crash>destroy</on_crash>");
    let _ = writeln!(x, "  <devices>");
    let _ = writeln!(
        x,
        "    <disk type='file' device='disk'>\n      <driver name='qemu' type='qcow2' discard='unmap'/>\n      <source file='{}'/>\n      <target dev='vda' bus='virtio'/>\n    </disk>",
        path(&d.disk)
    );
    // The seed is a plain virtio disk: NoCloud finds it by its `cidata` label, and the guest
    // needs no CD-ROM or SATA driver for it.
    let _ = writeln!(
        x,
        "    <disk type='file' device='disk'>\n      <driver name='qemu' type='raw'/>\n      <source file='{}'/>\n      <target dev='vdb' bus='virtio'/>\n      <readonly/>\n    </disk>",
        path(&d.seed)
    );
    // In this order the guest's kernel names them eth0, eth1, ... (the seed matches each by MAC).
    let first = (d.network.as_str(), d.mac.as_str());
    let more = d
        .more_nics
        .iter()
        .map(|n| (n.network.as_str(), n.mac.as_str()));
    for (network, mac) in std::iter::once(first).chain(more) {
        let _ = writeln!(
            x,
            "    <interface type='network'>\n      <source network='{}'/>\n      <mac address='{}'/>\n      <model type='virtio'/>\n    </interface>",
            esc(network),
            esc(mac)
        );
    }
    // A pty serial keeps `virsh console` working; virtlogd copies everything to the log file,
    // which `firedrill console` and readiness timeouts read.
    let _ = writeln!(
        x,
        "    <serial type='pty'>\n      <log file='{}' append='on'/>\n      <target port='0'/>\n    </serial>",
        path(&d.console_log)
    );
    let _ = writeln!(
        x,
        "    <console type='pty'>\n      <target type='serial' port='0'/>\n    </console>"
    );
    // Without a hardware RNG, a fresh guest under TCG can wait minutes for entropy.
    let _ = writeln!(
        x,
        "    <rng model='virtio'>\n      <backend model='random'>/dev/urandom</backend>\n    </rng>"
    );
    // The balloon resizes a running guest (`set_memory_live`); with free page reporting the
    // guest also hands the memory it frees back to the host, so a node's QEMU holds what the
    // guest uses rather than the most it ever touched (a memory fault touches all of it).
    // libvirt before 6.9 ignores the attribute.
    let _ = writeln!(x, "    <memballoon model='virtio' freePageReporting='on'/>");
    let _ = writeln!(x, "  </devices>");
    let _ = writeln!(
        x,
        "  <seclabel type='static' model='dac' relabel='no'>\n    <label>+{}:+{}</label>\n  </seclabel>",
        d.run_as.0, d.run_as.1
    );
    let _ = writeln!(x, "</domain>");
    x
}

/// What firedrill reads back from a definition.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Parsed {
    /// Text of `<firedrill:lab>` in our namespace.
    pub(crate) lab: Option<String>,
    /// Its `node` attribute (domains only).
    pub(crate) node: Option<String>,
    /// Its `home` attribute: the installation that made it (absent on objects of older
    /// versions).
    pub(crate) home: Option<String>,
    pub(crate) bridge: Option<String>,
    pub(crate) cidr: Option<Ipv4Network>,
    /// Each disk's target (`vda`) and whether it is read-only (domains only).
    pub(crate) disks: Vec<(String, bool)>,
    /// `<memory>` in KiB and `<vcpu>` (domains only).
    pub(crate) memory_kib: Option<u64>,
    pub(crate) vcpus: Option<u32>,
    /// Fixed DHCP leases (networks only).
    pub(crate) dhcp_hosts: Vec<HostEntry>,
    /// DNS host records (networks only).
    pub(crate) dns_hosts: Vec<DnsHost>,
}

impl Parsed {
    /// The lab that owns the object, if this installation made it (objects of older versions
    /// carry no installation and count as ours).
    pub(crate) fn owner(&self, installation: &str) -> Option<String> {
        match &self.home {
            Some(h) if h != installation => None,
            _ => self.lab.clone(),
        }
    }
}

/// Parses the parts of a network or domain XML that firedrill needs. Malformed XML yields what
/// was found before the error: an object we cannot read is treated as not ours.
pub(crate) fn parse(xml: &str) -> Parsed {
    let mut reader = Reader::from_str(xml);
    let mut out = Parsed::default();
    let mut in_ours = false;
    let mut ip: Option<(Ipv4Addr, Option<Ipv4Addr>, Option<u8>)> = None;
    let mut disk: Option<(String, bool)> = None;
    // Where in a network we are: inside <dns>, inside one of its <host>s, in a <hostname>.
    let (mut in_dns, mut in_dhcp, mut in_hostname) = (false, false, false);
    let mut dns_host: Option<DnsHost> = None;
    // The domain's <memory> (with its unit's size in KiB) or <vcpu>, while reading its text.
    let mut sizing: Option<(&str, u64)> = None;
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) | Ok(Event::Empty(e)) => {
                let attrs: Vec<(String, String)> = e
                    .attributes()
                    .filter_map(Result::ok)
                    .map(|a| {
                        (
                            a.key.as_ref().to_string(),
                            a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                                .map(|v| v.into_owned())
                                .unwrap_or_default(),
                        )
                    })
                    .collect();
                let get = |k: &str| attrs.iter().find(|(a, _)| a == k).map(|(_, v)| v.clone());
                let local = e.local_name().as_ref().to_string();
                let is_ours = attrs.iter().any(|(k, v)| k.starts_with("xmlns") && v == NS);
                match local.as_str() {
                    "lab" if is_ours => {
                        in_ours = true;
                        out.node = get("node");
                        out.home = get("home");
                    }
                    "bridge" if out.bridge.is_none() => out.bridge = get("name"),
                    "memory" if out.memory_kib.is_none() => {
                        let unit = match get("unit").as_deref() {
                            Some("b" | "bytes") => 0,
                            Some("MiB" | "M") => 1024,
                            Some("GiB" | "G") => 1024 * 1024,
                            _ => 1,
                        };
                        sizing = Some(("memory", unit));
                    }
                    "vcpu" if out.vcpus.is_none() => sizing = Some(("vcpu", 1)),
                    "dns" => in_dns = true,
                    "dhcp" => in_dhcp = true,
                    "host" if in_dns => {
                        if let Some(ip) = get("ip").and_then(|a| a.parse().ok()) {
                            dns_host = Some(DnsHost { ip, names: vec![] });
                        }
                    }
                    "hostname" if dns_host.is_some() => in_hostname = true,
                    "host" if in_dhcp => {
                        if let (Some(mac), Some(ip)) =
                            (get("mac"), get("ip").and_then(|a| a.parse().ok()))
                        {
                            out.dhcp_hosts.push(HostEntry {
                                name: get("name").unwrap_or_default(),
                                mac,
                                ip,
                            });
                        }
                    }
                    "disk" => disk = Some((String::new(), false)),
                    "target" => {
                        if let (Some(d), Some(dev)) = (disk.as_mut(), get("dev")) {
                            d.0 = dev;
                        }
                    }
                    "readonly" => {
                        if let Some(d) = disk.as_mut() {
                            d.1 = true;
                        }
                    }
                    "ip" if ip.is_none() => {
                        if let Some(addr) = get("address").and_then(|a| a.parse().ok()) {
                            ip = Some((
                                addr,
                                get("netmask").and_then(|m| m.parse().ok()),
                                get("prefix").and_then(|p| p.parse().ok()),
                            ));
                        }
                    }
                    _ => {}
                }
            }
            Ok(Event::Text(t)) if in_ours => {
                let text: &str = t.as_ref();
                out.lab = Some(text.trim().to_string());
            }
            Ok(Event::Text(t)) if sizing.is_some() => {
                let text: &str = t.as_ref();
                match sizing.take() {
                    Some(("memory", 0)) => {
                        out.memory_kib = text.trim().parse::<u64>().ok().map(|b| b / 1024)
                    }
                    Some(("memory", unit)) => {
                        out.memory_kib = text.trim().parse::<u64>().ok().map(|v| v * unit)
                    }
                    _ => out.vcpus = text.trim().parse().ok(),
                }
            }
            Ok(Event::Text(t)) if in_hostname => {
                let text: &str = t.as_ref();
                if let Some(h) = dns_host.as_mut() {
                    h.names.push(text.trim().to_string());
                }
            }
            Ok(Event::End(e)) => {
                in_ours = false;
                sizing = None;
                match e.local_name().as_ref() {
                    "disk" => out.disks.extend(disk.take()),
                    "dns" => in_dns = false,
                    "dhcp" => in_dhcp = false,
                    "hostname" => in_hostname = false,
                    "host" => out.dns_hosts.extend(dns_host.take()),
                    _ => {}
                }
            }
            Ok(Event::Eof) | Err(_) => break,
            _ => {}
        }
    }
    if let Some((addr, mask, prefix)) = ip {
        let prefix = prefix.or_else(|| mask.and_then(|m| ipnetwork::ipv4_mask_to_prefix(m).ok()));
        if let Some(p) = prefix {
            out.cidr = Ipv4Network::new(addr, p)
                .ok()
                .and_then(|n| Ipv4Network::new(n.network(), p).ok());
        }
    }
    out
}

/// The `<name>` of a definition, for error messages before libvirt has parsed it.
pub(crate) fn name_of(xml: &str) -> String {
    xml.split_once("<name>")
        .and_then(|(_, rest)| rest.split_once("</name>"))
        .map(|(name, _)| name.trim().to_string())
        .unwrap_or_else(|| "?".to_string())
}

#[cfg(test)]
mod tests;
