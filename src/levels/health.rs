//! Is the lab healthy: every node answers over SSH and every role's health check passes (the
//! same checks `firedrill status` shows).

use super::LevelError;
use crate::lab::SshNodes;
use crate::paths::{Home, LabName};

/// One line per problem, in the lab's node order; empty when the lab is healthy. Every node
/// is asked at once.
pub(crate) async fn problems(home: &Home, lab: &LabName) -> Result<Vec<String>, LevelError> {
    let state = crate::lab::Lab::at(home, lab)?.state;
    let nodes = SshNodes::new(home.lab(lab), state);
    let found = problems_on(&nodes).await;
    nodes.close().await;
    Ok(found)
}

/// `problems`, over `nodes`' sessions (opened here when missing, and kept).
pub(crate) async fn problems_on(nodes: &SshNodes) -> Vec<String> {
    let state = nodes.state();
    let contexts = crate::lab::contexts(state);
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
