//! Configures a node for its roles over SSH: the todo app, HAProxy, MariaDB and PostgreSQL.
//!
//! `apply` is idempotent: files are compared by sha256 and written only when they differ, a
//! service is restarted or reloaded only when its configuration changed, and a second run on a
//! configured node reports no changes. Secrets travel on stdin, never on a command line or in
//! progress output. Ordering across nodes (databases, then apps, then haproxy) is the caller's.

mod app;
mod context;
mod error;
mod files;
mod haproxy;
mod mysql;
mod postgres;
mod render;
mod service;
mod session;
mod table;

#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod golden_tests;
#[cfg(test)]
mod live_haproxy_tests;
#[cfg(test)]
mod live_tests;
#[cfg(test)]
mod role_tests;
#[cfg(test)]
mod role_tests_web;

pub(crate) use context::{
    AppConfig, Backend, DbConfig, Engine, HaproxyConfig, NodeContext, Role, Secrets,
};
pub(crate) use error::RoleError;
pub(crate) use haproxy::{ServerState, server_status, set_server_state};
pub(crate) use table::{Phase, TABLE, def, page_urls};

use crate::remote::Remote;
use session::Session;

/// What `apply` changed on one node, in order. Empty means the node was already configured.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct NodeReport {
    pub(crate) changed: Vec<String>,
    /// Managed files the learner edited on the node, left as they are (see `files`).
    pub(crate) edited: Vec<String>,
}

impl NodeReport {
    /// One line for the user: "no changes" or the changes, comma-separated.
    pub(crate) fn summary(&self) -> String {
        let mut s = if self.changed.is_empty() {
            "no changes".to_string()
        } else {
            self.changed.join(", ")
        };
        if !self.edited.is_empty() {
            s += &format!(
                "; {} edited on the node, left as is",
                self.edited.join(", ")
            );
        }
        s
    }
}

/// One role's health for the `status` column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RoleHealth {
    pub(crate) role: Role,
    pub(crate) ok: bool,
    pub(crate) detail: String,
}

/// The node's roles once each, in apply order (databases, app, haproxy).
fn ordered_roles(ctx: &NodeContext) -> Vec<Role> {
    let mut roles = ctx.roles.clone();
    roles.sort();
    roles.dedup();
    roles
}

/// Configures one node for all its roles. Stops at the first failed step; other nodes are the
/// caller's to carry on with.
pub(crate) async fn apply<R: Remote>(
    remote: &R,
    ctx: &NodeContext,
    secrets: &Secrets,
    overwrite_edits: bool,
    progress: &mut (dyn FnMut(&str) + Send + Sync),
) -> Result<NodeReport, RoleError> {
    let mut session = Session::new(remote, &ctx.node, progress).overwrite_edits(overwrite_edits);
    for role in ordered_roles(ctx) {
        match role {
            Role::Mysql => mysql::apply(&mut session, ctx, secrets).await?,
            Role::Postgres => postgres::apply(&mut session, ctx, secrets).await?,
            Role::App => app::apply(&mut session, ctx, secrets).await?,
            Role::Haproxy => haproxy::apply(&mut session, ctx).await?,
        }
    }
    Ok(session.into_report())
}

/// Checks each role of the node. Never fails: a node that cannot be asked is reported unhealthy
/// with the reason.
pub(crate) async fn health<R: Remote>(remote: &R, ctx: &NodeContext) -> Vec<RoleHealth> {
    let mut quiet = |_: &str| {};
    let session = Session::new(remote, &ctx.node, &mut quiet);
    let mut report = Vec::new();
    for role in ordered_roles(ctx) {
        let result = match role {
            Role::Mysql => mysql::health(&session, ctx).await,
            Role::Postgres => postgres::health(&session, ctx).await,
            Role::Haproxy => haproxy::health(&session).await,
            Role::App => match &ctx.app {
                Some(app) => app::health(&session, app).await,
                None => Ok(RoleHealth {
                    role,
                    ok: false,
                    detail: "no app settings in the lab plan".into(),
                }),
            },
        };
        report.push(result.unwrap_or_else(|e| RoleHealth {
            role,
            ok: false,
            detail: match e {
                RoleError::Remote { source, .. } => format!("cannot ask the node: {source}"),
                other => other.to_string(),
            },
        }));
    }
    report
}

/// Names end up unquoted in SQL and config files; refuse anything but plain identifiers.
fn check_name(ctx: &NodeContext, field: &'static str, value: &str) -> Result<(), RoleError> {
    if render::is_plain_name(value) {
        Ok(())
    } else {
        Err(RoleError::BadName {
            node: ctx.node.clone(),
            field,
            value: value.to_string(),
        })
    }
}
