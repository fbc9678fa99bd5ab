//! Is the lab healthy: every node answers over SSH and every role's health check passes (the
//! same checks `firedrill status` shows).

use super::LevelError;
use crate::lab::SshNodes;
use crate::paths::{Home, LabName};

/// One line per problem, in the lab's node order; empty when the lab is healthy. Every node
/// is asked at once.
pub(crate) async fn problems(home: &Home, lab: &LabName) -> Result<Vec<String>, LevelError> {
    let nodes = SshNodes::of(&crate::lab::Lab::at(home, lab)?);
    let found = problems_on(&nodes).await;
    nodes.close().await;
    Ok(found)
}

/// How long services may take to answer after `up` started them (a Python app under software
/// emulation listens seconds after systemd says it started).
const SETTLE: std::time::Duration = std::time::Duration::from_secs(60);

/// `problems` right after `up`: asked again every two seconds, for up to a minute, until there
/// are none; then what is still wrong.
pub(crate) async fn problems_after_up(
    home: &Home,
    lab: &LabName,
) -> Result<Vec<String>, LevelError> {
    let started = std::time::Instant::now();
    let mut said = false;
    loop {
        let found = problems(home, lab).await?;
        if found.is_empty() || started.elapsed() >= SETTLE {
            return Ok(found);
        }
        if !said {
            println!(
                "waiting for the lab's services to answer (at most {} s)...",
                SETTLE.as_secs()
            );
            said = true;
        }
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    }
}

/// `problems`, over `nodes`' sessions (opened here when missing, and kept).
pub(crate) async fn problems_on(nodes: &SshNodes) -> Vec<String> {
    let state = nodes.state();
    let contexts = match crate::lab::contexts(state) {
        Ok(c) => c,
        Err(e) => return vec![format!("  {e}")],
    };
    let each = state.nodes().filter_map(|n| {
        let ctx = contexts.iter().find(|c| c.node == n.name)?;
        Some(async move {
            let mut found = Vec::new();
            match nodes.shell(&n.name, crate::ssh::Purpose::Command).await {
                Err(e) => {
                    let e = e.to_string();
                    found.push(format!(
                        "  {}: cannot connect: {}",
                        n.name,
                        e.lines().next().unwrap_or(&e)
                    ));
                }
                Ok(session) => {
                    for h in crate::roles::health(&*session, ctx).await {
                        if !h.ok {
                            found.push(format!("  {}: {}: {}", n.name, h.role, h.detail));
                        }
                    }
                }
            }
            found
        })
    });
    futures::future::join_all(each)
        .await
        .into_iter()
        .flatten()
        .collect()
}
