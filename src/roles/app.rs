//! The todo app: `/opt/todo/app.py`, run by `todo.service` as user `todo`, configured by
//! `/etc/todo/config.ini`.

use super::context::{AppConfig, NodeContext, Role, Secrets};
use super::error::RoleError;
use super::files::{self, ManagedFile};
use super::render::{self, template};
use super::service::{self, OnChange, Service};
use super::session::{Session, quote};
use super::table::{Page, Phase, RoleDef};
use super::{RoleHealth, check_name};
use crate::remote::{Output, Remote};
use serde_json::json;

/// Shipped as is: it has no settings of its own, so it needs no rendering.
pub(super) const APP_PY: &str =
    include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/templates/app/app.py"));
pub(super) const SERVICE: Service = Service::single("todo.service");
/// The app's port is the lab file's (`app: {port}`), so it has no fixed one here.
pub(super) const DEF: RoleDef = RoleDef {
    role: Role::App,
    name: "app",
    unit: SERVICE.unit,
    ports: &[],
    pages: &[Page {
        port: None,
        path: "/todos",
        what: "todo app",
    }],
    phase: Phase::App,
};
pub(super) const APP_PY_PATH: &str = "/opt/todo/app.py";
pub(super) const CONFIG_PATH: &str = "/etc/todo/config.ini";
pub(super) const UNIT_PATH: &str = "/etc/systemd/system/todo.service";

/// Directories the app needs: path, owner, group, mode.
const DIRS: [(&str, &str, &str, &str); 4] = [
    ("/opt/todo", "root", "root", "755"),
    // The config holds the database password: readable by the app, not by everyone.
    ("/etc/todo", "root", "todo", "750"),
    ("/var/lib/todo", "todo", "todo", "755"),
    ("/var/lib/todo/uploads", "todo", "todo", "755"),
];

/// Where the app keeps things on its host. Nodes use `AppEnv::node()`; the live test on this
/// host points them into a temp dir.
#[derive(Debug, Clone)]
pub(super) struct AppEnv {
    pub(super) listen: String,
    pub(super) upload_dir: String,
    pub(super) localtime: String,
}

impl AppEnv {
    pub(super) fn node() -> AppEnv {
        AppEnv {
            listen: "0.0.0.0".into(),
            upload_dir: "/var/lib/todo/uploads".into(),
            localtime: "/etc/localtime".into(),
        }
    }
}

pub(super) fn render_config(
    ctx: &NodeContext,
    app: &AppConfig,
    secrets: &Secrets,
    env: &AppEnv,
) -> Result<String, RoleError> {
    check_name(ctx, "app database name", &app.db_name)?;
    check_name(ctx, "app database user", &app.db_user)?;
    render::render(
        template!("app/config.ini.hbs"),
        &json!({
            "lab": ctx.lab,
            "node": ctx.node,
            "listen": env.listen,
            "port": app.port,
            "upload_dir": env.upload_dir,
            "localtime": env.localtime,
            "engine": app.db_engine.as_str(),
            "db_host": app.db_host,
            "db_port": app.db_port,
            "db_name": app.db_name,
            "db_user": app.db_user,
            "password": secrets.db_password,
        }),
    )
}

pub(super) fn render_unit(ctx: &NodeContext, app: &AppConfig) -> Result<String, RoleError> {
    render::render(
        template!("app/todo.service.hbs"),
        &json!({"lab": ctx.lab, "port": app.port, "low_port": app.port < 1024}),
    )
}

pub(super) fn files(
    ctx: &NodeContext,
    app: &AppConfig,
    secrets: &Secrets,
) -> Result<Vec<ManagedFile>, RoleError> {
    Ok(vec![
        ManagedFile {
            path: APP_PY_PATH.into(),
            contents: APP_PY.into(),
            mode: 0o644,
            owner: "root:root".into(),
        },
        ManagedFile {
            path: CONFIG_PATH.into(),
            contents: render_config(ctx, app, secrets, &AppEnv::node())?,
            mode: 0o640,
            owner: "root:todo".into(),
        },
        ManagedFile {
            path: UNIT_PATH.into(),
            contents: render_unit(ctx, app)?,
            mode: 0o644,
            owner: "root:root".into(),
        },
    ])
}

/// Creates the `todo` user and the app's directories where they are missing or wrong; prints
/// one line per change, nothing when all is in place.
pub(super) fn setup_script() -> String {
    let mut script = String::from(
        "set -e\n\
         if ! id -u todo >/dev/null 2>&1; then useradd --system --user-group --home-dir /var/lib/todo \
         --no-create-home --shell /usr/sbin/nologin todo; echo 'user todo created'; fi\n\
         dir() { if [ \"$(stat -c '%U:%G %a' \"$1\" 2>/dev/null)\" != \"$2:$3 $4\" ]; then \
         install -d -o \"$2\" -g \"$3\" -m \"$4\" \"$1\"; echo \"directory $1 set up\"; fi; }\n",
    );
    for (path, user, group, mode) in DIRS {
        script.push_str(&format!("dir {} {user} {group} {mode}\n", quote(path)));
    }
    script
}

pub(super) async fn apply<R: Remote>(
    session: &mut Session<'_, R>,
    ctx: &NodeContext,
    secrets: &Secrets,
) -> Result<(), RoleError> {
    let app = ctx.app.as_ref().ok_or_else(|| RoleError::MissingConfig {
        node: ctx.node.clone(),
        role: Role::App,
        what: "app",
    })?;
    let files = files(ctx, app, secrets)?;

    session.say("app: checking the todo user and directories");
    let out = session
        .ok("app: user and directories", &setup_script(), None)
        .await?;
    for line in out.stdout_str().lines() {
        session.changed(line.to_string());
    }

    session.say("app: checking files");
    let written = files::sync(session, "app: files", &files).await?;
    if written[2] {
        session
            .ok("app: reload systemd", "systemctl daemon-reload", None)
            .await?;
    }
    let change = written.contains(&true).then_some(OnChange::Restart);
    service::ensure(session, "app: service", SERVICE, change).await
}

pub(super) fn health_script(port: u16) -> String {
    format!("curl -s --max-time 3 -w '\\n%{{http_code}}' http://127.0.0.1:{port}/healthz")
}

pub(super) async fn health<R: Remote>(
    session: &Session<'_, R>,
    app: &AppConfig,
) -> Result<RoleHealth, RoleError> {
    let out = session
        .run("app: health", &health_script(app.port), None)
        .await?;
    Ok(judge_health(app.port, &out))
}

/// Reads curl's output: the body, then the status code on the last line.
pub(super) fn judge_health(port: u16, out: &Output) -> RoleHealth {
    let text = out.stdout_str();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", text.as_str()));
    let detail = match code.trim() {
        "200" => "healthz 200".to_string(),
        "000" | "" => format!("no answer on port {port} (curl exit {})", out.status),
        code => {
            let error = serde_json::from_str::<serde_json::Value>(body)
                .ok()
                .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(String::from))
                .unwrap_or_else(|| body.trim().chars().take(120).collect());
            format!("healthz {code}: {error}")
        }
    };
    RoleHealth {
        role: Role::App,
        ok: code.trim() == "200",
        detail,
    }
}
