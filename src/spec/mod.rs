//! The lab file: the types a YAML lab description parses into, and the checked, fully resolved
//! form (`ValidLab`) that the rest of firedrill builds from.
//!
//! `load` only parses (syntax, keys, types, required fields); `validate` collects every semantic
//! problem; `check` does both and resolves defaults, IPs and role options.

mod defaults;
pub(crate) use defaults::DEFAULT_IMAGE;
mod dns;
pub(crate) mod load;
mod network;
pub(crate) mod problem;
mod resources;
mod roles;
pub(crate) mod suggest;
mod summary;
mod topology;
mod validate;
pub(crate) mod yaml;

#[cfg(test)]
pub(crate) mod testutil;

use crate::host::HostFacts;
use ipnetwork::Ipv4Network;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

pub(crate) use defaults::DEFAULT_APP_PORT;
pub(crate) use problem::{Problem, Problems, Severity};
pub(crate) use roles::taken_port;

use crate::roles::OptionsByRole;
pub(crate) use crate::roles::{AppOptions, HaproxyOptions, Role, RoleOptions};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum NetMode {
    #[default]
    Nat,
    Isolated,
    /// No way out through the host: the network's traffic for elsewhere goes through a node of
    /// the lab (its `router:`), which is every member's default gateway.
    Routed,
}

impl NetMode {
    pub(crate) fn name(self) -> &'static str {
        match self {
            NetMode::Nat => "nat",
            NetMode::Isolated => "isolated",
            NetMode::Routed => "routed",
        }
    }

    pub(crate) fn from_name(name: &str) -> Option<NetMode> {
        [NetMode::Nat, NetMode::Isolated, NetMode::Routed]
            .into_iter()
            .find(|m| m.name() == name)
    }
}

impl fmt::Display for NetMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A place in the lab file (1-based line and column, as the YAML parser reports them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Pos {
    pub line: usize,
    pub column: usize,
}

/// A value together with where the file gave it, so later checks can point at it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct At<T> {
    pub value: T,
    pub pos: Pos,
}

/// The lab file as written: nothing defaulted, nothing cross-checked. Strings that need a
/// semantic parse (CIDRs, IPs) stay strings so that `validate` can report them with the rest.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Lab {
    pub source: PathBuf,
    pub name: At<String>,
    pub defaults: Defaults,
    pub networks: At<Vec<Network>>,
    pub nodes: At<Vec<Node>>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Defaults {
    pub image: Option<At<String>>,
    pub cpus: Option<At<u32>>,
    pub memory: Option<At<u64>>,
    pub disk: Option<At<u64>>,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Network {
    pub pos: Pos,
    pub name: At<String>,
    pub cidr: At<String>,
    pub mode: Option<At<NetMode>>,
    /// `router:`: the node a `routed` network's traffic leaves through.
    pub router: Option<At<String>>,
    pub domain: Option<At<String>>,
    /// `dns:`: extra names, each with its target as written.
    pub dns: Vec<(At<String>, At<String>)>,
}

/// One entry of a node's `networks:` list: the network and, if given, the node's address on it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Attachment {
    pub pos: Pos,
    pub name: At<String>,
    pub ip: Option<At<String>>,
}

/// One entry of a node's `routes:`: a network (CIDR or network name) and the next hop (an
/// address or a node) as written.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct RouteSpec {
    pub pos: Pos,
    pub to: At<String>,
    pub via: At<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Node {
    pub pos: Pos,
    pub name: At<String>,
    pub roles: Vec<At<Role>>,
    pub ip: Option<At<String>>,
    pub network: Option<At<String>>,
    /// `networks:`, the form for a node on several networks (instead of `network`/`ip`).
    pub networks: Option<At<Vec<Attachment>>>,
    pub routes: Vec<RouteSpec>,
    /// `gateway:`: the default route's next hop, an address or a node.
    pub gateway: Option<At<String>>,
    pub image: Option<At<String>>,
    pub cpus: Option<At<u32>>,
    pub memory: Option<At<u64>>,
    pub disk: Option<At<u64>>,
    /// The options blocks of roles that read their own (`RoleDef::has_options`), by key: each
    /// role's file parses and checks its block (`roles::check_options`).
    pub role_options: Vec<(yaml::Key, yaml::Yaml)>,
}

/// Fully resolved and checked: defaults applied, CIDRs normalised, every node has an IP.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ValidLab {
    pub name: crate::paths::LabName,
    pub networks: Vec<ValidNetwork>,
    pub nodes: Vec<ValidNode>,
    pub source: PathBuf,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ValidNetwork {
    pub name: String,
    /// Host bits cleared.
    pub cidr: Ipv4Network,
    pub mode: NetMode,
    /// The node a `routed` network's traffic for elsewhere goes through.
    pub router: Option<String>,
    pub domain: String,
    /// The first host address; libvirt's bridge takes it.
    pub gateway: Ipv4Addr,
    /// The `dns:` names, each resolved to its address (an alias takes its target's).
    pub dns: Vec<(String, Ipv4Addr)>,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ValidNode {
    pub name: String,
    pub roles: Vec<Role>,
    /// Index into `ValidLab::networks` of the node's first network; `ip` is its address there
    /// (the one firedrill reaches the node by).
    pub network: usize,
    pub ip: Ipv4Addr,
    /// Every network the node is on, the first one being `network`/`ip`.
    pub interfaces: Vec<Interface>,
    /// Static routes, in file order.
    pub routes: Vec<Route>,
    /// The default route's next hop: `gateway:`, else the router of a `routed` network the
    /// node is on, else the bridge of its first network.
    pub gateway: Ipv4Addr,
    /// How its roles reach the nodes they talk to, one entry per node.
    pub reaches: Vec<Reach>,
    /// The lab's `dns` node's address as its resolver, when that node serves it.
    pub resolver: Option<Ipv4Addr>,
    pub image: String,
    pub cpus: u32,
    pub memory_mib: u64,
    pub disk_gib: u64,
    /// The options of its roles, as each role's file checked them.
    pub options: Vec<RoleOptions>,
}

impl ValidNode {
    /// `app:` as checked, on an app node.
    pub(crate) fn app(&self) -> Option<&AppOptions> {
        self.options.app()
    }

    #[cfg(test)]
    pub(crate) fn app_mut(&mut self) -> &mut AppOptions {
        self.options
            .iter_mut()
            .find_map(|o| match o {
                RoleOptions::App(a) => Some(a),
                _ => None,
            })
            .expect("an app node")
    }

    #[cfg(test)]
    pub(crate) fn haproxy_mut(&mut self) -> &mut HaproxyOptions {
        self.options
            .iter_mut()
            .find_map(|o| match o {
                RoleOptions::Haproxy(h) => Some(h),
                _ => None,
            })
            .expect("a haproxy node")
    }

    /// `haproxy:` as checked, on a haproxy node.
    pub(crate) fn haproxy(&self) -> Option<&HaproxyOptions> {
        self.options.haproxy()
    }
}

/// How a node's roles reach a node they talk to (an app its database, haproxy a backend).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Reach {
    pub peer: String,
    /// The peer's address on a network the two share, else the first one the routes lead to.
    pub ip: Ipv4Addr,
    /// The address the peer sees the connection come from.
    pub from: Ipv4Addr,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Interface {
    /// Index into `ValidLab::networks`.
    pub network: usize,
    pub ip: Ipv4Addr,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Route {
    pub to: Ipv4Network,
    pub via: Ipv4Addr,
}

/// Load, validate against the host and resolve. On success the warnings come back beside the lab.
pub(crate) fn check(
    path: &Path,
    host: &HostFacts,
    force: bool,
) -> Result<(ValidLab, Vec<Problem>), Problems> {
    let text = read(path)?;
    check_text(path, &text, host, force)
}

/// `check` on text already in memory; `path` is only used in messages.
pub(crate) fn check_text(
    path: &Path,
    text: &str,
    host: &HostFacts,
    force: bool,
) -> Result<(ValidLab, Vec<Problem>), Problems> {
    let (lab, mut problems) = load::parse(path, text);
    let Some(lab) = lab else {
        return Err(Problems(in_file_order(problems)));
    };
    // Validation still runs after load problems, so one run shows everything that is wrong.
    let (valid, more) = validate::validate(&lab, host, force);
    problems.extend(more);
    let problems = in_file_order(problems);
    match valid {
        Some(valid) if !problems.iter().any(Problem::is_error) => Ok((valid, problems)),
        _ => Err(Problems(problems)),
    }
}

/// Problems sorted by position (stable: same place keeps discovery order); those without a
/// position, which concern the lab as a whole, come last.
pub(crate) fn in_file_order(mut problems: Vec<Problem>) -> Vec<Problem> {
    problems.sort_by_key(|p| (p.line.is_none(), p.line, p.column));
    problems
}

fn read(path: &Path) -> Result<String, Problems> {
    read_input(
        path,
        "lab file",
        "check the path; ready-made labs are in labs/",
    )
}

/// Reads a lab or level file (`what`) with a size bound, once; a failure is one problem.
pub(crate) fn read_input(path: &Path, what: &str, hint: &str) -> Result<String, Problems> {
    crate::fsutil::read_input(path, crate::fsutil::INPUT_LIMIT).map_err(|e| {
        Problems(vec![Problem {
            severity: Severity::Error,
            file: path.to_path_buf(),
            line: None,
            column: None,
            path: String::new(),
            message: format!("cannot read the {what}: {e}"),
            hint: Some(hint.to_string()),
        }])
    })
}
