//! route-missing: the node loses its route to a network (`ip route del`), as after a hand-edit
//! of the interfaces file or a network restart that did not bring a static route back. Traffic
//! to that network goes the default way (or nowhere), while everything on the node's own
//! subnets still works. The route is recorded as `ip route` prints it and put back with
//! `ip route replace`; a reboot brings it back too (the node's network configuration has it).
//! A route that firedrill's own SSH session uses, and the routes of the node's own subnets,
//! are refused, so the fault can always be reverted.

use super::params::ParamSpec;
use super::text::Fields;
use super::{Fault, FaultOps, Kind, Verdict, var};
use ipnetwork::Ipv4Network;
use serde::{Deserialize, Serialize};
use std::net::Ipv4Addr;

pub(crate) const KIND: Kind = Kind {
    name: "route-missing",
    about: "The node loses its route to a network (ip route del); its own subnets still work",
    params: &[ParamSpec {
        name: "to",
        value: "CIDR|default",
        help: "the route to remove: a network such as 10.90.0.0/24, or default",
    }],
    build: |p, _node| {
        let Some(to) = p.get("to") else {
            return Err(p.bad("to", "name the route, e.g. to=10.90.0.0/24 or to=default"));
        };
        let to = to.trim();
        if to != "default" {
            let net: Ipv4Network = to
                .parse()
                .map_err(|_| p.bad("to", "write a network such as 10.90.0.0/24, or default"))?;
            if net.network() != net.ip() {
                return Err(p.bad(
                    "to",
                    format!(
                        "{to} has host bits set; the network is {}/{}",
                        net.network(),
                        net.prefix()
                    ),
                ));
            }
        }
        Ok(Fault::RouteMissing(RouteMissing {
            to: to.to_string(),
            routes: Vec::new(),
        }))
    },
};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct RouteMissing {
    /// A network in CIDR form, or `default`.
    pub(crate) to: String,
    /// The routes removed, as `ip -4 route show` printed them (one per line).
    #[serde(default)]
    pub(crate) routes: Vec<String>,
}

impl RouteMissing {
    /// Whether `ip` would leave through this route: inside the network, or (for the default
    /// route) on none of the node's own subnets.
    fn carries(&self, ip: Ipv4Addr, connected: &[Ipv4Network]) -> bool {
        match self.to.parse::<Ipv4Network>() {
            Ok(net) => net.contains(ip),
            Err(_) => !connected.iter().any(|c| c.contains(ip)),
        }
    }
}

impl FaultOps for RouteMissing {
    fn kind(&self) -> &'static str {
        KIND.name
    }

    fn summary(&self) -> String {
        if self.to == "default" {
            "remove the node's default route".into()
        } else {
            format!("remove the node's route to {}", self.to)
        }
    }

    /// The routes to remove, the node's own subnets, and where firedrill's SSH comes from.
    fn prepare_script(&self) -> String {
        var("to", &self.to)
            + "ip -4 route show exact \"$to\" | sed 's/^/route=/'\n\
               ip -4 route show scope link | awk '{ print \"connected=\" $1 }'\n"
            + super::SSH_FROM
    }

    fn prepared(&mut self, out: &Fields) -> Result<(), String> {
        let routes: Vec<String> = out.all("route").to_vec();
        if routes.is_empty() {
            return Err(format!(
                "the node has no route to {}: there is nothing to remove (see `ip route` on it)",
                self.to
            ));
        }
        if routes
            .iter()
            .any(|r| r.contains("proto kernel") || r.contains("scope link"))
        {
            return Err(format!(
                "{} is one of the node's own subnets (its interface's route): removing it cuts the node off",
                self.to
            ));
        }
        let connected: Vec<Ipv4Network> = out
            .all("connected")
            .iter()
            .filter_map(|c| c.parse().ok())
            .collect();
        for ssh in out.all("ssh_from") {
            if let Ok(ip) = ssh.parse::<Ipv4Addr>()
                && self.carries(ip, &connected)
            {
                return Err(format!(
                    "firedrill's SSH session to this node comes from {ip} through this route: removing it would leave the fault impossible to revert"
                ));
            }
        }
        self.routes = routes;
        Ok(())
    }

    fn inject_script(&self) -> String {
        var("to", &self.to)
            + "set -e\nwhile ip -4 route show exact \"$to\" | grep -q .; do ip -4 route del \"$to\"; done\n\
               echo removed=yes\n"
    }

    fn verify_script(&self) -> String {
        var("to", &self.to) + "ip -4 route show exact \"$to\" | sed 's/^/route=/'\n"
    }

    fn verdict(&self, out: &Fields, _host_now: i64) -> Verdict {
        let now = out.all("route");
        Verdict {
            active: now.is_empty(),
            detail: if now.is_empty() {
                format!("no route to {} on the node", self.to)
            } else {
                format!("the route is back: {}", now.join("; "))
            },
        }
    }

    /// Puts every recorded route back as it was printed (`ip route replace` takes that form).
    fn revert_script(&self, _host_now: Option<i64>) -> String {
        let mut s = var("to", &self.to);
        // `:` keeps the branch valid when nothing was recorded (a revert before the prepare).
        s += "if ! ip -4 route show exact \"$to\" | grep -q .; then\n  :\n";
        for r in &self.routes {
            // The recorded line's words are ip's own (networks, addresses, device names):
            // each is quoted as one argument.
            let words: Vec<String> = r.split_whitespace().map(crate::ssh::quote).collect();
            s += &format!(
                "  ip -4 route replace {} && echo {}\n",
                words.join(" "),
                crate::ssh::quote(&format!("restored the route {r}"))
            );
        }
        s += "fi\n";
        s
    }
}

#[cfg(test)]
#[path = "route_missing_tests.rs"]
mod tests;
