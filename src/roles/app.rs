//! The todo app: every release side by side in `/opt/todo/releases/vN`, `/opt/todo/current`
//! pointing at the one the lab file picks, `/opt/todo/app.py` -> `current/app.py`, run by
//! `todo.service` as user `todo` (and any release beside it by `todo@vN.service`), configured by
//! `/etc/todo/config.ini`.

use super::context::{AppConfig, AppDatabase, Engine, NodeContext, Role, Secrets};
use super::error::RoleError;
use super::files::{self, ManagedFile};
use super::probe::Probe;
use super::release::{self, RELEASES_DIR, Release};
use super::render::{self, template};
use super::service::{self, OnChange, Service};
use super::session::{Session, quote};
use super::table::{Page, Phase, RoleDef};
use super::{RoleHealth, check_name};
use crate::plan::NodePlan;
use crate::remote::{Output, Remote};
use crate::state::LabState;
use serde_json::json;

/// The copy tool has no settings of its own, so it needs no rendering.
pub(super) const TODO_COPY: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/templates/app/todo-copy"
));
pub(super) const SERVICE: Service = Service::single("todo.service");
/// The app's port is the lab file's (`app: {port}`), so it has no fixed one here.
pub(super) const DEF: RoleDef = RoleDef {
    name: "app",
    unit: SERVICE.unit,
    ports: &[],
    packages: &["python3-pymysql", "python3-psycopg2"],
    boot_units: &[],
    package_leftovers: &[],
    pages: &[Page {
        port: None,
        path: "/todos",
        what: "todo app",
    }],
    phase: Phase::App,
    has_options: true,
    serves: |node| node.app_port,
};

mod options;
pub(crate) use options::{Options, check_options, given_port};

/// A link to `current/app.py`: what `todo.service` runs, and the path faults and levels know.
pub(super) const APP_PY_PATH: &str = "/opt/todo/app.py";
pub(super) const CURRENT_PATH: &str = "/opt/todo/current";
pub(super) const CONFIG_PATH: &str = "/etc/todo/config.ini";
pub(super) const UNIT_PATH: &str = "/etc/systemd/system/todo.service";
pub(super) const INSTANCE_UNIT_PATH: &str = "/etc/systemd/system/todo@.service";
pub(super) const README_PATH: &str = "/opt/todo/README";
pub(super) const TODO_COPY_PATH: &str = "/usr/local/bin/todo-copy";

/// Directories the app needs: path, owner, group, mode. The release directories follow.
const DIRS: [(&str, &str, &str, &str); 5] = [
    ("/opt/todo", "root", "root", "755"),
    (RELEASES_DIR, "root", "root", "755"),
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

pub(super) type Config = AppConfig;

/// The app's port, release and databases (its own first, then every other database node) and
/// whether it migrates its database, from the plan.
/// Its options are read from `n`'s fields, where the planner resolved them.
pub(super) fn config(
    state: &LabState,
    n: &NodePlan,
    _: Option<&Options>,
) -> Result<Config, &'static str> {
    let port = n.app_port.ok_or("the port its app listens on")?;
    let own = n
        .database
        .as_deref()
        .and_then(|d| state.node(d))
        .ok_or("a database node in the plan")?;
    let every_db = || {
        state
            .nodes()
            .filter(|d| d.roles.iter().any(|r| r.is_database()))
    };
    let (database, others) = match &n.database_host {
        // Reached by a `dns:` name when the lab file gave one: resolved at each connection, so
        // repointing the name moves the app. Its section is named after the name and every
        // database node follows, so that config.ini stays the same when the name is
        // repointed: nothing restarts.
        Some(host) => {
            let mut database = app_database(n, own);
            database.name = host.split('.').next().unwrap_or(host).to_string();
            database.host = host.clone();
            (database, every_db().map(|d| app_database(n, d)).collect())
        }
        None => (
            app_database(n, own),
            every_db()
                .filter(|d| d.name != own.name)
                .map(|d| app_database(n, d))
                .collect(),
        ),
    };
    Ok(AppConfig {
        port,
        release: n.release,
        database,
        others,
        migrate: migrator(state, n),
    })
}

fn app_database(app: &NodePlan, db: &NodePlan) -> AppDatabase {
    let engine = if db.roles.contains(&Role::Postgres) {
        Engine::Postgres
    } else {
        Engine::Mysql
    };
    let todo = super::DbConfig::todo();
    AppDatabase {
        name: db.name.clone(),
        host: super::context::address(app, db).to_string(),
        engine,
        port: engine.default_port(),
        db_name: todo.name,
        db_user: todo.user,
    }
}

/// The release to migrate the database of `app` to, when `app` is the node that runs the
/// migrations of its database: the first app node using it. Once per database, to the newest
/// release of the app nodes that use it.
fn migrator(state: &LabState, app: &NodePlan) -> Option<Release> {
    let sharing = || {
        state
            .nodes()
            .filter(|n| n.app_port.is_some() && n.database == app.database)
    };
    let first = sharing().next()?;
    (first.name == app.name)
        .then(|| sharing().map(|n| n.release).max())
        .flatten()
}

pub(super) fn render_config(
    ctx: &NodeContext,
    app: &AppConfig,
    secrets: &Secrets,
    env: &AppEnv,
) -> Result<String, RoleError> {
    let mut databases = Vec::new();
    for db in app.databases() {
        // db.name is a node name, checked as one by the lab file's validation; config.ini takes
        // it as is (`[database web-db]`).
        check_name(ctx, "app database name", &db.db_name)?;
        check_name(ctx, "app database user", &db.db_user)?;
        databases.push(json!({
            "name": db.name,
            "engine": db.engine.as_str(),
            "host": db.host,
            "port": db.port,
            "db_name": db.db_name,
            "db_user": db.db_user,
        }));
    }
    let ports: Vec<_> = Release::ALL
        .iter()
        .map(|r| json!({"release": r.name(), "port": r.side_port()}))
        .collect();
    render::render(
        template!("app/config.ini.hbs"),
        &json!({
            "lab": ctx.lab,
            "node": ctx.node,
            "listen": env.listen,
            "port": app.port,
            "upload_dir": env.upload_dir,
            "localtime": env.localtime,
            "ports": ports,
            "write": app.database.name,
            "read": app.database.name,
            "databases": databases,
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

pub(super) fn render_instance_unit(ctx: &NodeContext) -> Result<String, RoleError> {
    render::render(template!("app/todo@.service.hbs"), &json!({"lab": ctx.lab}))
}

pub(super) fn render_readme(ctx: &NodeContext, app: &AppConfig) -> Result<String, RoleError> {
    render::render(
        template!("app/README.hbs"),
        &json!({
            "lab": ctx.lab,
            "node": ctx.node,
            "port": app.port,
            "release": app.release.name(),
            "v2_port": Release::V2.side_port(),
        }),
    )
}

/// Index in `files()` of the current release's `app.py` (each release has app.py, migrate).
fn current_app_index(release: Release) -> usize {
    2 * release as usize
}
/// Indexes in `files()` after the releases' files.
const CONFIG_INDEX: usize = 2 * Release::ALL.len();
const UNIT_INDEX: usize = CONFIG_INDEX + 1;
const INSTANCE_UNIT_INDEX: usize = CONFIG_INDEX + 2;

pub(super) fn files(
    ctx: &NodeContext,
    app: &AppConfig,
    secrets: &Secrets,
) -> Result<Vec<ManagedFile>, RoleError> {
    let root = |path: String, contents: String, mode: u32| ManagedFile {
        path,
        contents,
        mode,
        owner: "root:root".into(),
    };
    let mut files = Vec::new();
    for r in Release::ALL {
        files.push(root(
            format!("{}/app.py", r.dir()),
            release::render_app(r)?,
            0o644,
        ));
        files.push(root(
            format!("{}/migrate", r.dir()),
            release::render_migrate(r)?,
            0o755,
        ));
    }
    files.push(ManagedFile {
        path: CONFIG_PATH.into(),
        contents: render_config(ctx, app, secrets, &AppEnv::node())?,
        mode: 0o640,
        owner: "root:todo".into(),
    });
    files.push(root(UNIT_PATH.into(), render_unit(ctx, app)?, 0o644));
    files.push(root(
        INSTANCE_UNIT_PATH.into(),
        render_instance_unit(ctx)?,
        0o644,
    ));
    files.push(root(README_PATH.into(), render_readme(ctx, app)?, 0o644));
    files.push(root(TODO_COPY_PATH.into(), TODO_COPY.into(), 0o755));
    Ok(files)
}

/// The app's directories (path, owner, group, mode): `DIRS`, then each release's.
fn dirs() -> Vec<(String, &'static str, &'static str, &'static str)> {
    let releases = Release::ALL.map(|r| (r.dir(), "root", "root", "755"));
    DIRS.iter()
        .map(|(p, u, g, m)| (p.to_string(), *u, *g, *m))
        .chain(releases)
        .collect()
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
    for (path, user, group, mode) in dirs() {
        script.push_str(&format!("dir {} {user} {group} {mode}\n", quote(&path)));
    }
    script
}

/// What `setup_script` checks, read in one `stat` (it changes nothing); with `setup_in_place`,
/// what it prints when nothing is to be made.
pub(super) fn setup_state_script() -> String {
    let paths: Vec<String> = dirs().iter().map(|(p, ..)| quote(p)).collect();
    format!(
        "id -u todo >/dev/null && echo 'user todo'; stat -c '%U:%G %a %n' -- {}",
        paths.join(" ")
    )
}

pub(super) fn setup_in_place() -> Vec<String> {
    std::iter::once("user todo".to_string())
        .chain(
            dirs()
                .into_iter()
                .map(|(p, u, g, m)| format!("{u}:{g} {m} {p}")),
        )
        .collect()
}

/// Points `current` at `release` and `app.py` at `current/app.py`, each replaced atomically
/// (a new link renamed over the old one) and only when it points elsewhere; prints one line per
/// link it changed.
pub(super) fn links_script(release: Release) -> String {
    format!(
        "set -e\n\
         link() {{ if [ \"$(readlink \"$2\")\" != \"$1\" ]; then ln -sfn \"$1\" \"$2.new\"; \
         mv -Tf \"$2.new\" \"$2\"; echo \"$2 -> $1\"; fi; }}\n\
         link releases/{} {CURRENT_PATH}\n\
         link current/app.py {APP_PY_PATH}\n",
        release.name()
    )
}

/// Prints the release of the newest migration `todo_migrations` records in `db`, logging in
/// as the app does with the password from config.ini (it never leaves the node). Prints
/// nothing when it cannot tell.
pub(super) fn migrated_script(db: &AppDatabase) -> String {
    const QUERY: &str =
        "'SELECT version FROM todo_migrations ORDER BY applied_at DESC, version DESC LIMIT 1'";
    let client = match db.engine {
        Engine::Mysql => format!(
            "printf '[client]\\npassword=%s\\n' \"$pw\" > \"$f\"; \
             mysql --defaults-extra-file=\"$f\" --protocol=tcp -h {} -P {} -u {} -D {} -N -B -e {QUERY}",
            quote(&db.host),
            db.port,
            quote(&db.db_user),
            quote(&db.db_name)
        ),
        Engine::Postgres => format!(
            "printf '*:*:*:%s:%s\\n' {} \"$pw\" > \"$f\"; \
             PGPASSFILE=\"$f\" psql -X -w -At -h {} -p {} -U {} -d {} -c {QUERY}",
            quote(&db.db_user),
            quote(&db.host),
            db.port,
            quote(&db.db_user),
            quote(&db.db_name)
        ),
    };
    format!(
        "pw=$(awk -v s={} '$0 == s {{ f = 1; next }} /^\\[/ {{ f = 0 }} \
         f && $1 == \"password\" {{ sub(/^[^=]*=[ \\t]*/, \"\"); print; exit }}' {CONFIG_PATH}) && \
         f=$(mktemp) && trap 'rm -f \"$f\"' EXIT && {client}",
        quote(&format!("[database {}]", db.name))
    )
}

/// What a configured app node shows: the user and directories, every file, the links, its
/// database migrated to the release (on the node that migrates it) and the service running.
pub(super) fn probe(
    ctx: &NodeContext,
    app: &Config,
    secrets: &Secrets,
) -> Result<Probe, RoleError> {
    let mut probe = Probe::new()
        .prints(setup_state_script(), setup_in_place())
        .files(&files(ctx, app, secrets)?)
        .prints(
            format!("readlink {CURRENT_PATH}; readlink {APP_PY_PATH}"),
            vec![
                format!("releases/{}", app.release.name()),
                "current/app.py".into(),
            ],
        );
    if let Some(target) = app.migrate {
        let db = &app.database;
        probe = probe.prints(migrated_script(db), vec![target.name().into()]);
    }
    Ok(probe.service(SERVICE))
}

/// Runs `release`'s migration on the app's own database, as the todo user; prints only the
/// changes it made.
pub(super) fn migrate_script(release: Release, database: &str) -> String {
    format!(
        "cd / && runuser -u todo -- {}/migrate --quiet --database {}",
        release.dir(),
        quote(database)
    )
}

pub(super) async fn apply<R: Remote>(
    session: &mut Session<'_, R>,
    ctx: &NodeContext,
    app: &Config,
    secrets: &Secrets,
) -> Result<(), RoleError> {
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
    // systemd reads a new unit file when the unit is first used; one it has read must be
    // reloaded (a reload takes 5-10 s under emulation).
    let replaced = |i| written[i] && !written.created(i);
    if replaced(UNIT_INDEX) || replaced(INSTANCE_UNIT_INDEX) {
        session
            .ok("app: reload systemd", "systemctl daemon-reload", None)
            .await?;
    }
    // The schema first: the release must find it in place when it starts.
    if let Some(target) = app.migrate {
        let db = &app.database;
        session.say(&format!("app: migrating database {} to {target}", db.name));
        let step = format!("app: migrate database {} to {target}", db.name);
        let out = session
            .ok(&step, &migrate_script(target, &db.name), None)
            .await?;
        for line in out.stdout_str().lines() {
            session.changed(line.to_string());
        }
    }
    let out = session
        .ok("app: release links", &links_script(app.release), None)
        .await?;
    let relinked = !out.stdout_str().trim().is_empty();
    for line in out.stdout_str().lines() {
        session.changed(line.to_string());
    }
    let change = (relinked
        || written[current_app_index(app.release)]
        || written[CONFIG_INDEX]
        || written[UNIT_INDEX])
        .then_some(OnChange::Restart);
    service::ensure(session, "app: service", SERVICE, change).await
}

/// The release `current` points at (on a line of its own, `current=` when there is no link),
/// then curl's answer.
pub(super) fn health_script(port: u16) -> String {
    format!(
        "echo \"current=$(readlink {CURRENT_PATH})\"; \
         curl -s --max-time 3 -w '\\n%{{http_code}}' http://127.0.0.1:{port}/healthz"
    )
}

pub(super) async fn health<R: Remote>(
    session: &Session<'_, R>,
    _: &NodeContext,
    app: &Config,
) -> Result<RoleHealth, RoleError> {
    let out = session
        .run("app: health", &health_script(app.port), None)
        .await?;
    Ok(judge_health(app.port, &out))
}

/// Reads the `current` link's line, then curl's output: the body, then the status code on the
/// last line.
pub(super) fn judge_health(port: u16, out: &Output) -> RoleHealth {
    let all = out.stdout_str();
    let (first, text) = all.split_once('\n').unwrap_or((all.as_str(), ""));
    let release = first
        .strip_prefix("current=")
        .map(|link| link.trim().trim_start_matches("releases/").to_string())
        .filter(|r| !r.is_empty());
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", text));
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
        release,
    }
}
