//! partition: the node stops hearing from (or talking to) one peer, or one port of it, with
//! nftables on the node itself: packets are dropped, not refused, so connections hang until
//! they time out, as behind a firewall rule gone wrong or a broken link. Needs no netem, so it
//! runs on every host. `direction=out` drops what the node sends, `in` what it receives (with a
//! port: the peer's answers from that port, a one-way failure), `both` both.
//!
//! The rules live in a table of their own (`inet block_<peer>_<port>`: named as an admin's
//! would be, so `nft list ruleset` does not give the exercise away), never in the node's other
//! rules; a node that already has a table of that name is refused, and revert deletes that
//! table and nothing else. It does not survive a
//! reboot (nothing is written to disk). The peer is resolved on the node, through the lab's
//! DNS, before anything changes; a peer that is firedrill's own SSH session is refused, so the
//! fault can always be reverted.

use super::params::ParamSpec;
use super::text::Fields;
use super::{Fault, FaultOps, Kind, Verdict, var};
use serde::{Deserialize, Serialize};
use std::net::Ipv4Addr;

pub(crate) const KIND: Kind = Kind {
    name: "partition",
    about: "The node's traffic with one peer (or one port of it) is silently dropped (nftables on the node)",
    params: &[
        ParamSpec {
            name: "peer",
            value: "NODE|IP",
            help: "the other side: a node (or any name the node resolves) or an IPv4 address",
        },
        ParamSpec {
            name: "port",
            value: "PORT",
            help: "only TCP traffic with this port of the peer (default: everything)",
        },
        ParamSpec {
            name: "direction",
            value: "both|in|out",
            help: "drop what the node sends (out), receives (in) or both (default both)",
        },
    ],
    build: |p, node| {
        let Some(peer) = p.get("peer") else {
            return Err(p.bad("peer", "name the other side, e.g. peer=db"));
        };
        let peer = peer.trim().to_string();
        let valid_name = !peer.is_empty()
            && peer.len() <= 253
            && peer
                .split('.')
                .all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
        if peer.parse::<Ipv4Addr>().is_err() && !valid_name {
            return Err(p.bad("peer", "write a node's name, a DNS name or an IPv4 address"));
        }
        if peer == node.name || peer == node.fqdn || peer == node.ip.to_string() {
            return Err(p.bad("peer", "that is the node itself; name another node"));
        }
        let port = match p.get("port") {
            None => None,
            Some(_) => Some(u16::try_from(p.number("port", 0, 1, 65_535)?).unwrap_or(0)),
        };
        Ok(Fault::Partition(Partition {
            peer,
            port,
            direction: p
                .choice("direction", &["both", "in", "out"], "both")?
                .to_string(),
            peer_ip: None,
        }))
    },
};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Partition {
    /// As given: a name or an address.
    pub(crate) peer: String,
    pub(crate) port: Option<u16>,
    /// "both", "in" or "out".
    pub(crate) direction: String,
    /// The peer's address, resolved on the node before the inject.
    #[serde(default)]
    pub(crate) peer_ip: Option<Ipv4Addr>,
}

impl Partition {
    /// The table that holds this fault's rules and nothing else.
    fn table(&self) -> String {
        let ip = self
            .peer_ip
            .map(|ip| ip.to_string().replace('.', "_"))
            .unwrap_or_else(|| "unresolved".into());
        match self.port {
            Some(port) => format!("block_{ip}_{port}"),
            None => format!("block_{ip}"),
        }
    }

    fn rules(&self) -> String {
        let ip = self.peer_ip.map(|ip| ip.to_string()).unwrap_or_default();
        let (out, inn) = match self.port {
            Some(port) => (
                format!("ip daddr {ip} tcp dport {port} drop"),
                format!("ip saddr {ip} tcp sport {port} drop"),
            ),
            None => (format!("ip daddr {ip} drop"), format!("ip saddr {ip} drop")),
        };
        let mut chains = String::new();
        if self.direction != "in" {
            chains += &format!(
                "  chain output {{\n    type filter hook output priority -10; policy accept;\n    {out}\n  }}\n"
            );
        }
        if self.direction != "out" {
            chains += &format!(
                "  chain input {{\n    type filter hook input priority -10; policy accept;\n    {inn}\n  }}\n"
            );
        }
        format!("table inet {} {{\n{chains}}}\n", self.table())
    }

    fn what(&self) -> String {
        let with = match self.port {
            Some(port) => format!("{}:{port}", self.peer),
            None => self.peer.clone(),
        };
        match self.direction.as_str() {
            "in" => format!("drop what the node receives from {with}"),
            "out" => format!("drop what the node sends to {with}"),
            _ => format!("drop the node's traffic with {with}, both ways"),
        }
    }
}

impl FaultOps for Partition {
    fn kind(&self) -> &'static str {
        KIND.name
    }

    fn summary(&self) -> String {
        self.what()
    }

    /// Resolves the peer on the node and lists the addresses firedrill's SSH sessions come
    /// from (the fault must not cut them).
    fn prepare_script(&self) -> String {
        var("peer", &self.peer)
            + "command -v nft >/dev/null || { echo 'this node has no nft (nftables), which partition needs' >&2; exit 3; }\n\
               case \"$peer\" in\n\
               \x20 *[!0-9.]*) ip=$(getent ahostsv4 \"$peer\" | awk 'NR == 1 { print $1 }') ;;\n\
               \x20 *) ip=$peer ;;\n\
               esac\n\
               [ -n \"$ip\" ] || { echo \"$peer does not resolve on this node\" >&2; exit 3; }\n\
               echo \"peer_ip=$ip\"\n\
               nft list tables 2>/dev/null | sed 's/^table /table=/'\n"
            + super::SSH_FROM
    }

    fn prepared(&mut self, out: &Fields) -> Result<(), String> {
        let ip: Ipv4Addr = out
            .need("peer_ip")?
            .parse()
            .map_err(|_| format!("{} resolved to no IPv4 address", self.peer))?;
        if ip.is_loopback() {
            return Err(format!("{} is this node itself ({ip})", self.peer));
        }
        if out.all("ssh_from").iter().any(|s| s == &ip.to_string()) {
            return Err(format!(
                "{} ({ip}) is where firedrill's SSH session to this node comes from: dropping it would leave the fault impossible to revert",
                self.peer
            ));
        }
        self.peer_ip = Some(ip);
        let table = format!("inet {}", self.table());
        if out.all("table").iter().any(|t| t == &table) {
            self.peer_ip = None;
            return Err(format!(
                "the node already has the nftables table {table}: revert that fault first, or remove the table"
            ));
        }
        Ok(())
    }

    fn inject_script(&self) -> String {
        format!(
            "set -e\nnft -f - <<'FIREDRILL_NFT'\n{}FIREDRILL_NFT\necho \"table=present\"\n",
            self.rules()
        )
    }

    fn verify_script(&self) -> String {
        var("t", &self.table())
            + "if nft list table inet \"$t\" >/dev/null 2>&1; then echo table=present; else echo table=absent; fi\n"
    }

    fn verdict(&self, out: &Fields, _host_now: i64) -> Verdict {
        let present = out.get("table") == Some("present");
        Verdict {
            active: present,
            detail: if present {
                format!("nftables table {} drops it", self.table())
            } else {
                format!(
                    "nftables table {} is gone (flushed, or the node rebooted)",
                    self.table()
                )
            },
        }
    }

    fn revert_script(&self, _host_now: Option<i64>) -> String {
        var("t", &self.table())
            + "if nft list table inet \"$t\" >/dev/null 2>&1; then\n\
               \x20 nft delete table inet \"$t\"\n\
               \x20 echo \"deleted nftables table $t\"\n\
               fi\n"
    }
}

#[cfg(test)]
#[path = "partition_tests.rs"]
mod tests;
