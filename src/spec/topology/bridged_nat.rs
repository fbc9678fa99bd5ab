//! A `nat` network that a lab router forwards out of, on a host whose bridges hand the frames
//! between two guests to iptables (`net.bridge.bridge-nf-call-iptables = 1`, which br_netfilter
//! sets and Docker needs). libvirt's MASQUERADE rule for a `nat` network matches any packet from
//! it to elsewhere, on any interface, so a packet crossing the bridge on its way to the router
//! leaves it with the bridge's address, and again on the next network's bridge: the answer goes
//! to the host and never comes back. Seen on VMs: a ping from lan to a routed dmz through the
//! router got no answer.

use super::View;
use crate::roles::Role;
use crate::spec::NetMode;
use crate::spec::problem::Report;

pub(super) fn check(v: &View<'_>, bridged_iptables: bool, r: &mut Report) {
    if !bridged_iptables {
        return;
    }
    for (n, net) in v.lab.networks.value.iter().enumerate() {
        let mode = net.mode.as_ref().map(|m| m.value).unwrap_or_default();
        if mode != NetMode::Nat {
            continue;
        }
        let forwards = |i: usize| {
            v.lab.nodes.value[i]
                .roles
                .iter()
                .any(|r| r.value == Role::Router)
        };
        let Some(router) = (0..v.ifaces.len()).find(|&i| {
            forwards(i) && v.ifaces[i].len() > 1 && v.ifaces[i].iter().any(|(m, _)| *m == n)
        }) else {
            continue;
        };
        let name = v.net_name(n);
        r.error(
            Some(net.mode.as_ref().map_or(net.pos, |m| m.pos)),
            &format!("networks[{n}].mode"),
            format!(
                "libvirt's NAT of `{name}` would rewrite what router `{}` forwards out of it: \
                 this host passes bridged frames through iptables \
                 (net.bridge.bridge-nf-call-iptables = 1), so connections from `{name}` to \
                 another network get no answer",
                v.node_name(router)
            ),
            format!(
                "where libvirtd runs, turn it off: `sysctl -w \
                 net.bridge.bridge-nf-call-iptables=0` (scripts/libvirtd-ns does so in the \
                 namespace it creates; Docker's bridges need it on), or make `{name}` \
                 `mode: isolated`"
            ),
        );
    }
}
