//! Configures a node for its roles over SSH: a router, DNS, MariaDB, PostgreSQL, the todo app,
//! HAProxy, nginx and the monitor. One file per role, listed once in the `roles!` table below.
//!
//! `apply` is idempotent: files are compared by sha256 and written only when they differ, a
//! service is restarted or reloaded only when its configuration changed, and a second run on a
//! configured node reports no changes. Secrets travel on stdin, never on a command line or in
//! progress output. Ordering across nodes (databases, then apps, then haproxy) is the caller's.

mod context;
mod error;
mod files;
mod fresh;
pub(crate) mod options;
mod probe;
mod release;
mod render;
mod service;
mod session;
mod table;

// The role table: one line per role, in apply order (databases, apps, what fronts them).
table::roles! {
    Router => router,
    Dns => dns,
    Mysql => mysql,
    Postgres => postgres,
    App => app,
    Haproxy => haproxy,
    Nginx => nginx,
    Monitor => monitor,
}

#[cfg(test)]
mod app_tests;
#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod golden_tests;
#[cfg(test)]
mod live_haproxy_tests;
#[cfg(test)]
mod live_tests;
#[cfg(test)]
mod probe_tests;
#[cfg(test)]
mod role_tests;
#[cfg(test)]
mod role_tests_web;

pub(crate) use app::Options as AppOptions;
#[cfg(test)]
use context::{Backend, HaproxyConfig};
pub(crate) use context::{DB_NAME, DbConfig, Engine, NodeContext, Peer, Release, Secrets, address};
#[cfg(test)]
pub(crate) use dns::zone as dns_zone;
#[cfg(test)]
pub(crate) use dns::{Options as DnsOptions, View as DnsView};
pub(crate) use error::RoleError;
pub(crate) use fresh::{Step, first_setup};
pub(crate) use haproxy::Options as HaproxyOptions;
/// The fault that replaces the certificate is tested against certificates this script makes.
#[cfg(test)]
pub(crate) use haproxy::tls_script;
pub(crate) use haproxy::{
    ServerState, TLS_DIR, TLS_PEM, backends as haproxy_backends, server_status, set_server_state,
};
pub(crate) use monitor::alert_names;
pub(crate) use monitor::alerting::NOTIFICATIONS;
pub(crate) use options::OptionsInput;
pub(crate) use table::{Phase, def, front_door, front_door_by, page_urls, serving_ports};

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
    /// The release the node runs (its `current` link), for an app; read by the same command
    /// as the health check.
    pub(crate) release: Option<String>,
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
    for config in &ctx.roles {
        apply_role(config, &mut session, ctx, secrets).await?;
    }
    // In a lab with a monitor node, every node also runs the exporters for its roles.
    if monitor::watched(ctx) {
        monitor::apply_exporters(&mut session, ctx).await?;
    }
    Ok(session.into_report())
}

/// Every role of a node checked in one read-only script, run as root (see `probe`): whether
/// `apply` would find nothing to change. A caller may run it itself (`up` runs it in the
/// command that finds an already running node ready) and judge the output here.
pub(crate) struct Check(probe::Probe);

impl Check {
    /// The node's check; `None` when its roles cannot be checked in one pass (then only
    /// `apply` can tell).
    pub(crate) fn of(ctx: &NodeContext, secrets: &Secrets) -> Result<Option<Check>, RoleError> {
        let mut probes = ctx
            .roles
            .iter()
            .map(|config| probe_role(config, ctx, secrets))
            .collect::<Result<Vec<_>, _>>()?;
        if monitor::watched(ctx) {
            probes.push(monitor::exporters_probe(ctx)?);
        }
        Ok(probe::Probe::join(probes).map(Check))
    }

    /// The script, to run as root; its secrets are in `stdin`.
    pub(crate) fn script(&self) -> String {
        self.0.script()
    }

    pub(crate) fn stdin(&self) -> Option<&[u8]> {
        self.0.stdin()
    }

    /// Whether the script's output says every role is in place.
    pub(crate) fn in_place(&self, out: &crate::remote::Output) -> bool {
        out.success() && self.0.in_place(&out.stdout_str())
    }
}

/// Configures one node as `apply` does, but first checks every role in one round-trip, and
/// applies only when something is not in place: a no-change `up` costs one command per node.
pub(crate) async fn configure<R: Remote>(
    remote: &R,
    ctx: &NodeContext,
    secrets: &Secrets,
    overwrite_edits: bool,
    progress: &mut (dyn FnMut(&str) + Send + Sync),
) -> Result<NodeReport, RoleError> {
    if let Some(check) = Check::of(ctx, secrets)? {
        let mut session = Session::new(remote, &ctx.node, progress);
        session.say("checking every role in one pass");
        if check.0.run(&session).await? {
            return Ok(NodeReport::default());
        }
        session.say("something differs: checking role by role");
    }
    apply(remote, ctx, secrets, overwrite_edits, progress).await
}

/// Checks each role of the node. Never fails: a node that cannot be asked is reported unhealthy
/// with the reason.
pub(crate) async fn health<R: Remote>(remote: &R, ctx: &NodeContext) -> Vec<RoleHealth> {
    let mut quiet = |_: &str| {};
    let session = Session::new(remote, &ctx.node, &mut quiet);
    // Every role at once, each on a channel of its own: a node answers in one round trip.
    let checks = ctx.roles.iter().map(|config| {
        let session = &session;
        async move {
            health_role(config, session, ctx)
                .await
                .unwrap_or_else(|e| RoleHealth {
                    role: config.role(),
                    ok: false,
                    detail: match e {
                        RoleError::Remote { source, .. } => {
                            format!("cannot ask the node: {source}")
                        }
                        other => other.to_string(),
                    },
                    release: None,
                })
        }
    });
    futures::future::join_all(checks).await
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
