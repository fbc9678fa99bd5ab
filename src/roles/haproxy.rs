//! HAProxy in front of the app nodes: `/etc/haproxy/haproxy.cfg`, checked with `haproxy -c`
//! before it replaces the live file, then a reload (never a restart: open connections survive).

use super::RoleHealth;
use super::context::{Backend, HaproxyConfig, NodeContext, Role};
use super::error::RoleError;
use super::files::{self, ManagedFile};
use super::probe::Probe;
use super::render::{self, template};
use super::service::{self, OnChange, Service};
use super::session::Session;
use super::table::{Page, Phase, RoleDef};
use crate::plan::NodePlan;
use crate::remote::Remote;
use crate::state::LabState;
use serde_json::json;

pub(super) const CONFIG_PATH: &str = "/etc/haproxy/haproxy.cfg";
pub(super) const STAGED_PATH: &str = "/etc/haproxy/haproxy.cfg.new";
pub(super) const SERVICE: Service = Service::single("haproxy.service");
pub(super) const DEF: RoleDef = RoleDef {
    name: "haproxy",
    unit: SERVICE.unit,
    ports: &[
        (PORT, "haproxy"),
        (TLS_PORT, "haproxy (https)"),
        (8404, "the haproxy stats page"),
    ],
    packages: &["haproxy"],
    boot_units: &["haproxy.service"],
    package_leftovers: &[],
    pages: &[
        Page {
            port: Some(PORT),
            path: "/todos",
            what: "the service",
        },
        Page {
            port: Some(8404),
            path: "/",
            what: "haproxy stats",
        },
    ],
    phase: Phase::Front,
    has_options: true,
    serves: |_| Some(PORT),
};
/// Where it serves the app nodes.
pub(super) const PORT: u16 = 80;
/// The same service over TLS, with a certificate from the lab's own CA (`TLS_SCRIPT`).
pub(super) const TLS_PORT: u16 = 443;
/// The certificate and key haproxy serves on `TLS_PORT`; the lab CA beside it.
pub(crate) const TLS_DIR: &str = "/etc/haproxy/tls";
pub(crate) const TLS_PEM: &str = "/etc/haproxy/tls/site.pem";

/// Makes the lab CA and a certificate for this node, signed by it, unless the node has one:
/// both are made on the node (the CA key never leaves it) and kept across `up`s, so a
/// certificate a learner or a fault replaced stays theirs. The certificate names the node, its
/// FQDN, `localhost` and its address; `ca.pem` is what an HTTPS client trusts. Prints "made"
/// when it made them.
pub(crate) fn tls_script(lab: &str, node: &str, ip: std::net::Ipv4Addr) -> String {
    format!(
        r#"d={TLS_DIR}
if [ ! -s "$d/site.pem" ]; then
  set -e
  umask 077
  mkdir -p "$d"
  fqdn=$(hostname -f 2>/dev/null || echo {node})
  [ -s "$d/ca.key" ] || openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 -subj '/CN=firedrill lab {lab} CA' -keyout "$d/ca.key" -out "$d/ca.pem" 2>/dev/null
  chmod 644 "$d/ca.pem"
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$fqdn" -keyout "$d/site.key" -out "$d/site.csr" 2>/dev/null
  printf 'subjectAltName=DNS:{node},DNS:%s,DNS:localhost,IP:{ip},IP:127.0.0.1
' "$fqdn" > "$d/site.ext"
  openssl x509 -req -sha256 -days 825 -in "$d/site.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -set_serial "0x$(od -An -N8 -tx1 /dev/urandom | tr -d ' ')" -extfile "$d/site.ext" -out "$d/site.crt" 2>/dev/null
  cat "$d/site.crt" "$d/site.key" > "$d/site.pem.new"
  mv -f "$d/site.pem.new" "$d/site.pem"
  rm -f "$d/site.csr" "$d/site.ext"
  echo made
fi
"#,
    )
}
mod options;
pub(crate) use options::{Options, check_options};

/// The backend of app nodes in haproxy.cfg.
const BACKEND: &str = "app";

pub(super) type Config = HaproxyConfig;

/// Its backends as it reaches them, and the port they listen on, from the plan.
/// Its options are read from `n`'s fields, where the planner resolved them.
pub(super) fn config(
    state: &LabState,
    n: &NodePlan,
    _: Option<&Options>,
) -> Result<Config, &'static str> {
    let backends: Vec<&NodePlan> = n.backends.iter().filter_map(|b| state.node(b)).collect();
    Ok(HaproxyConfig {
        app_port: backends
            .iter()
            .find_map(|b| b.app_port)
            .unwrap_or(crate::spec::DEFAULT_APP_PORT),
        backends: backends
            .iter()
            .map(|b| Backend {
                name: n.haproxy_server(&b.name).to_string(),
                node: b.name.clone(),
                ip: super::context::address(n, b),
                host: n.backend_hosts.get(&b.name).cloned(),
            })
            .collect(),
    })
}

pub(super) fn render_config(ctx: &NodeContext, hp: &HaproxyConfig) -> Result<String, RoleError> {
    let backends: Vec<_> = hp
        .backends
        .iter()
        .map(|b| json!({"name": b.name, "ip": b.ip.to_string(), "host": b.host}))
        .collect();
    let by_name = hp.backends.iter().any(|b| b.host.is_some());
    let first = hp.backends.first().map_or("app1", |b| b.name.as_str());
    render::render(
        template!("haproxy/haproxy.cfg.hbs"),
        &json!({
            "lab": ctx.lab,
            "node": ctx.node,
            "ip": ctx.ip.to_string(),
            "backends": backends,
            "first_backend": first,
            "app_port": hp.app_port,
            "by_name": by_name,
            "tls_pem": TLS_PEM,
        }),
    )
}

/// Puts the staged file in place only if haproxy accepts it, and records that firedrill wrote
/// it; a rejected file is removed so the live config is never one haproxy cannot load.
pub(super) fn install_script(file: &ManagedFile) -> String {
    format!(
        "if haproxy -c -q -f {STAGED_PATH}; then mv -f {STAGED_PATH} {CONFIG_PATH}; \
         else rm -f {STAGED_PATH}; exit 1; fi && {}",
        files::record_script(file)
    )
}

/// What a configured node shows: haproxy.cfg as it should be and the service running.
pub(super) fn probe(
    ctx: &NodeContext,
    hp: &Config,
    _: &super::Secrets,
) -> Result<Probe, RoleError> {
    Ok(Probe::new()
        .files(&[config_file(ctx, hp)?])
        .prints(format!("test -s {TLS_PEM} && echo tls"), vec!["tls".into()])
        .service(SERVICE))
}

fn config_file(ctx: &NodeContext, hp: &Config) -> Result<ManagedFile, RoleError> {
    Ok(ManagedFile {
        path: CONFIG_PATH.into(),
        contents: render_config(ctx, hp)?,
        mode: 0o644,
        owner: "root:root".into(),
    })
}

pub(super) async fn apply<R: Remote>(
    session: &mut Session<'_, R>,
    ctx: &NodeContext,
    hp: &Config,
    _: &super::Secrets,
) -> Result<(), RoleError> {
    let file = config_file(ctx, hp)?;
    // Before the configuration that names it: `haproxy -c` loads the certificate.
    let tls = session
        .ok(
            "haproxy: the TLS certificate",
            &tls_script(&ctx.lab, &ctx.node, ctx.ip),
            None,
        )
        .await?;
    if tls.stdout_str().trim() == "made" {
        session.changed(format!("{TLS_PEM} made (lab CA: {TLS_DIR}/ca.pem)"));
    }
    session.say("haproxy: checking haproxy.cfg");
    let changed = files::sync_checked(
        session,
        "haproxy",
        &file,
        STAGED_PATH,
        &install_script(&file),
    )
    .await?;
    let change = changed.then_some(OnChange::Reload);
    service::ensure(session, "haproxy: service", SERVICE, change).await
}

/// Sends one command to haproxy's runtime API and prints its answer (haproxy closes the
/// connection after it). socat, a compiled program, not python3: an interpreter's start costs
/// many times more on a node under software emulation (`bench/speed` times both), and `status`
/// and every level's health check ask this of each load balancer.
pub(super) fn api_script(command: &str) -> String {
    format!(
        "printf '%s\\n' {} | socat -t 3 -T 3 - UNIX-CONNECT:/run/haproxy/admin.sock",
        crate::ssh::quote(command)
    )
}

/// A server's admin state in the app backend, for rolling changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ServerState {
    /// No new requests; the ones in flight finish.
    Drain,
    Ready,
}

/// Runs one runtime API command as root on `remote`; its answer.
async fn runtime_api<R: Remote>(remote: &R, command: &str) -> Result<String, RoleError> {
    let step = format!("haproxy: {command}");
    let script = api_script(command);
    let out = remote
        .run_as_root(&script, None)
        .await
        .map_err(|source| RoleError::Remote {
            node: remote.node().to_string(),
            step: step.clone(),
            source,
        })?;
    match out.check(remote.node(), &step) {
        Ok(out) => Ok(out.stdout_str()),
        Err(failed) => Err(RoleError::Command {
            failed,
            command: super::error::shown_command(&script),
        }),
    }
}

/// Sets app server `server`'s state through the runtime API of the haproxy on `remote`.
pub(crate) async fn set_server_state<R: Remote>(
    remote: &R,
    server: &str,
    state: ServerState,
) -> Result<(), RoleError> {
    let word = match state {
        ServerState::Drain => "drain",
        ServerState::Ready => "ready",
    };
    let command = format!("set server {BACKEND}/{server} state {word}");
    // The API answers success with an empty line and a refusal with a message.
    let said = runtime_api(remote, &command).await?;
    if said.trim().is_empty() {
        Ok(())
    } else {
        Err(RoleError::Unexpected {
            node: remote.node().to_string(),
            step: "haproxy: runtime API".into(),
            command,
            detail: said.trim().to_string(),
        })
    }
}

/// App server `server`'s status in `show stat` ("UP", "DOWN", "DRAIN", "MAINT", ...), if listed.
pub(crate) async fn server_status<R: Remote>(
    remote: &R,
    server: &str,
) -> Result<Option<String>, RoleError> {
    Ok(stat_status(
        &runtime_api(remote, "show stat").await?,
        server,
    ))
}

/// The `status` column of `server`'s line in the app backend of `show stat` CSV.
pub(crate) fn stat_status(csv: &str, server: &str) -> Option<String> {
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next()?.trim_start_matches("# ").split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name);
    let (px, sv, st) = (col("pxname")?, col("svname")?, col("status")?);
    lines.find_map(|l| {
        let f: Vec<&str> = l.split(',').collect();
        (f.get(px) == Some(&BACKEND) && f.get(sv) == Some(&server))
            .then(|| f.get(st).map(|s| s.to_string()))
            .flatten()
    })
}

pub(super) async fn health<R: Remote>(
    session: &Session<'_, R>,
    _: &NodeContext,
    _: &Config,
) -> Result<RoleHealth, RoleError> {
    let out = session
        .run("haproxy: health", &api_script("show stat"), None)
        .await?;
    if !out.success() {
        return Ok(RoleHealth {
            role: Role::Haproxy,
            ok: false,
            detail: format!("runtime API not answering: {}", out.stderr_tail(1)),
            release: None,
        });
    }
    Ok(judge_stat(&out.stdout_str()))
}

/// The app servers' health as the haproxy on `remote` sees it, asked as root.
pub(crate) async fn backends<R: Remote>(remote: &R) -> Result<RoleHealth, RoleError> {
    Ok(judge_stat(&runtime_api(remote, "show stat").await?))
}

/// Counts the app servers that are UP in `show stat` CSV output.
pub(super) fn judge_stat(csv: &str) -> RoleHealth {
    let mut lines = csv.lines();
    let header: Vec<&str> = lines
        .next()
        .unwrap_or_default()
        .trim_start_matches("# ")
        .split(',')
        .collect();
    let column = |name: &str| header.iter().position(|h| *h == name);
    let (Some(px), Some(sv), Some(st)) = (column("pxname"), column("svname"), column("status"))
    else {
        return RoleHealth {
            role: Role::Haproxy,
            ok: false,
            detail: "unexpected `show stat` output".into(),
            release: None,
        };
    };
    let mut total = 0;
    let mut down = Vec::new();
    for line in lines {
        let fields: Vec<&str> = line.split(',').collect();
        let (Some(p), Some(s), Some(status)) = (fields.get(px), fields.get(sv), fields.get(st))
        else {
            continue;
        };
        if *p != BACKEND || *s == "FRONTEND" || *s == "BACKEND" {
            continue;
        }
        total += 1;
        // "UP", or "UP 1/2" while a check is going down; everything else (DOWN, MAINT, DRAIN,
        // NOLB) takes no new requests.
        if !status.starts_with("UP") {
            down.push(format!("{s} {status}"));
        }
    }
    let up = total - down.len();
    let mut detail = format!("{up}/{total} backends UP");
    if !down.is_empty() {
        detail.push_str(&format!(" ({})", down.join(", ")));
    }
    RoleHealth {
        role: Role::Haproxy,
        ok: total > 0 && down.is_empty(),
        detail,
        release: None,
    }
}
