//! Configuring the roles after every node is ready: databases first, then app servers, then load
//! balancers, each phase in parallel. A node that fails is reported with its step, command and
//! stderr tail; the other nodes carry on.

use super::{Lab, LabError};
use crate::paths::LabDir;
use crate::plan::NodePlan;
use crate::progress::Progress;
pub(crate) use crate::roles::DB_NAME;
use crate::roles::{self, NodeContext, NodeReport, Peer, Role, Secrets};
use crate::state::{LabState, StateError, write_atomic};
use ipnetwork::Ipv4Network;

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

/// The node's first network, from its own address and prefix.
fn subnet(node: &NodePlan) -> Ipv4Network {
    let net = Ipv4Network::new(node.ip, node.prefix).expect("a planned prefix is at most 32");
    Ipv4Network::new(net.network(), node.prefix).expect("a planned prefix is at most 32")
}

/// The networks other than its own that `db`'s app nodes connect from.
fn clients(state: &LabState, db: &NodePlan, own: Ipv4Network) -> Vec<Ipv4Network> {
    let mut out: Vec<Ipv4Network> = Vec::new();
    let sources = state
        .nodes()
        .filter(|n| n.app_port.is_some() && n.database.as_deref() == Some(db.name.as_str()))
        .filter_map(|n| n.reaches.iter().find(|r| r.peer == db.name))
        .map(|r| r.from);
    for from in sources {
        let net = state
            .plan
            .networks
            .iter()
            .map(|n| n.cidr)
            .find(|c| c.contains(from));
        if let Some(net) = net.filter(|c| *c != own && !out.contains(c)) {
            out.push(net);
        }
    }
    out
}

/// What each node's roles need to know, from the lab state alone (so `status` and later
/// commands see exactly what `up` configured): each role's settings, resolved by the role
/// from the plan. A plan that lacks what a role needs (a state file changed by hand) is an
/// error naming the node, the role and what is missing.
pub(crate) fn contexts(state: &LabState) -> Result<Vec<NodeContext>, StateError> {
    let mut out = Vec::new();
    for n in state.nodes().filter(|n| !n.roles.is_empty()) {
        let subnet = subnet(n);
        let mut roles = n.roles.clone();
        roles.sort();
        roles.dedup();
        let configs = roles
            .into_iter()
            .map(|role| {
                roles::config(role, state, n).map_err(|what| StateError::Unresolved {
                    lab: state.name.clone(),
                    node: n.name.clone(),
                    role,
                    what,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        out.push(NodeContext {
            lab: state.name.to_string(),
            node: n.name.clone(),
            ip: n.ip,
            subnet,
            clients: clients(state, n, subnet),
            roles: configs,
            peers: state
                .nodes()
                .map(|p| Peer {
                    name: p.name.clone(),
                    ip: roles::address(n, p),
                    roles: p.roles.clone(),
                    serves: roles::serving_ports(p),
                })
                .collect(),
        });
    }
    Ok(out)
}

/// In which order `up` configures the nodes' roles.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum Order {
    /// A lab that was up and did not change is only checked, every node at once; only the apps
    /// that do not migrate wait for those that do, so no release starts before its schema.
    #[default]
    Together,
    /// A running lab that changes: databases, then the app nodes that migrate their database,
    /// then the other apps (they need their database and its schema), then the front ends,
    /// which then send requests only to apps that are already serving.
    Dependencies,
    /// Every node just created: nothing serves and no client waits, so the front ends (whose
    /// configuration needs nothing from the others) are configured beside the databases, and
    /// `up` waits at the end until they find every app answering.
    FreshLab,
}

/// Which round configures a node, in `order`. A node's phase is its earliest role's (a
/// database and app on one node: the database's).
pub(crate) fn round(ctx: &NodeContext, order: Order) -> usize {
    use crate::roles::Phase;
    let phase = ctx
        .first_role()
        .map_or(Phase::Front, |r| crate::roles::def(r).phase);
    let waits = phase == Phase::App && ctx.app().is_some_and(|a| a.migrate.is_none());
    match (order, phase) {
        (Order::Together, _) => usize::from(waits),
        (_, Phase::Network | Phase::Database) => 0,
        (_, Phase::App) => 1 + usize::from(waits),
        (Order::FreshLab, Phase::Front) => 0,
        (Order::Dependencies, Phase::Front) => 3,
    }
}

/// One node's configuration: what changed and how long it took.
pub(crate) struct Configured {
    pub(crate) node: String,
    pub(crate) report: NodeReport,
    pub(crate) seconds: f64,
}

/// How `up` configures the roles this time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct How {
    /// The rounds nodes are configured in.
    pub(crate) order: Order,
    /// App nodes whose settings change in a running lab: one at a time, each drained from its
    /// load balancer while it restarts and put back once its health check passes.
    pub(crate) rolling: Vec<String>,
    /// Overwrite managed files the learner edited on a node (`up --force`).
    pub(crate) overwrite_edits: bool,
    /// Nodes whose one-pass check already ran (in the command that found them ready), and
    /// whether it found every role in place: those are done, the others go straight to
    /// `apply`.
    pub(crate) checked: std::collections::BTreeMap<String, bool>,
}

impl How {
    pub(crate) fn for_change(was_up: bool, changes: Option<&[crate::plan::Change]>) -> How {
        use crate::plan::Change;
        match changes {
            _ if !was_up => How {
                order: Order::FreshLab,
                ..How::default()
            },
            // An older firedrill's lab: nothing to compare with; check everything at once.
            None => How::default(),
            Some(changes) => {
                let mut rolling: Vec<String> = changes
                    .iter()
                    .filter_map(|c| match c {
                        Change::Option { node, .. } => Some(node.clone()),
                        _ => None,
                    })
                    .collect();
                rolling.dedup();
                How {
                    order: if changes.is_empty() {
                        Order::Together
                    } else {
                        Order::Dependencies
                    },
                    rolling,
                    ..How::default()
                }
            }
        }
    }
}

/// How long a drained app may take to pass its load balancer's health check again.
const BACK_UP: std::time::Duration = std::time::Duration::from_secs(60);
/// How long requests in flight get to finish on a drained server before it restarts.
const DRAIN: std::time::Duration = std::time::Duration::from_secs(2);

/// Configures one node; `target` is the lab's for the node (`Lab::target`): the task owns what
/// it uses, and connects only when `up` has no session open to the node. With `keep_open`, a
/// configured node's session comes back for the caller's further work on it.
async fn configure_node(
    target: crate::ssh::Target,
    ctx: NodeContext,
    secrets: Secrets,
    bar: crate::progress::NodeProgress,
    open: Option<crate::ssh::Session>,
    (overwrite_edits, keep_open): (bool, bool),
    in_place: Option<bool>,
) -> Result<(Configured, Option<crate::ssh::Session>), String> {
    let started = std::time::Instant::now();
    if in_place == Some(true) {
        if let Some(s) = open {
            s.close().await;
        }
        bar.finish("every role checked in one pass: no changes");
        let configured = Configured {
            node: ctx.node.clone(),
            report: NodeReport::default(),
            seconds: 0.0,
        };
        return Ok((configured, None));
    }
    let session = match open {
        Some(s) => s,
        None => crate::ssh::connect(&target, crate::ssh::Purpose::Change)
            .await
            .map_err(|e| e.to_string())?,
    };
    let mut report = |line: &str| bar.phase(line);
    let result = match in_place {
        Some(_) => {
            report("something differs: checking role by role");
            roles::apply(&session, &ctx, &secrets, overwrite_edits, &mut report).await
        }
        None => roles::configure(&session, &ctx, &secrets, overwrite_edits, &mut report).await,
    };
    let session = if keep_open && result.is_ok() {
        Some(session)
    } else {
        session.close().await;
        None
    };
    match result {
        Ok(r) => {
            let seconds = started.elapsed().as_secs_f64();
            bar.finish(&format!("configured in {seconds:.1}s: {}", r.summary()));
            let configured = Configured {
                node: ctx.node.clone(),
                report: r,
                seconds,
            };
            Ok((configured, session))
        }
        Err(e) => {
            bar.finish("configuration failed");
            Err(e.to_string())
        }
    }
}

/// Configures app node `ctx` while its load balancers send it nothing: drain, configure, put
/// back, wait until its health check passes.
async fn roll_one(
    lab: &Lab,
    contexts: &[NodeContext],
    ctx: &NodeContext,
    job: impl std::future::Future<Output = Result<(Configured, Option<crate::ssh::Session>), String>>,
) -> Result<Configured, String> {
    use crate::remote::Remote as _;
    use crate::roles::{ServerState, server_status, set_server_state};
    // Each load balancer that sends it requests, with the name it gives the node's server.
    let mut fronts = Vec::new();
    for (lb, server) in contexts.iter().filter_map(|c| {
        let h = c.haproxy()?;
        let b = h.backends.iter().find(|b| b.node == ctx.node)?;
        Some((c, b.name.clone()))
    }) {
        let Some(node) = lab.node(&lb.node) else {
            continue;
        };
        let session = lab
            .shell(node, crate::ssh::Purpose::Change)
            .await
            .map_err(|e| e.to_string())?;
        set_server_state(&session, &server, ServerState::Drain)
            .await
            .map_err(|e| e.to_string())?;
        fronts.push((session, server));
    }
    if !fronts.is_empty() {
        tokio::time::sleep(DRAIN).await;
    }
    // A rolled app's session is not kept (`keep_open` is for front ends).
    let result = job.await.map(|(configured, _)| configured);
    for (lb, server) in &fronts {
        set_server_state(lb, server, ServerState::Ready)
            .await
            .map_err(|e| e.to_string())?;
        let still = poll(BACK_UP, || async {
            let status = server_status(lb, server).await.map_err(|e| e.to_string())?;
            Ok((status.as_deref() != Some("UP")).then(|| status.unwrap_or("nothing".into())))
        })
        .await?;
        if let Some(status) = still {
            return Err(format!(
                "{}: haproxy on {} still says {status} {}s after it was put back\n  hint: look at it with `firedrill ssh {}` (`journalctl -u todo`), then run `firedrill up` again",
                ctx.node,
                lb.node(),
                BACK_UP.as_secs(),
                ctx.node
            ));
        }
    }
    for (lb, _) in fronts {
        lb.close().await;
    }
    result
}

/// Asks `look` every half second, from now until `within` has passed, until it says done
/// (`None`); `Some` with what it said last when it never did. An error ends the wait.
async fn poll<F, Fut>(within: std::time::Duration, mut look: F) -> Result<Option<String>, String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<String>, String>>,
{
    let deadline = std::time::Instant::now() + within;
    loop {
        let seen = look().await?;
        if seen.is_none() || std::time::Instant::now() > deadline {
            return Ok(seen);
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

/// Waits until the haproxy on `lb` (configured before its apps, in a fresh lab) sends requests
/// to every app server: its health checks pass a couple of seconds after an app starts.
async fn every_app_up<R: crate::remote::Remote>(
    lb: &R,
    within: std::time::Duration,
) -> Result<(), String> {
    let still = poll(within, || async {
        let health = crate::roles::haproxy_backends(lb)
            .await
            .map_err(|e| e.to_string())?;
        Ok((!health.ok).then_some(health.detail))
    })
    .await?;
    match still {
        None => Ok(()),
        Some(detail) => Err(format!(
            "{}: haproxy still finds {detail} {}s after every app was configured\n  hint: `firedrill status` shows each app's health; look at one with `firedrill ssh NODE` (`journalctl -u todo`), then run `firedrill up` again",
            lb.node(),
            within.as_secs()
        )),
    }
}

/// Drains the nodes that leave the lab in the load balancers that still send them requests
/// (their old configuration), so that no request reaches a node on its way out, also not through
/// an haproxy process that keeps the old configuration for its open connections after the
/// reload. Returns warnings: a node that cannot be drained is still removed.
pub(crate) async fn drain_leaving(
    lab: &Lab,
    previous: &LabState,
    leaving: &[String],
) -> Vec<String> {
    use crate::roles::{ServerState, set_server_state};
    let mut warnings = Vec::new();
    let mut drained = false;
    for lb in previous
        .nodes()
        .filter(|n| n.roles.contains(&Role::Haproxy))
    {
        let gone: Vec<&str> = lb
            .backends
            .iter()
            .filter(|b| leaving.contains(b))
            .map(String::as_str)
            .collect();
        let Some(node) = lab.node(&lb.name).filter(|_| !gone.is_empty()) else {
            continue;
        };
        let session = match lab.shell(node, crate::ssh::Purpose::Change).await {
            Ok(s) => s,
            Err(e) => {
                warnings.push(format!(
                    "{}: cannot drain {}: {e}",
                    lb.name,
                    gone.join(", ")
                ));
                continue;
            }
        };
        for b in gone {
            match set_server_state(&session, lb.haproxy_server(b), ServerState::Drain).await {
                Ok(()) => drained = true,
                Err(e) => warnings.push(format!("{}: cannot drain {b}: {e}", lb.name)),
            }
        }
        session.close().await;
    }
    if drained {
        tokio::time::sleep(DRAIN).await;
    }
    warnings
}

/// Configures every node's roles, reusing the open sessions in `sessions` (by node name) where
/// there are any. Returns each configured node's report and the failures. Nodes that are in the
/// state but no longer in its plan (leaving the lab) are not touched.
pub(crate) async fn configure(
    lab: &Lab,
    progress: &Progress,
    sessions: &mut std::collections::HashMap<String, crate::ssh::Session>,
    how: &How,
) -> Result<(Vec<Configured>, Vec<String>), LabError> {
    let state = &lab.state;
    let secrets = secrets(&lab.dir)?;
    let in_plan = |node: &str| state.plan.nodes.iter().any(|n| n.name == node);
    let contexts: Vec<NodeContext> = contexts(state)?
        .into_iter()
        .filter(|c| in_plan(&c.node))
        .collect();
    let mut reports = Vec::new();
    let mut failures = Vec::new();
    // A fresh lab's front ends, configured before their apps: checked once every app is.
    let mut fronts = Vec::new();
    for r in 0..4 {
        let mut tasks = tokio::task::JoinSet::new();
        let mut rolling = Vec::new();
        for ctx in contexts.iter().filter(|c| round(c, how.order) == r) {
            let Some(node) = lab.node(&ctx.node) else {
                continue;
            };
            let target = lab.target(node);
            let in_place = how.checked.get(&ctx.node).copied();
            let keep_open = how.order == Order::FreshLab && ctx.haproxy().is_some();
            let job = configure_node(
                target,
                ctx.clone(),
                secrets.clone(),
                progress.node(&ctx.node),
                sessions.remove(&ctx.node),
                (how.overwrite_edits, keep_open),
                in_place,
            );
            // A node found in place changes nothing: no need to drain it.
            if how.rolling.contains(&ctx.node) && ctx.app().is_some() && in_place != Some(true) {
                rolling.push((ctx, job));
            } else {
                tasks.spawn(job);
            }
        }
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok(Ok((r, session))) => {
                    fronts.extend(session);
                    reports.push(r);
                }
                Ok(Err(e)) => failures.push(e),
                Err(e) => failures.push(format!("a configuration task failed: {e}")),
            }
        }
        // One at a time, so the others carry the traffic; a failure stops the roll.
        for (ctx, job) in rolling {
            if !failures.is_empty() {
                failures.push(format!("{}: not changed: an earlier node failed", ctx.node));
                continue;
            }
            match roll_one(lab, &contexts, ctx, job).await {
                Ok(r) => reports.push(r),
                Err(e) => failures.push(e),
            }
        }
    }
    for lb in fronts {
        if failures.is_empty()
            && let Err(e) = every_app_up(&lb, BACK_UP).await
        {
            failures.push(e);
        }
        lb.close().await;
    }
    reports.sort_by(|a, b| a.node.cmp(&b.node));
    Ok((reports, failures))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::testing::node;
    use crate::roles::Release;

    /// A network of the plan, as `labs/minimal.yaml`'s is planned, with this name and subnet.
    fn net(name: &str, cidr: &str, domain: &str) -> crate::hypervisor::xml::NetworkSpec {
        let mut n = crate::state::sample().plan.networks[0].clone();
        n.name = name.into();
        n.cidr = cidr.parse().expect("a cidr");
        n.domain = domain.into();
        n
    }

    /// app1 (v1) and app2 (v3) share db; app3 (v2) uses pg; lb in front.
    fn lab() -> LabState {
        let mut state = crate::state::sample();
        state.plan.networks = vec![net("fd-three-tier-lan", "10.78.0.0/24", "three-tier.lab")];
        let app = |name: &str, db: &str, release: Release| {
            let mut n = node(name, &[Role::App]);
            n.domain.network = "fd-three-tier-lan".into();
            n.database = Some(db.into());
            n.release = release;
            n
        };
        let other = |name: &str, role: Role| {
            let mut n = node(name, &[role]);
            n.domain.network = "fd-three-tier-lan".into();
            n
        };
        state.plan.nodes = vec![
            other("lb", Role::Haproxy),
            app("app1", "db", Release::V1),
            app("app2", "db", Release::V3),
            app("app3", "pg", Release::V2),
            other("db", Role::Mysql),
            other("pg", Role::Postgres),
        ];
        state
    }

    /// lb and app2 on lan, app1 and db on a routed dmz (db also on mgmt, first), as
    /// validation leaves them: each knows the address it reaches its peers by.
    fn routed_lab() -> LabState {
        let mut state = crate::state::sample();
        let net = |name: &str, cidr: &str| net(&format!("fd-r-{name}"), cidr, "r.lab");
        state.plan.networks = vec![
            net("lan", "10.77.0.0/24"),
            net("dmz", "10.80.0.0/24"),
            net("mgmt", "10.81.0.0/24"),
        ];
        let reach = |peer: &str, ip: &str, from: &str| crate::spec::Reach {
            peer: peer.into(),
            ip: ip.parse().expect("ip"),
            from: from.parse().expect("ip"),
        };
        let at = |name: &str, role: Role, network: &str, ip: &str| {
            let mut n = node(name, &[role]);
            n.domain.network = format!("fd-r-{network}");
            n.ip = ip.parse().expect("ip");
            n
        };
        let mut lb = at("lb", Role::Haproxy, "lan", "10.77.0.5");
        lb.backends = vec!["app1".into(), "app2".into()];
        lb.reaches = vec![
            reach("app1", "10.80.0.10", "10.77.0.5"),
            reach("app2", "10.77.0.11", "10.77.0.5"),
        ];
        let app = |name: &str, network: &str, ip: &str| {
            let mut n = at(name, Role::App, network, ip);
            n.app_port = Some(8080);
            n.database = Some("db".into());
            n.reaches = vec![reach("db", "10.80.0.20", ip)];
            n
        };
        state.plan.nodes = vec![
            lb,
            app("app1", "dmz", "10.80.0.10"),
            app("app2", "lan", "10.77.0.11"),
            at("db", Role::Mysql, "mgmt", "10.81.0.20"),
        ];
        state
    }

    #[test]
    fn an_app_reaching_its_database_by_a_dns_name_keeps_its_config_when_the_name_moves() {
        use crate::plan::testing::plan_of;
        let of =
            |file: &str| contexts(&crate::state::of_plan(plan_of(file, |_| {}))).expect("resolves");
        let before = of("labs/dns-cutover.yaml");
        let after = of("labs/exercises/dns-cutover-db2.lab.yaml");
        let dbs = |contexts: &[NodeContext], node: &str| -> Vec<(String, String)> {
            let ctx = contexts.iter().find(|c| c.node == node).expect("node");
            let app = ctx.app().expect("app");
            app.databases()
                .map(|d| (d.name.clone(), d.host.clone()))
                .collect()
        };
        for app in ["app1", "app2"] {
            let was = dbs(&before, app);
            assert_eq!(
                was[0],
                ("database".into(), "database.dns-cutover.lab".into())
            );
            let names: Vec<&str> = was.iter().map(|(n, _)| n.as_str()).collect();
            assert_eq!(names, ["database", "db1", "db2"]);
            // Repointing the name changes nothing the app is given: no restart.
            assert_eq!(dbs(&after, app), was, "{app}");
        }
    }

    #[test]
    fn roles_use_the_address_validation_picked_and_the_database_admits_its_clients() {
        let contexts = contexts(&routed_lab()).expect("resolves");
        let ctx = |name: &str| contexts.iter().find(|c| c.node == name).expect("node");
        let backends: Vec<String> = ctx("lb")
            .haproxy()
            .expect("haproxy")
            .backends
            .iter()
            .map(|b| b.ip.to_string())
            .collect();
        assert_eq!(backends, ["10.80.0.10", "10.77.0.11"]);
        for app in ["app1", "app2"] {
            let db = &ctx(app).app().expect("app").database;
            assert_eq!(db.host, "10.80.0.20", "{app}");
        }
        // The peer list shows the same address; a peer no role needs keeps its first one.
        let lb = ctx("lb");
        assert_eq!(
            lb.peer("app1").map(|p| p.ip.to_string()).as_deref(),
            Some("10.80.0.10")
        );
        assert_eq!(
            lb.peer("db").map(|p| p.ip.to_string()).as_deref(),
            Some("10.81.0.20")
        );
        // db's own network is mgmt; its apps come from dmz and lan.
        let db = ctx("db");
        assert_eq!(db.subnet.to_string(), "10.81.0.0/24");
        let clients: Vec<String> = db.clients.iter().map(ToString::to_string).collect();
        assert_eq!(clients, ["10.80.0.0/24", "10.77.0.0/24"]);
    }

    /// labs/network.yaml's apps reach db by the name `database` of gw's zone, through gw's
    /// resolver, so a stale or wrong answer from it reaches them (the dns-stale level).
    #[test]
    fn the_network_labs_apps_look_their_database_up_through_gw() {
        let plan = crate::plan::testing::plan_of("labs/network.yaml", |_| {});
        let gw_dmz = "10.85.0.2".parse().ok();
        for app in ["app1", "app2"] {
            let n = plan.nodes.iter().find(|n| n.name == app).expect("node");
            assert_eq!(n.resolver, gw_dmz, "{app}");
        }
        let contexts = contexts(&crate::state::of_plan(plan)).expect("resolves");
        for app in ["app1", "app2"] {
            let ctx = contexts.iter().find(|c| c.node == app).expect("node");
            let db = &ctx.app().expect("app").database;
            assert_eq!(
                (db.name.as_str(), db.host.as_str()),
                ("database", "database.network.lab"),
                "{app}"
            );
        }
    }

    /// labs/network.yaml's gw serves network.lab: every node of both networks (gw on each),
    /// the name `database` its apps reach db by, and nothing twice.
    #[test]
    fn the_dns_zone_holds_every_node_of_the_domain() {
        let plan = crate::plan::testing::plan_of("labs/network.yaml", |_| {});
        let mut state = crate::state::sample();
        let mut gw = node("gw", &[Role::Router, Role::Dns]);
        gw.domain.network = plan.networks[0].name.clone();
        state.plan = plan;
        let z = crate::roles::dns_zone(&state, &gw).expect("a zone");
        assert_eq!(z.domain, "network.lab");
        let records: Vec<String> = z
            .records
            .iter()
            .map(|(name, ip)| format!("{name} {ip}"))
            .collect();
        assert_eq!(
            records,
            [
                "gw 10.84.0.2",
                "lb 10.84.0.10",
                "gw 10.85.0.2",
                "app1 10.85.0.10",
                "app2 10.85.0.11",
                "db 10.85.0.12",
                "database 10.85.0.12",
            ]
        );
    }

    #[test]
    fn one_app_node_per_database_migrates_it_to_the_newest_release_using_it() {
        let contexts = contexts(&lab()).expect("resolves");
        let apps: Vec<(&str, Release, Option<Release>, Vec<&str>)> = contexts
            .iter()
            .filter_map(|c| {
                let a = c.app()?;
                let dbs = a.databases().map(|d| d.name.as_str()).collect();
                Some((c.node.as_str(), a.release, a.migrate, dbs))
            })
            .collect();
        assert_eq!(
            apps,
            [
                ("app1", Release::V1, Some(Release::V3), vec!["db", "pg"]),
                ("app2", Release::V3, None, vec!["db", "pg"]),
                ("app3", Release::V2, Some(Release::V2), vec!["pg", "db"]),
            ]
        );
    }

    /// `show stat` of the app backend with app2 in `app2_status`.
    fn stat(app2_status: &str) -> crate::remote::Output {
        crate::remote::fake::ok(&format!(
            "# pxname,svname,status\nweb,FRONTEND,OPEN\napp,app1,UP\napp,app2,{app2_status}\napp,BACKEND,UP\n"
        ))
    }

    #[tokio::test]
    async fn a_fresh_labs_load_balancer_is_waited_for_until_it_sends_to_every_app() {
        use crate::remote::fake::{FakeRemote, contains};
        let lb = FakeRemote::new("lb").answers(
            contains("show stat"),
            vec![stat("DOWN"), stat("DOWN 1/2"), stat("UP")],
        );
        every_app_up(&lb, BACK_UP).await.expect("app2 comes up");
        assert_eq!(lb.commands().len(), 3);
        lb.assert_all_used();
    }

    #[tokio::test]
    async fn a_load_balancer_that_never_sends_to_an_app_fails_up_with_what_it_sees() {
        use crate::remote::fake::{FakeRemote, contains};
        let lb = FakeRemote::new("lb").on(contains("show stat"), stat("DOWN"));
        let within = std::time::Duration::from_secs(1);
        let started = std::time::Instant::now();
        let e = every_app_up(&lb, within)
            .await
            .expect_err("app2 stays down");
        assert!(
            started.elapsed() >= within,
            "gave up after {:?}",
            started.elapsed()
        );
        assert!(lb.commands().len() >= 2, "{:?}", lb.commands());
        assert!(
            e.starts_with("lb: haproxy still finds 1/2 backends UP (app2 DOWN) 1s after"),
            "{e}"
        );
        assert!(e.contains("hint: "), "{e}");
    }

    #[test]
    fn apps_that_do_not_migrate_wait_for_those_that_do() {
        let contexts = contexts(&lab()).expect("resolves");
        let rounds = |order: Order| -> Vec<(&str, usize)> {
            contexts
                .iter()
                .map(|c| (c.node.as_str(), round(c, order)))
                .collect()
        };
        assert_eq!(
            rounds(Order::Dependencies),
            [
                ("lb", 3),
                ("app1", 1),
                ("app2", 2),
                ("app3", 1),
                ("db", 0),
                ("pg", 0)
            ]
        );
        // A fresh lab: the load balancer beside the databases.
        assert_eq!(
            rounds(Order::FreshLab),
            [
                ("lb", 0),
                ("app1", 1),
                ("app2", 2),
                ("app3", 1),
                ("db", 0),
                ("pg", 0)
            ]
        );
        assert_eq!(
            rounds(Order::Together),
            [
                ("lb", 0),
                ("app1", 0),
                ("app2", 1),
                ("app3", 0),
                ("db", 0),
                ("pg", 0)
            ]
        );
    }
}
