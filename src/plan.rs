//! Pure planning: a validated lab plus a few host facts become concrete resources (libvirt
//! names, bridge, MACs, paths, domain and network specs). Nothing here touches the system, so the
//! same inputs always give the same plan, and `up` can compare it with what exists.

use crate::hypervisor::xml::{
    Accel, DnsHost, DomainSpec, ForwardMode, HostEntry, NetworkSpec, Nic,
};
use crate::paths::{LabDir, LabName};
use crate::spec::{NetMode, Role, RoleOptions, ValidLab};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashSet};
use std::net::Ipv4Addr;
use std::path::PathBuf;

mod diff;
pub(crate) use diff::{Apply, Change, diff};

/// The user that firedrill creates on every node.
pub(crate) const USER: &str = "lab";
pub(crate) const KERNEL_CMDLINE: &str = "root=/dev/vda rw console=ttyS0 net.ifnames=0";

/// A node's kernel command line. Under TCG, `norandmaps` turns address-space randomisation
/// off: QEMU finds code it has translated by its virtual address, so with randomisation every
/// new process (each SSH login, sudo, systemctl) had its libraries translated again at new
/// addresses. Measured on a three-tier lab under TCG: a login 1.7-2.4 s with it and 0.6 s
/// without, `sudo true` 2-3 s and 0.65 s, a role check 3.3-5 s and 0.9-1.1 s (with the
/// translation cache of `xml::tb_cache_mib`). Under KVM the guest runs its own code: nothing
/// changes there.
///
/// On an image that sets a node up itself from the seed (`BootImage::first_boot`), cloud-init
/// is turned off: its generator then starts none of its four stages, each a start of Python
/// that loads most of cloud-init (measured on a lone node under TCG: the local stage 24 s, the
/// network stage 9.4 s, and sshd started after both).
pub(crate) fn kernel_cmdline(accel: Accel, first_boot: bool) -> String {
    let mut line = KERNEL_CMDLINE.to_string();
    if accel == Accel::Tcg {
        line.push_str(" norandmaps");
    }
    if first_boot {
        line.push_str(" cloud-init=disabled");
    }
    line
}

/// The golden image files a node boots from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BootImage {
    pub(crate) disk: PathBuf,
    pub(crate) kernel: PathBuf,
    pub(crate) initrd: PathBuf,
    /// The image sets its nodes up itself from the seed (`image::Manifest::first_boot`).
    pub(crate) first_boot: bool,
}

/// Host facts the plan depends on.
#[derive(Debug, Clone)]
pub(crate) struct PlanInputs<'a> {
    pub(crate) dir: &'a LabDir,
    pub(crate) accel: Accel,
    pub(crate) run_as: (u32, u32),
    /// Image name -> files. `plan` fails for an image missing here.
    pub(crate) images: &'a BTreeMap<String, BootImage>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct NodePlan {
    pub(crate) name: String,
    pub(crate) roles: Vec<Role>,
    pub(crate) ip: Ipv4Addr,
    pub(crate) prefix: u8,
    pub(crate) gateway: Ipv4Addr,
    pub(crate) fqdn: String,
    pub(crate) search_domain: String,
    pub(crate) mac: String,
    pub(crate) disk_gib: u64,
    pub(crate) image: String,
    pub(crate) backing: PathBuf,
    pub(crate) host_key: PathBuf,
    pub(crate) domain: DomainSpec,
    /// The port the todo app listens on (app nodes).
    pub(crate) app_port: Option<u16>,
    /// The node whose database the app uses (app nodes).
    pub(crate) database: Option<String>,
    /// The name the app connects to its database by, when the lab file gave a `dns:` name:
    /// resolved at each connection, so repointing the name moves the app.
    #[serde(default)]
    pub(crate) database_host: Option<String>,
    /// The app nodes behind this node's haproxy.
    pub(crate) backends: Vec<String>,
    /// The backends haproxy reaches by a `dns:` name: node -> the name's FQDN, resolved while
    /// haproxy runs, so repointing the name moves the traffic without touching haproxy.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub(crate) backend_hosts: std::collections::BTreeMap<String, String>,
    /// The todo release `up` deploys (app nodes; v1 elsewhere).
    pub(crate) release: crate::roles::Release,
    /// The options of the roles that read their own.
    #[serde(default)]
    pub(crate) options: Vec<RoleOptions>,
    /// Where the node's clock comes from, fixed in its seed when it is created.
    #[serde(default)]
    pub(crate) time: crate::seed::TimeSource,
    /// The node's addresses on its other networks, in the order of `domain.more_nics`.
    #[serde(default)]
    pub(crate) more_addresses: Vec<NicAddress>,
    /// Static routes.
    #[serde(default)]
    pub(crate) routes: Vec<crate::spec::Route>,
    /// How its roles reach the nodes they talk to.
    #[serde(default)]
    pub(crate) reaches: Vec<crate::spec::Reach>,
    /// The lab's `dns` node as its resolver (else its first network's dnsmasq), fixed in its
    /// seed when it is created.
    #[serde(default)]
    pub(crate) resolver: Option<Ipv4Addr>,
}

/// A node's address on one of its networks after the first.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct NicAddress {
    pub(crate) ip: Ipv4Addr,
    pub(crate) prefix: u8,
}

impl NodePlan {
    /// The name this node's haproxy gives app node `node`'s server (stats page, runtime API):
    /// the `dns:` name it reaches the node by, or the node's own name.
    pub(crate) fn haproxy_server<'a>(&'a self, node: &'a str) -> &'a str {
        self.backend_hosts
            .get(node)
            .and_then(|h| h.split('.').next())
            .unwrap_or(node)
    }

    /// Every NIC: libvirt network, MAC, address and prefix; the first is `ip` on
    /// `domain.network`.
    pub(crate) fn nics(&self) -> Vec<(&str, &str, Ipv4Addr, u8)> {
        let first = (
            self.domain.network.as_str(),
            self.mac.as_str(),
            self.ip,
            self.prefix,
        );
        let more = self
            .domain
            .more_nics
            .iter()
            .zip(&self.more_addresses)
            .map(|(n, a)| (n.network.as_str(), n.mac.as_str(), a.ip, a.prefix));
        std::iter::once(first).chain(more).collect()
    }
}

/// What `up` builds, stored in the lab's state as it was last applied: the next `up` compares
/// the new plan with it (`diff`), and every later command reads the lab from it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Plan {
    pub(crate) lab: LabName,
    pub(crate) networks: Vec<NetworkSpec>,
    pub(crate) nodes: Vec<NodePlan>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum PlanError {
    #[error(
        "image `{image}` (node {node}) is not built\n  hint: run `firedrill image build --name {image}`"
    )]
    MissingImage { node: String, image: String },
}

pub(crate) fn network_name(lab: &str, net: &str) -> String {
    format!("fd-{lab}-{net}")
}

pub(crate) fn domain_name(lab: &str, node: &str) -> String {
    format!("fd-{lab}-{node}")
}

fn digest(parts: &[&str]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0u8]);
    }
    h.finalize().into()
}

/// Linux limits interface names to 15 bytes, too short for lab and network names, so the
/// bridge is named by a hash of both.
pub(crate) fn bridge_name(lab: &str, net: &str) -> String {
    format!("fd{}", hex::encode(&digest(&[lab, net])[..4]))
}

/// A locally administered MAC under QEMU's 52:54:00 prefix, stable for a lab and node; `salt`
/// moves it if two nodes of a lab would collide.
fn mac(lab: &str, node: &str, salt: u32) -> String {
    let salt = salt.to_string();
    let d = digest(&[lab, node, &salt]);
    format!("52:54:00:{:02x}:{:02x}:{:02x}", d[0], d[1], d[2])
}

/// A network's DNS: each node's own names, with the `dns:` names that point at it, then the
/// names that point elsewhere, one record per address. Each name also gets its FQDN.
fn dns_records<'a>(
    net: &crate::spec::ValidNetwork,
    nodes: impl Iterator<Item = (&'a NodePlan, Ipv4Addr)>,
) -> Vec<DnsHost> {
    let mut records: Vec<DnsHost> = nodes
        .map(|(p, ip)| DnsHost {
            ip,
            names: vec![p.fqdn.clone(), p.name.clone()],
        })
        .collect();
    for (name, ip) in &net.dns {
        let names = [format!("{name}.{}", net.domain), name.clone()];
        match records.iter_mut().find(|r| r.ip == *ip) {
            Some(r) => r.names.extend(names),
            None => records.push(DnsHost {
                ip: *ip,
                names: names.to_vec(),
            }),
        }
    }
    records
}

/// The lab's time: its first node serves its clock to every network of the lab; the others
/// follow it by name.
fn time_source(lab: &ValidLab, node: &crate::spec::ValidNode) -> crate::seed::TimeSource {
    use crate::seed::TimeSource;
    let Some(server) = lab.nodes.first() else {
        return TimeSource::Unset;
    };
    if server.name == node.name {
        TimeSource::Serve {
            allow: lab
                .networks
                .iter()
                .map(|n| format!("{}/{}", n.cidr.network(), n.cidr.prefix()))
                .collect(),
        }
    } else {
        let net = &lab.networks[server.network];
        TimeSource::Follow {
            server: format!("{}.{}", server.name, net.domain),
        }
    }
}

/// The nodes with a NIC on libvirt network `network`: each with that NIC's MAC and address.
fn members<'a>(
    nodes: &'a [NodePlan],
    network: &'a str,
) -> impl Iterator<Item = (&'a NodePlan, &'a str, Ipv4Addr)> + 'a {
    nodes.iter().filter_map(move |p| {
        p.nics()
            .into_iter()
            .find(|(n, ..)| *n == network)
            .map(|(_, mac, ip, _)| (p, mac, ip))
    })
}

/// The plan of `lab` before it is brought up (level validation): every name, address, port and
/// role setting as `up` plans them, with this home's paths and its images whether built or not.
pub(crate) fn preview(lab: &ValidLab) -> Plan {
    let home = crate::paths::Home::from_env();
    let images: BTreeMap<String, BootImage> = lab
        .nodes
        .iter()
        .map(|n| {
            let dir = home.images().join(&n.image);
            let files = BootImage {
                disk: dir.join("disk.qcow2"),
                kernel: dir.join("vmlinuz"),
                initrd: dir.join("initrd.img"),
                // The image `up` builds when there is none.
                first_boot: true,
            };
            (n.image.clone(), files)
        })
        .collect();
    let inputs = PlanInputs {
        dir: &home.lab(&lab.name),
        accel: Accel::Tcg,
        run_as: (0, 0),
        images: &images,
    };
    plan(lab, &inputs).expect("every image the lab names is in the preview's list")
}

pub(crate) fn plan(lab: &ValidLab, inputs: &PlanInputs<'_>) -> Result<Plan, PlanError> {
    let mut macs: HashSet<String> = HashSet::new();
    let mut nodes = Vec::new();
    for node in &lab.nodes {
        let net = &lab.networks[node.network];
        let image =
            inputs
                .images
                .get(&node.image)
                .cloned()
                .ok_or_else(|| PlanError::MissingImage {
                    node: node.name.clone(),
                    image: node.image.clone(),
                })?;
        // The first NIC's MAC is what it was before nodes had several; the others hash the
        // network's name in too.
        let mut unique_mac = |key: &str| {
            let mut salt = 0;
            let mut m = mac(&lab.name, key, salt);
            while macs.contains(&m) {
                salt += 1;
                m = mac(&lab.name, key, salt);
            }
            macs.insert(m.clone());
            m
        };
        let m = unique_mac(&node.name);
        let more_nics: Vec<Nic> = node.interfaces[1..]
            .iter()
            .map(|i| {
                let net = &lab.networks[i.network].name;
                Nic {
                    network: network_name(&lab.name, net),
                    mac: unique_mac(&format!("{}/{net}", node.name)),
                }
            })
            .collect();
        let more_addresses = node.interfaces[1..]
            .iter()
            .map(|i| NicAddress {
                ip: i.ip,
                prefix: lab.networks[i.network].cidr.prefix(),
            })
            .collect();
        let dir = inputs.dir;
        let (app, haproxy) = (node.app(), node.haproxy());
        let domain = DomainSpec {
            name: domain_name(&lab.name, &node.name),
            lab: lab.name.to_string(),
            installation: dir.installation(),
            node: node.name.clone(),
            accel: inputs.accel,
            memory_mib: node.memory_mib,
            cpus: node.cpus,
            kernel: image.kernel.clone(),
            initrd: image.initrd.clone(),
            cmdline: kernel_cmdline(inputs.accel, image.first_boot),
            disk: dir.disk(&node.name),
            seed: dir.seed(&node.name),
            console_log: dir.console_log(&node.name),
            network: network_name(&lab.name, &net.name),
            mac: m.clone(),
            more_nics,
            run_as: inputs.run_as,
        };
        nodes.push(NodePlan {
            name: node.name.clone(),
            roles: node.roles.clone(),
            ip: node.ip,
            prefix: net.cidr.prefix(),
            gateway: node.gateway,
            fqdn: format!("{}.{}", node.name, net.domain),
            search_domain: net.domain.clone(),
            mac: m,
            disk_gib: node.disk_gib,
            image: node.image.clone(),
            backing: image.disk,
            host_key: dir.host_key(&node.name),
            domain,
            // The app's and haproxy's options resolved (names to FQDNs) into fields of their own,
            // which the roles, the diff and the faults read; the others' as they were checked.
            app_port: app.map(|a| a.port),
            database: app.and_then(|a| a.database.clone()),
            database_host: app
                .and_then(|a| a.database_host.as_ref())
                .map(|h| format!("{h}.{}", net.domain)),
            backends: haproxy.map(|h| h.backends.clone()).unwrap_or_default(),
            backend_hosts: haproxy
                .map(|h| &h.backend_hosts)
                .into_iter()
                .flatten()
                .map(|(n, h)| (n.clone(), format!("{h}.{}", net.domain)))
                .collect(),
            release: app.map(|a| a.release).unwrap_or_default(),
            options: node
                .options
                .iter()
                .filter(|o| !matches!(o, RoleOptions::App(_) | RoleOptions::Haproxy(_)))
                .cloned()
                .collect(),
            time: time_source(lab, node),
            more_addresses,
            routes: node.routes.clone(),
            reaches: node.reaches.clone(),
            resolver: node.resolver,
        });
    }
    let networks = lab
        .networks
        .iter()
        .map(|net| NetworkSpec {
            name: network_name(&lab.name, &net.name),
            lab: lab.name.to_string(),
            installation: inputs.dir.installation(),
            bridge: bridge_name(&lab.name, &net.name),
            mode: match net.mode {
                NetMode::Nat => ForwardMode::Nat,
                // The host does not route a routed network: its router node does.
                NetMode::Isolated | NetMode::Routed => ForwardMode::Isolated,
            },
            domain: net.domain.clone(),
            cidr: net.cidr,
            gateway: net.gateway,
            hosts: members(&nodes, &network_name(&lab.name, &net.name))
                .map(|(p, mac, ip)| HostEntry {
                    name: p.name.clone(),
                    mac: mac.to_string(),
                    ip,
                })
                .collect(),
            dns: dns_records(
                net,
                members(&nodes, &network_name(&lab.name, &net.name)).map(|(p, _, ip)| (p, ip)),
            ),
        })
        .collect();
    Ok(Plan {
        lab: lab.name.clone(),
        networks,
        nodes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcg_nodes_boot_without_address_randomisation_and_kvm_nodes_with_it() {
        assert_eq!(
            kernel_cmdline(Accel::Tcg, false),
            "root=/dev/vda rw console=ttyS0 net.ifnames=0 norandmaps"
        );
        assert_eq!(kernel_cmdline(Accel::Kvm, false), KERNEL_CMDLINE);
        assert_eq!(
            kernel_cmdline(Accel::Tcg, true),
            "root=/dev/vda rw console=ttyS0 net.ifnames=0 norandmaps cloud-init=disabled"
        );
        assert_eq!(
            kernel_cmdline(Accel::Kvm, true),
            format!("{KERNEL_CMDLINE} cloud-init=disabled")
        );
        assert!(!KERNEL_CMDLINE.contains("norandmaps"));
    }
    use crate::host::HostFacts;
    use crate::paths::Home;

    fn lab(file: &str) -> ValidLab {
        let host = HostFacts {
            mem_total_mib: 16 * 1024,
            images: vec!["debian-12".into()],
            ..HostFacts::default()
        };
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
        crate::spec::check(&path, &host, false)
            .expect("shipped lab is valid")
            .0
    }

    fn images() -> BTreeMap<String, BootImage> {
        BTreeMap::from([(
            "debian-12".to_string(),
            BootImage {
                disk: "/img/debian-12/disk.qcow2".into(),
                kernel: "/img/debian-12/vmlinuz".into(),
                initrd: "/img/debian-12/initrd.img".into(),
                first_boot: true,
            },
        )])
    }

    fn plan_of(file: &str) -> Plan {
        let dir = Home::at("/h").lab(&lab(file).name);
        let images = images();
        plan(
            &lab(file),
            &PlanInputs {
                dir: &dir,
                accel: Accel::Tcg,
                run_as: (0, 0),
                images: &images,
            },
        )
        .unwrap()
    }

    #[test]
    fn minimal_lab_plans_names_addresses_and_paths() {
        let p = plan_of("labs/minimal.yaml");
        assert_eq!(p.networks.len(), 1);
        let net = &p.networks[0];
        assert_eq!(net.name, "fd-minimal-lan");
        assert_eq!(net.bridge, bridge_name("minimal", "lan"));
        assert!(
            net.bridge.len() <= 15,
            "Linux interface names are at most 15 bytes"
        );
        assert_eq!(net.gateway, "10.77.0.1".parse::<Ipv4Addr>().unwrap());
        assert_eq!(net.domain, "minimal.lab");
        let web = &p.nodes[0];
        assert_eq!(web.domain.name, "fd-minimal-web");
        assert_eq!(web.ip, "10.77.0.10".parse::<Ipv4Addr>().unwrap());
        assert_eq!(web.fqdn, "web.minimal.lab");
        assert_eq!(web.domain.memory_mib, 384);
        assert_eq!(
            web.domain.disk,
            std::path::PathBuf::from("/h/labs/minimal/nodes/web/disk.qcow2")
        );
        assert_eq!(web.domain.network, "fd-minimal-lan");
        assert_eq!(
            web.backing,
            std::path::PathBuf::from("/img/debian-12/disk.qcow2")
        );
        assert!(web.mac.starts_with("52:54:00:"));
        // The network's DHCP and DNS entries match the nodes.
        let hosts: Vec<(&str, Ipv4Addr, &str)> = net
            .hosts
            .iter()
            .map(|h| (h.name.as_str(), h.ip, h.mac.as_str()))
            .collect();
        assert_eq!(
            hosts,
            vec![
                ("web", web.ip, web.mac.as_str()),
                ("db", p.nodes[1].ip, p.nodes[1].mac.as_str())
            ]
        );
    }

    /// The lab keeps its own time: the first node serves its networks, the others follow it.
    #[test]
    fn the_first_node_is_the_labs_time_source() {
        use crate::seed::TimeSource;
        let p = plan_of("labs/three-tier.yaml");
        assert_eq!(
            p.nodes[0].time,
            TimeSource::Serve {
                allow: vec!["10.78.0.0/24".into()]
            }
        );
        for n in &p.nodes[1..] {
            assert_eq!(
                n.time,
                TimeSource::Follow {
                    server: "lb.three-tier.lab".into()
                },
                "{}",
                n.name
            );
        }
    }

    #[test]
    fn planning_is_deterministic_and_macs_are_unique() {
        assert_eq!(
            plan_of("labs/three-tier.yaml"),
            plan_of("labs/three-tier.yaml")
        );
        let p = plan_of("labs/three-tier.yaml");
        let mut macs: Vec<&str> = p.nodes.iter().map(|n| n.mac.as_str()).collect();
        macs.sort();
        macs.dedup();
        assert_eq!(macs.len(), 4);
        assert_ne!(bridge_name("a", "lan"), bridge_name("b", "lan"));
    }

    #[test]
    fn a_missing_image_names_the_node_and_the_fix() {
        let l = lab("labs/minimal.yaml");
        let dir = Home::at("/h").lab(&"minimal".into());
        let err = plan(
            &l,
            &PlanInputs {
                dir: &dir,
                accel: Accel::Tcg,
                run_as: (0, 0),
                images: &BTreeMap::new(),
            },
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "image `debian-12` (node web) is not built\n  hint: run `firedrill image build --name debian-12`"
        );
    }
}

/// Plans of the shipped labs, edited, for tests of what uses a plan.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;
    use crate::host::HostFacts;
    use crate::paths::Home;

    /// The plan of shipped lab `file` (a path from the repository's root), after `edit` changed
    /// its validated form.
    pub(crate) fn plan_of(file: &str, edit: impl FnOnce(&mut ValidLab)) -> Plan {
        let host = HostFacts {
            mem_total_mib: 16 * 1024,
            images: vec!["debian-12".into()],
            ..HostFacts::default()
        };
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
        let mut lab = crate::spec::check(&path, &host, false)
            .expect("shipped lab is valid")
            .0;
        edit(&mut lab);
        let dir = Home::at("/h").lab(&lab.name);
        let images = BTreeMap::from([(
            "debian-12".to_string(),
            BootImage {
                disk: "/img/debian-12/disk.qcow2".into(),
                kernel: "/img/debian-12/vmlinuz".into(),
                initrd: "/img/debian-12/initrd.img".into(),
                first_boot: true,
            },
        )]);
        plan(
            &lab,
            &PlanInputs {
                dir: &dir,
                accel: Accel::Tcg,
                run_as: (0, 0),
                images: &images,
            },
        )
        .expect("the edited lab plans")
    }

    /// A node planned as `labs/minimal.yaml`'s `web`, named `name`, with `roles` (an app on
    /// 8080 without a database when it has the app role).
    pub(crate) fn node(name: &str, roles: &[Role]) -> NodePlan {
        let plan = plan_of("labs/minimal.yaml", |_| {});
        let mut n = plan.nodes[0].clone();
        n.name = name.to_string();
        n.roles = roles.to_vec();
        n.app_port = roles.contains(&Role::App).then_some(8080);
        n.database = None;
        n
    }
}

#[cfg(test)]
mod network_tests {
    use super::*;
    use crate::paths::Home;

    /// Two networks, a router on both, a node behind it, one in front with a route through it.
    const TWO_NETWORKS: &str = "name: net
networks:
  - {name: lan, cidr: 10.77.0.0/24}
  - {name: dmz, cidr: 10.80.0.0/24, mode: routed, router: gw}
nodes:
  - name: gw
    networks: [{name: lan, ip: 10.77.0.2}, {name: dmz, ip: 10.80.0.2}]
  - {name: web, network: dmz}
  - {name: pc, routes: [{to: dmz, via: gw}]}
";

    pub(crate) fn two_networks() -> Plan {
        let lab = crate::spec::testutil::valid(TWO_NETWORKS);
        let dir = Home::at("/h").lab(&lab.name);
        let images = BTreeMap::from([(
            "debian-12".to_string(),
            BootImage {
                disk: "/img/d.qcow2".into(),
                kernel: "/img/k".into(),
                initrd: "/img/i".into(),
                first_boot: true,
            },
        )]);
        let inputs = PlanInputs {
            dir: &dir,
            accel: Accel::Tcg,
            run_as: (0, 0),
            images: &images,
        };
        plan(&lab, &inputs).expect("plans")
    }

    #[test]
    fn a_node_on_two_networks_gets_a_nic_lease_and_name_on_each() {
        let p = two_networks();
        let gw = &p.nodes[0];
        let nics: Vec<(&str, Ipv4Addr, u8)> = gw
            .nics()
            .iter()
            .map(|(n, _, ip, pf)| (*n, *ip, *pf))
            .collect();
        assert_eq!(
            nics,
            [
                ("fd-net-lan", "10.77.0.2".parse().unwrap(), 24),
                ("fd-net-dmz", "10.80.0.2".parse().unwrap(), 24)
            ]
        );
        assert_eq!(gw.domain.more_nics.len(), 1);
        assert_ne!(gw.domain.more_nics[0].mac, gw.mac);
        // dmz is routed: the host does not forward it, its nodes go out through gw.
        assert_eq!(p.networks[1].mode, ForwardMode::Isolated);
        let web = &p.nodes[1];
        assert_eq!(web.gateway, "10.80.0.2".parse::<Ipv4Addr>().unwrap());
        let hosts = |i: usize| -> Vec<(String, String, Ipv4Addr)> {
            p.networks[i]
                .hosts
                .iter()
                .map(|h| (h.name.clone(), h.mac.clone(), h.ip))
                .collect()
        };
        assert_eq!(
            hosts(1),
            [
                (
                    "gw".to_string(),
                    gw.domain.more_nics[0].mac.clone(),
                    "10.80.0.2".parse().unwrap()
                ),
                ("web".to_string(), web.mac.clone(), web.ip),
            ]
        );
        assert_eq!(hosts(0)[0].1, gw.mac);
        let dns: Vec<Ipv4Addr> = p.networks[1].dns.iter().map(|d| d.ip).collect();
        assert_eq!(dns, ["10.80.0.2".parse::<Ipv4Addr>().unwrap(), web.ip]);
        let pc = &p.nodes[2];
        assert_eq!(pc.routes[0].via, "10.77.0.2".parse::<Ipv4Addr>().unwrap());
        crate::golden::assert_golden(
            "domain-two-nics.xml",
            &crate::hypervisor::xml::domain_xml(&gw.domain),
        );
    }

    #[test]
    fn a_new_route_or_network_on_a_node_needs_it_recreated() {
        let old = two_networks();
        let mut new = old.clone();
        new.nodes[2].routes.clear();
        new.nodes[1].gateway = "10.80.0.1".parse().unwrap();
        let lines: Vec<String> = diff(&old, &new).iter().map(|c| c.to_string()).collect();
        assert_eq!(
            lines,
            [
                "~ web gateway 10.80.0.2 → 10.80.0.1 (not applied: fixed when the node was created; remove the node, `up`, add it back, `up`)",
                "~ pc routes 10.80.0.0/24 via 10.77.0.2 → none (not applied: fixed when the node was created; remove the node, `up`, add it back, `up`)",
            ]
        );
    }
}
