//! `haproxy: {backends: [NODE, ...]}`: read and checked here, against the lab file.

use super::super::options::{OptionsInput, has};
use crate::spec::Role;
use crate::spec::load::{Map, list, string};
use crate::spec::problem::Report;
use crate::spec::suggest::did_you_mean;
use crate::spec::yaml::Value;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

const KEYS: &[&str] = &["backends"];

/// `haproxy:` of one node, checked.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Options {
    /// The app nodes behind it: the list from the file (a `dns:` name stands for the node it
    /// leads to now), or every app node in file order.
    pub(crate) backends: Vec<String>,
    /// The backends the file gave as `dns:` names: node -> the name. haproxy resolves the
    /// name while it runs, so repointing the name moves the traffic without a reload.
    pub(crate) backend_hosts: BTreeMap<String, String>,
}

impl super::super::options::Peers for Options {
    fn talks_to(&self) -> Vec<String> {
        self.backends.clone()
    }
}

pub(crate) fn check_options(input: &OptionsInput<'_>, r: &mut Report) -> Option<Options> {
    let (i, node, lookup) = (input.index, input.node(), input.lookup);
    let map = input
        .block
        .filter(|y| y.value != Value::Null)
        .and_then(|y| Map::new(y, &input.path("haproxy", ""), KEYS, r));
    let listed = map
        .as_ref()
        .and_then(|m| m.get("backends"))
        .and_then(|y| list(y, &input.path("haproxy", "backends"), r, string));
    let mut options = Options::default();
    let app_names = &lookup.app_names;
    let Some(listed) = listed else {
        if app_names.is_empty() {
            r.error(
                Some(input.role_pos),
                &format!("nodes[{i}].roles"),
                format!(
                    "haproxy on `{}` has no backends: the lab has no node with role app",
                    node.name.value
                ),
                "add a node with role app, or list backends in `haproxy: {backends: [NODE]}`",
            );
        }
        options.backends = app_names.iter().map(|s| s.to_string()).collect();
        return Some(options);
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
        let by_dns = (!lookup.by_name.contains_key(wanted.as_str()))
            .then(|| lookup.node_of_dns_name(wanted))
            .flatten();
        match lookup.by_name.get(wanted.as_str()).copied().or(by_dns) {
            None if lookup.dns.contains_key(wanted.as_str()) => {
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
                let hint = did_you_mean(wanted, lookup.names())
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
    Some(options)
}
