//! Is the lab healthy: every node answers over SSH and every role's health check passes (the
//! same checks `firedrill status` shows).

use super::LevelError;
use crate::paths::{Home, LabName};

/// One line per problem, in the lab's node order; empty when the lab is healthy. Every node
/// is asked at once.
pub(crate) async fn problems(home: &Home, lab: &LabName) -> Result<Vec<String>, LevelError> {
    let dir = home.lab(lab);
    let state = crate::lab::Lab::at(home, lab)?.state;
    let contexts = crate::lab::contexts(&state);
    let each = state.nodes.iter().filter_map(|n| {
        let ctx = contexts.iter().find(|c| c.node == n.name)?;
        let target = crate::lab::target(&dir, &state, n);
        Some(async move {
            let mut found = Vec::new();
            match crate::ssh::connect(&target, crate::ssh::Purpose::Command).await {
                Err(e) => {
                    let e = e.to_string();
                    found.push(format!(
                        "  {}: cannot connect: {}",
                        n.name,
                        e.lines().next().unwrap_or(&e)
                    ));
                }
                Ok(session) => {
                    for h in crate::roles::health(&session, ctx).await {
                        if !h.ok {
                            found.push(format!("  {}: {}: {}", n.name, h.role, h.detail));
                        }
                    }
                    session.close().await;
                }
            }
            found
        })
    });
    Ok(futures::future::join_all(each)
        .await
        .into_iter()
        .flatten()
        .collect())
}
