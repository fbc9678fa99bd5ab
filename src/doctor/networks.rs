//! The lab's subnets against libvirt's networks and the host's routes. A pure function of the
//! facts.

use super::facts::{Facts, LabFacts, NetFacts};
use super::{Check, Fix};
use ipnetwork::Ipv4Network;

/// The `default` network and every libvirt network or host route that the lab's subnets
/// overlap.
pub(crate) fn networks(f: &Facts) -> Vec<Check> {
    const NAME: &str = "networks";
    let Ok(l) = &f.libvirt else {
        return Vec::new();
    };
    let default = match l.networks.iter().find(|n| n.name == "default") {
        Some(n) => format!(
            "libvirt's `default` network: {} ({})",
            n.cidr.map_or("no IPv4 subnet".into(), |c| c.to_string()),
            if n.active { "active" } else { "inactive" }
        ),
        None => "libvirt has no `default` network (firedrill does not need it)".to_string(),
    };
    let Some(Ok(lab)) = &f.lab else {
        return vec![Check::ok(NAME, default)];
    };
    let theirs = |n: &&NetFacts| n.owner.as_deref() != Some(lab.name.as_str());
    let mut out = Vec::new();
    for (net, cidr) in &lab.networks {
        let mut clashes: Vec<String> = l
            .networks
            .iter()
            .filter(theirs)
            .filter(|n| n.cidr.is_some_and(|c| c.overlaps(*cidr)))
            .map(|n| {
                format!(
                    "libvirt network `{}` ({})",
                    n.name,
                    n.cidr.map(|c| c.to_string()).unwrap_or_default()
                )
            })
            .collect();
        // The lab's own bridge, once it is up, is a route of exactly its subnet.
        let own_up = l
            .networks
            .iter()
            .any(|n| !theirs(&n) && n.cidr == Some(*cidr));
        clashes.extend(
            f.routes
                .iter()
                .filter(|r| r.net.prefix() > 0 && r.net.overlaps(*cidr))
                .filter(|r| !(own_up && r.net == *cidr))
                .map(|r| format!("the host route {} on {}", r.net, r.dev)),
        );
        if !clashes.is_empty() {
            let free = free_subnet(f, lab);
            out.push(Check::fail(
                NAME,
                format!("network `{net}` ({cidr}) overlaps {}", clashes.join(", ")),
                Fix::same(format!(
                    "edit {}: give network `{net}` `cidr: {}`",
                    lab.file.display(),
                    free.map_or("<an unused /24>".into(), |c| c.to_string())
                )),
            ));
        }
    }
    if out.is_empty() {
        let nets: Vec<String> = lab.networks.iter().map(|(_, c)| c.to_string()).collect();
        out.push(Check::ok(
            NAME,
            format!("the lab's {} overlaps nothing; {default}", nets.join(", ")),
        ));
    }
    out
}

/// The first 10.N.0.0/24 that no libvirt network, host route or network of the lab overlaps.
fn free_subnet(f: &Facts, lab: &LabFacts) -> Option<Ipv4Network> {
    let libvirt = f.libvirt.as_ref().ok();
    (77u8..=254).find_map(|n| {
        let c = Ipv4Network::new(std::net::Ipv4Addr::new(10, n, 0, 0), 24).ok()?;
        let taken = libvirt
            .into_iter()
            .flat_map(|l| l.networks.iter().filter_map(|n| n.cidr))
            .chain(
                f.routes
                    .iter()
                    .filter(|r| r.net.prefix() > 0)
                    .map(|r| r.net),
            )
            .chain(lab.networks.iter().map(|(_, c)| *c))
            .any(|t| t.overlaps(c));
        (!taken).then_some(c)
    })
}
