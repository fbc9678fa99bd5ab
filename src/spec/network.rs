//! Address checks: CIDRs, overlaps with each other and with the host, node IPs, subnet size, and
//! the deterministic assignment of IPs to nodes that have none.

use super::defaults::AUTO_IP_OFFSET;
use super::problem::Report;
use super::suggest::did_you_mean;
use super::{Lab, Network};
use crate::host::HostFacts;
use ipnetwork::Ipv4Network;
use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;

/// What the address checks worked out; `None` where the file's value was unusable.
pub(super) struct Addressing {
    pub cidrs: Vec<Option<Ipv4Network>>,
    /// Per node: index of its network.
    pub node_net: Vec<Option<usize>>,
    pub node_ip: Vec<Option<Ipv4Addr>>,
}

pub(super) fn gateway(cidr: Ipv4Network) -> Ipv4Addr {
    offset(cidr.network(), 1)
}

fn offset(ip: Ipv4Addr, n: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(ip).saturating_add(n))
}

pub(super) fn check(lab: &Lab, host: &HostFacts, r: &mut Report) -> Addressing {
    let networks = &lab.networks.value;
    let cidrs: Vec<Option<Ipv4Network>> = networks
        .iter()
        .enumerate()
        .map(|(i, net)| parse_cidr(net, i, r))
        .collect();
    check_overlaps(lab, &cidrs, host, r);
    let node_net = node_networks(lab, r);
    let node_ip = node_addresses(lab, &cidrs, &node_net, host, r);
    Addressing {
        cidrs,
        node_net,
        node_ip,
    }
}

const PRIVATE: [(Ipv4Addr, u8); 3] = [
    (Ipv4Addr::new(10, 0, 0, 0), 8),
    (Ipv4Addr::new(172, 16, 0, 0), 12),
    (Ipv4Addr::new(192, 168, 0, 0), 16),
];

fn parse_cidr(net: &Network, i: usize, r: &mut Report) -> Option<Ipv4Network> {
    let path = format!("networks[{i}].cidr");
    let text = net.cidr.value.trim();
    let pos = Some(net.cidr.pos);
    let parsed = text
        .contains('/')
        .then(|| text.parse::<Ipv4Network>().ok())
        .flatten();
    let Some(parsed) = parsed else {
        r.error(
            pos,
            &path,
            format!("`{text}` is not a valid IPv4 CIDR"),
            "write the network address and prefix length, e.g. `cidr: 10.77.0.0/24`",
        );
        return None;
    };
    let cidr = Ipv4Network::new(parsed.network(), parsed.prefix()).ok()?;
    if parsed.ip() != cidr.network() {
        r.warning(
            pos,
            &path,
            format!("`{text}` has host bits set; the network is {cidr}"),
            format!("write `cidr: {cidr}`"),
        );
    }
    if cidr.prefix() > 30 {
        r.error(
            pos,
            &path,
            format!("{cidr} is too small: a lab network needs at least a /30"),
            "use a /24, e.g. `cidr: 10.77.0.0/24`",
        );
        return None;
    }
    let private = PRIVATE
        .iter()
        .any(|&(ip, prefix)| Ipv4Network::new(ip, prefix).is_ok_and(|p| cidr.is_subnet_of(p)));
    if !private {
        r.error(
            pos,
            &path,
            format!("{cidr} is not a private address range"),
            "use a subnet of 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16, so the lab \
             never hides real hosts on the internet",
        );
        return None;
    }
    Some(cidr)
}

fn check_overlaps(lab: &Lab, cidrs: &[Option<Ipv4Network>], host: &HostFacts, r: &mut Report) {
    // Networks of this very lab (already up) are not in the way, nor are their bridges' routes.
    let foreign: Vec<_> = host
        .libvirt_networks
        .iter()
        .filter(|n| n.owner_lab.as_deref() != Some(lab.name.value.as_str()))
        .collect();
    // A route on the bridge of a libvirt network is that network's own route: skip it when the
    // network is this lab's, or when it is reported as a libvirt network already.
    let skip_dev = |dev: &str| {
        host.libvirt_networks.iter().any(|n| {
            n.bridge.as_deref() == Some(dev)
                && (n.owner_lab.as_deref() == Some(lab.name.value.as_str()) || n.cidr.is_some())
        })
    };
    let mut taken: Vec<Ipv4Network> = cidrs.iter().flatten().copied().collect();
    taken.extend(foreign.iter().filter_map(|n| n.cidr));
    taken.extend(
        host.routes
            .iter()
            .filter(|h| h.net.prefix() > 0)
            .map(|h| h.net),
    );
    let hint = || match free_subnet(&taken) {
        Some(free) => format!("pick a subnet that is free on this host, e.g. `cidr: {free}`"),
        None => "pick a subnet that is free on this host".to_string(),
    };
    for (j, cidr) in cidrs.iter().enumerate() {
        let Some(cidr) = *cidr else { continue };
        let path = format!("networks[{j}].cidr");
        let pos = Some(lab.networks.value[j].cidr.pos);
        for (i, other) in cidrs[..j].iter().enumerate() {
            if let Some(other) = other.filter(|o| o.overlaps(cidr)) {
                let other_name = &lab.networks.value[i].name.value;
                let msg =
                    format!("{cidr} overlaps network `{other_name}` ({other}, networks[{i}])");
                r.error(pos, &path, msg, hint());
            }
        }
        for net in &foreign {
            if let Some(other) = net.cidr.filter(|o| o.overlaps(cidr)) {
                let bridge = net.bridge.as_deref().unwrap_or("no bridge");
                let msg = format!(
                    "{cidr} overlaps libvirt network `{}` ({other}, {bridge})",
                    net.name
                );
                r.error(pos, &path, msg, hint());
            }
        }
        for route in &host.routes {
            if route.net.prefix() > 0 && route.net.overlaps(cidr) && !skip_dev(&route.dev) {
                let msg = format!(
                    "{cidr} overlaps the host route {} on {}",
                    route.net, route.dev
                );
                r.error(pos, &path, msg, hint());
            }
        }
    }
}

/// The first 10.N.0.0/24 (N from 77) that overlaps nothing in `taken`.
fn free_subnet(taken: &[Ipv4Network]) -> Option<Ipv4Network> {
    (77..=254)
        .filter_map(|n| Ipv4Network::new(Ipv4Addr::new(10, n, 0, 0), 24).ok())
        .find(|c| !taken.iter().any(|t| t.overlaps(*c)))
}

fn node_networks(lab: &Lab, r: &mut Report) -> Vec<Option<usize>> {
    let networks = &lab.networks.value;
    let names: Vec<&str> = networks.iter().map(|n| n.name.value.as_str()).collect();
    lab.nodes
        .value
        .iter()
        .enumerate()
        .map(|(i, node)| match &node.network {
            None => (!networks.is_empty()).then_some(0),
            Some(wanted) => {
                let found = names.iter().position(|n| *n == wanted.value);
                if found.is_none() {
                    let mut unique = names.clone();
                    unique.sort_unstable();
                    unique.dedup();
                    let list = format!("networks in this lab: {}", unique.join(", "));
                    let hint = match did_you_mean(&wanted.value, names.iter().copied()) {
                        Some(dym) => format!("{dym} ({list})"),
                        None => list,
                    };
                    let msg = format!("no network named `{}`", wanted.value);
                    r.error(Some(wanted.pos), &format!("nodes[{i}].network"), msg, hint);
                }
                found
            }
        })
        .collect()
}

fn node_addresses(
    lab: &Lab,
    cidrs: &[Option<Ipv4Network>],
    node_net: &[Option<usize>],
    host: &HostFacts,
    r: &mut Report,
) -> Vec<Option<Ipv4Addr>> {
    let nodes = &lab.nodes.value;
    let mut ips: Vec<Option<Ipv4Addr>> = vec![None; nodes.len()];
    // Address -> the first node that has it, so a repeat is found without a scan per node.
    let mut owner: HashMap<Ipv4Addr, usize> = HashMap::new();
    for (i, node) in nodes.iter().enumerate() {
        let Some(ip) = &node.ip else { continue };
        let path = format!("nodes[{i}].ip");
        let pos = Some(ip.pos);
        let Ok(addr) = ip.value.trim().parse::<Ipv4Addr>() else {
            r.error(
                pos,
                &path,
                format!("`{}` is not an IPv4 address", ip.value),
                "write a plain address such as `ip: 10.77.0.10` (no prefix length), or leave \
                 `ip:` out to get one assigned",
            );
            continue;
        };
        if let Some(n) = node_net[i]
            && let Some(cidr) = cidrs[n]
            && let Some(msg) = misplaced(addr, cidr, &lab.networks.value[n])
        {
            let hint = format!(
                "pick an address from {} to {}, or leave `ip:` out to get one assigned",
                offset(cidr.network(), 2),
                prev(cidr.broadcast())
            );
            r.error(pos, &path, msg, hint);
            continue;
        }
        if let Some(&first) = owner.get(&addr) {
            let msg = format!(
                "{addr} is already used by node `{}` (nodes[{first}].ip)",
                nodes[first].name.value
            );
            r.error(
                pos,
                &path,
                msg,
                "give each node its own address, or leave `ip:` out to get one assigned",
            );
            continue;
        }
        ips[i] = Some(addr);
        owner.insert(addr, i);
    }
    let mut taken: HashSet<u32> = owner.keys().map(|&a| u32::from(a)).collect();
    // A node the lab has now keeps its address: adding a node before it in the file must not
    // move it (a running node's address cannot change). The others take free ones in order.
    for (i, node) in nodes.iter().enumerate() {
        if node.ip.is_some() {
            continue;
        }
        let Some(cidr) = node_net[i].and_then(|n| cidrs[n]) else {
            continue;
        };
        let kept = host
            .node_addresses
            .iter()
            .find(|(l, n, _)| *l == lab.name.value && *n == node.name.value)
            .map(|(_, _, ip)| *ip)
            .filter(|ip| {
                cidr.contains(*ip)
                    && *ip != cidr.network()
                    && *ip != gateway(cidr)
                    && *ip != cidr.broadcast()
                    && !taken.contains(&u32::from(*ip))
            });
        if let Some(ip) = kept {
            taken.insert(u32::from(ip));
            ips[i] = Some(ip);
        }
    }
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); cidrs.len()];
    for (i, net) in node_net.iter().enumerate() {
        if let Some(n) = *net {
            members[n].push(i);
        }
    }
    for (n, cidr) in cidrs.iter().enumerate() {
        if let Some(cidr) = cidr {
            assign(lab, n, *cidr, &members[n], &taken, &mut ips, r);
        }
    }
    ips
}

fn prev(ip: Ipv4Addr) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(ip).saturating_sub(1))
}

/// Why `addr` cannot be a node address on `net`, if it cannot.
fn misplaced(addr: Ipv4Addr, cidr: Ipv4Network, net: &Network) -> Option<String> {
    let name = &net.name.value;
    if !cidr.contains(addr) {
        Some(format!("{addr} is outside network `{name}` ({cidr})"))
    } else if addr == cidr.network() {
        Some(format!(
            "{addr} is the network address of `{name}` ({cidr})"
        ))
    } else if addr == gateway(cidr) {
        Some(format!(
            "{addr} is the gateway of network `{name}` (libvirt's bridge has it)"
        ))
    } else if addr == cidr.broadcast() {
        Some(format!(
            "{addr} is the broadcast address of `{name}` ({cidr})"
        ))
    } else {
        None
    }
}

/// Give every node of network `n` without an address the lowest free one from gateway+9 up, in
/// file order, after all explicit addresses are reserved: adding a node at the end of the file
/// never moves the others. Reports a subnet too small for its nodes. Linear in the nodes: the
/// free addresses are counted from `taken`, and only as many are visited as are handed out.
fn assign(
    lab: &Lab,
    n: usize,
    cidr: Ipv4Network,
    members: &[usize],
    taken: &HashSet<u32>,
    ips: &mut [Option<Ipv4Addr>],
    r: &mut Report,
) {
    let net = &lab.networks.value[n];
    let path = format!("networks[{n}].cidr");
    // The network address, the gateway and the broadcast address are not for nodes.
    let room = cidr.size().saturating_sub(3);
    if members.len() as u64 > u64::from(room) {
        let msg = format!(
            "{cidr} is too small for its {} nodes: it has room for {room} ({} to {})",
            members.len(),
            offset(cidr.network(), 2),
            prev(cidr.broadcast())
        );
        r.error(
            Some(net.cidr.pos),
            &path,
            msg,
            "use a larger subnet, e.g. a /24",
        );
        return;
    }
    let first = u32::from(gateway(cidr)).saturating_add(AUTO_IP_OFFSET);
    let last = u32::from(cidr.broadcast()) - 1;
    let pending: Vec<usize> = members
        .iter()
        .copied()
        .filter(|&i| ips[i].is_none() && lab.nodes.value[i].ip.is_none())
        .collect();
    let range = u64::from(last.saturating_sub(first)) + u64::from(first <= last);
    let taken_in_range = taken.iter().filter(|&&a| first <= a && a <= last).count();
    let slots = range - taken_in_range as u64;
    if pending.len() as u64 > slots {
        let range = if first <= last {
            format!("{} to {}", Ipv4Addr::from(first), Ipv4Addr::from(last))
        } else {
            "none in so small a subnet".to_string()
        };
        let msg = format!(
            "{cidr} has {slots} free addresses for automatic assignment ({range}) but {} nodes have no `ip:`",
            pending.len()
        );
        let hint = format!(
            "give nodes an `ip:` from {} to {}, or use a larger subnet",
            offset(cidr.network(), 2),
            prev(cidr.broadcast())
        );
        r.error(Some(net.cidr.pos), &path, msg, hint);
        return;
    }
    let free = (first..=last).filter(|a| !taken.contains(a));
    for (i, addr) in pending.into_iter().zip(free) {
        ips[i] = Some(Ipv4Addr::from(addr));
    }
}

#[cfg(test)]
mod tests;
