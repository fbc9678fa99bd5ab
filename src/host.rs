//! Facts about the host that lab validation checks against: memory, IPv4 routes, libvirt
//! networks and built images. Reading them is the side effect; parsing is pure and tested.

use ipnetwork::Ipv4Network;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use thiserror::Error;

#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct HostFacts {
    pub mem_total_mib: u64,
    /// CPUs online; 0 when unknown (then nothing is compared with it).
    pub cpus: u32,
    pub routes: Vec<HostRoute>,
    pub libvirt_networks: Vec<LibvirtNet>,
    /// Names of the images already built (`firedrill image list`).
    pub images: Vec<String>,
    /// The addresses that nodes of labs on this host have now: (lab, node, address). A node
    /// without `ip:` keeps its address when the lab file changes around it.
    pub node_addresses: Vec<(String, String, std::net::Ipv4Addr)>,
    /// `net.bridge.bridge-nf-call-iptables` is on here: frames a bridge passes between two
    /// guests go through iptables, libvirt's NAT rules included.
    pub bridged_iptables: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct HostRoute {
    pub net: Ipv4Network,
    pub dev: String,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct LibvirtNet {
    pub name: String,
    pub cidr: Option<Ipv4Network>,
    pub bridge: Option<String>,
    /// The firedrill lab that created it, from its `<metadata>`; `None` if not ours.
    pub owner_lab: Option<String>,
}

#[derive(Debug, Error)]
pub(crate) enum HostError {
    #[error("cannot read {path}: {source}; firedrill needs Linux with /proc mounted")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot understand {path}: {reason}; please report this with the file's content")]
    Parse { path: PathBuf, reason: String },
}

const MEMINFO: &str = "/proc/meminfo";
const ROUTES: &str = "/proc/net/route";
/// Absent when br_netfilter is not loaded: bridged frames then never meet iptables.
const BRIDGE_NF: &str = "/proc/sys/net/bridge/bridge-nf-call-iptables";

impl HostFacts {
    /// Memory and routes of this host (in the current network namespace). Libvirt networks and
    /// images are left empty: whoever talks to libvirt and the image cache fills them in.
    pub(crate) fn local() -> Result<HostFacts, HostError> {
        let read = |path: &str| {
            std::fs::read_to_string(path).map_err(|source| HostError::Read {
                path: PathBuf::from(path),
                source,
            })
        };
        let parse_error = |path: &'static str| {
            move |reason| HostError::Parse {
                path: PathBuf::from(path),
                reason,
            }
        };
        Ok(HostFacts {
            mem_total_mib: parse_meminfo(&read(MEMINFO)?).map_err(parse_error(MEMINFO))?,
            routes: parse_routes(&read(ROUTES)?).map_err(parse_error(ROUTES))?,
            cpus: online_cpus(),
            libvirt_networks: Vec::new(),
            images: Vec::new(),
            node_addresses: Vec::new(),
            bridged_iptables: std::fs::read_to_string(BRIDGE_NF).is_ok_and(|v| v.trim() == "1"),
        })
    }
}

/// The CPUs online on this host (not only those this process may use: VMs get their own).
fn online_cpus() -> u32 {
    // SAFETY: sysconf reads a value and has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    u32::try_from(n).unwrap_or(0)
}

/// `MemTotal` in MiB.
fn parse_meminfo(text: &str) -> Result<u64, String> {
    meminfo_mib(text, "MemTotal:")
}

/// The /proc/meminfo field `key` (with its colon, e.g. `MemAvailable:`) in MiB.
pub(crate) fn meminfo_mib(text: &str, key: &str) -> Result<u64, String> {
    let name = key.trim_end_matches(':');
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .ok_or_else(|| format!("no {name} line"))?;
    let kib = line
        .trim()
        .strip_suffix("kB")
        .ok_or_else(|| format!("{name} `{}` is not in kB", line.trim()))?;
    let kib: u64 = kib
        .trim()
        .parse()
        .map_err(|e| format!("{name} `{}`: {e}", kib.trim()))?;
    Ok(kib / 1024)
}

/// The main routing table. Addresses are printed as the kernel's in-memory (network order)
/// 32-bit words in host byte order, hence `to_ne_bytes`.
fn parse_routes(text: &str) -> Result<Vec<HostRoute>, String> {
    let mut routes = Vec::new();
    for (n, line) in text.lines().enumerate().skip(1) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.is_empty() {
            continue;
        }
        let [dev, dest, _gw, _flags, _refcnt, _use, _metric, mask, ..] = fields[..] else {
            return Err(format!(
                "line {}: expected 11 columns, found {}",
                n + 1,
                fields.len()
            ));
        };
        let word = |hex: &str| {
            u32::from_str_radix(hex, 16)
                .map(|w| Ipv4Addr::from(w.to_ne_bytes()))
                .map_err(|e| format!("line {}: `{hex}`: {e}", n + 1))
        };
        let mask = word(mask)?;
        let net = Ipv4Network::with_netmask(word(dest)?, mask)
            .map_err(|e| format!("line {}: mask {mask}: {e}", n + 1))?;
        routes.push(HostRoute {
            net,
            dev: dev.to_string(),
        });
    }
    Ok(routes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meminfo_total_in_mib() {
        let text = "MemTotal:       24683656 kB\nMemFree:        19443144 kB\n";
        assert_eq!(parse_meminfo(text), Ok(24105));
        assert_eq!(meminfo_mib(text, "MemFree:"), Ok(18987));
    }

    #[test]
    fn meminfo_without_total_is_an_error() {
        assert_eq!(
            parse_meminfo("MemFree: 1 kB\n"),
            Err("no MemTotal line".to_string())
        );
    }

    #[test]
    #[cfg(target_endian = "little")]
    fn routes_from_proc() {
        let text = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
                    eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
                    eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n\
                    virbr1\t00004D0A\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n";
        let net = |s: &str| s.parse::<Ipv4Network>().expect("test cidr");
        assert_eq!(
            parse_routes(text),
            Ok(vec![
                HostRoute {
                    net: net("0.0.0.0/0"),
                    dev: "eth0".into()
                },
                HostRoute {
                    net: net("192.0.2.0/24"),
                    dev: "eth0".into()
                },
                HostRoute {
                    net: net("10.77.0.0/16"),
                    dev: "virbr1".into()
                },
            ])
        );
    }

    #[test]
    fn routes_with_a_bad_mask_are_an_error() {
        let text = "Iface\tDestination\tGateway\n eth0 000200C0 0 1 0 0 0 00FF00FF 0 0 0\n";
        let err = parse_routes(text).expect_err("bad mask");
        assert_eq!(err, "line 2: mask 255.0.255.0: invalid prefix");
    }

    #[test]
    fn local_reads_this_host() {
        let facts = HostFacts::local().expect("/proc is readable here");
        assert!(facts.mem_total_mib > 0);
        assert!(facts.libvirt_networks.is_empty() && facts.images.is_empty());
    }
}
