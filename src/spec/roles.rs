//! Role checks and role options: which database each app uses, which app nodes each haproxy
//! balances, and ports that would collide on a node.

use super::defaults::DEFAULT_APP_PORT;
use super::problem::Report;
use super::suggest::did_you_mean;
use super::{AppOptions, HaproxyOptions, Lab, Node, Pos, Role, RoleOptions};
use crate::roles::Release;
use std::collections::HashMap;

/// What already listens on `port` on `node`: SSH, or one of its roles (their fixed ports, from
/// the role table).
pub(crate) fn taken_port(node: &Node, port: u16) -> Option<&'static str> {
    if port == 22 {
        return Some("SSH");
    }
    Role::ALL
        .iter()
        .filter(|r| has(node, **r))
        .flat_map(|r| r.def().ports.iter())
        .find(|(p, _)| *p == port)
        .map(|(_, what)| *what)
}

/// Each node's checked role options, in node order.
pub(super) struct NodeOptions {
    pub(super) app: AppOptions,
    pub(super) haproxy: HaproxyOptions,
    pub(super) roles: Vec<RoleOptions>,
}

pub(super) fn check(lab: &Lab, r: &mut Report) -> Vec<NodeOptions> {
    let nodes = &lab.nodes.value;
    let mut index = Index::new(nodes);
    for net in &lab.networks.value {
        for (name, target) in &net.dns {
            index
                .dns
                .entry(name.value.as_str())
                .or_insert(target.value.trim());
        }
    }
    nodes
        .iter()
        .enumerate()
        .map(|(i, node)| {
            check_listed_once(i, node, r);
            NodeOptions {
                app: app(&index, i, node, r),
                haproxy: haproxy(&index, i, node, r),
                roles: role_options(lab, i, node, r),
            }
        })
        .collect()
}

/// Lookups every node's checks share, built once so a lab of thousands of nodes is checked in
/// linear time.
struct Index<'a> {
    nodes: &'a [Node],
    /// The first node of each name (a repeated name is reported by the name checks).
    by_name: HashMap<&'a str, &'a Node>,
    db_nodes: Vec<&'a Node>,
    db_names: Vec<&'a str>,
    app_names: Vec<&'a str>,
    /// The networks' `dns:` names and their targets as written.
    dns: HashMap<&'a str, &'a str>,
}

impl<'a> Index<'a> {
    fn new(nodes: &'a [Node]) -> Index<'a> {
        let mut by_name = HashMap::new();
        for n in nodes {
            by_name.entry(n.name.value.as_str()).or_insert(n);
        }
        let db_nodes: Vec<&Node> = nodes
            .iter()
            .filter(|n| n.roles.iter().any(|r| r.value.is_database()))
            .collect();
        Index {
            nodes,
            by_name,
            db_names: db_nodes.iter().map(|n| n.name.value.as_str()).collect(),
            db_nodes,
            app_names: nodes
                .iter()
                .filter(|n| has(n, Role::App))
                .map(|n| n.name.value.as_str())
                .collect(),
            dns: HashMap::new(),
        }
    }

    /// The node a `dns:` name leads to through its aliases, if it leads to one.
    fn node_of_dns_name(&self, name: &str) -> Option<&'a Node> {
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

    fn names(&self) -> impl Iterator<Item = &'a str> {
        self.nodes.iter().map(|n| n.name.value.as_str())
    }
}

fn has(node: &Node, role: Role) -> bool {
    node.roles.iter().any(|r| r.value == role)
}

fn role_pos(node: &Node, role: Role) -> Pos {
    node.roles
        .iter()
        .find(|r| r.value == role)
        .map_or(node.pos, |r| r.pos)
}

fn check_listed_once(i: usize, node: &Node, r: &mut Report) {
    for (k, role) in node.roles.iter().enumerate() {
        if node.roles[..k].iter().any(|o| o.value == role.value) {
            r.error(
                Some(role.pos),
                &format!("nodes[{i}].roles"),
                format!("role `{}` is listed twice", role.value),
                "list each role once",
            );
        }
    }
}

/// The options of each role of `node` that reads its own block, checked by the role's file; a
/// block on a node without the role is reported here for every role alike.
fn role_options(lab: &Lab, i: usize, node: &Node, r: &mut Report) -> Vec<RoleOptions> {
    for (key, _) in &node.role_options {
        if !node.roles.iter().any(|role| role.value.name() == key.name) {
            r.error(
                Some(key.pos),
                &format!("nodes[{i}].{}", key.name),
                format!(
                    "`{}:` options on node `{}`, which has no `{}` role",
                    key.name, node.name.value, key.name
                ),
                format!(
                    "add `{}` to its `roles`, or remove `{}:`",
                    key.name, key.name
                ),
            );
        }
    }
    node.roles
        .iter()
        .enumerate()
        // A role listed twice is reported above; its block is checked once.
        .filter(|(k, role)| !node.roles[..*k].iter().any(|o| o.value == role.value))
        .map(|(_, role)| role)
        .filter(|role| role.value.def().has_options)
        .filter_map(|role| {
            let input = crate::roles::OptionsInput {
                lab,
                index: i,
                block: node
                    .role_options
                    .iter()
                    .find(|(k, _)| k.name == role.value.name())
                    .map(|(_, y)| y),
                role_pos: role.pos,
            };
            crate::roles::check_options(role.value, &input, r)
        })
        .collect()
}

fn app(index: &Index<'_>, i: usize, node: &Node, r: &mut Report) -> AppOptions {
    let spec = node.app.as_ref();
    let port = spec.and_then(|s| s.port.as_ref());
    let mut options = AppOptions {
        database: None,
        database_host: None,
        port: port.map_or(DEFAULT_APP_PORT, |p| p.value),
        release: Release::default(),
    };
    if !has(node, Role::App) {
        if let Some(spec) = spec {
            r.error(
                Some(spec.pos),
                &format!("nodes[{i}].app"),
                format!(
                    "`app:` options on node `{}`, which has no `app` role",
                    node.name.value
                ),
                "add `app` to its `roles`, or remove `app:`",
            );
        }
        return options;
    }
    if let Some(port) = port {
        let path = format!("nodes[{i}].app.port");
        let taken = taken_port(node, port.value);
        if port.value == 0 {
            r.error(
                Some(port.pos),
                &path,
                "the app port must be from 1 to 65535",
                format!("leave `port` out for the default {DEFAULT_APP_PORT}"),
            );
        } else if let Some(user) = taken {
            r.error(
                Some(port.pos),
                &path,
                format!("port {} is taken by {user} on this node", port.value),
                format!("pick another port, e.g. {DEFAULT_APP_PORT}"),
            );
        }
    }
    if let Some(wanted) = spec.and_then(|s| s.release.as_ref()) {
        match Release::parse(&wanted.value) {
            Some(release) => options.release = release,
            None => {
                let hint = match Release::parse(&wanted.value.to_lowercase()) {
                    Some(release) => format!("write it in lowercase: `{release}`"),
                    None => format!("the releases are {}", Release::list()),
                };
                r.error(
                    Some(wanted.pos),
                    &format!("nodes[{i}].app.release"),
                    format!("there is no release `{}` of the todo app", wanted.value),
                    hint,
                );
            }
        }
    }
    options.database = database(index, i, node, r);
    // A `dns:` name rather than a node: the app connects to the name, so repointing the name
    // moves it without touching its configuration.
    options.database_host = node
        .app
        .as_ref()
        .and_then(|s| s.database.as_ref())
        .filter(|d| !index.by_name.contains_key(d.value.as_str()) && options.database.is_some())
        .map(|d| d.value.clone());
    options
}

/// The database node the app on `node` uses, or `None` after reporting why there is none.
fn database<'a>(index: &Index<'a>, i: usize, node: &Node, r: &mut Report) -> Option<String> {
    let db_names = &index.db_names;
    let name = &node.name.value;
    let chosen = node.app.as_ref().and_then(|s| s.database.as_ref());
    let (target, pos, path) = match chosen {
        Some(wanted) => {
            let path = format!("nodes[{i}].app.database");
            let by_dns = index.node_of_dns_name(&wanted.value);
            let Some(target) = index.by_name.get(wanted.value.as_str()).copied().or(by_dns) else {
                if index.dns.contains_key(wanted.value.as_str()) {
                    let hint = match db_names.first() {
                        Some(db) => {
                            format!("point it at a database node, e.g. `{}: {db}`", wanted.value)
                        }
                        None => {
                            "add a node with role mysql or postgres and point the name at it".into()
                        }
                    };
                    r.error(
                        Some(wanted.pos),
                        &path,
                        format!(
                            "`{}` is a `dns:` name, but it does not lead to a node",
                            wanted.value
                        ),
                        hint,
                    );
                    return None;
                }
                let hint = match did_you_mean(&wanted.value, index.names()) {
                    Some(dym) => dym,
                    None if db_names.is_empty() => "add a node with role mysql or postgres".into(),
                    None => format!("database nodes: {}", db_names.join(", ")),
                };
                r.error(
                    Some(wanted.pos),
                    &path,
                    format!("no node named `{}`", wanted.value),
                    hint,
                );
                return None;
            };
            if !target.roles.iter().any(|r| r.value.is_database()) {
                let hint = if db_names.is_empty() {
                    format!(
                        "add `mysql` or `postgres` to the roles of `{}`",
                        wanted.value
                    )
                } else {
                    format!(
                        "name a node with role mysql or postgres: {}",
                        db_names.join(", ")
                    )
                };
                let msg = format!(
                    "node `{}` has no database role (mysql or postgres)",
                    wanted.value
                );
                r.error(Some(wanted.pos), &path, msg, hint);
                return None;
            }
            (target, wanted.pos, path)
        }
        None => {
            let pos = role_pos(node, Role::App);
            let path = format!("nodes[{i}].roles");
            match index.db_nodes.as_slice() {
                [only] => (*only, pos, path),
                [] => {
                    let msg =
                        format!("node `{name}` has role app but the lab has no database node");
                    let hint = "add a node with role mysql or postgres, e.g. `- {name: db, roles: [mysql]}`";
                    r.error(Some(pos), &path, msg, hint);
                    return None;
                }
                _ => {
                    let msg = format!(
                        "the lab has several database nodes ({}): the app on `{name}` needs to be told which one to use",
                        db_names.join(", ")
                    );
                    let hint = format!("set `app: {{database: {}}}` on `{name}`", db_names[0]);
                    r.error(Some(pos), &path, msg, hint);
                    return None;
                }
            }
        }
    };
    if has(target, Role::Mysql) && has(target, Role::Postgres) {
        let db = &target.name.value;
        let msg = format!(
            "node `{db}` has both mysql and postgres, so the app on `{name}` cannot tell which to use"
        );
        r.error(
            Some(pos),
            &path,
            msg,
            format!("keep one database role on `{db}`"),
        );
        return None;
    }
    Some(target.name.value.clone())
}

fn haproxy(index: &Index<'_>, i: usize, node: &Node, r: &mut Report) -> HaproxyOptions {
    let spec = node.haproxy.as_ref();
    let mut options = HaproxyOptions {
        backends: Vec::new(),
        backend_hosts: Default::default(),
    };
    if !has(node, Role::Haproxy) {
        if let Some(spec) = spec {
            r.error(
                Some(spec.pos),
                &format!("nodes[{i}].haproxy"),
                format!(
                    "`haproxy:` options on node `{}`, which has no `haproxy` role",
                    node.name.value
                ),
                "add `haproxy` to its `roles`, or remove `haproxy:`",
            );
        }
        return options;
    }
    let app_names = &index.app_names;
    let Some(listed) = spec.and_then(|s| s.backends.as_ref()) else {
        if app_names.is_empty() {
            r.error(
                Some(role_pos(node, Role::Haproxy)),
                &format!("nodes[{i}].roles"),
                format!(
                    "haproxy on `{}` has no backends: the lab has no node with role app",
                    node.name.value
                ),
                "add a node with role app, or list backends in `haproxy: {backends: [NODE]}`",
            );
        }
        options.backends = app_names.iter().map(|s| s.to_string()).collect();
        return options;
    };
    if listed.value.is_empty() {
        r.error(
            Some(listed.pos),
            &format!("nodes[{i}].haproxy.backends"),
            "`backends` is empty",
            "list the app nodes to balance, or leave `backends` out to use every app node",
        );
    }
    // Each node listed so far, and how it was written (its name or a `dns:` name).
    let mut listed_before: HashMap<&str, &str> = HashMap::new();
    for (k, backend) in listed.value.iter().enumerate() {
        let path = format!("nodes[{i}].haproxy.backends[{k}]");
        let wanted = &backend.value;
        let pos = Some(backend.pos);
        // A `dns:` name leads to its node through the lab's records.
        let by_dns = (!index.by_name.contains_key(wanted.as_str()))
            .then(|| index.node_of_dns_name(wanted))
            .flatten();
        match index.by_name.get(wanted.as_str()).copied().or(by_dns) {
            None if index.dns.contains_key(wanted.as_str()) => {
                r.error(
                    pos,
                    &path,
                    format!("`{wanted}` is a `dns:` name, but it does not lead to a node"),
                    match app_names.first() {
                        Some(app) => format!("point it at an app node, e.g. `{wanted}: {app}`"),
                        None => "add a node with role app and point the name at it".into(),
                    },
                );
            }
            None => {
                let hint = did_you_mean(wanted, index.names())
                    .unwrap_or_else(|| format!("app nodes: {}", app_names.join(", ")));
                r.error(pos, &path, format!("no node named `{wanted}`"), hint);
            }
            Some(target) if !has(target, Role::App) => {
                let hint = if app_names.is_empty() {
                    format!("add `app` to the roles of `{}`", target.name.value)
                } else {
                    format!("list nodes with role app: {}", app_names.join(", "))
                };
                let what = if by_dns.is_some() {
                    format!(
                        "`{wanted}` leads to node `{}`, which has no `app` role",
                        target.name.value
                    )
                } else {
                    format!("node `{wanted}` has no `app` role")
                };
                r.error(pos, &path, what, hint);
            }
            Some(target) if listed_before.contains_key(target.name.value.as_str()) => {
                let node = target.name.value.as_str();
                let first = listed_before[node];
                let what = if first == wanted.as_str() {
                    format!("`{wanted}` is listed twice")
                } else if first == node {
                    format!("`{wanted}` leads to `{node}`, which is already listed")
                } else {
                    format!("`{wanted}` is node `{node}`, already listed as `{first}`")
                };
                r.error(pos, &path, what, "list each backend once");
            }
            Some(target) => {
                listed_before.insert(target.name.value.as_str(), wanted.as_str());
                let node = target.name.value.clone();
                if by_dns.is_some() {
                    options.backend_hosts.insert(node.clone(), wanted.clone());
                }
                options.backends.push(node);
            }
        }
    }
    options
}

#[cfg(test)]
mod tests;
