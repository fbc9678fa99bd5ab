//! The monitor node's alerting: Alertmanager, which routes every alert Prometheus sends it to
//! firedrill's webhook receiver on the same node (`firedrill-pages`, whose notifications
//! `firedrill play` reads to deliver a level's page), and the blackbox exporter, which probes
//! the service's front door as a user would. All three are in the golden image (Debian's
//! `prometheus-alertmanager` and `prometheus-blackbox-exporter`; the receiver is python3),
//! disabled at boot; this role enables them. The blackbox exporter keeps Debian's
//! /etc/prometheus/blackbox.yml, whose `http_2xx` module the probe uses.

use super::defaults_file;
use crate::remote::Remote;
use crate::roles::context::NodeContext;
use crate::roles::error::RoleError;
use crate::roles::files::{self, ManagedFile};
use crate::roles::service::{self, OnChange, Service};
use crate::roles::session::Session;
use serde::Serialize;

pub(crate) const ALERTMANAGER_PORT: u16 = 9093;
pub(super) const BLACKBOX_PORT: u16 = 9115;
pub(super) const PAGES_PORT: u16 = 9095;
pub(super) const ALERTMANAGER: Service = Service::single("prometheus-alertmanager.service");
pub(super) const BLACKBOX: Service = Service::single("prometheus-blackbox-exporter.service");
pub(super) const PAGES: Service = Service::single("firedrill-pages.service");

pub(super) const CONFIG_PATH: &str = "/etc/prometheus/alertmanager.yml";
const DEFAULTS_PATH: &str = "/etc/default/prometheus-alertmanager";
const PAGES_SCRIPT_PATH: &str = "/usr/local/bin/firedrill-pages";
const PAGES_UNIT_PATH: &str = "/etc/systemd/system/firedrill-pages.service";
/// Where the receiver keeps each notification Alertmanager delivered, one JSON line each.
pub(crate) const NOTIFICATIONS: &str = "/var/lib/firedrill-pages/notifications.jsonl";

const CONFIG: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/templates/monitor/alertmanager.yml"
));
const PAGES_SCRIPT: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/templates/monitor/firedrill-pages.py"
));
const PAGES_UNIT: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/templates/monitor/firedrill-pages.service"
));

/// Checks Alertmanager's configuration as it will read it.
pub(super) const CHECK_SCRIPT: &str = "amtool check-config /etc/prometheus/alertmanager.yml";

/// Its state under /var/lib/prometheus (the package's); no cluster: one Alertmanager, and its
/// gossip port would otherwise look for a private address to announce.
const ALERTMANAGER_ARGS: &str = "ARGS='--config.file=/etc/prometheus/alertmanager.yml \
     --storage.path=/var/lib/prometheus/alertmanager --cluster.listen-address='\n";

// Indexes into `files()`.
const CONFIG_INDEX: usize = 0;
const DEFAULTS_INDEX: usize = 1;
const SCRIPT_INDEX: usize = 2;
const UNIT_INDEX: usize = 3;

pub(super) fn files() -> Vec<ManagedFile> {
    let file = |path: &str, contents: &str, mode: u32| ManagedFile {
        path: path.into(),
        contents: contents.into(),
        mode,
        owner: "root:root".into(),
    };
    vec![
        file(CONFIG_PATH, CONFIG, 0o644),
        defaults_file(DEFAULTS_PATH, "Alertmanager", ALERTMANAGER_ARGS),
        file(PAGES_SCRIPT_PATH, PAGES_SCRIPT, 0o755),
        file(PAGES_UNIT_PATH, PAGES_UNIT, 0o644),
    ]
}

pub(super) const SERVICES: [Service; 3] = [ALERTMANAGER, BLACKBOX, PAGES];

/// The blackbox probe of the lab's front door (`roles::front_door`: nginx, else haproxy, else
/// an app), as the `frontdoor` job of prometheus.yml renders it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct FrontDoor {
    /// What a user GETs: the todo list.
    pub(crate) url: String,
    /// The front door's node, as the series' `node` label.
    pub(crate) node: String,
    /// The blackbox exporter that probes it, on the monitor node.
    pub(crate) prober: String,
}

pub(crate) fn front_door(ctx: &NodeContext) -> Option<FrontDoor> {
    let (peer, port) = crate::roles::front_door_by(&ctx.peers, |p, role| {
        p.serves
            .iter()
            .find(|(r, _)| *r == role)
            .map(|(_, port)| *port)
    })?;
    let host = match port {
        80 => peer.ip.to_string(),
        p => format!("{}:{p}", peer.ip),
    };
    Some(FrontDoor {
        url: format!("http://{host}/todos"),
        node: peer.name.clone(),
        prober: format!("127.0.0.1:{BLACKBOX_PORT}"),
    })
}

/// The configuration (checked with amtool before Alertmanager reloads it), the receiver, and
/// the three services running.
pub(super) async fn apply<R: Remote>(session: &mut Session<'_, R>) -> Result<(), RoleError> {
    let files = files();
    let written = files::sync(session, "monitor: alerting files", &files).await?;
    if written[CONFIG_INDEX] {
        session
            .ok("monitor: amtool check-config", CHECK_SCRIPT, None)
            .await?;
    }
    if written[UNIT_INDEX] {
        session
            .ok("monitor: reload systemd", "systemctl daemon-reload", None)
            .await?;
    }
    let alertmanager = if written[DEFAULTS_INDEX] {
        Some(OnChange::Restart)
    } else {
        written[CONFIG_INDEX].then_some(OnChange::Reload)
    };
    service::ensure(session, "monitor: alertmanager", ALERTMANAGER, alertmanager).await?;
    service::ensure(session, "monitor: blackbox exporter", BLACKBOX, None).await?;
    let pages = (written[SCRIPT_INDEX] || written[UNIT_INDEX]).then_some(OnChange::Restart);
    service::ensure(session, "monitor: firedrill-pages", PAGES, pages).await
}
