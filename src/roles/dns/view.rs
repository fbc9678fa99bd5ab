//! Split horizon: `dns: {views: [...]}` on the server node. Each view answers the nodes on the
//! networks it lists (by their source address) from its own copy of the zone, in which the names
//! it lists have another answer: an address those nodes reach on their own network, where the
//! rest of the lab gets the zone's. named picks the first view whose `match-clients` fits, so
//! these views sit between "authority" (127.0.0.1) and "resolver" (any).
//!
//! Lab file: `views: [{name: inside, networks: [dmz], records: {www: lb}}]`; a record points at a
//! node (its address on the first of the view's networks it is on) or at an address inside one
//! of the view's networks.

use super::Config;
use crate::roles::options::OptionsInput;
use crate::spec::load::{Map, list, string};
use crate::spec::problem::Report;
use crate::spec::suggest::did_you_mean;
use crate::spec::yaml::{Value, Yaml};
use ipnetwork::Ipv4Network;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::net::Ipv4Addr;

const KEYS: &[&str] = &["name", "networks", "records"];
/// The views firedrill writes itself; a lab's view takes another name.
const BUILT_IN: &[&str] = &["authority", "resolver"];

/// One split-horizon view, checked: its clients' networks and its own answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct View {
    pub(crate) name: String,
    /// The networks whose nodes it answers, by name, and their CIDRs (its `match-clients`).
    pub(crate) networks: Vec<String>,
    pub(crate) cidrs: Vec<Ipv4Network>,
    /// Names relative to the zone, each with the one address this view answers for it.
    pub(crate) records: Vec<(String, Ipv4Addr)>,
}

/// `views:` of the dns block: every problem of every view is reported, each once.
pub(super) fn check(y: &Yaml, input: &OptionsInput<'_>, r: &mut Report) -> Option<Vec<View>> {
    let path = input.path("dns", "views");
    let views = list(y, &path, r, |y, p, r| check_one(y, p, input, r))?.value;
    let mut ok = true;
    for (i, v) in views.iter().enumerate() {
        let p = format!("{path}[{i}]");
        if let Some(first) = views[..i].iter().find(|o| o.name == v.name) {
            r.error(
                Some(y.pos),
                &format!("{p}.name"),
                format!("view `{}` is given twice", first.name),
                "give each view its own name",
            );
            ok = false;
        }
        for net in &v.networks {
            if let Some(other) = views[..i].iter().find(|o| o.networks.contains(net)) {
                r.error(
                    Some(y.pos),
                    &format!("{p}.networks"),
                    format!("network `{net}` is already in view `{}`", other.name),
                    "named answers a node from the first view that lists its network: list each network in one view",
                );
                ok = false;
            }
        }
    }
    ok.then_some(views)
}

fn check_one(y: &Yaml, path: &str, input: &OptionsInput<'_>, r: &mut Report) -> Option<View> {
    let map = Map::new(y, path, KEYS, r)?;
    let field = |k: &str| format!("{path}.{k}");
    let name = map
        .require("name", r, "name the view, e.g. `name: inside`")
        .and_then(|y| string(y, &field("name"), r))
        .and_then(|n| {
            if BUILT_IN.contains(&n.value.as_str()) {
                r.error(
                    Some(n.pos),
                    &field("name"),
                    format!("`{}` is a view firedrill writes itself", n.value),
                    "give the view another name, e.g. `inside`",
                );
                return None;
            }
            if !crate::paths::is_label(&n.value, 63) {
                r.error(
                    Some(n.pos),
                    &field("name"),
                    format!("`{}` is not a view name", n.value),
                    "use lowercase letters, digits and '-', e.g. `inside` (it names the view's zone file)",
                );
                return None;
            }
            Some(n.value)
        });
    let lab_nets = &input.lab.networks.value;
    let networks = map
        .require(
            "networks",
            r,
            "list the networks whose nodes get this view's answers, e.g. `networks: [dmz]`",
        )
        .and_then(|y| {
            list(y, &field("networks"), r, |y, p, r| {
                let n = string(y, p, r)?;
                if let Some(i) = lab_nets.iter().position(|l| l.name.value == n.value) {
                    return Some((n.value, i));
                }
                let hint = did_you_mean(&n.value, lab_nets.iter().map(|l| l.name.value.as_str()))
                    .unwrap_or_else(|| "name a network of this lab's `networks:`".to_string());
                r.error(
                    Some(n.pos),
                    p,
                    format!("`{}` is not a network of this lab", n.value),
                    hint,
                );
                None
            })
        })
        .map(|l| l.value);
    let records = map.require(
        "records",
        r,
        "give the names this view answers otherwise, e.g. `records: {www: lb}`",
    );
    let (name, networks, records) = (name?, networks?, records?);
    if networks.is_empty() {
        r.error(
            Some(y.pos),
            &field("networks"),
            "a view with no networks answers nobody",
            "list the networks whose nodes get this view's answers, e.g. `networks: [dmz]`",
        );
        return None;
    }
    // A CIDR the file got wrong is reported with the network; nothing more to say here.
    let cidrs = networks
        .iter()
        .map(|(_, i)| input.cidrs.get(*i).copied().flatten())
        .collect::<Option<Vec<_>>>()?;
    let records = check_records(records, &field("records"), &networks, &cidrs, input, r)?;
    Some(View {
        name,
        networks: networks.into_iter().map(|(n, _)| n).collect(),
        cidrs,
        records,
    })
}

/// `records: {NAME: TARGET}`, each target resolved to an address the view's nodes reach on
/// their own network.
fn check_records(
    y: &Yaml,
    path: &str,
    networks: &[(String, usize)],
    cidrs: &[Ipv4Network],
    input: &OptionsInput<'_>,
    r: &mut Report,
) -> Option<Vec<(String, Ipv4Addr)>> {
    let Value::Map(entries) = &y.value else {
        r.error(
            Some(y.pos),
            path,
            format!("expected a mapping, found {}", y.describe()),
            "give `NAME: TARGET` lines, e.g. `www: lb` (a node) or `www: 10.85.0.10`",
        );
        return None;
    };
    let on = networks
        .iter()
        .zip(cidrs)
        .map(|((n, _), c)| format!("{n} ({c})"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut out = Vec::new();
    let mut ok = true;
    for (key, value) in entries {
        let p = format!("{path}.{}", key.name);
        if !crate::paths::is_label(&key.name, 63) {
            r.error(
                Some(key.pos),
                &p,
                format!("`{}` is not a DNS name", key.name),
                "use lowercase letters, digits and '-', relative to the lab's domain, e.g. `www`",
            );
            ok = false;
            continue;
        }
        let Some(target) = string(value, &p, r) else {
            ok = false;
            continue;
        };
        let t = target.value.trim();
        let answer = if let Ok(ip) = t.parse::<Ipv4Addr>() {
            let inside = cidrs
                .iter()
                .any(|c| c.contains(ip) && ip != c.network() && ip != c.broadcast());
            if !inside {
                r.error(
                    Some(target.pos),
                    &p,
                    format!("{ip} is not a host address of the view's networks: {on}"),
                    "a view answers its nodes with an address they reach on their own network: \
                     point the name at one inside the view's networks, or at a node on them",
                );
            }
            inside.then_some(ip)
        } else if let Some(j) = input.lab.nodes.value.iter().position(|n| n.name.value == t) {
            let ifaces = input.ifaces.get(j).map(Vec::as_slice).unwrap_or_default();
            let found = networks.iter().find_map(|(_, net)| {
                ifaces
                    .iter()
                    .find(|(n, _)| *n == Some(*net))
                    .map(|(_, ip)| *ip)
            });
            match found {
                // An address the file got wrong is reported with the node.
                Some(ip) => ip,
                None => {
                    r.error(
                        Some(target.pos),
                        &p,
                        format!("node `{t}` is not on the view's networks: {on}"),
                        format!(
                            "attach `{t}` to one of them (its `networks:`), or point the name at a node that is"
                        ),
                    );
                    None
                }
            }
        } else {
            let nodes = input.lab.nodes.value.iter().map(|n| n.name.value.as_str());
            let hint = did_you_mean(t, nodes).unwrap_or_else(|| {
                "point it at a node (`www: lb`) or at an IPv4 address on the view's networks"
                    .to_string()
            });
            r.error(
                Some(target.pos),
                &p,
                format!("`{t}` is not a node of this lab or an address"),
                hint,
            );
            None
        };
        match answer {
            Some(ip) => out.push((key.name.clone(), ip)),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

/// The zone as `view` answers it: each name the view lists gets the view's one address in
/// place of the zone's (where the zone had it first), the names it adds come last.
pub(crate) fn records(zone: &[(String, Ipv4Addr)], view: &View) -> Vec<(String, Ipv4Addr)> {
    let mut out: Vec<(String, Ipv4Addr)> = Vec::new();
    for (name, ip) in zone {
        match view.records.iter().find(|(n, _)| n == name) {
            None => out.push((name.clone(), *ip)),
            Some(own) if !out.contains(own) => out.push(own.clone()),
            Some(_) => {}
        }
    }
    for own in &view.records {
        if !out.contains(own) {
            out.push(own.clone());
        }
    }
    out
}

/// Where `view`'s copy of zone `domain` lives: next to the zone's own file.
pub(crate) fn zone_path(domain: &str, view: &View) -> String {
    format!("/etc/bind/db.{domain}.{}", view.name)
}

/// What `rndc reload` needs to load the zone's file (`view` None) or a view's copy: with
/// split-horizon views the zone is in several, and the zone's name alone is refused.
pub(super) fn reload_args(c: &Config, view: Option<&View>) -> String {
    let domain = &c.zone.domain;
    match view {
        Some(v) => format!("{domain} IN {}", v.name),
        None if c.options.views.is_empty() => domain.clone(),
        None => format!("{domain} IN authority"),
    }
}

/// A split-horizon view as named.conf.local shows it.
pub(super) fn vars(c: &Config, v: &View) -> serde_json::Value {
    let own = c
        .addresses
        .iter()
        .find(|ip| v.cidrs.iter().any(|n| n.contains(**ip)));
    let nets: Vec<String> = v
        .networks
        .iter()
        .zip(&v.cidrs)
        .map(|(n, c)| format!("{n} ({c})"))
        .collect();
    json!({
        "name": v.name,
        "networks": nets.join(", "),
        "match": v.cidrs.iter().map(|c| format!("{c}; ")).collect::<String>(),
        "file": zone_path(&c.zone.domain, v),
        "names": v.records.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", "),
        "ask": own.map(|ip| ip.to_string()),
        "reload": reload_args(c, Some(v)),
    })
}
