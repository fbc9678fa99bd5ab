//! What a role's `check_options` gets to read: the whole lab file (other nodes, their roles) and
//! the node's `NAME: {...}` block, with positions for messages.

use crate::spec::yaml::Yaml;
use crate::spec::{Lab, Node, Pos, Role};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

pub(crate) struct OptionsInput<'a> {
    pub(crate) lab: &'a Lab,
    /// Lookups over the lab's nodes, built once for every node's checks.
    pub(crate) lookup: &'a Lookup<'a>,
    /// The node's index in `lab.nodes`.
    pub(crate) index: usize,
    /// The node's options block for this role, if the file has one.
    pub(crate) block: Option<&'a Yaml>,
    /// Where the role is listed in the node's `roles`, for messages about a missing block.
    pub(crate) role_pos: Pos,
    /// Each network's CIDR, `None` where the file's was unusable (reported with the network).
    pub(crate) cidrs: &'a [Option<ipnetwork::Ipv4Network>],
    /// Per node: each network it is on (an index into `lab.networks`) and its address there.
    pub(crate) ifaces: &'a [Vec<(Option<usize>, Option<std::net::Ipv4Addr>)>],
}

impl<'a> OptionsInput<'a> {
    pub(crate) fn node(&self) -> &'a Node {
        &self.lab.nodes.value[self.index]
    }

    /// The field path of `key` in the role's block, e.g. `nodes[2].nginx.port`.
    pub(crate) fn path(&self, role: &str, key: &str) -> String {
        match key {
            "" => format!("nodes[{}].{role}", self.index),
            key => format!("nodes[{}].{role}.{key}", self.index),
        }
    }
}

/// Which nodes a role's options make it talk to, for the lab file's reachability checks.
pub(crate) trait Peers {
    /// Nodes the role on this node talks to (an app's database, haproxy's backends).
    fn talks_to(&self) -> Vec<String> {
        Vec::new()
    }

    /// Nodes that talk to the role on this node (a DNS server's clients).
    fn talked_to_by(&self) -> Vec<String> {
        Vec::new()
    }
}

impl Peers for NoOptions {}

/// The options of a role that takes none (its `RoleDef::has_options` is false).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct NoOptions;

pub(crate) fn no_options(
    _: &OptionsInput<'_>,
    _: &mut crate::spec::problem::Report,
) -> Option<NoOptions> {
    Some(NoOptions)
}

/// Lookups every node's checks share, built once so a lab of thousands of nodes is checked in
/// linear time.
pub(crate) struct Lookup<'a> {
    pub(crate) nodes: &'a [Node],
    /// The first node of each name (a repeated name is reported by the name checks).
    pub(crate) by_name: HashMap<&'a str, &'a Node>,
    pub(crate) db_nodes: Vec<&'a Node>,
    pub(crate) db_names: Vec<&'a str>,
    pub(crate) app_names: Vec<&'a str>,
    /// The networks' `dns:` names and their targets as written.
    pub(crate) dns: HashMap<&'a str, &'a str>,
}

impl<'a> Lookup<'a> {
    pub(crate) fn new(lab: &'a Lab) -> Lookup<'a> {
        let nodes = &lab.nodes.value;
        let mut by_name = HashMap::new();
        for n in nodes {
            by_name.entry(n.name.value.as_str()).or_insert(n);
        }
        let db_nodes: Vec<&Node> = nodes
            .iter()
            .filter(|n| n.roles.iter().any(|r| r.value.is_database()))
            .collect();
        let mut dns = HashMap::new();
        for net in &lab.networks.value {
            for (name, target) in &net.dns {
                dns.entry(name.value.as_str())
                    .or_insert(target.value.trim());
            }
        }
        Lookup {
            nodes,
            by_name,
            db_names: db_nodes.iter().map(|n| n.name.value.as_str()).collect(),
            db_nodes,
            app_names: nodes
                .iter()
                .filter(|n| has(n, Role::App))
                .map(|n| n.name.value.as_str())
                .collect(),
            dns,
        }
    }

    /// The node a `dns:` name leads to through its aliases, if it leads to one.
    pub(crate) fn node_of_dns_name(&self, name: &str) -> Option<&'a Node> {
        let mut current = name;
        for _ in 0..=self.dns.len() {
            let next = *self.dns.get(current)?;
            if let Some(node) = self.by_name.get(next) {
                return Some(node);
            }
            current = next;
        }
        None
    }

    pub(crate) fn names(&self) -> impl Iterator<Item = &'a str> {
        self.nodes.iter().map(|n| n.name.value.as_str())
    }
}

pub(crate) fn has(node: &Node, role: Role) -> bool {
    node.roles.iter().any(|r| r.value == role)
}

/// A node's `NAME:` block as written, if it has one.
pub(crate) fn block(node: &Node, role: Role) -> Option<&Yaml> {
    node.role_options
        .iter()
        .find(|(k, _)| k.name == role.name())
        .map(|(_, y)| y)
}
