//! Semantic checks of a loaded lab against itself and the host, and the resolution into
//! `ValidLab`. Every problem is collected; a `ValidLab` is built only when there is no error.

use super::defaults::{self, default_domain};
use super::problem::{Problem, Report};
use super::topology::{self, Need, Topology};
use super::{
    Interface, Lab, RoleOptions, ValidLab, ValidNetwork, ValidNode, network, resources, roles,
};
use crate::host::HostFacts;
use crate::roles::OptionsByRole;
use std::collections::HashMap;

use crate::paths::LAB_NAME_MAX;

pub(super) fn validate(
    lab: &Lab,
    host: &HostFacts,
    force: bool,
) -> (Option<ValidLab>, Vec<Problem>) {
    let mut r = Report::new(&lab.source);
    check_names(lab, &mut r);
    resources::check(lab, host, force, &mut r);
    let addressing = network::check(lab, host, &mut r);
    let role_options = roles::check(lab, &addressing, &mut r);
    let dns = super::dns::check(lab, &addressing, &mut r);
    let needs = needs(lab, &role_options);
    let topology = topology::check(lab, &addressing, &needs, host.bridged_iptables, &mut r);
    if r.has_errors() {
        return (None, r.problems);
    }
    let valid = resolve(lab, &addressing, &topology, role_options, dns);
    if valid.is_none() {
        r.error(
            None,
            "",
            "firedrill could not resolve this lab although every check passed",
            "this is a bug in firedrill: please report it with the lab file",
        );
    }
    (valid, r.problems)
}

pub(super) use crate::paths::is_label as is_dns_label;

/// A label-safe spelling of `s` to suggest, if one is easy to make.
fn label_like(s: &str, max: usize) -> Option<String> {
    let fixed: String = s
        .to_lowercase()
        .chars()
        .map(|c| {
            if c == '_' || c == ' ' || c == '.' {
                '-'
            } else {
                c
            }
        })
        .collect();
    let fixed = fixed.trim_matches('-').to_string();
    is_dns_label(&fixed, max).then_some(fixed)
}

fn label_hint(s: &str, max: usize) -> String {
    let rule = format!(
        "use lowercase letters, digits and '-' (at most {max}), starting and ending with a letter or digit"
    );
    match label_like(s, max) {
        Some(fixed) => format!("{rule}, e.g. `{fixed}`"),
        None => rule,
    }
}

fn check_names(lab: &Lab, r: &mut Report) {
    let name = &lab.name;
    if !is_dns_label(&name.value, LAB_NAME_MAX) {
        let msg = if name.value.len() > LAB_NAME_MAX {
            format!(
                "lab name `{}` is longer than {LAB_NAME_MAX} characters",
                name.value
            )
        } else {
            format!("lab name `{}` is not valid", name.value)
        };
        r.error(
            Some(name.pos),
            "name",
            msg,
            label_hint(&name.value, LAB_NAME_MAX),
        );
    }
    if lab.networks.value.is_empty() {
        r.error(
            Some(lab.networks.pos),
            "networks",
            "a lab needs at least one network",
            "add one, e.g. `- {name: lan, cidr: 10.77.0.0/24}`",
        );
    }
    for (i, net) in lab.networks.value.iter().enumerate() {
        let path = format!("networks[{i}].name");
        let n = &net.name;
        if !is_dns_label(&n.value, 63) {
            let msg = format!("network name `{}` is not a valid DNS label", n.value);
            r.error(Some(n.pos), &path, msg, label_hint(&n.value, 63));
        }
        if let Some(first) = lab.networks.value[..i]
            .iter()
            .position(|o| o.name.value == n.value)
        {
            let msg = format!(
                "network name `{}` is used twice (first at networks[{first}])",
                n.value
            );
            r.error(Some(n.pos), &path, msg, "give each network its own name");
        }
        if let Some(domain) = &net.domain {
            let labels_ok = domain.value.split('.').all(|l| is_dns_label(l, 63));
            if !labels_ok || domain.value.len() > 253 {
                r.error(
                    Some(domain.pos),
                    &format!("networks[{i}].domain"),
                    format!("domain `{}` is not a valid DNS name", domain.value),
                    format!(
                        "use dot-separated DNS labels, e.g. `{}`, or leave `domain` out",
                        default_domain(&lab.name.value)
                    ),
                );
            }
        }
    }
    if lab.nodes.value.is_empty() {
        r.error(
            Some(lab.nodes.pos),
            "nodes",
            "a lab needs at least one node",
            "add one, e.g. `- {name: web, roles: [app]}`",
        );
    }
    // Name -> first node with it: a lab may have thousands of nodes.
    let mut first_with: HashMap<&str, usize> = HashMap::new();
    for (i, node) in lab.nodes.value.iter().enumerate() {
        let path = format!("nodes[{i}].name");
        let n = &node.name;
        if !is_dns_label(&n.value, 63) {
            let msg = format!("node name `{}` is not a valid DNS label", n.value);
            r.error(Some(n.pos), &path, msg, label_hint(&n.value, 63));
        }
        if let Some(&first) = first_with.get(n.value.as_str()) {
            let msg = format!(
                "node name `{}` is used twice (first at nodes[{first}])",
                n.value
            );
            r.error(Some(n.pos), &path, msg, "give each node its own name");
        } else {
            first_with.insert(&n.value, i);
        }
    }
}

/// The nodes each node's roles talk to (an app's database, haproxy's backends, nginx's
/// upstreams) and those that talk to it (a DNS server's clients), as each role's options say.
fn needs(lab: &Lab, options: &[Vec<RoleOptions>]) -> Vec<Need> {
    let nodes = &lab.nodes.value;
    let mut out = Vec::new();
    for (i, (node, o)) in nodes.iter().zip(options).enumerate() {
        for ro in o {
            let Some(role) = node.roles.iter().find(|r| r.value == ro.role()) else {
                continue;
            };
            out.extend(ro.peers().talks_to().into_iter().map(|peer| Need {
                node: i,
                role: role.clone(),
                peer,
            }));
            for client in ro.peers().talked_to_by() {
                if let Some(c) = nodes.iter().position(|n| n.name.value == client) {
                    out.push(Need {
                        node: c,
                        role: role.clone(),
                        peer: node.name.value.clone(),
                    });
                }
            }
        }
    }
    out
}

/// Build the resolved lab. Only called without errors, so every lookup succeeds; `None` would
/// mean a check is missing, and the caller then reports the lab as invalid rather than panic.
fn resolve(
    lab: &Lab,
    addressing: &network::Addressing,
    topology: &Topology,
    role_options: Vec<Vec<RoleOptions>>,
    dns: Vec<Vec<(String, std::net::Ipv4Addr)>>,
) -> Option<ValidLab> {
    let networks = lab
        .networks
        .value
        .iter()
        .zip(&addressing.cidrs)
        .zip(dns)
        .zip(&topology.routers)
        .map(|(((net, cidr), dns), router)| {
            let cidr = (*cidr)?;
            Some(ValidNetwork {
                name: net.name.value.clone(),
                cidr,
                mode: net.mode.as_ref().map(|m| m.value).unwrap_or_default(),
                router: router.map(|i| lab.nodes.value[i].name.value.clone()),
                domain: net
                    .domain
                    .as_ref()
                    .map_or_else(|| default_domain(&lab.name.value), |d| d.value.clone()),
                gateway: network::gateway(cidr),
                dns,
            })
        })
        .collect::<Option<Vec<_>>>()?;
    // Per node: the clients its `dns` role serves.
    let served: Vec<Vec<String>> = role_options
        .iter()
        .map(|o| o.dns().map(|d| d.clients.clone()).unwrap_or_default())
        .collect();
    let nodes = lab
        .nodes
        .value
        .iter()
        .zip(role_options)
        .enumerate()
        .map(|(i, (node, options))| {
            let res = defaults::resources(lab, i, node);
            Some(ValidNode {
                name: node.name.value.clone(),
                roles: node.roles.iter().map(|r| r.value).collect(),
                network: addressing.node_net[i]?,
                ip: addressing.node_ip[i]?,
                interfaces: addressing.ifaces[i]
                    .iter()
                    .map(|(n, ip)| {
                        Some(Interface {
                            network: (*n)?,
                            ip: (*ip)?,
                        })
                    })
                    .collect::<Option<Vec<_>>>()?,
                routes: topology.routes[i].clone(),
                gateway: topology.gateway[i]?,
                reaches: topology.reaches[i].clone(),
                resolver: resolver(lab, &served, topology, i),
                image: res.image.value,
                cpus: res.cpus.value,
                memory_mib: res.memory_mib.value,
                disk_gib: res.disk_gib.value,
                options,
            })
        })
        .collect::<Option<Vec<_>>>()?;
    Some(ValidLab {
        name: crate::paths::LabName::parse(&lab.name.value).ok()?,
        networks,
        nodes,
        source: lab.source.clone(),
    })
}

/// Node `i`'s resolver: the address it reaches the lab's `dns` node serving it by.
fn resolver(
    lab: &Lab,
    served: &[Vec<String>],
    topology: &Topology,
    i: usize,
) -> Option<std::net::Ipv4Addr> {
    let me = &lab.nodes.value[i].name.value;
    let server = served.iter().position(|clients| clients.contains(me))?;
    let name = &lab.nodes.value[server].name.value;
    topology.reaches[i]
        .iter()
        .find(|r| r.peer == *name)
        .map(|r| r.ip)
}

#[cfg(test)]
mod tests;
