//! The `monitor` role: Prometheus on its node, with a scrape target for every node and role of
//! the lab (`scrape_jobs`) and the alert rules of `templates/monitor/alerts.yml`. In a lab with
//! a monitor node every node also runs the exporters for its roles (`apply_exporters`, called
//! by `roles::apply` on each node): node exporter everywhere, the MySQL and PostgreSQL exporters
//! on database nodes (each logs in as a local `prometheus` user through the socket: no
//! password). HAProxy and the app serve their own `/metrics`.
//!
//! On the monitor node, Alertmanager routes the alerts and the blackbox exporter probes the
//! service's front door (`alerting`).
//!
//! Prometheus, Alertmanager and the exporters are installed in the golden image with the spare
//! packages (`image::recipe`), disabled at boot; this role enables them.

use super::RoleHealth;
use super::context::{NodeContext, Role, Secrets};
use super::error::RoleError;
use super::files::{self, ManagedFile};
use super::probe::Probe;
use super::render::{self, template};
use super::service::{self, OnChange, Service};
use super::session::Session;
use super::table::{Page, Phase, RoleDef};
use crate::plan::NodePlan;
use crate::remote::{Output, Remote};
use crate::state::LabState;
use serde::Serialize;
use serde_json::json;

pub(super) const CONFIG_PATH: &str = "/etc/prometheus/prometheus.yml";
pub(super) const RULES_PATH: &str = "/etc/prometheus/firedrill-alerts.yml";
pub(super) const SERVICE: Service = Service::single("prometheus.service");
pub(crate) const PORT: u16 = 9090;
/// The alert rules, as Prometheus loads them (not a handlebars template: alerts use `{{ }}`).
pub(crate) const RULES: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/templates/monitor/alerts.yml"
));

/// The names of the alerts in `RULES`, each once, in file order (a level's `page.alert`).
pub(crate) fn alert_names() -> Vec<&'static str> {
    let mut names: Vec<&str> = Vec::new();
    for name in RULES
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- alert: "))
    {
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

pub(super) const DEF: RoleDef = RoleDef {
    name: "monitor",
    unit: SERVICE.unit,
    ports: &[
        (PORT, "prometheus"),
        (alerting::ALERTMANAGER_PORT, "alertmanager"),
        (alerting::PAGES_PORT, "firedrill-pages"),
        (alerting::BLACKBOX_PORT, "the blackbox exporter"),
    ],
    // In the image's spare packages, installed before this role existed: listing them here too
    // would change the image's recipe, and so its hash, for the same packages.
    packages: &[],
    boot_units: &[],
    package_leftovers: &[],
    pages: &[
        Page {
            port: Some(PORT),
            path: "/",
            what: "prometheus",
        },
        Page {
            port: Some(alerting::ALERTMANAGER_PORT),
            path: "/",
            what: "alertmanager",
        },
    ],
    phase: Phase::Front,
    // None to read, but `check_options` checks the lab's app ports against the exporters'.
    has_options: true,
    serves: super::table::serves_nothing,
};
/// It takes no options; its check is that no app would take an exporter's port.
pub(super) type Options = super::options::NoOptions;

/// In a lab with a monitor node every node runs node exporter (and a database node its
/// exporter): an app on one of those ports would fail to start. Checked once, for the first
/// monitor node.
pub(super) fn check_options(
    input: &super::OptionsInput<'_>,
    r: &mut crate::spec::problem::Report,
) -> Option<Options> {
    if let Some(block) = input
        .block
        .filter(|y| y.value != crate::spec::yaml::Value::Null)
    {
        r.error(
            Some(block.pos),
            &input.path("monitor", ""),
            "`monitor:` takes no options",
            "remove the `monitor:` block",
        );
    }
    let nodes = &input.lab.nodes.value;
    let has = |n: &crate::spec::Node, role: Role| n.roles.iter().any(|x| x.value == role);
    if nodes.iter().position(|n| has(n, Role::Monitor)) != Some(input.index) {
        return Some(Options::default());
    }
    for (i, node) in nodes.iter().enumerate().filter(|(_, n)| has(n, Role::App)) {
        let given = super::app::given_port(node);
        let port = given
            .as_ref()
            .map_or(crate::spec::DEFAULT_APP_PORT, |p| p.value);
        let exporters = [NODE_EXPORTER, MYSQLD_EXPORTER, POSTGRES_EXPORTER];
        if let Some(e) = exporters.iter().find(|e| e.port == port) {
            r.error(
                given.map(|p| p.pos),
                &format!("nodes[{i}].app.port"),
                format!(
                    "the app on `{}` cannot listen on port {port}: the lab has a monitor node, \
                     and {} listens there on every node that runs it",
                    node.name.value, e.service.unit
                ),
                "give the app another port, e.g. `app: {port: 8080}`",
            );
        }
    }
    Some(Options::default())
}

/// An exporter on a node: its unit and port.
struct Exporter {
    service: Service,
    port: u16,
}

const NODE_EXPORTER: Exporter = Exporter {
    service: Service::single("prometheus-node-exporter.service"),
    port: 9100,
};
const MYSQLD_EXPORTER: Exporter = Exporter {
    service: Service::single("prometheus-mysqld-exporter.service"),
    port: 9104,
};
const POSTGRES_EXPORTER: Exporter = Exporter {
    service: Service::single("prometheus-postgres-exporter.service"),
    port: 9187,
};
/// Where haproxy serves its built-in Prometheus exporter (its stats frontend).
const HAPROXY_METRICS_PORT: u16 = 8404;

/// One `scrape_configs` entry: a kind of target, on every node that has it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Job {
    pub(crate) name: &'static str,
    pub(crate) path: &'static str,
    pub(crate) targets: Vec<Target>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Target {
    /// `IP:PORT`.
    pub(crate) address: String,
    /// The node's name, as the `node` label of every series it yields.
    pub(crate) node: String,
}

/// Whether the lab has a monitor node: then every node runs its exporters.
pub(super) fn watched(ctx: &NodeContext) -> bool {
    ctx.peers.iter().any(|p| p.roles.contains(&Role::Monitor))
}

/// What Prometheus on `ctx`'s node scrapes: itself and Alertmanager, every node's node exporter,
/// and for each role its metrics (haproxy's exporter, the database exporters, the app's
/// `/metrics`). Jobs without a target are left out. The front door's probe is another job
/// (`alerting::front_door`).
pub(crate) fn scrape_jobs(ctx: &NodeContext) -> Vec<Job> {
    let with = |role: Role, port: &dyn Fn(&super::Peer) -> Option<u16>| -> Vec<Target> {
        ctx.peers
            .iter()
            .filter(|p| p.roles.contains(&role))
            .filter_map(|p| {
                port(p).map(|port| Target {
                    address: format!("{}:{port}", p.ip),
                    node: p.name.clone(),
                })
            })
            .collect()
    };
    let app_port = |p: &super::Peer| {
        p.serves
            .iter()
            .find(|(r, _)| *r == Role::App)
            .map(|(_, port)| *port)
    };
    let jobs = [
        (
            "prometheus",
            "/metrics",
            with(Role::Monitor, &|_| Some(PORT)),
        ),
        (
            "alertmanager",
            "/metrics",
            with(Role::Monitor, &|_| Some(alerting::ALERTMANAGER_PORT)),
        ),
        (
            "node",
            "/metrics",
            ctx.peers
                .iter()
                .map(|p| Target {
                    address: format!("{}:{}", p.ip, NODE_EXPORTER.port),
                    node: p.name.clone(),
                })
                .collect(),
        ),
        (
            "haproxy",
            "/metrics",
            with(Role::Haproxy, &|_| Some(HAPROXY_METRICS_PORT)),
        ),
        (
            "mysql",
            "/metrics",
            with(Role::Mysql, &|_| Some(MYSQLD_EXPORTER.port)),
        ),
        (
            "postgres",
            "/metrics",
            with(Role::Postgres, &|_| Some(POSTGRES_EXPORTER.port)),
        ),
        ("todo", "/metrics", with(Role::App, &app_port)),
    ];
    jobs.into_iter()
        .filter(|(_, _, targets)| !targets.is_empty())
        .map(|(name, path, targets)| Job {
            name,
            path,
            targets,
        })
        .collect()
}

pub(crate) fn render_config(ctx: &NodeContext) -> Result<String, RoleError> {
    render::render(
        template!("monitor/prometheus.yml.hbs"),
        &json!({
            "lab": ctx.lab,
            "node": ctx.node,
            "ip": ctx.ip.to_string(),
            "rules": RULES_PATH,
            "alertmanager": format!("127.0.0.1:{}", alerting::ALERTMANAGER_PORT),
            "jobs": scrape_jobs(ctx),
            "frontdoor": alerting::front_door(ctx),
        }),
    )
}

/// The rules first: the configuration names them, and a reload reads both.
fn server_files(ctx: &NodeContext) -> Result<Vec<ManagedFile>, RoleError> {
    Ok(vec![
        ManagedFile {
            path: RULES_PATH.into(),
            contents: RULES.into(),
            mode: 0o644,
            owner: "root:root".into(),
        },
        ManagedFile {
            path: CONFIG_PATH.into(),
            contents: render_config(ctx)?,
            mode: 0o644,
            owner: "root:root".into(),
        },
    ])
}

/// Checks the configuration and the rule files it names, as Prometheus will read them.
pub(super) const CHECK_SCRIPT: &str = "promtool check config /etc/prometheus/prometheus.yml";

/// Prometheus reads everything it needs from the node's peers: nothing of its own.
pub(super) type Config = ();

pub(super) fn config(
    _: &LabState,
    _: &NodePlan,
    _: Option<&Options>,
) -> Result<Config, &'static str> {
    Ok(())
}

pub(super) fn probe(ctx: &NodeContext, _: &Config, _: &Secrets) -> Result<Probe, RoleError> {
    let mut probe = Probe::new()
        .files(&server_files(ctx)?)
        .service(SERVICE)
        .files(&alerting::files());
    for s in alerting::SERVICES {
        probe = probe.service(s);
    }
    Ok(probe)
}

pub(super) async fn apply<R: Remote>(
    session: &mut Session<'_, R>,
    ctx: &NodeContext,
    _: &Config,
    _: &Secrets,
) -> Result<(), RoleError> {
    let files = server_files(ctx)?;
    session.say("monitor: checking prometheus.yml and the alert rules");
    let written = files::sync(session, "monitor: files", &files).await?;
    let changed = written.contains(&true);
    if changed {
        session
            .ok("monitor: promtool check config", CHECK_SCRIPT, None)
            .await?;
    }
    let change = changed.then_some(OnChange::Reload);
    service::ensure(session, "monitor: prometheus", SERVICE, change).await?;
    alerting::apply(session).await
}

/// Prometheus' view of its targets.
pub(super) const HEALTH_SCRIPT: &str =
    "curl -s --max-time 5 'http://127.0.0.1:9090/api/v1/targets?state=active'";

pub(super) async fn health<R: Remote>(
    session: &Session<'_, R>,
    _: &NodeContext,
    _: &Config,
) -> Result<RoleHealth, RoleError> {
    let out = session.run("monitor: health", HEALTH_SCRIPT, None).await?;
    Ok(judge_health(&out))
}

/// "N/M targets up", naming the ones that are not (`job@node`).
pub(super) fn judge_health(out: &Output) -> RoleHealth {
    let unhealthy = |detail: String| RoleHealth {
        role: Role::Monitor,
        ok: false,
        detail,
        release: None,
    };
    if !out.success() {
        return unhealthy(format!("prometheus not answering on :{PORT}"));
    }
    let Ok(answer) = serde_json::from_str::<serde_json::Value>(&out.stdout_str()) else {
        return unhealthy("unexpected answer from prometheus' targets API".into());
    };
    let targets = answer["data"]["activeTargets"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let down: Vec<String> = targets
        .iter()
        .filter(|t| t["health"] != "up")
        .map(|t| {
            format!(
                "{}@{}",
                t["labels"]["job"].as_str().unwrap_or("?"),
                t["labels"]["node"].as_str().unwrap_or("?")
            )
        })
        .collect();
    let mut detail = format!(
        "{}/{} targets up",
        targets.len() - down.len(),
        targets.len()
    );
    if !down.is_empty() {
        detail.push_str(&format!(" (not: {})", down.join(", ")));
    }
    RoleHealth {
        role: Role::Monitor,
        ok: !targets.is_empty() && down.is_empty(),
        detail,
        release: None,
    }
}

// --- the exporters, on every node of a monitored lab --------------------------------------

const MYSQLD_DEFAULTS: &str = "/etc/default/prometheus-mysqld-exporter";
const POSTGRES_DEFAULTS: &str = "/etc/default/prometheus-postgres-exporter";

/// The exporter's settings: it logs in as the local user `prometheus` through the server's
/// socket (MariaDB's unix_socket, PostgreSQL's peer authentication), so there is no password.
fn defaults_file(path: &str, what: &str, settings: &str) -> ManagedFile {
    ManagedFile {
        path: path.into(),
        contents: format!(
            "# The {what} exporter's settings, written by `firedrill up` for the monitor node.\n\
             # After an edit: systemctl restart {}\n{settings}",
            path.trim_start_matches("/etc/default/")
        ),
        mode: 0o644,
        owner: "root:root".into(),
    }
}

/// The exporters of a database engine.
struct DbExporter {
    role: Role,
    exporter: Exporter,
    file: fn() -> ManagedFile,
    /// Run as root: prints `1` when the `prometheus` login works.
    login_check: &'static str,
    /// Run as root: creates that login, SQL on stdin.
    provision: &'static str,
    sql: &'static str,
}

const DB_EXPORTERS: &[DbExporter] = &[
    DbExporter {
        role: Role::Mysql,
        exporter: MYSQLD_EXPORTER,
        file: || {
            defaults_file(
                MYSQLD_DEFAULTS,
                "MariaDB",
                "DATA_SOURCE_NAME='prometheus@unix(/run/mysqld/mysqld.sock)/'\nARGS=''\n",
            )
        },
        login_check: "runuser -u prometheus -- mysql -N --batch -e 'SELECT 1'",
        provision: "mysql --batch",
        sql: "CREATE USER IF NOT EXISTS 'prometheus'@'localhost' IDENTIFIED VIA unix_socket;\n\
              GRANT PROCESS, REPLICATION CLIENT, SLAVE MONITOR, SELECT ON *.* TO 'prometheus'@'localhost';\n",
    },
    DbExporter {
        role: Role::Postgres,
        exporter: POSTGRES_EXPORTER,
        file: || {
            defaults_file(
                POSTGRES_DEFAULTS,
                "PostgreSQL",
                "DATA_SOURCE_NAME='user=prometheus host=/run/postgresql dbname=postgres'\nARGS=''\n",
            )
        },
        login_check: "runuser -u prometheus -- psql -X -h /run/postgresql -d postgres -tAc 'SELECT 1'",
        provision: "runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -d postgres -f -",
        sql: "SELECT 'CREATE ROLE prometheus LOGIN' WHERE NOT EXISTS \
              (SELECT FROM pg_roles WHERE rolname = 'prometheus')\\gexec\n\
              GRANT pg_monitor TO prometheus;\n",
    },
];

fn db_exporters(ctx: &NodeContext) -> impl Iterator<Item = &'static DbExporter> + '_ {
    DB_EXPORTERS.iter().filter(|e| ctx.has(e.role))
}

/// The commands that print `1` when a database exporter's login works on `ctx`'s node.
pub(super) fn login_checks(ctx: &NodeContext) -> Vec<&'static str> {
    db_exporters(ctx).map(|e| e.login_check).collect()
}

/// What a node of a monitored lab shows when its exporters are in place.
pub(super) fn exporters_probe(ctx: &NodeContext) -> Result<Probe, RoleError> {
    let mut probe = Probe::new().service(NODE_EXPORTER.service);
    for e in db_exporters(ctx) {
        probe = probe
            .files(&[(e.file)()])
            .service(e.exporter.service)
            .prints(e.login_check.to_string(), vec!["1".to_string()]);
    }
    Ok(probe)
}

/// Node exporter on every node; on a database node its exporter, its login and its settings.
pub(super) async fn apply_exporters<R: Remote>(
    session: &mut Session<'_, R>,
    ctx: &NodeContext,
) -> Result<(), RoleError> {
    service::ensure(
        session,
        "monitor: node exporter",
        NODE_EXPORTER.service,
        None,
    )
    .await?;
    for e in db_exporters(ctx) {
        let step = format!("monitor: {} exporter", e.role);
        let out = session.run(&step, e.login_check, None).await?;
        if out.stdout_str().trim() != "1" {
            session.say(&format!("{step}: creating the prometheus login"));
            session
                .ok(&step, e.provision, Some(e.sql.as_bytes()))
                .await?;
            session.ok(&step, e.login_check, None).await?;
            session.changed(format!("{} login prometheus created", e.role));
        }
        let written = files::sync(session, &step, &[(e.file)()]).await?;
        let change = written.contains(&true).then_some(OnChange::Restart);
        service::ensure(session, &step, e.exporter.service, change).await?;
    }
    Ok(())
}

pub(crate) mod alerting;

#[cfg(test)]
mod live_tests;
#[cfg(test)]
mod tests;
