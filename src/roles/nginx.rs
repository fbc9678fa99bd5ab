//! nginx as a reverse proxy, in front of a haproxy node or in its place in front of the app
//! nodes: `/etc/nginx/conf.d/firedrill.conf` with the proxy headers and `client_max_body_size`.
//! A new file is checked with `nginx -t` in place and put back as it was when nginx rejects it,
//! so nginx never loads a file it cannot; then a reload (open connections survive).
//!
//! Lab file: `nginx: {upstreams: [lb] | [app1, app2], port: 80, client_max_body_size: 1m}`.

use super::context::{NodeContext, Role, Secrets};
use super::error::RoleError;
use super::files::{self, ManagedFile};
use super::options::OptionsInput;
use super::probe::Probe;
use super::render::{self, template};
use super::service::{self, OnChange, Service};
use super::session::Session;
use super::table::{Phase, RoleDef};
use super::{OptionsByRole, RoleHealth};
use crate::plan::NodePlan;
use crate::remote::{Output, Remote};
use crate::spec::load::{Map, list, string, uint};
use crate::spec::problem::Report;
use crate::spec::suggest::did_you_mean;
use crate::spec::yaml::Value;
use crate::state::LabState;
use serde::{Deserialize, Serialize};
use serde_json::json;

pub(super) const CONFIG_PATH: &str = "/etc/nginx/conf.d/firedrill.conf";
/// Not `*.conf`, so nginx never includes it.
pub(super) const STAGED_PATH: &str = "/etc/nginx/conf.d/firedrill.conf.new";
/// The live file while a new one is tested, outside `conf.d`.
pub(super) const BACKUP_PATH: &str = "/etc/nginx/firedrill.conf.old";
pub(super) const ACCESS_LOG: &str = "/var/log/nginx/firedrill-access.log";
pub(super) const SERVICE: Service = Service::single("nginx.service");
const DEFAULT_PORT: u16 = 80;
const DEFAULT_BODY_SIZE: &str = "1m";
const KEYS: &[&str] = &["upstreams", "port", "client_max_body_size"];

/// Its port is the lab file's (`nginx: {port}`), so it has no fixed one here.
pub(super) const DEF: RoleDef = RoleDef {
    name: "nginx",
    unit: SERVICE.unit,
    ports: &[],
    packages: &["nginx"],
    boot_units: &["nginx.service"],
    // Debian's nginx enables a default site on port 80, where haproxy listens; the role writes
    // its own site.
    package_leftovers: &[("etc/nginx/sites-enabled", "default")],
    pages: &[],
    phase: Phase::Front,
    has_options: true,
    serves: |node| node.options.nginx().map(|o| o.port),
};

/// `nginx:` of one node, checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Options {
    /// Node names: one haproxy node (nginx in front of it) or app nodes (nginx in its place).
    pub(crate) upstreams: Vec<String>,
    pub(crate) port: u16,
    /// As nginx reads it: a number with an optional k, m or g.
    pub(crate) client_max_body_size: String,
}

impl super::options::Peers for Options {
    fn talks_to(&self) -> Vec<String> {
        self.upstreams.clone()
    }
}

/// A node nginx can proxy to: it runs haproxy (port 80) or the app.
fn can_serve(node: &crate::spec::Node) -> bool {
    node.roles
        .iter()
        .any(|r| matches!(r.value, Role::Haproxy | Role::App))
}

pub(super) fn check_options(input: &OptionsInput<'_>, r: &mut Report) -> Option<Options> {
    let nodes = &input.lab.nodes.value;
    let servers: Vec<&str> = nodes
        .iter()
        .filter(|n| can_serve(n))
        .map(|n| n.name.value.as_str())
        .collect();
    let map = match input.block {
        Some(y) if y.value != Value::Null => Some(Map::new(y, &input.path("nginx", ""), KEYS, r)?),
        _ => None,
    };
    let get = |key: &str| map.as_ref().and_then(|m| m.get(key));
    let port = match get("port") {
        None => DEFAULT_PORT,
        Some(y) => {
            let hint = "a TCP port from 1 to 65535, e.g. `port: 80`";
            uint::<u16>(y, &input.path("nginx", "port"), r, hint)?.value
        }
    };
    let port_pos = get("port").map_or(input.role_pos, |y| y.pos);
    let port_path = match get("port") {
        Some(_) => input.path("nginx", "port"),
        None => format!("nodes[{}].roles", input.index),
    };
    if let Some(user) = port_user(input, port) {
        r.error(
            Some(port_pos),
            &port_path,
            format!("nginx cannot listen on port {port}: {user} does on this node"),
            "set another port, e.g. `nginx: {port: 8000}`, or put nginx on a node of its own",
        );
    }
    let size = match get("client_max_body_size") {
        None => DEFAULT_BODY_SIZE.to_string(),
        Some(y) => {
            let path = input.path("nginx", "client_max_body_size");
            let s = match &y.value {
                Value::Int(_) => crate::spec::At {
                    value: y.source.clone(),
                    pos: y.pos,
                },
                _ => string(y, &path, r)?,
            };
            if !is_size(&s.value) {
                r.error(
                    Some(s.pos),
                    &path,
                    format!("`{}` is not a size nginx understands", s.value),
                    "a number of bytes with an optional k, m or g, e.g. `1m` or `512k`",
                );
            }
            s.value
        }
    };
    let upstreams = match get("upstreams") {
        Some(y) => {
            let path = input.path("nginx", "upstreams");
            let listed = list(y, &path, r, string)?;
            if listed.value.is_empty() {
                r.error(
                    Some(listed.pos),
                    &path,
                    "`upstreams` is empty",
                    "list a haproxy node or app nodes, or leave `upstreams` out",
                );
            }
            let mut names: Vec<String> = Vec::new();
            for (k, want) in listed.value.iter().enumerate() {
                let path = format!("{path}[{k}]");
                let target = nodes.iter().find(|n| n.name.value == want.value);
                let problem = match target {
                    None => Some((
                        format!("no node named `{}`", want.value),
                        did_you_mean(&want.value, nodes.iter().map(|n| n.name.value.as_str()))
                            .unwrap_or_else(|| {
                                format!("nodes nginx can proxy to: {}", servers.join(", "))
                            }),
                    )),
                    Some(t) if !can_serve(t) => Some((
                        format!("node `{}` has no haproxy or app role", want.value),
                        format!("nodes nginx can proxy to: {}", servers.join(", ")),
                    )),
                    Some(_) if names.contains(&want.value) => Some((
                        format!("`{}` is listed twice", want.value),
                        "list each upstream once".to_string(),
                    )),
                    Some(_) => None,
                };
                match problem {
                    Some((msg, hint)) => r.error(Some(want.pos), &path, msg, hint),
                    None => names.push(want.value.clone()),
                }
            }
            names
        }
        None => default_upstreams(input, r)?,
    };
    Some(Options {
        upstreams,
        port,
        client_max_body_size: size,
    })
}

/// Without `upstreams`: the lab's haproxy node when it has one (nginx in front of it), else
/// every app node (nginx in its place).
fn default_upstreams(input: &OptionsInput<'_>, r: &mut Report) -> Option<Vec<String>> {
    let nodes = &input.lab.nodes.value;
    let with = |role: Role| -> Vec<String> {
        nodes
            .iter()
            .filter(|n| n.roles.iter().any(|x| x.value == role))
            .map(|n| n.name.value.clone())
            .collect()
    };
    let (lbs, apps) = (with(Role::Haproxy), with(Role::App));
    let path = format!("nodes[{}].roles", input.index);
    match (lbs.as_slice(), apps.is_empty()) {
        ([one], _) => Some(vec![one.clone()]),
        ([], false) => Some(apps),
        ([], true) => {
            r.error(
                Some(input.role_pos),
                &path,
                format!(
                    "nginx on `{}` has nothing to proxy to: the lab has no haproxy or app node",
                    input.node().name.value
                ),
                "add a node with role app, or list upstreams in `nginx: {upstreams: [NODE]}`",
            );
            None
        }
        (several, _) => {
            r.error(
                Some(input.role_pos),
                &path,
                format!(
                    "the lab has several haproxy nodes ({}): nginx on `{}` needs to be told which to use",
                    several.join(", "),
                    input.node().name.value
                ),
                format!("set `nginx: {{upstreams: [{}]}}`", several[0]),
            );
            None
        }
    }
}

/// What else on the node listens on `port`: SSH, a role's fixed port, or the app.
fn port_user(input: &OptionsInput<'_>, port: u16) -> Option<String> {
    let node = input.node();
    if port == 0 {
        return Some("nothing can (port 0)".into());
    }
    let fixed = crate::spec::taken_port(node, port).map(str::to_string);
    let app =
        node.roles.iter().any(|r| r.value == Role::App).then(|| {
            super::app::given_port(node).map_or(crate::spec::DEFAULT_APP_PORT, |p| p.value)
        });
    fixed.or_else(|| (app == Some(port)).then(|| "the app".to_string()))
}

/// `1m`, `512k`, `1048576`: what `client_max_body_size` takes (0 turns the check off).
fn is_size(s: &str) -> bool {
    let digits = s.strip_suffix(['k', 'K', 'm', 'M', 'g', 'G']).unwrap_or(s);
    !digits.is_empty() && digits.len() <= 10 && digits.chars().all(|c| c.is_ascii_digit())
}

/// What nginx needs: its options and where each upstream is.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) options: Options,
    /// `ip:port` of each upstream, in the options' order.
    pub(crate) upstreams: Vec<String>,
}

pub(super) fn config(
    state: &LabState,
    node: &NodePlan,
    options: Option<&Options>,
) -> Result<Config, &'static str> {
    let options = options.cloned().ok_or("its `nginx:` options")?;
    let upstreams = options
        .upstreams
        .iter()
        .map(|name| upstream_address(node, state.node(name)?))
        .collect::<Option<Vec<String>>>()
        .ok_or("the address and port of each of its upstreams")?;
    Ok(Config { options, upstreams })
}

/// `ip:port` of an upstream: a haproxy node's port 80, else the app's port.
fn upstream_address(from: &NodePlan, to: &NodePlan) -> Option<String> {
    let serves = super::serving_ports(to);
    let by = |role: Role| serves.iter().find(|(r, _)| *r == role).map(|(_, p)| *p);
    let port = by(Role::Haproxy).or_else(|| by(Role::App))?;
    Some(format!("{}:{port}", super::context::address(from, to)))
}

pub(super) fn render_config(ctx: &NodeContext, c: &Config) -> Result<String, RoleError> {
    let o = &c.options;
    render::render(
        template!("nginx/firedrill.conf.hbs"),
        &json!({
            "lab": ctx.lab,
            "node": ctx.node,
            "port": o.port,
            "client_max_body_size": o.client_max_body_size,
            "upstreams": c.upstreams,
            "access_log": ACCESS_LOG,
        }),
    )
}

/// Puts the staged file in place, keeps it only if `nginx -t` accepts the whole configuration,
/// and otherwise puts back what was there (or nothing), so the next reload or boot never meets
/// a file nginx rejects.
/// And records that firedrill wrote `file` there (see `files::RECORDS`) once nginx took it.
pub(super) fn install_script(file: &ManagedFile) -> String {
    format!(
        "{}; {}",
        install_script_at(CONFIG_PATH, STAGED_PATH, BACKUP_PATH),
        files::record_script(file)
    )
}

fn install_script_at(live: &str, staged: &str, backup: &str) -> String {
    format!(
        "if [ -e {live} ]; then cp -p {live} {backup}; else rm -f {backup}; fi; \
         mv -f {staged} {live}; \
         if nginx -t -q; then rm -f {backup}; \
         else if [ -e {backup} ]; then mv -f {backup} {live}; else rm -f {live}; fi; exit 1; fi"
    )
}

/// What a configured node shows: firedrill.conf as it should be and the service running.
pub(super) fn probe(ctx: &NodeContext, c: &Config, _: &Secrets) -> Result<Probe, RoleError> {
    Ok(Probe::new().files(&[config_file(ctx, c)?]).service(SERVICE))
}

fn config_file(ctx: &NodeContext, c: &Config) -> Result<ManagedFile, RoleError> {
    Ok(ManagedFile {
        path: CONFIG_PATH.into(),
        contents: render_config(ctx, c)?,
        mode: 0o644,
        owner: "root:root".into(),
    })
}

pub(super) async fn apply<R: Remote>(
    session: &mut Session<'_, R>,
    ctx: &NodeContext,
    c: &Config,
    _: &Secrets,
) -> Result<(), RoleError> {
    let file = config_file(ctx, c)?;
    session.say("nginx: checking firedrill.conf");
    let changed =
        files::sync_checked(session, "nginx", &file, STAGED_PATH, &install_script(&file)).await?;
    let change = changed.then_some(OnChange::Reload);
    service::ensure(session, "nginx: service", SERVICE, change).await
}

/// Asks for `/healthz` through nginx: the answer shows nginx, its upstream and the app.
pub(super) fn health_script(port: u16) -> String {
    format!("curl -s -o /dev/null -w '%{{http_code}}' --max-time 5 http://127.0.0.1:{port}/healthz")
}

pub(super) async fn health<R: Remote>(
    session: &Session<'_, R>,
    _: &NodeContext,
    c: &Config,
) -> Result<RoleHealth, RoleError> {
    let port = c.options.port;
    let out = session
        .run("nginx: health", &health_script(port), None)
        .await?;
    Ok(judge_health(port, &out))
}

fn judge_health(port: u16, out: &Output) -> RoleHealth {
    let code = out.stdout_str().trim().to_string();
    let (ok, detail) = match code.as_str() {
        "200" => (true, format!(":{port} /healthz 200 through its upstreams")),
        "000" | "" => (false, format!("not answering on :{port}")),
        c => (false, format!(":{port} /healthz answered {c}")),
    };
    RoleHealth {
        role: Role::Nginx,
        ok,
        detail,
        release: None,
    }
}

#[cfg(test)]
mod spec_tests;
#[cfg(test)]
mod tests;
