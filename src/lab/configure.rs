//! Configuring the roles after every node is ready: databases first, then app servers, then load
//! balancers, each phase in parallel. A node that fails is reported with its step, command and
//! stderr tail; the other nodes carry on.

use super::LabError;
use crate::paths::LabDir;
use crate::progress::Progress;
use crate::roles::{
    self, AppConfig, Backend, DbConfig, Engine, HaproxyConfig, NodeContext, NodeReport, Peer, Role,
    Secrets,
};
use crate::state::{LabState, NodeState, StateError, write_atomic};
use ipnetwork::Ipv4Network;

const DB_NAME: &str = "todo";
const DB_USER: &str = "todo";

/// The lab's generated secrets, created once and kept 0600 beside the state.
pub(crate) fn secrets(dir: &LabDir) -> Result<Secrets, StateError> {
    let path = dir.secrets_file();
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| StateError::Parse {
            path,
            lab: dir.name().to_string(),
            source,
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let s = Secrets::generate();
            let json = serde_json::to_vec_pretty(&s).expect("secrets serialise");
            write_atomic(&path, &json, 0o600)?;
            Ok(s)
        }
        Err(source) => Err(StateError::Read { path, source }),
    }
}

fn subnet(state: &LabState, node: &NodeState) -> Option<Ipv4Network> {
    state
        .networks
        .iter()
        .find(|n| n.libvirt_name == node.network)
        .and_then(|n| n.cidr.parse().ok())
}

/// What each node's roles need to know, from the lab state alone (so `status` and later
/// commands see exactly what `up` configured).
pub(crate) fn contexts(state: &LabState) -> Vec<NodeContext> {
    let by_name = |name: &str| state.nodes.iter().find(|n| n.name == name);
    state
        .nodes
        .iter()
        .filter(|n| !n.roles.is_empty())
        .filter_map(|n| {
            let subnet = subnet(state, n)?;
            let app = n.app_port.and_then(|port| {
                let db = by_name(n.database.as_deref()?)?;
                let engine = if db.roles.contains(&Role::Postgres) {
                    Engine::Postgres
                } else {
                    Engine::Mysql
                };
                Some(AppConfig {
                    port,
                    db_host: db.ip.to_string(),
                    db_engine: engine,
                    db_port: engine.default_port(),
                    db_name: DB_NAME.into(),
                    db_user: DB_USER.into(),
                })
            });
            let haproxy = n.roles.contains(&Role::Haproxy).then(|| {
                let backends: Vec<&NodeState> =
                    n.backends.iter().filter_map(|b| by_name(b)).collect();
                HaproxyConfig {
                    app_port: backends.iter().find_map(|b| b.app_port).unwrap_or(8080),
                    backends: backends
                        .iter()
                        .map(|b| Backend {
                            name: b.name.clone(),
                            ip: b.ip,
                        })
                        .collect(),
                }
            });
            let db = n.roles.iter().any(|r| r.is_database()).then(|| DbConfig {
                name: DB_NAME.into(),
                user: DB_USER.into(),
            });
            Some(NodeContext {
                lab: state.name.to_string(),
                node: n.name.clone(),
                ip: n.ip,
                subnet,
                roles: n.roles.clone(),
                app,
                haproxy,
                db,
                options: n.options.clone(),
                peers: state
                    .nodes
                    .iter()
                    .map(|p| Peer {
                        name: p.name.clone(),
                        ip: p.ip,
                        serves: roles::serving_ports(p),
                    })
                    .collect(),
            })
        })
        .collect()
}

/// Which phase configures a node: databases, then apps (they need their database), then the
/// rest (haproxy checks the apps).
fn phase(ctx: &NodeContext) -> usize {
    // A node's phase is its earliest role's (a database and app on one node: the database's).
    ctx.roles
        .iter()
        .map(|r| crate::roles::def(*r).phase)
        .min()
        .map_or(2, |p| p as usize)
}

/// One node's configuration: what changed and how long it took.
pub(crate) struct Configured {
    pub(crate) node: String,
    pub(crate) report: NodeReport,
    pub(crate) seconds: f64,
}

/// Configures every node's roles, reusing the open sessions in `sessions` (by node name) where
/// there are any. Returns each configured node's report and the failures.
///
/// `ordered` runs databases, then apps, then load balancers, so that a new lab ends with every
/// health check already passing. A lab that was up before is only checked and touched up, and
/// the app reconnects to its database by itself, so then all nodes go at once.
pub(crate) async fn configure(
    dir: &LabDir,
    state: &LabState,
    progress: &Progress,
    sessions: &mut std::collections::HashMap<String, crate::ssh::Session>,
    ordered: bool,
) -> Result<(Vec<Configured>, Vec<String>), LabError> {
    let secrets = secrets(dir)?;
    let contexts = contexts(state);
    let mut reports = Vec::new();
    let mut failures = Vec::new();
    for p in 0..3 {
        let mut tasks = tokio::task::JoinSet::new();
        for ctx in contexts
            .iter()
            .filter(|c| if ordered { phase(c) == p } else { p == 0 })
        {
            let Some(node) = state.node(&ctx.node) else {
                continue;
            };
            let target = super::access::target(dir, state, node);
            let ctx = ctx.clone();
            let secrets = secrets.clone();
            let bar = progress.node(&ctx.node);
            let open = sessions.remove(&ctx.node);
            tasks.spawn(async move {
                let started = std::time::Instant::now();
                let session = match open {
                    Some(s) => s,
                    None => crate::ssh::connect(&target, crate::ssh::Purpose::Change)
                        .await
                        .map_err(|e| e.to_string())?,
                };
                let mut report = |line: &str| bar.phase(line);
                let result = roles::apply(&session, &ctx, &secrets, &mut report).await;
                session.close().await;
                match result {
                    Ok(r) => {
                        let seconds = started.elapsed().as_secs_f64();
                        bar.finish(&format!("configured in {seconds:.1}s: {}", r.summary()));
                        Ok(Configured {
                            node: ctx.node.clone(),
                            report: r,
                            seconds,
                        })
                    }
                    Err(e) => {
                        bar.finish("configuration failed");
                        Err(e.to_string())
                    }
                }
            });
        }
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok(Ok(r)) => reports.push(r),
                Ok(Err(e)) => failures.push(e),
                Err(e) => failures.push(format!("a configuration task failed: {e}")),
            }
        }
    }
    reports.sort_by(|a, b| a.node.cmp(&b.node));
    Ok((reports, failures))
}
