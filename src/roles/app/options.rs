//! `app: {database: NODE|DNS-NAME, port: N, release: vN}`: read and checked here, against the
//! lab file.

use super::super::options::{Lookup, OptionsInput, block, has};
use super::Release;
use crate::spec::load::{Map, string, uint};
use crate::spec::problem::Report;
use crate::spec::suggest::did_you_mean;
use crate::spec::yaml::Value;
use crate::spec::{At, DEFAULT_APP_PORT, Node, Pos, Role};
use serde::{Deserialize, Serialize};

const KEYS: &[&str] = &["database", "port", "release"];
const PORT_HINT: &str = "a TCP port from 1 to 65535, e.g. `port: 8080`";

/// `app:` of one node, checked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Options {
    /// The database node the app uses: the one named in the file, or the only database node.
    /// `None` only after a problem with it was reported.
    pub(crate) database: Option<String>,
    /// The `dns:` name the file gave for the database, when it gave one instead of a node:
    /// the app resolves it at each new connection.
    pub(crate) database_host: Option<String>,
    pub(crate) port: u16,
    /// The release `up` deploys (default v1).
    pub(crate) release: Release,
}

impl super::super::options::Peers for Options {
    fn talks_to(&self) -> Vec<String> {
        self.database.iter().cloned().collect()
    }
}

/// The block's fields as written.
struct Given {
    database: Option<At<String>>,
    port: Option<At<u16>>,
    release: Option<At<String>>,
}

fn given(node: &Node, path: &str, r: &mut Report) -> Given {
    let map = block(node, Role::App)
        .filter(|y| y.value != Value::Null)
        .and_then(|y| Map::new(y, path, KEYS, r));
    let get = |key: &str| map.as_ref().and_then(|m| m.get(key));
    let field = |key: &str| format!("{path}.{key}");
    Given {
        database: get("database").and_then(|y| string(y, &field("database"), r)),
        port: get("port").and_then(|y| uint(y, &field("port"), r, PORT_HINT)),
        release: get("release").and_then(|y| string(y, &field("release"), r)),
    }
}

/// The port the app on `node` listens on as its block gives it (its problems are reported by
/// `check_options`), for the checks of other roles.
pub(crate) fn given_port(node: &Node) -> Option<At<u16>> {
    let path = std::path::Path::new("");
    given(node, "", &mut Report::new(path)).port
}

pub(crate) fn check_options(input: &OptionsInput<'_>, r: &mut Report) -> Option<Options> {
    let (i, node) = (input.index, input.node());
    let given = given(node, &input.path("app", ""), r);
    let mut options = Options {
        database: None,
        database_host: None,
        port: given.port.as_ref().map_or(DEFAULT_APP_PORT, |p| p.value),
        release: Release::default(),
    };
    if let Some(port) = &given.port {
        let path = format!("nodes[{i}].app.port");
        if port.value == 0 {
            r.error(
                Some(port.pos),
                &path,
                "the app port must be from 1 to 65535",
                format!("leave `port` out for the default {DEFAULT_APP_PORT}"),
            );
        } else if let Some(user) = crate::spec::taken_port(node, port.value) {
            r.error(
                Some(port.pos),
                &path,
                format!("port {} is taken by {user} on this node", port.value),
                format!("pick another port, e.g. {DEFAULT_APP_PORT}"),
            );
        }
    }
    if let Some(wanted) = &given.release {
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
    let lookup = input.lookup;
    options.database = database(lookup, i, node, given.database.as_ref(), input.role_pos, r);
    // A `dns:` name rather than a node: the app connects to the name, so repointing the name
    // moves it without touching its configuration.
    options.database_host = given
        .database
        .as_ref()
        .filter(|d| !lookup.by_name.contains_key(d.value.as_str()) && options.database.is_some())
        .map(|d| d.value.clone());
    Some(options)
}

/// The database node the app on `node` uses, or `None` after reporting why there is none.
fn database(
    lookup: &Lookup<'_>,
    i: usize,
    node: &Node,
    chosen: Option<&At<String>>,
    role_pos: Pos,
    r: &mut Report,
) -> Option<String> {
    let db_names = &lookup.db_names;
    let name = &node.name.value;
    let (target, pos, path) = match chosen {
        Some(wanted) => {
            let path = format!("nodes[{i}].app.database");
            let by_dns = lookup.node_of_dns_name(&wanted.value);
            let Some(target) = lookup
                .by_name
                .get(wanted.value.as_str())
                .copied()
                .or(by_dns)
            else {
                if lookup.dns.contains_key(wanted.value.as_str()) {
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
                r.error(
                    Some(wanted.pos),
                    &path,
                    format!(
                        "`{}` is neither a node nor a `dns:` name of the lab",
                        wanted.value
                    ),
                    unknown_hint(lookup, &wanted.value),
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
            let path = format!("nodes[{i}].roles");
            match lookup.db_nodes.as_slice() {
                [only] => (*only, role_pos, path),
                [] => {
                    let msg =
                        format!("node `{name}` has role app but the lab has no database node");
                    let hint = "add a node with role mysql or postgres, e.g. `- {name: db, roles: [mysql]}`";
                    r.error(Some(role_pos), &path, msg, hint);
                    return None;
                }
                _ => {
                    let msg = format!(
                        "the lab has several database nodes ({}): the app on `{name}` needs to be told which one to use",
                        db_names.join(", ")
                    );
                    let hint = format!("set `app: {{database: {}}}` on `{name}`", db_names[0]);
                    r.error(Some(role_pos), &path, msg, hint);
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

/// What to write in place of `wanted`, which names neither a node nor a `dns:` name.
fn unknown_hint(lookup: &Lookup<'_>, wanted: &str) -> String {
    // A name with its domain (`database.network.lab`): the app is given the short name and
    // looks up its FQDN itself; a node's own name gives it the node's address.
    if let Some((label, _)) = wanted.split_once('.') {
        if lookup.dns.contains_key(label) {
            return format!("write the name without its domain: `database: {label}`");
        }
        if lookup.by_name.contains_key(label) {
            return format!(
                "write `database: {label}` (the app connects to its address), or give {label} a \
                 network `dns:` name (`dns: {{database: {label}}}`) and write that name, which \
                 the app looks up at each connection"
            );
        }
    }
    let mut dns: Vec<&str> = lookup.dns.keys().copied().collect();
    dns.sort_unstable();
    if let Some(dym) = did_you_mean(wanted, lookup.names().chain(dns)) {
        return dym;
    }
    match lookup.db_names.as_slice() {
        [] => "add a node with role mysql or postgres".into(),
        dbs => format!(
            "name a database node ({}) or a network's `dns:` name that points at one",
            dbs.join(", ")
        ),
    }
}
