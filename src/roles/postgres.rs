//! PostgreSQL 15 (Debian 12's): the cluster 15/main listens on the lab network, holds the todo
//! database, and pg_hba admits the todo user from the lab subnet with scram-sha-256.

use super::context::{DbConfig, NodeContext, Role, Secrets};
use super::error::RoleError;
use super::files::{self, ManagedFile};
use super::probe::Probe;
use super::render::{self, template};
use super::service::{self, OnChange, Service};
use super::session::Session;
use super::table::{Phase, RoleDef};
use super::{RoleHealth, check_name};
use crate::remote::Remote;
use serde_json::json;

/// Debian 12 ships PostgreSQL 15; the cluster layout follows Debian's postgresql-common.
const VERSION: &str = "15";
pub(super) const CONF_PATH: &str = "/etc/postgresql/15/main/conf.d/firedrill.conf";
pub(super) const HBA_PATH: &str = "/etc/postgresql/15/main/pg_hba.conf";
pub(super) const START_PATH: &str = "/etc/postgresql/15/main/start.conf";
/// The cluster unit runs the server; `postgresql.service` starts every `auto` cluster at boot.
pub(super) const SERVICE: Service = Service {
    unit: "postgresql@15-main.service",
    enable_unit: "postgresql.service",
};
const PORT: u16 = 5432;
pub(super) const DEF: RoleDef = RoleDef {
    name: "postgres",
    unit: "postgresql.service",
    ports: &[(PORT, "postgres")],
    packages: &["postgresql"],
    boot_units: &["postgresql.service"],
    package_leftovers: &[],
    pages: &[],
    phase: Phase::Database,
    has_options: false,
    serves: super::table::serves_nothing,
};
/// It takes no options.
pub(super) type Options = super::options::NoOptions;
pub(super) use super::options::no_options as check_options;

const SCHEMA: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/templates/postgres/schema.sql"
));
/// The golden image may hold the cluster as `manual` or `disabled` so it does not boot on
/// every node; a postgres node wants it started at boot.
const START_CONF: &str = "# Written by firedrill: start this cluster at boot.\nauto\n";

/// The todo database and user, the same on every database node.
pub(super) type Config = DbConfig;

pub(super) fn config(
    _: &crate::state::LabState,
    _: &crate::plan::NodePlan,
    _: Option<&Options>,
) -> Result<Config, &'static str> {
    Ok(DbConfig::todo())
}

/// `db`, once its names are checked for the SQL they go into.
fn db_config<'a>(ctx: &NodeContext, db: &'a DbConfig) -> Result<&'a DbConfig, RoleError> {
    check_name(ctx, "database name", &db.name)?;
    check_name(ctx, "database user", &db.user)?;
    Ok(db)
}

pub(super) fn render_conf(ctx: &NodeContext) -> Result<String, RoleError> {
    render::render(
        template!("postgres/firedrill.conf.hbs"),
        &json!({"lab": ctx.lab, "version": VERSION}),
    )
}

pub(super) fn render_hba(ctx: &NodeContext, db: &DbConfig) -> Result<String, RoleError> {
    let db = db_config(ctx, db)?;
    render::render(
        template!("postgres/pg_hba.conf.hbs"),
        &json!({
            "lab": ctx.lab,
            "version": VERSION,
            "db_name": db.name,
            "db_user": db.user,
            "subnets": std::iter::once(ctx.subnet)
                .chain(ctx.clients.iter().copied())
                .map(|n| format!("{}/{}", n.network(), n.prefix()))
                .collect::<Vec<_>>(),
        }),
    )
}

/// The SQL that creates role, database, table and seed rows. It holds the password: it goes
/// to `psql` on stdin only.
pub(super) fn provision_sql(
    ctx: &NodeContext,
    db: &DbConfig,
    secrets: &Secrets,
) -> Result<String, RoleError> {
    let db = db_config(ctx, db)?;
    let head = render::render(
        template!("postgres/provision.sql.hbs"),
        &json!({
            "lab": ctx.lab,
            "db_name": db.name,
            "db_user": db.user,
            "password": secrets.db_password,
        }),
    )?;
    Ok(format!("{head}{SCHEMA}"))
}

pub(super) fn files(ctx: &NodeContext, db: &DbConfig) -> Result<Vec<ManagedFile>, RoleError> {
    let file = |path: &str, contents: String, mode: u32| ManagedFile {
        path: path.into(),
        contents,
        mode,
        owner: "postgres:postgres".into(),
    };
    Ok(vec![
        file(CONF_PATH, render_conf(ctx)?, 0o644),
        file(HBA_PATH, render_hba(ctx, db)?, 0o640),
        file(START_PATH, START_CONF.into(), 0o644),
    ])
}

/// Creates the cluster if the image has none; prints a line only when it did.
pub(super) const CLUSTER_SCRIPT: &str = "if [ ! -f /etc/postgresql/15/main/postgresql.conf ]; then \
     pg_createcluster 15 main >/dev/null; echo 'cluster 15/main created'; fi";

/// Waits up to 30 s for the server to accept connections on its socket.
pub(super) const WAIT_SCRIPT: &str =
    "for i in $(seq 1 30); do pg_isready -q && exit 0; sleep 1; done; pg_isready";

/// Logs in as the app would (todo user, over TCP to the node's lab address, scram) and reads
/// the table. The password comes on stdin into a 0600 passfile, never on the command line.
pub(super) fn probe_script(ctx: &NodeContext, db: &DbConfig) -> String {
    format!(
        "f=$(mktemp); trap 'rm -f \"$f\"' EXIT; cat > \"$f\"; \
         PGPASSFILE=\"$f\" psql -X -w -At -h {} -p {PORT} -U {} -d {} -c 'SELECT count(*) FROM todos'",
        ctx.ip, db.user, db.name
    )
}

pub(super) fn probe_stdin(db: &DbConfig, secrets: &Secrets) -> String {
    format!("*:*:*:{}:{}\n", db.user, secrets.db_password)
}

/// The superuser logs in by peer auth through the socket; `cd /` spares psql a warning about
/// the lab user's home it cannot enter.
pub(super) const PROVISION_SCRIPT: &str =
    "cd / && runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -d postgres -f -";

/// What a configured node shows: the cluster, the files, the running service and the todo
/// login.
pub(super) fn probe(ctx: &NodeContext, db: &Config, secrets: &Secrets) -> Result<Probe, RoleError> {
    let db = db_config(ctx, db)?;
    Ok(Probe::new()
        .prints(CLUSTER_SCRIPT.into(), vec![])
        .files(&files(ctx, db)?)
        .service(SERVICE)
        .succeeds(&probe_script(ctx, db), probe_stdin(db, secrets)))
}

pub(super) async fn apply<R: Remote>(
    session: &mut Session<'_, R>,
    ctx: &NodeContext,
    db: &Config,
    secrets: &Secrets,
) -> Result<(), RoleError> {
    let db = db_config(ctx, db)?;
    let files = files(ctx, db)?;
    session.say("postgres: checking the cluster");
    let out = session
        .ok("postgres: cluster", CLUSTER_SCRIPT, None)
        .await?;
    for line in out.stdout_str().lines() {
        session.changed(line.to_string());
    }
    let written = files::sync(session, "postgres: files", &files).await?;
    // listen_addresses needs a restart; pg_hba.conf only a reload; start.conf neither.
    let change = if written[0] {
        Some(OnChange::Restart)
    } else if written[1] {
        Some(OnChange::Reload)
    } else {
        None
    };
    service::ensure(session, "postgres: service", SERVICE, change).await?;
    session
        .ok("postgres: wait for the server", WAIT_SCRIPT, None)
        .await?;

    let probe = probe_script(ctx, db);
    let login = probe_stdin(db, secrets);
    let provisioned = session
        .provision_unless_login_works("postgres", &probe, &login, PROVISION_SCRIPT, || {
            provision_sql(ctx, db, secrets)
        })
        .await?;
    if !provisioned {
        return Ok(());
    }
    session.changed(format!(
        "database {} and role {} provisioned",
        db.name, db.user
    ));
    Ok(())
}

pub(super) fn health_script(ctx: &NodeContext) -> String {
    format!("pg_isready -t 3 -h {} -p {PORT}", ctx.ip)
}

pub(super) async fn health<R: Remote>(
    session: &Session<'_, R>,
    ctx: &NodeContext,
    _: &Config,
) -> Result<RoleHealth, RoleError> {
    let out = session
        .run("postgres: health", &health_script(ctx), None)
        .await?;
    // pg_isready prints "HOST:PORT - accepting connections" (or rejecting / no response).
    let said = out.stdout_str();
    let state = said.rsplit(" - ").next().unwrap_or_default().trim();
    Ok(RoleHealth {
        role: Role::Postgres,
        ok: out.success(),
        detail: format!("{state} on {}:{PORT}", ctx.ip),
        release: None,
    })
}
