//! The lab's DNS server: BIND 9 (Debian's, in the golden image) is authoritative for the lab's
//! zone, every node and the lab file's `dns:` names, from a zone file it generates for the
//! learner to read, edit and reload, and is the lab's caching resolver. One named holds both as
//! views: queries to 127.0.0.1 on the node reach the zone itself, the nodes' queries reach the
//! resolver, which asks the zone and keeps each answer for its TTL (so a changed record reaches
//! a node that asked before only when its cached answer expires, or is flushed). The nodes
//! named in `clients` (default: every other node) get it as their resolver in place of the
//! libvirt network's dnsmasq, from their first boot (their seed), by its address on a network
//! they share or the one their routes lead to.
//!
//! Split horizon (`view.rs`): more views before "resolver", each answering the nodes on the
//! networks it lists from its own copy of the zone, where some names have another answer.
//!
//! Lab file: `dns: {clients: [NODE, ...], ttl: 300, views: [{name, networks, records}]}`.

mod view;
pub(crate) use view::View;

use super::RoleHealth;
use super::context::{NodeContext, Role, Secrets};
use super::error::RoleError;
use super::files::{self, ManagedFile};
use super::options::OptionsInput;
use super::probe::Probe;
use super::render::{self, template};
use super::service::{self, OnChange, Service};
use super::session::Session;
use super::table::{Phase, RoleDef};
use crate::plan::NodePlan;
use crate::remote::{Output, Remote};
use crate::spec::load::{Map, list, string, uint};
use crate::spec::problem::Report;
use crate::spec::suggest::did_you_mean;
use crate::spec::yaml::Value;
use crate::state::LabState;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::net::Ipv4Addr;

/// Debian's top file, rewritten: its `named.conf.default-zones` declares zones outside a view,
/// which named refuses next to views.
pub(super) const NAMED_CONF_PATH: &str = "/etc/bind/named.conf";
pub(super) const OPTIONS_PATH: &str = "/etc/bind/named.conf.options";
pub(super) const LOCAL_PATH: &str = "/etc/bind/named.conf.local";
pub(super) const SERVICE: Service = Service::single("named.service");
const KEYS: &[&str] = &["clients", "ttl", "views"];
/// Five minutes: long enough that caching shows, short enough to wait out in a lab.
const DEFAULT_TTL: u32 = 300;

pub(super) const DEF: RoleDef = RoleDef {
    name: "dns",
    unit: SERVICE.unit,
    ports: &[(53, "dns")],
    // bind9 is one of the image's spare packages (named.service disabled at boot there):
    // listing it here would change the image's recipe, and so rebuild it, for nothing.
    packages: &[],
    boot_units: &[],
    package_leftovers: &[],
    pages: &[],
    phase: Phase::Network,
    has_options: true,
    serves: super::table::serves_nothing,
};

/// `dns:` of the server node, checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Options {
    /// The nodes that use this server as their resolver.
    pub(crate) clients: Vec<String>,
    /// Seconds a resolver may cache an answer.
    pub(crate) ttl: u32,
    /// Split-horizon views, in the order named tries them (before "resolver").
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) views: Vec<View>,
}

/// Its clients need it: it is their resolver.
impl super::options::Peers for Options {
    fn talked_to_by(&self) -> Vec<String> {
        self.clients.clone()
    }
}

/// The zone the server holds: the lab's domain and one address per name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Zone {
    pub(crate) domain: String,
    /// Names relative to the domain, in lab-file order.
    pub(crate) records: Vec<(String, Ipv4Addr)>,
}

pub(super) fn check_options(input: &OptionsInput<'_>, r: &mut Report) -> Option<Options> {
    let map = match input.block {
        Some(y) if y.value != Value::Null => Some(Map::new(y, &input.path("dns", ""), KEYS, r)?),
        _ => None,
    };
    let get = |key: &str| map.as_ref().and_then(|m| m.get(key));
    let me = &input.node().name.value;
    let nodes = &input.lab.nodes.value;
    let clients = match get("clients") {
        None => Some(
            nodes
                .iter()
                .map(|n| n.name.value.clone())
                .filter(|n| n != me)
                .collect(),
        ),
        Some(y) => {
            let path = input.path("dns", "clients");
            list(y, &path, r, |y, p, r| {
                let name = string(y, p, r)?;
                if nodes.iter().any(|n| n.name.value == name.value) && name.value != *me {
                    return Some(name.value);
                }
                let names = nodes.iter().map(|n| n.name.value.as_str());
                let hint = if name.value == *me {
                    "the server resolves through its own network's DNS; list the other nodes"
                        .to_string()
                } else {
                    did_you_mean(&name.value, names)
                        .unwrap_or_else(|| "name a node of this lab".to_string())
                };
                r.error(
                    Some(name.pos),
                    p,
                    format!("`{}` is not another node of this lab", name.value),
                    hint,
                );
                None
            })
            .map(|l| l.value)
        }
    };
    let ttl = match get("ttl") {
        None => Some(DEFAULT_TTL),
        Some(y) => uint::<u32>(
            y,
            &input.path("dns", "ttl"),
            r,
            "seconds a resolver may cache an answer, e.g. `ttl: 300`",
        )
        .map(|at| at.value),
    };
    let views = match get("views") {
        None => Some(Vec::new()),
        Some(y) => view::check(y, input, r),
    };
    Some(Options {
        clients: clients?,
        ttl: ttl?,
        views: views?,
    })
}

/// What the server needs: its options and the zone it serves.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) options: Options,
    pub(crate) zone: Zone,
    /// The server's own addresses, one per network: a view's comment shows how to ask it as
    /// that view's nodes do.
    pub(crate) addresses: Vec<Ipv4Addr>,
}

pub(super) fn config(
    state: &LabState,
    node: &NodePlan,
    options: Option<&Options>,
) -> Result<Config, &'static str> {
    let options = options.cloned().ok_or("its `dns:` options")?;
    let zone = zone(state, node).ok_or("its first network among the lab's networks")?;
    let addresses = node.nics().iter().map(|(_, _, ip, _)| *ip).collect();
    Ok(Config {
        options,
        zone,
        addresses,
    })
}

/// The zone a `dns` node serves: its first network's domain, with every name the lab's
/// networks in that domain give (each node, each `dns:` name), relative to it, once per
/// address. Read from the plan `up` applied, where those records are.
pub(crate) fn zone(state: &LabState, node: &NodePlan) -> Option<Zone> {
    let plan = &state.plan;
    let domain = plan
        .networks
        .iter()
        .find(|n| n.name == node.domain.network)?
        .domain
        .clone();
    let suffix = format!(".{domain}");
    let mut records: Vec<(String, Ipv4Addr)> = Vec::new();
    for host in plan
        .networks
        .iter()
        .filter(|n| n.domain == domain)
        .flat_map(|n| &n.dns)
    {
        for name in &host.names {
            let label = match name.strip_suffix(&suffix) {
                Some(label) => label,
                None if !name.contains('.') => name.as_str(),
                None => continue,
            };
            if !records.iter().any(|(l, ip)| l == label && *ip == host.ip) {
                records.push((label.to_string(), host.ip));
            }
        }
    }
    Some(Zone { domain, records })
}

/// Where the zone file lives: BIND's own directory, named after the zone.
pub(super) fn zone_path(z: &Zone) -> String {
    format!("/etc/bind/db.{}", z.domain)
}

pub(super) fn render_zone(ctx: &NodeContext, c: &Config) -> Result<String, RoleError> {
    render_zone_file(ctx, c, None)
}

/// The zone's file, or `view`'s copy of it.
fn render_zone_file(
    ctx: &NodeContext,
    c: &Config,
    view: Option<&View>,
) -> Result<String, RoleError> {
    let (o, z) = (&c.options, &c.zone);
    let records = match view {
        None => z.records.clone(),
        Some(v) => view::records(&z.records, v),
    };
    let records: Vec<_> = records
        .iter()
        .map(|(name, ip)| json!({"name": name, "ip": ip.to_string()}))
        .collect();
    render::render(
        template!("dns/zone.hbs"),
        &json!({
            "lab": ctx.lab,
            "node": ctx.node,
            "zone": z.domain,
            "file": view.map_or_else(|| zone_path(z), |v| view::zone_path(&z.domain, v)),
            "view": view.map(|v| json!({"name": v.name, "networks": v.networks.join(", ")})),
            "reload": view::reload_args(c, view),
            "ttl": o.ttl,
            // No secondary asks for it; a learner who adds one bumps it with each edit.
            "serial": 1,
            "records": records,
        }),
    )
}

fn managed(ctx: &NodeContext, c: &Config) -> Result<Vec<ManagedFile>, RoleError> {
    let z = &c.zone;
    let views = &c.options.views;
    const WORDS: &[&str] = &[
        "two", "three", "four", "five", "six", "seven", "eight", "nine",
    ];
    let count = WORDS
        .get(views.len())
        .map_or_else(|| (views.len() + 2).to_string(), |w| w.to_string());
    let vars = json!({
        "lab": ctx.lab,
        "node": ctx.node,
        "zone": z.domain,
        "file": zone_path(z),
        "count": count,
        "reload": view::reload_args(c, None),
        "views": views.iter().map(|v| view::vars(c, v)).collect::<Vec<_>>(),
    });
    let file = |path: String, contents: String| ManagedFile {
        path,
        contents,
        mode: 0o644,
        owner: "root:bind".into(),
    };
    let mut files = vec![
        file(
            NAMED_CONF_PATH.into(),
            render::render(template!("dns/named.conf.hbs"), &vars)?,
        ),
        file(
            OPTIONS_PATH.into(),
            render::render(template!("dns/named.conf.options.hbs"), &vars)?,
        ),
        file(
            LOCAL_PATH.into(),
            render::render(template!("dns/named.conf.local.hbs"), &vars)?,
        ),
        file(zone_path(z), render_zone(ctx, c)?),
    ];
    for v in views {
        files.push(file(
            view::zone_path(&z.domain, v),
            render_zone_file(ctx, c, Some(v))?,
        ));
    }
    Ok(files)
}

/// BIND reads the configuration and the zone as it would at a reload; a file it rejects stops
/// `up` here with BIND's own message instead of leaving a server without its zone.
pub(super) fn check_script(c: &Config) -> String {
    let z = &c.zone;
    let views = c.options.views.iter().map(|v| {
        format!(
            " && named-checkzone -q {} {}",
            z.domain,
            view::zone_path(&z.domain, v)
        )
    });
    format!(
        "named-checkconf && named-checkzone -q {} {}{}",
        z.domain,
        zone_path(z),
        views.collect::<String>()
    )
}

pub(super) fn probe(ctx: &NodeContext, c: &Config, _: &Secrets) -> Result<Probe, RoleError> {
    let z = &c.zone;
    Ok(Probe::new()
        .files(&managed(ctx, c)?)
        .service(SERVICE)
        .prints(health_script(ctx, z), vec![answer(ctx, z)]))
}

pub(super) async fn apply<R: Remote>(
    session: &mut Session<'_, R>,
    ctx: &NodeContext,
    c: &Config,
    _: &Secrets,
) -> Result<(), RoleError> {
    let files = managed(ctx, c)?;
    session.say("dns: checking files");
    let written = files::sync(session, "dns: files", &files).await?;
    if written.contains(&true) {
        session
            .ok("dns: check the configuration", &check_script(c), None)
            .await?;
    }
    let change = written.contains(&true).then_some(OnChange::Reload);
    service::ensure(session, "dns: named", SERVICE, change).await
}

/// Asks the resolver, as a client does (at the node's address), for the server's own name, so
/// the answer comes through both views; prints the address the zone gives it when that is
/// among the answers (a node on several networks has an address on each, in any order).
fn health_script(ctx: &NodeContext, z: &Zone) -> String {
    format!(
        "dig +short +time=2 +tries=2 @{} {}.{} A | grep -x -F {}",
        ctx.ip,
        ctx.node,
        z.domain,
        answer(ctx, z)
    )
}

fn answer(ctx: &NodeContext, z: &Zone) -> String {
    z.records
        .iter()
        .find(|(name, _)| *name == ctx.node)
        .map_or_else(|| ctx.ip.to_string(), |(_, ip)| ip.to_string())
}

pub(super) async fn health<R: Remote>(
    session: &Session<'_, R>,
    ctx: &NodeContext,
    c: &Config,
) -> Result<RoleHealth, RoleError> {
    let z = &c.zone;
    let out = session
        .run("dns: health", &health_script(ctx, z), None)
        .await?;
    Ok(judge_health(ctx, z, &out))
}

fn judge_health(ctx: &NodeContext, z: &Zone, out: &Output) -> RoleHealth {
    let ok = out.success() && out.stdout_str().trim() == answer(ctx, z);
    RoleHealth {
        role: Role::Dns,
        ok,
        detail: if ok {
            format!("serving {} ({} names)", z.domain, z.records.len())
        } else {
            format!(
                "named on the node does not resolve {}.{} to {} (asked at {})",
                ctx.node,
                z.domain,
                answer(ctx, z),
                ctx.ip
            )
        },
        release: None,
    }
}

#[cfg(test)]
mod tests;
