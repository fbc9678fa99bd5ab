//! Parse a lab file into `Lab`: keys, value types and required fields. Nothing is defaulted or
//! cross-checked here (that is `validate`), but every problem of this kind is reported, not just
//! the first.

use super::problem::{Problem, Report};
use super::suggest::did_you_mean;
use super::yaml::{self, Key, Value, Yaml};
use super::{At, Attachment, Defaults, Lab, NetMode, Network, Node, Pos, Role, RouteSpec};
use std::path::Path;

const LAB_KEYS: &[&str] = &["name", "defaults", "networks", "nodes"];
const DEFAULTS_KEYS: &[&str] = &["image", "cpus", "memory", "disk"];
const NETWORK_KEYS: &[&str] = &["name", "cidr", "mode", "router", "domain", "dns"];
const NODE_KEYS: &[&str] = &[
    "name", "roles", "ip", "network", "networks", "routes", "gateway", "image", "cpus", "memory",
    "disk",
];
const ATTACHMENT_KEYS: &[&str] = &["name", "ip"];
const ROUTE_KEYS: &[&str] = &["to", "via"];

/// The lab, if the file has enough structure to validate further, and the problems found.
/// A lab comes back even with problems, so `validate` can add its own to the same report.
pub(super) fn parse(file: &Path, text: &str) -> (Option<Lab>, Vec<Problem>) {
    let mut r = Report::new(file);
    let lab = yaml::parse(text, &mut r).and_then(|root| lab(&root, file, &mut r));
    (lab, r.problems)
}

fn lab(root: &Yaml, file: &Path, r: &mut Report) -> Option<Lab> {
    if root.value == Value::Null {
        r.error(
            Some(root.pos),
            "",
            "the lab file is empty",
            "start from labs/minimal.yaml: it has `name`, `networks` and `nodes`",
        );
        return None;
    }
    let map = Map::new(root, "", LAB_KEYS, r)?;
    let name = map.require(
        "name",
        r,
        "add `name: LAB` (lowercase letters, digits and '-')",
    );
    let name = name.and_then(|y| string(y, "name", r));
    let defaults = map
        .get("defaults")
        .map_or_else(Defaults::default, |y| defaults(y, r));
    let networks = map.require("networks", r, "add `networks:` with at least one network");
    let networks = networks.and_then(|y| list(y, "networks", r, network));
    let nodes = map.require("nodes", r, "add `nodes:` with at least one node");
    let nodes = nodes.and_then(|y| list(y, "nodes", r, node));
    Some(Lab {
        source: file.to_path_buf(),
        name: name?,
        defaults,
        networks: networks?,
        nodes: nodes?,
    })
}

fn defaults(y: &Yaml, r: &mut Report) -> Defaults {
    let Some(map) = Map::new(y, "defaults", DEFAULTS_KEYS, r) else {
        return Defaults::default();
    };
    Defaults {
        image: map
            .get("image")
            .and_then(|y| string(y, "defaults.image", r)),
        cpus: map
            .get("cpus")
            .and_then(|y| uint(y, "defaults.cpus", r, CPUS_HINT)),
        memory: map
            .get("memory")
            .and_then(|y| uint(y, "defaults.memory", r, MEMORY_HINT)),
        disk: map
            .get("disk")
            .and_then(|y| uint(y, "defaults.disk", r, DISK_HINT)),
    }
}

const CPUS_HINT: &str = "the number of virtual CPUs, e.g. `cpus: 1`";
const MEMORY_HINT: &str = "memory is in MiB, e.g. `memory: 512`";
const DISK_HINT: &str = "disk is in GiB, e.g. `disk: 8`";

/// `None` when a required field is missing or unusable: the network cannot be validated.
fn network(y: &Yaml, path: &str, r: &mut Report) -> Option<Network> {
    let map = Map::new(y, path, NETWORK_KEYS, r)?;
    let name = map.require("name", r, "add `name: NAME`, e.g. `name: lan`");
    let name = name.and_then(|y| string(y, &join(path, "name"), r));
    let cidr = map.require(
        "cidr",
        r,
        "add `cidr: A.B.C.D/N`, e.g. `cidr: 10.77.0.0/24`",
    );
    let cidr = cidr.and_then(|y| string(y, &join(path, "cidr"), r));
    let mode = map.get("mode").and_then(|y| {
        let s = string(y, &join(path, "mode"), r)?;
        let mode = NetMode::from_name(&s.value);
        if mode.is_none() {
            r.error(
                Some(s.pos),
                &join(path, "mode"),
                format!("unknown network mode `{}`", s.value),
                "use `nat` (the nodes reach the outside through the host), `isolated` (they do \
                 not) or `routed` with `router: NODE` (through a node of the lab)",
            );
        }
        mode.map(|value| At { value, pos: s.pos })
    });
    let router = map
        .get("router")
        .and_then(|y| string(y, &join(path, "router"), r));
    let domain = map
        .get("domain")
        .and_then(|y| string(y, &join(path, "domain"), r));
    let dns = map
        .get("dns")
        .map_or_else(Vec::new, |y| dns(y, &join(path, "dns"), r));
    Some(Network {
        pos: y.pos,
        name: name?,
        cidr: cidr?,
        mode,
        router,
        domain,
        dns,
    })
}

/// The keys of a node: its own, and the options block of each role that reads its own.
fn node_keys() -> Vec<&'static str> {
    let roles = crate::roles::TABLE.iter().filter(|d| d.has_options);
    NODE_KEYS
        .iter()
        .copied()
        .chain(roles.map(|d| d.name))
        .collect()
}

/// `dns:` of a network: `NAME: TARGET` lines, a target being a node, another of these names or
/// an IPv4 address (checked in `validate`).
fn dns(y: &Yaml, path: &str, r: &mut Report) -> Vec<(At<String>, At<String>)> {
    let Value::Map(entries) = &y.value else {
        r.error(
            Some(y.pos),
            path,
            format!("expected a mapping, found {}", y.describe()),
            "give `NAME: TARGET` lines, e.g. `database: db` (a node) or `www: 10.77.0.200`",
        );
        return vec![];
    };
    let mut out: Vec<(At<String>, At<String>)> = Vec::new();
    for (key, value) in entries {
        let key_path = join(path, &key.name);
        if let Some((first, _)) = out.iter().find(|(k, _)| k.value == key.name) {
            r.error(
                Some(key.pos),
                &key_path,
                format!(
                    "`{}` is given twice (first on line {})",
                    key.name, first.pos.line
                ),
                "keep only one of them",
            );
            continue;
        }
        if let Some(target) = string(value, &key_path, r) {
            out.push((
                At {
                    value: key.name.clone(),
                    pos: key.pos,
                },
                target,
            ));
        }
    }
    out
}

fn node(y: &Yaml, path: &str, r: &mut Report) -> Option<Node> {
    let map = Map::new(y, path, &node_keys(), r)?;
    // Each role parses its own block when it checks it (`roles::check_options`).
    let role_options = crate::roles::TABLE
        .iter()
        .filter(|d| d.has_options)
        .filter_map(|d| map.entry(d.name))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let field = |key: &str| join(path, key);
    let name = map.require("name", r, "add `name: NAME`, e.g. `name: web`");
    let name = name.and_then(|y| string(y, &field("name"), r));
    let roles = map
        .get("roles")
        .map_or_else(Vec::new, |y| roles(y, &field("roles"), r));
    let networks = map
        .get("networks")
        .and_then(|y| list(y, &field("networks"), r, attachment));
    let routes = map
        .get("routes")
        .and_then(|y| list(y, &field("routes"), r, route))
        .map_or_else(Vec::new, |l| l.value);
    let ip = map.get("ip").and_then(|y| string(y, &field("ip"), r));
    let network = map
        .get("network")
        .and_then(|y| string(y, &field("network"), r));
    if let Some(list) = &networks {
        // One form or the other: with both, which address is the node's first would be a guess.
        for (key, given) in [("network", &network), ("ip", &ip)] {
            if let Some(given) = given {
                r.error(
                    Some(given.pos),
                    &field(key),
                    format!("`{key}` and `networks` are both given"),
                    format!(
                        "put the address into `networks` (`- {{name: NET, ip: A.B.C.D}}`, line {}) \
                         and remove `{key}`",
                        list.pos.line
                    ),
                );
            }
        }
    }
    Some(Node {
        pos: y.pos,
        name: name?,
        roles,
        ip,
        network,
        networks,
        routes,
        gateway: map
            .get("gateway")
            .and_then(|y| string(y, &field("gateway"), r)),
        image: map.get("image").and_then(|y| string(y, &field("image"), r)),
        cpus: map
            .get("cpus")
            .and_then(|y| uint(y, &field("cpus"), r, CPUS_HINT)),
        memory: map
            .get("memory")
            .and_then(|y| uint(y, &field("memory"), r, MEMORY_HINT)),
        disk: map
            .get("disk")
            .and_then(|y| uint(y, &field("disk"), r, DISK_HINT)),
        role_options,
    })
}

/// `- {name: NET, ip: A.B.C.D}` of a node's `networks:` (the address may be left out).
fn attachment(y: &Yaml, path: &str, r: &mut Report) -> Option<Attachment> {
    let map = Map::new(y, path, ATTACHMENT_KEYS, r)?;
    let name = map.require(
        "name",
        r,
        "name one of the lab's networks, e.g. `name: lan`",
    );
    let name = name.and_then(|y| string(y, &join(path, "name"), r));
    let ip = map.get("ip").and_then(|y| string(y, &join(path, "ip"), r));
    Some(Attachment {
        pos: y.pos,
        name: name?,
        ip,
    })
}

/// `- {to: CIDR | NETWORK, via: ADDRESS | NODE}` of a node's `routes:`.
fn route(y: &Yaml, path: &str, r: &mut Report) -> Option<RouteSpec> {
    let map = Map::new(y, path, ROUTE_KEYS, r)?;
    let to = map.require(
        "to",
        r,
        "give the destination, a CIDR or a network of the lab, e.g. `to: dmz`",
    );
    let to = to.and_then(|y| string(y, &join(path, "to"), r));
    let via = map.require(
        "via",
        r,
        "give the next hop, an address or a node on a network this node is on, e.g. `via: gw`",
    );
    let via = via.and_then(|y| string(y, &join(path, "via"), r));
    Some(RouteSpec {
        pos: y.pos,
        to: to?,
        via: via?,
    })
}

/// Unknown roles are dropped after being reported, so validation can still look at the rest.
fn roles(y: &Yaml, path: &str, r: &mut Report) -> Vec<At<Role>> {
    let Value::Seq(items) = &y.value else {
        r.error(
            Some(y.pos),
            path,
            format!("expected a list of roles, found {}", y.describe()),
            format!("write a list, e.g. `roles: [{}]`", y.source),
        );
        return Vec::new();
    };
    let mut roles = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let path = format!("{path}[{i}]");
        let Some(name) = string(item, &path, r) else {
            continue;
        };
        match Role::from_name(&name.value) {
            Some(role) => roles.push(At {
                value: role,
                pos: name.pos,
            }),
            None => {
                let known: Vec<&str> = Role::ALL.iter().map(|r| r.name()).collect();
                let hint = match did_you_mean(&name.value, known.iter().copied()) {
                    Some(dym) => format!("{dym} Roles are: {}", known.join(", ")),
                    None => format!("roles are: {}", known.join(", ")),
                };
                r.error(
                    Some(name.pos),
                    &path,
                    format!("unknown role `{}`", name.value),
                    hint,
                );
            }
        }
    }
    roles
}

/// A list whose items are parsed by `item`. `None` if it is not a list or an item is unusable.
pub(crate) fn list<T>(
    y: &Yaml,
    path: &str,
    r: &mut Report,
    item: impl Fn(&Yaml, &str, &mut Report) -> Option<T>,
) -> Option<At<Vec<T>>> {
    let Value::Seq(items) = &y.value else {
        r.error(
            Some(y.pos),
            path,
            format!("expected a list, found {}", y.describe()),
            "write one `- ` entry per item on its own line, indented under the key",
        );
        return None;
    };
    let parsed: Vec<Option<T>> = items
        .iter()
        .enumerate()
        .map(|(i, y)| item(y, &format!("{path}[{i}]"), r))
        .collect();
    let value = parsed.into_iter().collect::<Option<Vec<T>>>()?;
    Some(At { value, pos: y.pos })
}

/// Scalars of any YAML type are accepted as text (`image: 12` means "12").
pub(crate) fn string(y: &Yaml, path: &str, r: &mut Report) -> Option<At<String>> {
    let value = match &y.value {
        Value::Str(s) => s.clone(),
        Value::Bool(_) | Value::Int(_) | Value::Float(_) => y.source.clone(),
        Value::Null | Value::Seq(_) | Value::Map(_) => {
            r.error(
                Some(y.pos),
                path,
                format!("expected a single value, found {}", y.describe()),
                "write the value on the same line as its key, e.g. `name: web`",
            );
            return None;
        }
    };
    Some(At { value, pos: y.pos })
}

pub(crate) fn uint<T: TryFrom<i128>>(
    y: &Yaml,
    path: &str,
    r: &mut Report,
    hint: &str,
) -> Option<At<T>> {
    let number = match &y.value {
        Value::Int(i) => Some(*i),
        // A quoted number is still clearly a number.
        Value::Str(s) => s.trim().parse::<i128>().ok(),
        _ => None,
    };
    let Some(number) = number else {
        r.error(
            Some(y.pos),
            path,
            format!("expected a whole number, found {}", y.describe()),
            hint,
        );
        return None;
    };
    match T::try_from(number) {
        Ok(value) => Some(At { value, pos: y.pos }),
        Err(_) => {
            r.error(Some(y.pos), path, format!("{number} is out of range"), hint);
            None
        }
    }
}

pub(crate) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// A YAML mapping whose keys have been checked against the allowed ones.
pub(crate) struct Map<'y> {
    entries: Vec<(&'y Key, &'y Yaml)>,
    pos: Pos,
    path: String,
}

impl<'y> Map<'y> {
    /// Reports a non-mapping, every unknown key and every repeated key.
    pub(crate) fn new(
        y: &'y Yaml,
        path: &str,
        allowed: &[&str],
        r: &mut Report,
    ) -> Option<Map<'y>> {
        let Value::Map(raw) = &y.value else {
            let keys = allowed.join(", ");
            r.error(
                Some(y.pos),
                path,
                format!("expected a mapping, found {}", y.describe()),
                format!("give `key: value` lines here; keys allowed: {keys}"),
            );
            return None;
        };
        let mut entries: Vec<(&Key, &Yaml)> = Vec::new();
        for (key, value) in raw {
            let key_path = join(path, &key.name);
            if !allowed.contains(&key.name.as_str()) {
                let hint = did_you_mean(&key.name, allowed.iter().copied())
                    .unwrap_or_else(|| format!("keys allowed here: {}", allowed.join(", ")));
                r.error(
                    Some(key.pos),
                    &key_path,
                    format!("unknown key `{}`", key.name),
                    hint,
                );
            } else if let Some((first, _)) = entries.iter().find(|(k, _)| k.name == key.name) {
                r.error(
                    Some(key.pos),
                    &key_path,
                    format!(
                        "`{}` is given twice (first on line {})",
                        key.name, first.pos.line
                    ),
                    "keep only one of them",
                );
            } else {
                entries.push((key, value));
            }
        }
        Some(Map {
            entries,
            pos: y.pos,
            path: path.to_string(),
        })
    }

    /// The key and value of `key`, also when the value is null.
    pub(crate) fn entry(&self, key: &str) -> Option<(&'y Key, &'y Yaml)> {
        self.entries.iter().find(|(k, _)| k.name == key).copied()
    }

    /// The value of `key`; an explicit null counts as not given.
    pub(crate) fn get(&self, key: &str) -> Option<&'y Yaml> {
        self.entries
            .iter()
            .find(|(k, _)| k.name == key)
            .map(|(_, y)| *y)
            .filter(|y| y.value != Value::Null)
    }

    pub(crate) fn require(&self, key: &str, r: &mut Report, hint: &str) -> Option<&'y Yaml> {
        let found = self.entries.iter().find(|(k, _)| k.name == key);
        match found {
            Some((_, y)) if y.value != Value::Null => Some(y),
            Some((k, _)) => {
                r.error(
                    Some(k.pos),
                    &join(&self.path, key),
                    format!("`{key}` has no value"),
                    hint,
                );
                None
            }
            None => {
                let message = format!("missing required field `{key}`");
                r.error(Some(self.pos), &self.path, message, hint);
                None
            }
        }
    }
}

#[cfg(test)]
mod tests;
