//! How a lab's networks connect: a `routed` network's router, each node's static routes and
//! default gateway, and whether every node can reach (and hear back from) the nodes its roles
//! talk to. The walk is hop by hop through the lab's nodes, as the guests' kernels will route:
//! the host's bridges lead out of the lab but never into another of its networks (libvirt
//! refuses to forward into its networks).

use super::network::Addressing;
use super::problem::Report;
use super::suggest::did_you_mean;
use super::{At, Lab, NetMode, Pos, Route};
use ipnetwork::Ipv4Network;
use std::collections::HashMap;
use std::net::Ipv4Addr;

/// What the topology checks worked out, per node and per network.
pub(super) struct Topology {
    pub routes: Vec<Vec<Route>>,
    /// The default route's next hop (`None` where a check failed).
    pub gateway: Vec<Option<Ipv4Addr>>,
    /// Per network: its router's node index (`routed` networks).
    pub routers: Vec<Option<usize>>,
    /// Per node: how its roles reach each node they talk to.
    pub reaches: Vec<Vec<super::Reach>>,
}

/// A node a role of another node talks to: the role's position, for the message.
pub(super) struct Need {
    pub node: usize,
    pub role: At<crate::roles::Role>,
    pub peer: String,
}

struct View<'a> {
    lab: &'a Lab,
    cidrs: &'a [Option<Ipv4Network>],
    /// Per node: (network, address) of every usable interface.
    ifaces: Vec<Vec<(usize, Ipv4Addr)>>,
    owner: HashMap<Ipv4Addr, usize>,
}

impl View<'_> {
    fn node_name(&self, i: usize) -> &str {
        &self.lab.nodes.value[i].name.value
    }

    fn net_name(&self, n: usize) -> &str {
        &self.lab.networks.value[n].name.value
    }

    fn nets_of(&self, i: usize) -> String {
        let list: Vec<String> = self.ifaces[i]
            .iter()
            .filter_map(|(n, _)| Some(format!("{} {}", self.net_name(*n), self.cidrs[*n]?)))
            .collect();
        list.join(", ")
    }

    /// The network of `i` that contains `ip`, if any.
    fn connected(&self, i: usize, ip: Ipv4Addr) -> Option<usize> {
        self.ifaces[i]
            .iter()
            .map(|(n, _)| *n)
            .find(|n| self.cidrs[*n].is_some_and(|c| c.contains(ip)))
    }

    fn network_of(&self, ip: Ipv4Addr) -> Option<usize> {
        self.cidrs
            .iter()
            .position(|c| c.is_some_and(|c| c.contains(ip)))
    }

    fn describe(&self, ip: Ipv4Addr) -> String {
        match self.network_of(ip) {
            Some(n) => format!("{ip} on {}", self.net_name(n)),
            None => ip.to_string(),
        }
    }
}

pub(super) fn check(
    lab: &Lab,
    a: &Addressing,
    needs: &[Need],
    bridged_iptables: bool,
    r: &mut Report,
) -> Topology {
    let ifaces: Vec<Vec<(usize, Ipv4Addr)>> = a
        .ifaces
        .iter()
        .map(|list| {
            list.iter()
                .filter_map(|(n, ip)| Some(((*n)?, (*ip)?)))
                .collect()
        })
        .collect();
    let mut owner = HashMap::new();
    for (i, list) in ifaces.iter().enumerate() {
        for (_, ip) in list {
            owner.insert(*ip, i);
        }
    }
    let v = View {
        lab,
        cidrs: &a.cidrs,
        ifaces,
        owner,
    };
    let routers = routers(&v, r);
    bridged_nat::check(&v, bridged_iptables, r);
    let routes = lab
        .nodes
        .value
        .iter()
        .enumerate()
        .map(|(i, _)| routes(&v, i, r))
        .collect::<Vec<_>>();
    let (gateway, gateway_pos) = gateways(&v, &routers, r);
    let loops = default_loops(&v, &gateway, &gateway_pos, r);
    let mut reaches = vec![Vec::<super::Reach>::new(); lab.nodes.value.len()];
    if !loops && !r.has_errors() {
        for need in needs {
            let Some(found) = reach(&v, &routes, &gateway, need, r) else {
                continue;
            };
            if !reaches[need.node].iter().any(|x| x.peer == found.peer) {
                reaches[need.node].push(found);
            }
        }
    }
    Topology {
        routes,
        gateway,
        routers,
        reaches,
    }
}

/// Each `routed` network's router: a node on that network.
fn routers(v: &View<'_>, r: &mut Report) -> Vec<Option<usize>> {
    let mut out = Vec::new();
    for (n, net) in v.lab.networks.value.iter().enumerate() {
        let routed = net
            .mode
            .as_ref()
            .is_some_and(|m| m.value == NetMode::Routed);
        let path = format!("networks[{n}].router");
        let found = match (&net.router, routed) {
            (None, false) => None,
            (None, true) => {
                let pos = net.mode.as_ref().map(|m| m.pos);
                r.error(
                    pos,
                    &format!("networks[{n}].mode"),
                    format!("routed network `{}` has no `router`", net.name.value),
                    "name the node its traffic leaves through, e.g. `router: gw` (a node on \
                     this network and another one), or use `mode: nat`",
                );
                None
            }
            (Some(router), false) => {
                r.error(
                    Some(router.pos),
                    &path,
                    format!(
                        "`router` is set but network `{}` is not routed",
                        net.name.value
                    ),
                    "add `mode: routed`, or remove `router`",
                );
                None
            }
            (Some(router), true) => router_node(v, n, router, &path, r),
        };
        out.push(found);
    }
    out
}

fn router_node(
    v: &View<'_>,
    n: usize,
    router: &At<String>,
    path: &str,
    r: &mut Report,
) -> Option<usize> {
    let nodes = &v.lab.nodes.value;
    let Some(i) = nodes.iter().position(|x| x.name.value == router.value) else {
        let hint = did_you_mean(&router.value, nodes.iter().map(|x| x.name.value.as_str()))
            .unwrap_or_else(|| "name a node of this lab".to_string());
        r.error(
            Some(router.pos),
            path,
            format!("no node named `{}`", router.value),
            hint,
        );
        return None;
    };
    if !v.ifaces[i].iter().any(|(m, _)| *m == n) {
        r.error(
            Some(router.pos),
            path,
            format!(
                "router `{}` is not on network `{}`",
                router.value,
                v.net_name(n)
            ),
            format!(
                "add `- {{name: {}}}` to the `networks` of node `{}`",
                v.net_name(n),
                router.value
            ),
        );
        return None;
    }
    Some(i)
}

/// A next hop as written (an address or a node) for node `i`: an address on one of `i`'s
/// networks. `what` names the field in messages.
fn next_hop(
    v: &View<'_>,
    i: usize,
    hop: &At<String>,
    path: &str,
    r: &mut Report,
) -> Option<Ipv4Addr> {
    let name = v.node_name(i);
    let text = hop.value.trim();
    if let Ok(ip) = text.parse::<Ipv4Addr>() {
        if v.ifaces[i].iter().any(|(_, own)| *own == ip) {
            r.error(
                Some(hop.pos),
                path,
                format!("{ip} is `{name}`'s own address"),
                "route via another node's address on the same network",
            );
            return None;
        }
        if v.connected(i, ip).is_none() {
            r.error(
                Some(hop.pos),
                path,
                format!("{ip} is not on a network `{name}` is on ({})", v.nets_of(i)),
                "a next hop must be directly reachable: use an address on one of those \
                 networks, e.g. a router's address there",
            );
            return None;
        }
        return Some(ip);
    }
    let nodes = &v.lab.nodes.value;
    let Some(j) = nodes.iter().position(|x| x.name.value == text) else {
        let hint =
            did_you_mean(text, nodes.iter().map(|x| x.name.value.as_str())).unwrap_or_else(|| {
                "give an address (`10.77.0.2`) or the name of a node on the same network".into()
            });
        r.error(
            Some(hop.pos),
            path,
            format!("`{text}` is neither an IPv4 address nor a node"),
            hint,
        );
        return None;
    };
    if j == i {
        r.error(
            Some(hop.pos),
            path,
            format!("`{name}` cannot route via itself"),
            "route via another node on the same network",
        );
        return None;
    }
    let shared = v.ifaces[j]
        .iter()
        .find(|(n, _)| v.ifaces[i].iter().any(|(m, _)| m == n));
    match shared {
        Some((_, ip)) => Some(*ip),
        None => {
            r.error(
                Some(hop.pos),
                path,
                format!(
                    "node `{text}` is not on a network `{name}` is on ({})",
                    v.nets_of(i)
                ),
                format!(
                    "a next hop must be directly reachable: put `{text}` on one of those \
                     networks, or route via a node that is"
                ),
            );
            None
        }
    }
}

fn routes(v: &View<'_>, i: usize, r: &mut Report) -> Vec<Route> {
    let node = &v.lab.nodes.value[i];
    let mut out = Vec::new();
    for (k, route) in node.routes.iter().enumerate() {
        let path = format!("nodes[{i}].routes[{k}]");
        let to = destination(v, &route.to, &format!("{path}.to"), r);
        let via = next_hop(v, i, &route.via, &format!("{path}.via"), r);
        if let (Some(to), Some(via)) = (to, via) {
            out.push(Route { to, via });
        }
    }
    out
}

fn destination(v: &View<'_>, to: &At<String>, path: &str, r: &mut Report) -> Option<Ipv4Network> {
    let text = to.value.trim();
    if let Some(n) = v
        .lab
        .networks
        .value
        .iter()
        .position(|x| x.name.value == text)
    {
        return v.cidrs[n];
    }
    match text.parse::<Ipv4Network>() {
        Ok(c) if text.contains('/') => Ipv4Network::new(c.network(), c.prefix()).ok(),
        _ => {
            let names = v.lab.networks.value.iter().map(|x| x.name.value.as_str());
            let hint = did_you_mean(text, names).unwrap_or_else(|| {
                "give a CIDR (`to: 10.80.0.0/24`) or the name of a network of this lab".into()
            });
            r.error(
                Some(to.pos),
                path,
                format!("`{text}` is neither a CIDR nor a network of this lab"),
                hint,
            );
            None
        }
    }
}

/// Where the file decided a node's default gateway: position and field path.
type Decided = (Option<Pos>, String);

/// Each node's default gateway and where the file decided it (for messages).
fn gateways(
    v: &View<'_>,
    routers: &[Option<usize>],
    r: &mut Report,
) -> (Vec<Option<Ipv4Addr>>, Vec<Decided>) {
    let mut gw = Vec::new();
    let mut at = Vec::new();
    for (i, node) in v.lab.nodes.value.iter().enumerate() {
        if let Some(given) = &node.gateway {
            let path = format!("nodes[{i}].gateway");
            gw.push(next_hop(v, i, given, &path, r));
            at.push((Some(given.pos), path));
            continue;
        }
        let by_router = v.ifaces[i].iter().find_map(|(n, _)| {
            let router = routers[*n].filter(|&x| x != i)?;
            let ip = v.ifaces[router].iter().find(|(m, _)| m == n)?.1;
            let pos = v.lab.networks.value[*n].router.as_ref().map(|x| x.pos);
            Some((ip, pos, format!("networks[{n}].router")))
        });
        if let Some((ip, pos, path)) = by_router {
            gw.push(Some(ip));
            at.push((pos, path));
            continue;
        }
        let routed = |n: usize| {
            v.lab.networks.value[n]
                .mode
                .as_ref()
                .is_some_and(|m| m.value == NetMode::Routed)
        };
        let bridge = v.ifaces[i]
            .iter()
            .find(|(n, _)| !routed(*n))
            .or(v.ifaces[i].first())
            .and_then(|(n, _)| v.cidrs[*n])
            .map(super::network::gateway);
        gw.push(bridge);
        at.push((Some(node.pos), format!("nodes[{i}]")));
    }
    (gw, at)
}

/// Reports every loop of default routes through the lab's nodes, once per loop. True if any.
fn default_loops(
    v: &View<'_>,
    gateway: &[Option<Ipv4Addr>],
    at: &[Decided],
    r: &mut Report,
) -> bool {
    let next = |i: usize| gateway[i].and_then(|g| v.owner.get(&g).copied());
    let mut reported: Vec<usize> = Vec::new();
    for start in 0..gateway.len() {
        let mut seen = vec![start];
        let mut x = start;
        while let Some(y) = next(x) {
            if let Some(k) = seen.iter().position(|&s| s == y) {
                let cycle = &seen[k..];
                let first = *cycle.iter().min().unwrap_or(&y);
                if !reported.contains(&first) {
                    reported.push(first);
                    let k0 = cycle.iter().position(|&c| c == first).unwrap_or(0);
                    let mut names: Vec<&str> = cycle[k0..]
                        .iter()
                        .chain(&cycle[..k0])
                        .map(|&c| v.node_name(c))
                        .collect();
                    names.push(v.node_name(first));
                    let (pos, path) = &at[first];
                    r.error(
                        *pos,
                        path,
                        format!(
                            "the default routes go round in a loop: {}",
                            names.join(" → ")
                        ),
                        "give one of these nodes a `gateway:` that leads out of the loop \
                         (the bridge of a `nat` network, its .1 address), so packets for \
                         elsewhere stop circling",
                    );
                }
                break;
            }
            seen.push(y);
            x = y;
        }
    }
    !reported.is_empty()
}

/// Why a packet from a node does not arrive.
enum Lost {
    /// At node `at`, the next hop is `via`, which is not a node of the lab (the host's bridge).
    Host { at: usize, via: Ipv4Addr },
    /// The path comes back to node `at`.
    Loop { at: usize },
    /// Node `at` is a hop on the way but does not forward (no `router` role).
    NoForward { at: usize },
}

/// The hops from node `from` to `dest`: Ok with the address `from` sends from.
fn walk(
    v: &View<'_>,
    routes: &[Vec<Route>],
    gateway: &[Option<Ipv4Addr>],
    from: usize,
    dest: Ipv4Addr,
) -> Result<Ipv4Addr, Lost> {
    let mut x = from;
    let mut seen = vec![from];
    let mut source = None;
    loop {
        let hop = match v.connected(x, dest) {
            Some(_) => dest,
            None => routes[x]
                .iter()
                .filter(|r| r.to.contains(dest))
                .max_by_key(|r| r.to.prefix())
                .map(|r| r.via)
                .or(gateway[x])
                .ok_or(Lost::Host {
                    at: x,
                    via: Ipv4Addr::UNSPECIFIED,
                })?,
        };
        if source.is_none() {
            let n = v.connected(x, hop);
            source = v.ifaces[x]
                .iter()
                .find(|(m, _)| Some(*m) == n)
                .map(|(_, ip)| *ip);
        }
        if hop == dest {
            return source.ok_or(Lost::Host { at: x, via: hop });
        }
        let Some(&y) = v.owner.get(&hop) else {
            return Err(Lost::Host { at: x, via: hop });
        };
        if seen.contains(&y) {
            return Err(Lost::Loop { at: y });
        }
        let forwards = v.lab.nodes.value[y]
            .roles
            .iter()
            .any(|r| r.value == crate::roles::Role::Router);
        if !forwards {
            return Err(Lost::NoForward { at: y });
        }
        seen.push(y);
        x = y;
    }
}

/// A packet that does not arrive: from node, to node, the address it was sent to, and why.
type Failure = (usize, usize, Ipv4Addr, Lost);

/// Which of `p`'s addresses node `i` talks to, and from which of its own: the address on a
/// network they share, else the first one `i`'s routes lead to and `p` can answer from.
/// `Err` with the first address and why it fails when none does.
fn pick(
    v: &View<'_>,
    routes: &[Vec<Route>],
    gateway: &[Option<Ipv4Addr>],
    i: usize,
    p: usize,
) -> Option<Result<(Ipv4Addr, Ipv4Addr), Failure>> {
    if let Some((dest, from)) = v.ifaces[p].iter().find_map(|(n, dest)| {
        let (_, from) = v.ifaces[i].iter().find(|(m, _)| m == n)?;
        Some((*dest, *from))
    }) {
        return Some(Ok((dest, from)));
    }
    let mut first_failure = None;
    for &(_, dest) in &v.ifaces[p] {
        let failure = match walk(v, routes, gateway, i, dest) {
            Err(lost) => (i, p, dest, lost),
            Ok(source) => match walk(v, routes, gateway, p, source) {
                Ok(_) => return Some(Ok((dest, source))),
                Err(lost) => (p, i, source, lost),
            },
        };
        first_failure.get_or_insert(failure);
    }
    first_failure.map(Err)
}

/// How `need`'s node reaches its peer, or a report of why it cannot.
fn reach(
    v: &View<'_>,
    routes: &[Vec<Route>],
    gateway: &[Option<Ipv4Addr>],
    need: &Need,
    r: &mut Report,
) -> Option<super::Reach> {
    let nodes = &v.lab.nodes.value;
    let p = nodes.iter().position(|x| x.name.value == need.peer)?;
    let i = need.node;
    let role = need.role.value.name();
    let (me, peer) = (v.node_name(i), v.node_name(p));
    // A node needs a peer for a role of its own, or as the resolver a `dns` node serves it.
    let (path, needs, needs_of_me) = match nodes[i]
        .roles
        .iter()
        .position(|x| x.value == need.role.value)
    {
        Some(k) => (
            format!("nodes[{i}].roles[{k}]"),
            format!("which its {role} role needs"),
            format!("which {me}'s {role} role needs"),
        ),
        None => (
            format!("nodes[{p}].{role}.clients"),
            "its resolver".to_string(),
            format!("{me}'s resolver"),
        ),
    };
    let (a, b, addr, lost) = match pick(v, routes, gateway, i, p)? {
        Ok((ip, from)) => {
            return Some(super::Reach {
                peer: peer.to_string(),
                ip,
                from,
            });
        }
        Err(failure) => failure,
    };
    let why = match lost {
        Lost::Host { at, via } if via.is_unspecified() => {
            format!("`{}` has no route for it", v.node_name(at))
        }
        Lost::Host { at, via } => format!(
            "`{}` sends it to {}, the host's bridge, which does not route between the lab's \
             networks",
            v.node_name(at),
            v.describe(via)
        ),
        Lost::Loop { at } => format!("its path comes back to `{}`", v.node_name(at)),
        Lost::NoForward { at } => format!(
            "its path goes through `{}`, which does not forward packets (add `router` to its roles)",
            v.node_name(at)
        ),
    };
    let message = if a == i {
        format!(
            "`{me}` cannot reach `{peer}` ({}), {needs}: {why}",
            v.describe(addr)
        )
    } else {
        format!(
            "`{peer}` cannot answer `{me}` ({}), {needs_of_me}: {why}",
            v.describe(addr)
        )
    };
    r.error(
        Some(need.role.pos),
        &path,
        message,
        route_hint(v, a, b, addr),
    );
    None
}

/// A fix for "node `a` cannot reach `addr` (node `b`)": a route via a node that is on one of
/// `a`'s networks and on the destination's, when there is one.
fn route_hint(v: &View<'_>, a: usize, b: usize, addr: Ipv4Addr) -> String {
    let (me, them) = (v.node_name(a), v.node_name(b));
    let Some(dest_net) = v.network_of(addr) else {
        return format!("put `{me}` and `{them}` on a common network");
    };
    let dest = v.net_name(dest_net);
    let via = (0..v.ifaces.len()).find(|&x| {
        x != a
            && v.ifaces[x].iter().any(|(n, _)| *n == dest_net)
            && v.ifaces[x]
                .iter()
                .any(|(n, _)| v.ifaces[a].iter().any(|(m, _)| m == n))
    });
    match via {
        Some(x) => format!(
            "give `{me}` a route through `{0}`, which is on {dest}: `routes: [{{to: {dest}, \
             via: {0}}}]` (or `gateway: {0}`)",
            v.node_name(x)
        ),
        None => format!(
            "no node is on both a network of `{me}` and {dest}: add a router node on both \
             and give `{me}` a route through it"
        ),
    }
}

mod bridged_nat;
#[cfg(test)]
mod tests;
