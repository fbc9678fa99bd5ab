//! Address checks: CIDRs, overlaps with each other and with the host, node IPs, subnet size, and
//! the deterministic assignment of IPs to nodes that have none.

use super::defaults::AUTO_IP_OFFSET;
use super::problem::Report;
use super::suggest::did_you_mean;
use super::{At, Lab, Network};
use crate::host::HostFacts;
use ipnetwork::Ipv4Network;
use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;

/// What the address checks worked out; `None` where the file's value was unusable.
pub(super) struct Addressing {
    pub cidrs: Vec<Option<Ipv4Network>>,
    /// Per node: index of its first network.
    pub node_net: Vec<Option<usize>>,
    /// Per node: its address on its first network.
    pub node_ip: Vec<Option<Ipv4Addr>>,
    /// Per node: every network it is on (in file order) and its address there.
    pub ifaces: Vec<Vec<(Option<usize>, Option<Ipv4Addr>)>>,
}

/// One network a node is on, as written: `network:`/`ip:` of the single-network form, or one
/// entry of `networks:`.
pub(super) struct Slot<'a> {
    node: usize,
    network: Option<&'a At<String>>,
    ip: Option<&'a At<String>>,
    /// The field path of the entry (`nodes[1]` or `nodes[1].networks[0]`).
    path: String,
}

/// Every node's slots, in node order and file order within a node.
fn slots(lab: &Lab) -> Vec<Slot<'_>> {
    let mut out = Vec::new();
    for (i, node) in lab.nodes.value.iter().enumerate() {
        match &node.networks {
            Some(list) => out.extend(list.value.iter().enumerate().map(|(k, a)| Slot {
                node: i,
                network: Some(&a.name),
                ip: a.ip.as_ref(),
                path: format!("nodes[{i}].networks[{k}]"),
            })),
            None => out.push(Slot {
                node: i,
                network: node.network.as_ref(),
                ip: node.ip.as_ref(),
                path: format!("nodes[{i}]"),
            }),
        }
    }
    out
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
    let slots = slots(lab);
    let slot_net = slot_networks(lab, &slots, r);
    let slot_ip = slot_addresses(lab, &slots, &cidrs, &slot_net, host, r);
    let mut ifaces = vec![Vec::new(); lab.nodes.value.len()];
    for ((slot, net), ip) in slots.iter().zip(slot_net).zip(slot_ip) {
        ifaces[slot.node].push((net, ip));
    }
    let first = |i: &Vec<(Option<usize>, Option<Ipv4Addr>)>| i.first().copied();
    Addressing {
        cidrs,
        node_net: ifaces.iter().map(|i| first(i).and_then(|f| f.0)).collect(),
        node_ip: ifaces.iter().map(|i| first(i).and_then(|f| f.1)).collect(),
        ifaces,
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

fn slot_networks(lab: &Lab, slots: &[Slot<'_>], r: &mut Report) -> Vec<Option<usize>> {
    let networks = &lab.networks.value;
    let names: Vec<&str> = networks.iter().map(|n| n.name.value.as_str()).collect();
    let mut out: Vec<Option<usize>> = Vec::with_capacity(slots.len());
    for (s, slot) in slots.iter().enumerate() {
        let field = if slot.path.contains(".networks[") {
            format!("{}.name", slot.path)
        } else {
            format!("{}.network", slot.path)
        };
        let found = match slot.network {
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
                    r.error(Some(wanted.pos), &field, msg, hint);
                }
                found
            }
        };
        // A second NIC on the same network would get a second lease for one name: refused.
        let twice = found.is_some()
            && slots[..s]
                .iter()
                .zip(&out)
                .any(|(o, n)| o.node == slot.node && *n == found);
        if twice && let Some(wanted) = slot.network {
            r.error(
                Some(wanted.pos),
                &field,
                format!(
                    "node `{}` is on network `{}` twice",
                    lab.nodes.value[slot.node].name.value, wanted.value
                ),
                "list each network once per node",
            );
            out.push(None);
            continue;
        }
        out.push(found);
    }
    out
}

fn slot_addresses(
    lab: &Lab,
    slots: &[Slot<'_>],
    cidrs: &[Option<Ipv4Network>],
    slot_net: &[Option<usize>],
    host: &HostFacts,
    r: &mut Report,
) -> Vec<Option<Ipv4Addr>> {
    let nodes = &lab.nodes.value;
    let mut ips: Vec<Option<Ipv4Addr>> = vec![None; slots.len()];
    // Address -> the first slot that has it, so a repeat is found without a scan per node.
    let mut owner: HashMap<Ipv4Addr, usize> = HashMap::new();
    for (s, slot) in slots.iter().enumerate() {
        let Some(ip) = slot.ip else { continue };
        let path = format!("{}.ip", slot.path);
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
        if let Some(n) = slot_net[s]
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
                "{addr} is already used by node `{}` ({}.ip)",
                nodes[slots[first].node].name.value, slots[first].path
            );
            r.error(
                pos,
                &path,
                msg,
                "give each node its own address, or leave `ip:` out to get one assigned",
            );
            continue;
        }
        ips[s] = Some(addr);
        owner.insert(addr, s);
    }
    let mut taken: HashSet<u32> = owner.keys().map(|&a| u32::from(a)).collect();
    // A node the lab has now keeps its address: adding a node before it in the file must not
    // move it (a running node's address cannot change). The others take free ones in order.
    for (s, slot) in slots.iter().enumerate() {
        if slot.ip.is_some() {
            continue;
        }
        let Some(cidr) = slot_net[s].and_then(|n| cidrs[n]) else {
            continue;
        };
        let name = &nodes[slot.node].name.value;
        let kept = host
            .node_addresses
            .iter()
            .filter(|(l, n, _)| *l == lab.name.value && n == name)
            .map(|(_, _, ip)| *ip)
            .find(|ip| {
                cidr.contains(*ip)
                    && *ip != cidr.network()
                    && *ip != gateway(cidr)
                    && *ip != cidr.broadcast()
                    && !taken.contains(&u32::from(*ip))
            });
        if let Some(ip) = kept {
            taken.insert(u32::from(ip));
            ips[s] = Some(ip);
        }
    }
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); cidrs.len()];
    for (s, net) in slot_net.iter().enumerate() {
        if let Some(n) = *net {
            members[n].push(s);
        }
    }
    for (n, cidr) in cidrs.iter().enumerate() {
        if let Some(cidr) = cidr {
            let pending: Vec<usize> = members[n]
                .iter()
                .copied()
                .filter(|&s| ips[s].is_none() && slots[s].ip.is_none())
                .collect();
            for (s, addr) in assign(lab, n, *cidr, (members[n].len(), pending), &taken, r) {
                ips[s] = Some(addr);
            }
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
/// `members` are the slots on the network, `pending` those of them still without an address.
fn assign(
    lab: &Lab,
    n: usize,
    cidr: Ipv4Network,
    (members, pending): (usize, Vec<usize>),
    taken: &HashSet<u32>,
    r: &mut Report,
) -> Vec<(usize, Ipv4Addr)> {
    let net = &lab.networks.value[n];
    let path = format!("networks[{n}].cidr");
    // The network address, the gateway and the broadcast address are not for nodes.
    let room = cidr.size().saturating_sub(3);
    if members as u64 > u64::from(room) {
        let msg = format!(
            "{cidr} is too small for its {members} nodes: it has room for {room} ({} to {})",
            offset(cidr.network(), 2),
            prev(cidr.broadcast())
        );
        r.error(
            Some(net.cidr.pos),
            &path,
            msg,
            "use a larger subnet, e.g. a /24",
        );
        return Vec::new();
    }
    let first = u32::from(gateway(cidr)).saturating_add(AUTO_IP_OFFSET);
    let last = u32::from(cidr.broadcast()) - 1;
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
        return Vec::new();
    }
    let free = (first..=last).filter(|a| !taken.contains(a));
    pending.into_iter().zip(free.map(Ipv4Addr::from)).collect()
}

#[cfg(test)]
mod tests;
