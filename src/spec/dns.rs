//! A network's `dns:` names: each is a DNS label that is not a node's name, and points at a node
//! of that network, at another of these names (an alias) or at an address inside the network.
//! Resolved here to addresses, so the plan gets plain records.

use super::network::Addressing;
use super::problem::Report;
use super::suggest::did_you_mean;
use super::{At, Lab};
use std::net::Ipv4Addr;

/// Longest DNS label.
const LABEL_MAX: usize = 63;

/// Per network, its names and their addresses (`None` where a check failed).
pub(super) fn check(
    lab: &Lab,
    addressing: &Addressing,
    r: &mut Report,
) -> Vec<Vec<(String, Ipv4Addr)>> {
    let nodes = &lab.nodes.value;
    lab.networks
        .value
        .iter()
        .enumerate()
        .map(|(i, net)| {
            let names = &net.dns;
            let path = |name: &str| format!("networks[{i}].dns.{name}");
            let mut out = Vec::new();
            for (name, target) in names {
                if !super::validate::is_dns_label(&name.value, LABEL_MAX) {
                    r.error(
                        Some(name.pos),
                        &path(&name.value),
                        format!("`{}` is not a DNS name", name.value),
                        "use lowercase letters, digits and '-', starting and ending with a letter or digit, e.g. `database`",
                    );
                    continue;
                }
                if nodes.iter().any(|n| n.name.value == name.value) {
                    r.error(
                        Some(name.pos),
                        &path(&name.value),
                        format!("`{}` is already a node's name", name.value),
                        "a node's own name is in the DNS already; give the extra name another spelling",
                    );
                    continue;
                }
                if let Some(ip) = resolve(lab, addressing, i, target, names, r, &path(&name.value)) {
                    out.push((name.value.clone(), ip));
                }
            }
            out
        })
        .collect()
}

/// The address `target` stands for, following aliases; reports why when there is none.
fn resolve(
    lab: &Lab,
    addressing: &Addressing,
    net: usize,
    target: &At<String>,
    names: &[(At<String>, At<String>)],
    r: &mut Report,
    path: &str,
) -> Option<Ipv4Addr> {
    let nodes = &lab.nodes.value;
    let mut seen: Vec<&str> = Vec::new();
    let mut current = target;
    loop {
        let t = current.value.trim();
        if let Ok(ip) = t.parse::<Ipv4Addr>() {
            let cidr = addressing.cidrs[net]?;
            if !cidr.contains(ip) || ip == cidr.network() || ip == cidr.broadcast() {
                r.error(
                    Some(current.pos),
                    path,
                    format!("{ip} is not a host address of this network ({cidr})"),
                    "point the name at an address inside the network, or at a node",
                );
                return None;
            }
            return Some(ip);
        }
        if let Some(j) = nodes.iter().position(|n| n.name.value == t) {
            let on_net = addressing.ifaces[j].iter().find(|(n, _)| *n == Some(net));
            let Some((_, ip)) = on_net else {
                r.error(
                    Some(current.pos),
                    path,
                    format!("node `{t}` is not on this network"),
                    "a network's names point at its own nodes; put the name under the node's network",
                );
                return None;
            };
            return *ip;
        }
        if let Some((alias, next)) = names.iter().find(|(n, _)| n.value == t) {
            if seen.contains(&alias.value.as_str()) {
                r.error(
                    Some(target.pos),
                    path,
                    format!(
                        "the names {} point at each other in a loop",
                        seen.join(" → ")
                    ),
                    "point one of them at a node or an address",
                );
                return None;
            }
            seen.push(&alias.value);
            current = next;
            continue;
        }
        let candidates = nodes
            .iter()
            .map(|n| n.name.value.as_str())
            .chain(names.iter().map(|(n, _)| n.value.as_str()));
        let hint = did_you_mean(t, candidates).unwrap_or_else(|| {
            "point it at a node (`database: db`), another name of this list, or an IPv4 address"
                .to_string()
        });
        r.error(
            Some(current.pos),
            path,
            format!("`{t}` is not a node, a name of this network or an address"),
            hint,
        );
        return None;
    }
}

#[cfg(test)]
mod tests;
