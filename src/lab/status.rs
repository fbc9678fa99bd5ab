//! `firedrill status`: what exists, read back from the state file and libvirt, plus what the
//! nodes themselves say over SSH (uptime).

use super::LabError;
use crate::hypervisor::{DomainState, Hypervisor, Libvirt, blocking};
use crate::paths::Home;
use crate::state::LabPhase;
use serde::Serialize;

#[derive(Debug, Serialize)]
struct NodeStatus {
    name: String,
    state: String,
    roles: Vec<String>,
    ip: String,
    dns: String,
    /// What the VM has, from libvirt (its definition's when it is off).
    memory_mib: Option<u64>,
    cpus: Option<u32>,
    /// What the lab file says, when it differs from the VM (a resize waiting for a restart).
    #[serde(skip_serializing_if = "Option::is_none")]
    file_memory_mib: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    file_cpus: Option<u32>,
    uptime_s: Option<u64>,
    /// The todo release the lab file gives an app node.
    #[serde(skip_serializing_if = "Option::is_none")]
    release: Option<String>,
    /// The release the node's `current` link points at, when it is not that one.
    #[serde(skip_serializing_if = "Option::is_none")]
    release_on_node: Option<String>,
    /// Per role: haproxy backends UP/total, app /healthz, databases accepting connections.
    health: Vec<Health>,
    /// The web pages its roles serve.
    pages: Vec<Page>,
}

#[derive(Debug, Serialize)]
struct Page {
    what: String,
    url: String,
}

#[derive(Debug, Serialize)]
struct Health {
    role: String,
    ok: bool,
    detail: String,
    #[serde(skip)]
    release: Option<String>,
}

#[derive(Debug, Serialize)]
struct LabStatus {
    lab: String,
    phase: LabPhase,
    /// What `firedrill client` loads: the first haproxy node, else the first app node.
    service_url: Option<String>,
    nodes: Vec<NodeStatus>,
}

pub(crate) async fn status(home: &Home, lab: Option<&str>, json: bool) -> Result<(), LabError> {
    let lab = super::Lab::open(home, lab)?;
    let state = &lab.state;
    let uri = state.uri.clone();
    let hv = blocking(move || Libvirt::open(Some(&uri)).map_err(LabError::from)).await?;
    let domains = blocking(move || hv.domains().map_err(LabError::from)).await?;

    let contexts = super::configure::contexts(state)?;
    // The running nodes are asked at once.
    let probes = state
        .nodes()
        .filter(|n| {
            domains
                .iter()
                .any(|d| d.name == n.domain.name && d.state == DomainState::Running)
        })
        .map(|n| {
            let (lab, ctx) = (&lab, contexts.iter().find(|c| c.node == n.name));
            async move { (n.name.clone(), probe(lab, n, ctx).await) }
        });
    let mut probed: std::collections::BTreeMap<_, _> = futures::future::join_all(probes)
        .await
        .into_iter()
        .collect();

    let nodes: Vec<NodeStatus> = state
        .nodes()
        .map(|n| {
            let d = domains.iter().find(|d| d.name == n.domain.name);
            let (uptime, health) = probed.remove(&n.name).flatten().unwrap_or_default();
            let state = match d {
                None => "missing".to_string(),
                Some(d) if d.state == DomainState::Running && uptime.is_none() => {
                    "running (no ssh)".to_string()
                }
                Some(d) => d.state.to_string(),
            };
            let (memory, cpus) = match d {
                Some(d) if d.state == DomainState::Shutoff => {
                    (Some(d.defined_memory_mib), Some(d.defined_cpus))
                }
                Some(d) => (Some(d.memory_mib), Some(d.cpus)),
                None => (None, None),
            };
            let release = n.app_port.map(|_| n.release.name().to_string());
            // Read by the app's health check, in the same command.
            let release_on_node = health
                .iter()
                .find_map(|h: &Health| h.release.clone())
                .filter(|on_node| release.as_ref() != Some(on_node));
            NodeStatus {
                name: n.name.clone(),
                state,
                roles: n.roles.iter().map(|r| r.to_string()).collect(),
                ip: n.ip.to_string(),
                dns: n.fqdn.clone(),
                memory_mib: memory,
                cpus,
                file_memory_mib: memory
                    .is_some_and(|m| m != n.domain.memory_mib)
                    .then_some(n.domain.memory_mib),
                file_cpus: cpus
                    .is_some_and(|c| c != n.domain.cpus)
                    .then_some(n.domain.cpus),
                uptime_s: uptime,
                release,
                release_on_node,
                health,
                pages: crate::roles::page_urls(n.ip, &n.roles, n.app_port)
                    .into_iter()
                    .map(|(what, url)| Page {
                        what: what.to_string(),
                        url,
                    })
                    .collect(),
            }
        })
        .collect();
    let report = LabStatus {
        lab: state.name.to_string(),
        phase: state.phase,
        service_url: crate::client::lab_url(state).ok(),
        nodes,
    };
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("status serialises")
        );
        return Ok(());
    }
    println!("lab {} ({})", report.lab, report.phase);
    println!(
        "{:<10} {:<17} {:<16} {:<15} {:<28} {:>8} {:>5} {:>9}  HEALTH",
        "NODE", "STATE", "ROLES", "IP", "DNS NAME", "MEMORY", "CPUS", "UPTIME"
    );
    let mut resized = false;
    let mut other_release = false;
    for n in &report.nodes {
        let health: Vec<String> = n
            .health
            .iter()
            .map(|h| {
                format!(
                    "{} {}: {}",
                    if h.ok { "ok" } else { "FAIL" },
                    h.role,
                    h.detail
                )
            })
            .collect();
        // A size the VM does not have yet is marked, and explained below the table.
        let mark = |differs: bool| if differs { "*" } else { "" };
        resized |= n.file_memory_mib.is_some() || n.file_cpus.is_some();
        other_release |= n.release_on_node.is_some();
        println!(
            "{:<10} {:<17} {:<16} {:<15} {:<28} {:>8} {:>5} {:>9}  {}",
            n.name,
            n.state,
            roles_column(n),
            n.ip,
            n.dns,
            n.memory_mib
                .map(|m| format!("{m}M{}", mark(n.file_memory_mib.is_some())))
                .unwrap_or_else(|| "-".into()),
            n.cpus
                .map(|c| format!("{c}{}", mark(n.file_cpus.is_some())))
                .unwrap_or_else(|| "-".into()),
            n.uptime_s.map(human).unwrap_or_else(|| "-".into()),
            if health.is_empty() {
                "-".to_string()
            } else {
                health.join("; ")
            }
        );
    }
    print!("{}", pages(&report));
    if resized {
        println!();
        println!("* the VM's size is not the lab file's yet:");
        for n in &report.nodes {
            if let Some(m) = n.file_memory_mib {
                println!("  {}: memory {}M in the file", n.name, m);
            }
            if let Some(c) = n.file_cpus {
                println!("  {}: cpus {} in the file", n.name, c);
            }
        }
        println!("  apply with `firedrill up LAB.yaml --restart NODE` (the node restarts)");
    }
    if other_release {
        println!();
        println!("* the node runs another release than the lab file's:");
        for n in &report.nodes {
            if let (Some(file), Some(on_node)) = (&n.release, &n.release_on_node) {
                println!(
                    "  {}: {on_node} (/opt/todo/current), {file} in the file",
                    n.name
                );
            }
        }
        println!("  `firedrill up LAB.yaml` puts the file's release back");
    }
    Ok(())
}

/// `app v1`: the roles, with an app's release (`*` when the node runs another one).
fn roles_column(n: &NodeStatus) -> String {
    if n.roles.is_empty() {
        return "-".to_string();
    }
    let mut roles = n.roles.join(",");
    if let Some(r) = &n.release {
        roles += &format!(" {r}{}", if n.release_on_node.is_some() { "*" } else { "" });
    }
    roles
}

/// The service's URL and each node's pages, below the table.
fn pages(report: &LabStatus) -> String {
    let mut out = String::new();
    if let Some(url) = &report.service_url {
        out += &format!("\nservice: {url}\n");
    }
    let width = report.nodes.iter().map(|n| n.name.len()).max().unwrap_or(0);
    for n in &report.nodes {
        for p in &n.pages {
            out += &format!("  {:width$}  {:<14} {}\n", n.name, p.what, p.url);
        }
    }
    if !out.is_empty() {
        out += "  (from where the lab network is reachable; elsewhere `firedrill forward 8080:NODE:PORT`)\n";
    }
    out
}

fn human(s: u64) -> String {
    match s {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m{:02}s", s / 60, s % 60),
        s => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// Uptime and role health, over one SSH session; `None` when the node cannot be reached.
async fn probe(
    lab: &super::Lab,
    node: &crate::plan::NodePlan,
    ctx: Option<&crate::roles::NodeContext>,
) -> Option<(Option<u64>, Vec<Health>)> {
    use crate::remote::Remote;
    let session = lab.shell(node, crate::ssh::Purpose::Look).await.ok()?;
    // Each command has a channel of its own on the one connection: they run at once.
    let uptime = async {
        session
            .run("cat /proc/uptime", None)
            .await
            .ok()
            .and_then(|out| {
                out.stdout_str()
                    .split_whitespace()
                    .next()?
                    .parse::<f64>()
                    .ok()
            })
            .map(|f| f as u64)
    };
    let health = async {
        match ctx {
            Some(ctx) => crate::roles::health(&session, ctx).await,
            None => vec![],
        }
    };
    let (uptime, health) = tokio::join!(uptime, health);
    let health = health
        .into_iter()
        .map(|h| Health {
            role: h.role.to_string(),
            ok: h.ok,
            detail: h.detail,
            release: h.release,
        })
        .collect();
    session.close().await;
    Some((uptime, health))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, pages: &[(&str, &str)]) -> NodeStatus {
        NodeStatus {
            name: name.into(),
            state: "running".into(),
            roles: Vec::new(),
            ip: String::new(),
            dns: String::new(),
            memory_mib: None,
            cpus: None,
            file_memory_mib: None,
            file_cpus: None,
            uptime_s: None,
            release: None,
            release_on_node: None,
            health: Vec::new(),
            pages: pages
                .iter()
                .map(|(what, url)| Page {
                    what: what.to_string(),
                    url: url.to_string(),
                })
                .collect(),
        }
    }

    #[test]
    fn the_service_and_each_page_are_listed_below_the_table() {
        let report = LabStatus {
            lab: "three-tier".into(),
            phase: LabPhase::Up,
            service_url: Some("http://10.78.0.10/todos".into()),
            nodes: vec![
                node(
                    "lb",
                    &[
                        ("the service", "http://10.78.0.10/todos"),
                        ("haproxy stats", "http://10.78.0.10:8404/"),
                    ],
                ),
                node("app1", &[("todo app", "http://10.78.0.11:8080/todos")]),
                node("db", &[]),
            ],
        };
        assert_eq!(
            pages(&report),
            "\nservice: http://10.78.0.10/todos\n\
             \x20 lb    the service    http://10.78.0.10/todos\n\
             \x20 lb    haproxy stats  http://10.78.0.10:8404/\n\
             \x20 app1  todo app       http://10.78.0.11:8080/todos\n\
             \x20 (from where the lab network is reachable; elsewhere `firedrill forward 8080:NODE:PORT`)\n"
        );
        let empty = LabStatus {
            service_url: None,
            nodes: vec![node("db", &[])],
            ..report
        };
        assert_eq!(pages(&empty), "");
    }

    #[test]
    fn an_app_shows_its_release_and_a_star_when_the_node_runs_another() {
        let mut app = node("app1", &[]);
        app.roles = vec!["app".into()];
        assert_eq!(roles_column(&app), "app");
        app.release = Some("v1".into());
        assert_eq!(roles_column(&app), "app v1");
        app.release_on_node = Some("v2".into());
        assert_eq!(roles_column(&app), "app v1*");
        assert_eq!(roles_column(&node("x", &[])), "-");
    }
}
