//! HAProxy in front of the app nodes: `/etc/haproxy/haproxy.cfg`, checked with `haproxy -c`
//! before it replaces the live file, then a reload (never a restart: open connections survive).

use super::RoleHealth;
use super::context::{HaproxyConfig, NodeContext, Role};
use super::error::RoleError;
use super::probe::Probe;
use super::files::{self, ManagedFile};
use super::render::{self, template};
use super::service::{self, OnChange, Service};
use super::session::Session;
use super::table::{Page, Phase, RoleDef};
use crate::remote::Remote;
use serde_json::json;

pub(super) const CONFIG_PATH: &str = "/etc/haproxy/haproxy.cfg";
pub(super) const STAGED_PATH: &str = "/etc/haproxy/haproxy.cfg.new";
pub(super) const SERVICE: Service = Service::single("haproxy.service");
pub(super) const DEF: RoleDef = RoleDef {
    name: "haproxy",
    unit: SERVICE.unit,
    ports: &[(PORT, "haproxy"), (8404, "the haproxy stats page")],
    packages: &["haproxy"],
    boot_units: &["haproxy.service"],
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
    has_options: false,
    serves: |_| Some(PORT),
};
/// Where it serves the app nodes.
pub(super) const PORT: u16 = 80;
/// Its options (`haproxy:`) are still read by the lab file's own types, not by `check_options`.
pub(super) type Options = super::options::NoOptions;
pub(super) use super::options::no_options as check_options;

/// The backend of app nodes in haproxy.cfg.
const BACKEND: &str = "app";

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
pub(super) fn probe(ctx: &NodeContext, _: &super::Secrets) -> Result<Probe, RoleError> {
    Ok(Probe::new().files(&[config_file(ctx)?]).service(SERVICE))
}

fn config_file(ctx: &NodeContext) -> Result<ManagedFile, RoleError> {
    let hp = ctx
        .haproxy
        .as_ref()
        .ok_or_else(|| RoleError::MissingConfig {
            node: ctx.node.clone(),
            role: Role::Haproxy,
            what: "haproxy",
        })?;
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
    _: &super::Secrets,
) -> Result<(), RoleError> {
    let file = config_file(ctx)?;
    session.say("haproxy: checking haproxy.cfg");
    let changed =
        files::sync_checked(session, "haproxy", &file, STAGED_PATH, &install_script(&file)).await?;
    let change = changed.then_some(OnChange::Reload);
    service::ensure(session, "haproxy: service", SERVICE, change).await
}

/// Asks the runtime API for `show stat` (or the command given as the script's argument). The
/// script comes on stdin and needs only python3.
pub(super) const STAT_SCRIPT: &str = "python3 -";
pub(super) const STAT_PY: &str = "import socket, sys\n\
s = socket.socket(socket.AF_UNIX)\n\
s.settimeout(3)\n\
s.connect('/run/haproxy/admin.sock')\n\
s.sendall((sys.argv[1] if len(sys.argv) > 1 else 'show stat').encode() + b'\\n')\n\
print(s.makefile(encoding='utf-8').read(), end='')\n";

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
    let script = crate::ssh::as_root(
        remote,
        &format!("{STAT_SCRIPT} {}", crate::ssh::quote(command)),
    );
    let out = remote
        .run(&script, Some(STAT_PY.as_bytes()))
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
            command: script,
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
) -> Result<RoleHealth, RoleError> {
    let out = session
        .run("haproxy: health", STAT_SCRIPT, Some(STAT_PY.as_bytes()))
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
