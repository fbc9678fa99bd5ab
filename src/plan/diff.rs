//! What changes between the plan a lab was last brought up with and the plan of its file now:
//! a list of changes, each saying how `up` applies it (live, with a restart the user asks for,
//! or not at all). Pure: `up --dry-run` prints it, `up` acts on it.

use super::{NodePlan, Plan};
use crate::hypervisor::xml::{DnsHost, NetworkSpec};
use std::fmt;
use std::net::Ipv4Addr;

/// How `up` applies a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Apply {
    /// While everything runs, with graceful reloads.
    Live,
    /// On the node's next boot: `up --restart NODE` restarts it now.
    Restart,
    /// Not at all: the node must be recreated (removed from the file, `up`, put back, `up`).
    Recreate,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Change {
    AddNode {
        node: String,
        ip: Ipv4Addr,
    },
    RemoveNode {
        node: String,
    },
    Memory {
        node: String,
        from: u64,
        to: u64,
    },
    Cpus {
        node: String,
        from: u32,
        to: u32,
    },
    /// Disk size, image or network: fixed when the node was created.
    Fixed {
        node: String,
        what: &'static str,
        from: String,
        to: String,
    },
    Roles {
        node: String,
        from: Vec<String>,
        to: Vec<String>,
    },
    Backends {
        node: String,
        added: Vec<String>,
        removed: Vec<String>,
    },
    /// Another role option (the app's port, its database).
    Option {
        node: String,
        what: &'static str,
        from: String,
        to: String,
    },
    DnsAdd {
        network: String,
        host: DnsHost,
    },
    DnsRemove {
        network: String,
        host: DnsHost,
    },
    /// A network setting fixed when the network was created (subnet, mode, domain).
    Network {
        network: String,
        what: &'static str,
        from: String,
        to: String,
    },
}

impl Change {
    pub(crate) fn apply(&self) -> Apply {
        match self {
            // Less memory than before the balloon takes back while the node runs.
            Change::Memory { from, to, .. } if to < from => Apply::Live,
            Change::Memory { .. } | Change::Cpus { .. } => Apply::Restart,
            Change::Fixed { .. } | Change::Roles { .. } | Change::Network { .. } => Apply::Recreate,
            _ => Apply::Live,
        }
    }
}

fn dns_names(h: &DnsHost) -> String {
    h.names.join(" ")
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::AddNode { node, ip } => write!(f, "+ node {node} {ip}"),
            Change::RemoveNode { node } => write!(f, "- node {node}"),
            Change::Memory { node, from, to } if to < from => write!(
                f,
                "~ {node} memory {from} → {to} MiB (live, through the balloon)"
            ),
            Change::Memory { node, from, to } => write!(
                f,
                "~ {node} memory {from} → {to} MiB (needs a restart: --restart {node})"
            ),
            Change::Cpus { node, from, to } => {
                write!(
                    f,
                    "~ {node} cpus {from} → {to} (needs a restart: --restart {node})"
                )
            }
            Change::Fixed {
                node,
                what,
                from,
                to,
            } => write!(
                f,
                "~ {node} {what} {from} → {to} (not applied: fixed when the node was created; remove the node, `up`, add it back, `up`)"
            ),
            Change::Roles { node, from, to } => write!(
                f,
                "~ {node} roles [{}] → [{}] (not applied: a node's roles are fixed when it is created; remove the node, `up`, add it back, `up`)",
                from.join(", "),
                to.join(", ")
            ),
            Change::Backends {
                node,
                added,
                removed,
            } => {
                let mut parts: Vec<String> = added.iter().map(|b| format!("+{b}")).collect();
                parts.extend(removed.iter().map(|b| format!("-{b}")));
                write!(f, "~ {node} haproxy backends {}", parts.join(" "))
            }
            Change::Option {
                node,
                what,
                from,
                to,
            } => write!(f, "~ {node} {what} {from} → {to}"),
            Change::DnsAdd { network, host } => {
                write!(f, "+ dns {network} {} {}", host.ip, dns_names(host))
            }
            Change::DnsRemove { network, host } => {
                write!(f, "- dns {network} {} {}", host.ip, dns_names(host))
            }
            Change::Network {
                network,
                what,
                from,
                to,
            } => write!(
                f,
                "~ network {network} {what} {from} → {to} (not applied: run `firedrill down` first)"
            ),
        }
    }
}

/// A haproxy node's backends given by `dns:` names, as `name→node` pairs.
fn by_name(p: &NodePlan) -> String {
    if p.backend_hosts.is_empty() {
        return "none".into();
    }
    p.backend_hosts
        .iter()
        .map(|(node, host)| format!("{}→{node}", host.split('.').next().unwrap_or(host)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn opt<T: fmt::Display>(v: &Option<T>) -> String {
    v.as_ref()
        .map(|v| v.to_string())
        .unwrap_or_else(|| "none".into())
}

fn more_nics(p: &NodePlan) -> String {
    let list: Vec<String> = p
        .nics()
        .iter()
        .skip(1)
        .map(|(net, _, ip, _)| format!("{net} {ip}"))
        .collect();
    if list.is_empty() {
        "none".into()
    } else {
        list.join(", ")
    }
}

fn routes(p: &NodePlan) -> String {
    let list: Vec<String> = p
        .routes
        .iter()
        .map(|r| format!("{} via {}", r.to, r.via))
        .collect();
    if list.is_empty() {
        "none".into()
    } else {
        list.join(", ")
    }
}

fn node_changes(old: &NodePlan, new: &NodePlan, out: &mut Vec<Change>) {
    let node = || new.name.clone();
    if old.domain.memory_mib != new.domain.memory_mib {
        out.push(Change::Memory {
            node: node(),
            from: old.domain.memory_mib,
            to: new.domain.memory_mib,
        });
    }
    if old.domain.cpus != new.domain.cpus {
        out.push(Change::Cpus {
            node: node(),
            from: old.domain.cpus,
            to: new.domain.cpus,
        });
    }
    let fixed = [
        (
            "disk",
            format!("{} GiB", old.disk_gib),
            format!("{} GiB", new.disk_gib),
        ),
        ("image", old.image.clone(), new.image.clone()),
        ("ip", old.ip.to_string(), new.ip.to_string()),
        (
            "network",
            old.domain.network.clone(),
            new.domain.network.clone(),
        ),
        // The other NICs, the routes and the gateway are in the seed, read at first boot.
        ("other networks", more_nics(old), more_nics(new)),
        ("routes", routes(old), routes(new)),
        ("gateway", old.gateway.to_string(), new.gateway.to_string()),
    ];
    for (what, from, to) in fixed {
        if from != to {
            out.push(Change::Fixed {
                node: node(),
                what,
                from,
                to,
            });
        }
    }
    if old.roles != new.roles {
        let names = |p: &NodePlan| p.roles.iter().map(|r| r.name().to_string()).collect();
        out.push(Change::Roles {
            node: node(),
            from: names(old),
            to: names(new),
        });
    }
    let added: Vec<String> = new
        .backends
        .iter()
        .filter(|b| !old.backends.contains(b))
        .cloned()
        .collect();
    let removed: Vec<String> = old
        .backends
        .iter()
        .filter(|b| !new.backends.contains(b))
        .cloned()
        .collect();
    if !added.is_empty() || !removed.is_empty() {
        out.push(Change::Backends {
            node: node(),
            added,
            removed,
        });
    }
    let options = [
        ("app port", opt(&old.app_port), opt(&new.app_port)),
        ("app database", opt(&old.database), opt(&new.database)),
        (
            "app database host",
            opt(&old.database_host),
            opt(&new.database_host),
        ),
        (
            "app release",
            old.release.to_string(),
            new.release.to_string(),
        ),
        ("haproxy backends by name", by_name(old), by_name(new)),
    ];
    // The roles that read their own options block (nginx): one line per role whose block
    // changed; `up` applies it by configuring the node again.
    for role in new.roles.iter().filter(|r| r.def().has_options) {
        let of = |p: &NodePlan| {
            p.options
                .iter()
                .map(|o| serde_json::to_value(o).unwrap_or_default())
                .find_map(|v| v.get(role.name()).map(|o| o.to_string()))
                .unwrap_or_else(|| "-".into())
        };
        let (from, to) = (of(old), of(new));
        if from != to && old.roles.contains(role) {
            out.push(Change::Option {
                node: node(),
                what: role.name(),
                from,
                to,
            });
        }
    }
    for (what, from, to) in options {
        if from != to {
            out.push(Change::Option {
                node: node(),
                what,
                from,
                to,
            });
        }
    }
}

fn network_changes(old: &NetworkSpec, new: &NetworkSpec, out: &mut Vec<Change>) {
    let network = || new.name.clone();
    let fixed = [
        ("subnet", old.cidr.to_string(), new.cidr.to_string()),
        ("domain", old.domain.clone(), new.domain.clone()),
        (
            "mode",
            old.mode.name().to_string(),
            new.mode.name().to_string(),
        ),
    ];
    for (what, from, to) in fixed {
        if from != to {
            out.push(Change::Network {
                network: network(),
                what,
                from,
                to,
            });
        }
    }
    // A record that changes its names is one removal and one addition: that is how libvirt's
    // network update applies it.
    for h in &old.dns {
        if !new.dns.contains(h) {
            out.push(Change::DnsRemove {
                network: network(),
                host: h.clone(),
            });
        }
    }
    for h in &new.dns {
        if !old.dns.contains(h) {
            out.push(Change::DnsAdd {
                network: network(),
                host: h.clone(),
            });
        }
    }
}

/// Every change from `old` to `new`, in the order `up` applies them: nodes that come, changes to
/// nodes that stay, the network's DNS, nodes that go.
pub(crate) fn diff(old: &Plan, new: &Plan) -> Vec<Change> {
    let mut out = Vec::new();
    for n in &new.nodes {
        if !old.nodes.iter().any(|o| o.name == n.name) {
            out.push(Change::AddNode {
                node: n.name.clone(),
                ip: n.ip,
            });
        }
    }
    for n in &new.nodes {
        if let Some(o) = old.nodes.iter().find(|o| o.name == n.name) {
            node_changes(o, n, &mut out);
        }
    }
    for net in &new.networks {
        match old.networks.iter().find(|o| o.name == net.name) {
            Some(o) => network_changes(o, net, &mut out),
            None => out.push(Change::Network {
                network: net.name.clone(),
                what: "network",
                from: "none".into(),
                to: net.cidr.to_string(),
            }),
        }
    }
    for o in &old.nodes {
        if !new.nodes.iter().any(|n| n.name == o.name) {
            out.push(Change::RemoveNode {
                node: o.name.clone(),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::testing::plan_of;
    use crate::spec::ValidLab;

    fn lines(changes: &[Change]) -> Vec<String> {
        changes.iter().map(|c| c.to_string()).collect()
    }

    fn node<'a>(lab: &'a mut ValidLab, name: &str) -> &'a mut crate::spec::ValidNode {
        lab.nodes.iter_mut().find(|n| n.name == name).unwrap()
    }

    fn add_app3(lab: &mut ValidLab) {
        let mut app3 = node(lab, "app2").clone();
        app3.name = "app3".into();
        app3.ip = "10.78.0.14".parse().unwrap();
        lab.nodes.insert(3, app3);
        node(lab, "lb").haproxy_mut().backends.push("app3".into());
    }

    #[test]
    fn the_same_file_gives_no_change() {
        let p = plan_of("labs/three-tier.yaml", |_| {});
        assert_eq!(diff(&p, &p), vec![]);
    }

    #[test]
    fn adding_an_app_node_adds_it_its_dns_and_a_backend() {
        let old = plan_of("labs/three-tier.yaml", |_| {});
        let new = plan_of("labs/three-tier.yaml", add_app3);
        let changes = diff(&old, &new);
        assert_eq!(
            lines(&changes),
            vec![
                "+ node app3 10.78.0.14",
                "~ lb haproxy backends +app3",
                "+ dns fd-three-tier-lan 10.78.0.14 app3.three-tier.lab app3",
            ]
        );
        assert!(changes.iter().all(|c| c.apply() == Apply::Live));
        // And back: the node goes last, after the backend that refers to it.
        assert_eq!(
            lines(&diff(&new, &old)),
            vec![
                "~ lb haproxy backends -app3",
                "- dns fd-three-tier-lan 10.78.0.14 app3.three-tier.lab app3",
                "- node app3",
            ]
        );
    }

    #[test]
    fn a_backend_given_by_a_dns_name_is_an_option_change() {
        let old = plan_of("labs/three-tier.yaml", |_| {});
        let new = plan_of("labs/three-tier.yaml", |lab| {
            node(lab, "lb")
                .haproxy_mut()
                .backend_hosts
                .insert("app1".into(), "front".into());
        });
        let changes = diff(&old, &new);
        assert_eq!(
            lines(&changes),
            vec!["~ lb haproxy backends by name none → front→app1"]
        );
        assert!(changes.iter().all(|c| c.apply() == Apply::Live));
    }

    #[test]
    fn less_memory_is_applied_live() {
        let old = plan_of("labs/three-tier.yaml", |_| {});
        let new = plan_of("labs/three-tier.yaml", |lab| {
            node(lab, "db").memory_mib = 640
        });
        let changes = diff(&old, &new);
        assert_eq!(
            lines(&changes),
            vec!["~ db memory 768 → 640 MiB (live, through the balloon)"]
        );
        assert_eq!(changes[0].apply(), Apply::Live);
    }

    #[test]
    fn resizing_needs_a_restart_and_fixed_settings_a_new_node() {
        let old = plan_of("labs/three-tier.yaml", |_| {});
        let new = plan_of("labs/three-tier.yaml", |lab| {
            node(lab, "db").memory_mib = 1024;
            node(lab, "db").cpus = 2;
            node(lab, "app1").disk_gib = 12;
        });
        let changes = diff(&old, &new);
        assert_eq!(
            lines(&changes),
            vec![
                "~ app1 disk 8 GiB → 12 GiB (not applied: fixed when the node was created; remove the node, `up`, add it back, `up`)",
                "~ db memory 768 → 1024 MiB (needs a restart: --restart db)",
                "~ db cpus 1 → 2 (needs a restart: --restart db)",
            ]
        );
        let applies: Vec<Apply> = changes.iter().map(Change::apply).collect();
        assert_eq!(
            applies,
            vec![Apply::Recreate, Apply::Restart, Apply::Restart]
        );
    }

    #[test]
    fn role_options_roles_and_the_network() {
        let old = plan_of("labs/three-tier.yaml", |_| {});
        let new = plan_of("labs/three-tier.yaml", |lab| {
            node(lab, "lb").haproxy_mut().backends = vec!["app2".into()];
            node(lab, "app1").app_mut().port = 8081;
            node(lab, "app1").app_mut().release = crate::roles::Release::V2;
            node(lab, "app2").app_mut().database = Some("app1".into());
            node(lab, "app2").roles.push(crate::spec::Role::Mysql);
            lab.networks[0].domain = "tt.lab".into();
        });
        let got = lines(&diff(&old, &new));
        assert_eq!(
            got[..6],
            [
                "~ lb haproxy backends -app1",
                "~ app1 app port 8080 → 8081",
                "~ app1 app release v1 → v2",
                "~ app2 roles [app] → [app, mysql] (not applied: a node's roles are fixed when it is created; remove the node, `up`, add it back, `up`)",
                "~ app2 app database db → app1",
                "~ network fd-three-tier-lan domain three-tier.lab → tt.lab (not applied: run `firedrill down` first)",
            ]
        );
        // Every node's DNS names moved with the domain: one removal and one addition each.
        assert_eq!(got.len(), 6 + 2 * 4);
    }

    #[test]
    fn a_changed_nginx_block_is_one_line() {
        let set = |size: &str| {
            let size = size.to_string();
            move |lab: &mut ValidLab| {
                for o in &mut node(lab, "web").options {
                    if let crate::spec::RoleOptions::Nginx(n) = o {
                        n.client_max_body_size = size.clone();
                    }
                }
            }
        };
        let old = plan_of("labs/nginx.yaml", set("64k"));
        assert!(diff(&old, &plan_of("labs/nginx.yaml", set("64k"))).is_empty());
        let new = plan_of("labs/nginx.yaml", set("2m"));
        assert_eq!(
            lines(&diff(&old, &new)),
            [
                "~ web nginx {\"client_max_body_size\":\"64k\",\"port\":80,\"upstreams\":[\"web\"]} \
                 → {\"client_max_body_size\":\"2m\",\"port\":80,\"upstreams\":[\"web\"]}"
            ]
        );
    }
}
