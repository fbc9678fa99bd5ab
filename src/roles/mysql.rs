//! MariaDB (Debian's default-mysql-server): listens on the lab network, holds the todo database,
//! and admits the todo user from the lab subnet, and from the other networks its apps connect
//! from through a router, only.

use super::context::{DbConfig, NodeContext, Role, Secrets};
use super::error::RoleError;
use super::files::{self, ManagedFile};
use super::probe::Probe;
use super::render::{self, template};
use super::service::{self, OnChange, Service};
use super::session::Session;
use super::table::{Phase, RoleDef};
use super::{RoleHealth, check_name};
use crate::remote::{Output, Remote};
use serde_json::json;

pub(super) const CNF_PATH: &str = "/etc/mysql/mariadb.conf.d/60-firedrill.cnf";
pub(super) const SERVICE: Service = Service::single("mariadb.service");
const PORT: u16 = 3306;
pub(super) const DEF: RoleDef = RoleDef {
    name: "mysql",
    unit: SERVICE.unit,
    ports: &[(PORT, "mysql")],
    packages: &["mariadb-server", "mariadb-client"],
    boot_units: &["mariadb.service", "mariadb.socket"],
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
    "/templates/mysql/schema.sql"
));

/// The networks the todo user logs in from: the node's own, then its clients'.
fn networks(ctx: &NodeContext) -> Vec<ipnetwork::Ipv4Network> {
    std::iter::once(ctx.subnet)
        .chain(ctx.clients.iter().copied())
        .collect()
}

/// MariaDB's form of "this subnet" in a user's host part, `10.0.0.0/255.255.255.0`, for each
/// network: an account per network, one password.
fn user_hosts(ctx: &NodeContext) -> Vec<String> {
    networks(ctx)
        .iter()
        .map(|n| format!("{}/{}", n.network(), n.mask()))
        .collect()
}

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

pub(super) fn render_cnf(ctx: &NodeContext) -> Result<String, RoleError> {
    render::render(
        template!("mysql/60-firedrill.cnf.hbs"),
        &json!({
            "lab": ctx.lab,
            "subnets": networks(ctx)
                .iter()
                .map(|n| format!("{}/{}", n.network(), n.prefix()))
                .collect::<Vec<_>>()
                .join(", "),
            "users": user_hosts(ctx)
                .iter()
                .map(|h| format!("'todo'@'{h}'"))
                .collect::<Vec<_>>()
                .join(", "),
        }),
    )
}

/// The SQL that creates database, user, table and seed rows. It holds the password: it goes
/// to `mysql` on stdin only.
pub(super) fn provision_sql(
    ctx: &NodeContext,
    db: &DbConfig,
    secrets: &Secrets,
) -> Result<String, RoleError> {
    let db = db_config(ctx, db)?;
    let head = render::render(
        template!("mysql/provision.sql.hbs"),
        &json!({
            "lab": ctx.lab,
            "db_name": db.name,
            "db_user": db.user,
            "hosts": user_hosts(ctx),
            "password": secrets.db_password,
        }),
    )?;
    Ok(format!("{head}{SCHEMA}"))
}

/// Waits up to 30 s for the server to answer on its socket.
pub(super) const WAIT_SCRIPT: &str = "for i in $(seq 1 30); do mysqladmin ping >/dev/null 2>&1 && exit 0; \
     sleep 1; done; mysqladmin ping";

/// Logs in as the app would (todo user, over TCP to the node's lab address) and reads the
/// table; then root (through the socket) counts the todo user's accounts, one per network it
/// is admitted from, so a network added to the lab gets its account. The password comes on
/// stdin into a 0600 temp file, never on the command line.
pub(super) fn probe_script(ctx: &NodeContext, db: &DbConfig) -> String {
    let hosts = user_hosts(ctx);
    // Double-quoted strings: MariaDB's default sql_mode takes them, and the SQL sits in
    // single quotes for the shell. Names and addresses hold no quote (`check_name`).
    let listed: Vec<String> = hosts.iter().map(|h| format!("\"{h}\"")).collect();
    format!(
        "f=$(mktemp); trap 'rm -f \"$f\"' EXIT; cat > \"$f\"; \
         mysql --defaults-extra-file=\"$f\" --protocol=tcp -h {} -P {PORT} -u {} -D {} -N -B \
         -e 'SELECT COUNT(*) FROM todos' && \
         [ \"$(mysql -N -B -e 'SELECT COUNT(*) FROM mysql.user WHERE User = \"{}\" AND Host IN ({})')\" = {} ]",
        ctx.ip,
        db.user,
        db.name,
        db.user,
        listed.join(", "),
        hosts.len()
    )
}

pub(super) fn probe_stdin(secrets: &Secrets) -> String {
    format!("[client]\npassword={}\n", secrets.db_password)
}

/// Root logs in through the unix socket (Debian's unix_socket auth); the SQL comes on stdin.
pub(super) const PROVISION_SCRIPT: &str = "mysql --batch";

/// What a configured node shows: the file, the running service and the todo login.
pub(super) fn probe(ctx: &NodeContext, db: &Config, secrets: &Secrets) -> Result<Probe, RoleError> {
    let db = db_config(ctx, db)?;
    Ok(Probe::new()
        .files(&[cnf_file(ctx)?])
        .service(SERVICE)
        .succeeds(&probe_script(ctx, db), probe_stdin(secrets)))
}

fn cnf_file(ctx: &NodeContext) -> Result<ManagedFile, RoleError> {
    Ok(ManagedFile {
        path: CNF_PATH.into(),
        contents: render_cnf(ctx)?,
        mode: 0o644,
        owner: "root:root".into(),
    })
}

pub(super) async fn apply<R: Remote>(
    session: &mut Session<'_, R>,
    ctx: &NodeContext,
    db: &Config,
    secrets: &Secrets,
) -> Result<(), RoleError> {
    let db = db_config(ctx, db)?;
    let cnf = cnf_file(ctx)?;
    session.say("mysql: checking files");
    let written = files::sync(session, "mysql: files", std::slice::from_ref(&cnf)).await?;
    let change = written.contains(&true).then_some(OnChange::Restart);
    service::ensure(session, "mysql: service", SERVICE, change).await?;
    session
        .ok("mysql: wait for the server", WAIT_SCRIPT, None)
        .await?;

    let probe = probe_script(ctx, db);
    let login = probe_stdin(secrets);
    let provisioned = session
        .provision_unless_login_works("mysql", &probe, &login, PROVISION_SCRIPT, || {
            provision_sql(ctx, db, secrets)
        })
        .await?;
    if !provisioned {
        return Ok(());
    }
    session.changed(format!(
        "database {} and user {}@{} provisioned",
        db.name,
        db.user,
        user_hosts(ctx).join(", @")
    ));
    Ok(())
}

/// Pings through the socket as root (over TCP, root is refused from the lab network), then
/// lists the listening sockets on the port to see that the lab network can reach it.
pub(super) fn health_script() -> String {
    format!("mysqladmin --connect-timeout=3 ping >/dev/null && ss -Htln 'sport = :{PORT}'")
}

pub(super) async fn health<R: Remote>(
    session: &Session<'_, R>,
    ctx: &NodeContext,
    _: &Config,
) -> Result<RoleHealth, RoleError> {
    let out = session.run("mysql: health", &health_script(), None).await?;
    Ok(judge_health(ctx, &out))
}

/// Healthy when the server answers and listens on an address the lab network reaches.
pub(super) fn judge_health(ctx: &NodeContext, out: &Output) -> RoleHealth {
    let (ok, detail) = if !out.success() {
        (false, format!("not answering: {}", out.stderr_tail(1)))
    } else {
        let reachable = [
            format!("0.0.0.0:{PORT}"),
            format!("*:{PORT}"),
            format!("[::]:{PORT}"),
            format!("{}:{PORT}", ctx.ip),
        ];
        let text = out.stdout_str();
        let listening: Vec<&str> = text
            .lines()
            .filter_map(|l| l.split_whitespace().nth(3))
            .collect();
        if listening.iter().any(|a| reachable.iter().any(|r| r == a)) {
            (true, format!("accepting connections on {}:{PORT}", ctx.ip))
        } else {
            (
                false,
                format!(
                    "running, but listening only on {} (not the lab network)",
                    if listening.is_empty() {
                        "a socket".to_string()
                    } else {
                        listening.join(" ")
                    }
                ),
            )
        }
    };
    RoleHealth {
        role: Role::Mysql,
        ok,
        detail,
        release: None,
    }
}
