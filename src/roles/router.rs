//! A router: the node forwards packets between its networks (`net.ipv4.ip_forward`), filtered
//! and source-NATed by nftables from the lab file, written as a plain `/etc/nftables.conf` the
//! learner can read, edit and reload.
//!
//! Lab file: `router: {forward: drop, allow: [{from: lan, to: dmz, tcp: [80, 3306]}],
//! masquerade: [lan]}`. Left out, it forwards everything and rewrites nothing.

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
use crate::spec::At;
use crate::spec::load::{Map, list, string, uint};
use crate::spec::problem::Report;
use crate::spec::suggest::did_you_mean;
use crate::spec::yaml::{Value, Yaml};
use crate::state::LabState;
use serde::{Deserialize, Serialize};
use serde_json::json;

pub(super) const NFTABLES_PATH: &str = "/etc/nftables.conf";
pub(super) const SYSCTL_PATH: &str = "/etc/sysctl.d/60-firedrill-router.conf";
/// Debian's unit loads /etc/nftables.conf at start and again at reload.
pub(super) const SERVICE: Service = Service::single("nftables.service");
const KEYS: &[&str] = &["forward", "allow", "masquerade"];
const ALLOW_KEYS: &[&str] = &["from", "to", "tcp"];

pub(super) const DEF: RoleDef = RoleDef {
    name: "router",
    unit: SERVICE.unit,
    ports: &[],
    packages: &["nftables"],
    // Debian installs nftables.service disabled: nothing to turn off in the image (and the
    // image's recipe, so the image, stays as it was).
    boot_units: &[],
    package_leftovers: &[],
    pages: &[],
    phase: Phase::Network,
    has_options: true,
    serves: super::table::serves_nothing,
};

/// `router:` of one node, checked; networks by name, each with its CIDR.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Options {
    /// What happens to forwarded packets no `allow` matches: `accept` or `drop`.
    pub(crate) forward: String,
    pub(crate) allow: Vec<Allow>,
    pub(crate) masquerade: Vec<String>,
    /// Every network of the lab: name and CIDR.
    pub(crate) networks: Vec<(String, String)>,
}

/// It forwards for others, and talks to none of them itself.
impl super::options::Peers for Options {}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Allow {
    pub(crate) from: String,
    pub(crate) to: String,
    /// Empty: every protocol and port.
    pub(crate) tcp: Vec<u16>,
}

/// A network of the lab by name, or an error with the names there are.
fn network(
    input: &OptionsInput<'_>,
    name: &At<String>,
    path: &str,
    r: &mut Report,
) -> Option<String> {
    let names = input
        .lab
        .networks
        .value
        .iter()
        .map(|n| n.name.value.as_str());
    if names.clone().any(|n| n == name.value) {
        return Some(name.value.clone());
    }
    let list: Vec<&str> = names.clone().collect();
    let hint = match did_you_mean(&name.value, names) {
        Some(dym) => format!("{dym} (networks: {})", list.join(", ")),
        None => format!("networks: {}", list.join(", ")),
    };
    r.error(
        Some(name.pos),
        path,
        format!("no network named `{}`", name.value),
        hint,
    );
    None
}

fn allow(input: &OptionsInput<'_>, y: &Yaml, path: &str, r: &mut Report) -> Option<Allow> {
    let map = Map::new(y, path, ALLOW_KEYS, r)?;
    let mut side = |key: &str| {
        let p = format!("{path}.{key}");
        let hint = "name a network of the lab, e.g. `from: lan`";
        let y = map.require(key, r, hint)?;
        let s = string(y, &p, r)?;
        network(input, &s, &p, r)
    };
    let (from, to) = (side("from"), side("to"));
    let tcp = match map.get("tcp") {
        None => Vec::new(),
        Some(y) => {
            let p = format!("{path}.tcp");
            let port = |y: &Yaml, p: &str, r: &mut Report| {
                uint::<u16>(
                    y,
                    p,
                    r,
                    "a TCP port from 1 to 65535, e.g. `tcp: [80, 3306]`",
                )
                .filter(|at| at.value > 0)
                .map(|at| at.value)
            };
            list(y, &p, r, port)?.value
        }
    };
    Some(Allow {
        from: from?,
        to: to?,
        tcp,
    })
}

pub(super) fn check_options(input: &OptionsInput<'_>, r: &mut Report) -> Option<Options> {
    let map = match input.block {
        Some(y) if y.value != Value::Null => Some(Map::new(y, &input.path("router", ""), KEYS, r)?),
        _ => None,
    };
    let get = |key: &str| map.as_ref().and_then(|m| m.get(key));
    // Every part is checked before giving up, so one run reports all that is wrong.
    let forward = match get("forward") {
        None => Some("accept".to_string()),
        Some(y) => {
            let path = input.path("router", "forward");
            string(y, &path, r).and_then(|s| {
                if s.value == "accept" || s.value == "drop" {
                    return Some(s.value);
                }
                r.error(
                    Some(s.pos),
                    &path,
                    format!("`{}` is not a forwarding policy", s.value),
                    "use `accept` (forward everything) or `drop` (only what `allow` lists)",
                );
                None
            })
        }
    };
    let allow = match get("allow") {
        None => Some(Vec::new()),
        Some(y) => {
            let path = input.path("router", "allow");
            list(y, &path, r, |y, p, r| allow(input, y, p, r)).map(|l| l.value)
        }
    };
    let masquerade = match get("masquerade") {
        None => Some(Vec::new()),
        Some(y) => {
            let path = input.path("router", "masquerade");
            list(y, &path, r, string).and_then(|names| {
                names
                    .value
                    .iter()
                    .enumerate()
                    .map(|(i, n)| network(input, n, &format!("{path}[{i}]"), r))
                    .collect::<Vec<_>>()
                    .into_iter()
                    .collect::<Option<Vec<_>>>()
            })
        }
    };
    let networks = input
        .lab
        .networks
        .value
        .iter()
        .map(|n| (n.name.value.clone(), n.cidr.value.trim().to_string()))
        .collect();
    Some(Options {
        forward: forward?,
        allow: allow?,
        masquerade: masquerade?,
        networks,
    })
}

/// What the router needs: its options.
pub(super) type Config = Options;

pub(super) fn config(
    _: &LabState,
    _: &NodePlan,
    options: Option<&Options>,
) -> Result<Config, &'static str> {
    options.cloned().ok_or("its `router:` options")
}

/// nftables names: a network's name with '-' as '_' (`define` takes no '-').
fn var(name: &str) -> String {
    name.replace('-', "_")
}

pub(super) fn render_nftables(ctx: &NodeContext, o: &Config) -> Result<String, RoleError> {
    let networks: Vec<_> = o
        .networks
        .iter()
        .map(|(name, cidr)| json!({"name": var(name), "cidr": cidr}))
        .collect();
    let allow: Vec<_> = o
        .allow
        .iter()
        .map(|a| {
            let tcp: Vec<String> = a.tcp.iter().map(u16::to_string).collect();
            json!({"from": var(&a.from), "to": var(&a.to), "tcp": tcp.join(", ")})
        })
        .collect();
    let masquerade: Vec<String> = o.masquerade.iter().map(|m| var(m)).collect();
    render::render(
        template!("router/nftables.conf.hbs"),
        &json!({
            "lab": ctx.lab,
            "node": ctx.node,
            "networks": networks,
            "policy": o.forward,
            "allow": allow,
            "masquerade": masquerade,
        }),
    )
}

const SYSCTL: &str = "# Written by firedrill: this node is a router of the lab, it forwards packets between\n\
# its networks. Apply an edit with `sysctl --system`.\nnet.ipv4.ip_forward = 1\n";

fn managed(ctx: &NodeContext, o: &Config) -> Result<[ManagedFile; 2], RoleError> {
    Ok([
        ManagedFile {
            path: SYSCTL_PATH.into(),
            contents: SYSCTL.into(),
            mode: 0o644,
            owner: "root:root".into(),
        },
        ManagedFile {
            path: NFTABLES_PATH.into(),
            contents: render_nftables(ctx, o)?,
            mode: 0o755,
            owner: "root:root".into(),
        },
    ])
}

/// Forwarding is on now, not only after the next boot.
pub(super) const FORWARDING_ON: &str = "sysctl -q -w net.ipv4.ip_forward=1";

pub(super) fn probe(ctx: &NodeContext, o: &Config, _: &Secrets) -> Result<Probe, RoleError> {
    Ok(Probe::new()
        .files(&managed(ctx, o)?)
        .service(SERVICE)
        .prints(HEALTH_SCRIPT.to_string(), vec!["1".to_string()]))
}

pub(super) async fn apply<R: Remote>(
    session: &mut Session<'_, R>,
    ctx: &NodeContext,
    o: &Config,
    _: &Secrets,
) -> Result<(), RoleError> {
    let files = managed(ctx, o)?;
    session.say("router: checking files");
    let written = files::sync(session, "router: files", &files).await?;
    if written[0] {
        session
            .ok("router: forwarding", FORWARDING_ON, None)
            .await?;
        session.changed("IP forwarding on".to_string());
    }
    let change = written[1].then_some(OnChange::Reload);
    service::ensure(session, "router: nftables", SERVICE, change).await
}

/// Prints 1 when the kernel forwards.
pub(super) const HEALTH_SCRIPT: &str = "cat /proc/sys/net/ipv4/ip_forward";

pub(super) async fn health<R: Remote>(
    session: &Session<'_, R>,
    _: &NodeContext,
    _: &Config,
) -> Result<RoleHealth, RoleError> {
    let out = session.run("router: health", HEALTH_SCRIPT, None).await?;
    Ok(judge_health(&out))
}

fn judge_health(out: &Output) -> RoleHealth {
    let ok = out.success() && out.stdout_str().trim() == "1";
    RoleHealth {
        role: Role::Router,
        ok,
        detail: if ok {
            "forwarding between its networks".to_string()
        } else {
            "not forwarding: net.ipv4.ip_forward is off".to_string()
        },
        release: None,
    }
}

#[cfg(test)]
mod tests;
