//! Faults: OS-level breakage injected into lab nodes on purpose, verified while it is on, and
//! reverted without a trace.
//!
//! A fault is recorded on the host (`<lab>/faults/<id>.json`, see `record`) *before* the node
//! changes, then gains what is needed to undo it, and only then becomes `active`; `revert` works
//! from that record alone (after a crash, after the node rebooted, twice in a row). The order of
//! steps lives in `engine`; what each kind does to a node lives in its own file, as shell
//! scripts run as root plus pure functions that read their output, so each kind is tested by
//! the exact commands it sends.
//!
//! Adding a kind: one file with its type (implementing `FaultOps`) and its `KIND`, its `mod`
//! line and one line in the `faults!` table below.

mod bad_permissions;
mod cert_expired;
mod clock_jump;
pub(crate) mod command;
mod cpu_hog;
mod db_lock;
mod db_password_rotated;
mod disk_full;
mod dns_broken;
mod dns_stale;
mod dns_view_order;
mod dns_wrong_record;
mod dropin;
mod engine;
mod error;
mod fd_exhaustion;
mod hog;
mod inode_exhaustion;
mod log_flood;
mod memory_hog;
mod missing_dir;
mod mtu_blackhole;
mod net_delay;
mod oom_loop;
pub(crate) mod params;
mod partition;
mod payload_limit;
mod process_freeze;
mod reboot_no_unit;
mod record;
mod revert;
mod route_missing;
mod service_stopped;
mod slow_disk;
pub(crate) mod status;
mod text;
mod time_drift;
mod timer;
mod zone_edit;

#[cfg(test)]
pub(crate) mod testing;

pub(crate) use command::{FaultCommand, Target, apply, run};
pub(crate) use error::FaultError;
pub(crate) use revert::{active, ensure_none_active, revert, revert_all_over};

use crate::plan::NodePlan;
use params::{ParamSpec, Params};
use serde::{Deserialize, Serialize};
use text::Fields;

/// The fault table: `Variant => module` per kind, in the order `fault list` shows them. Each
/// module (declared above, so that `cargo fmt` reaches it) defines the type `Variant`, which
/// implements `FaultOps`, and its `KIND`; the line adds the `Fault` variant, the `KINDS` entry
/// and the `Fault::ops` arm.
macro_rules! faults {
    ($($variant:ident => $module:ident),+ $(,)?) => {
        /// A fault and everything needed to undo it: the parameters it was applied with and,
        /// once known, the node's previous state. This is the typed part of a record.
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(tag = "kind", rename_all = "kebab-case")]
        pub(crate) enum Fault {
            $($variant($module::$variant)),+
        }

        /// Every kind, in the order `fault list` shows them.
        pub(crate) const KINDS: &[Kind] = &[$($module::KIND),+];

        impl Fault {
            /// The one dispatch from a fault to its kind's code.
            pub(crate) fn ops(&mut self) -> &mut dyn FaultOps {
                match self {
                    $(Fault::$variant(f) => f),+
                }
            }
        }
    };
}

faults! {
    DiskFull => disk_full,
    MemoryHog => memory_hog,
    CpuHog => cpu_hog,
    RebootNoUnit => reboot_no_unit,
    TimeDrift => time_drift,
    BadPermissions => bad_permissions,
    MissingDir => missing_dir,
    ServiceStopped => service_stopped,
    DbLock => db_lock,
    PayloadLimit => payload_limit,
    NetDelay => net_delay,
    ProcessFreeze => process_freeze,
    InodeExhaustion => inode_exhaustion,
    LogFlood => log_flood,
    ClockJump => clock_jump,
    OomLoop => oom_loop,
    FdExhaustion => fd_exhaustion,
    SlowDisk => slow_disk,
    DbPasswordRotated => db_password_rotated,
    Partition => partition,
    RouteMissing => route_missing,
    DnsBroken => dns_broken,
    DnsWrongRecord => dns_wrong_record,
    DnsStale => dns_stale,
    DnsViewOrder => dns_view_order,
    MtuBlackhole => mtu_blackhole,
    CertExpired => cert_expired,
}

/// A fault kind as `fault list` shows it and `fault apply` builds it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Kind {
    pub(crate) name: &'static str,
    pub(crate) about: &'static str,
    pub(crate) params: &'static [ParamSpec],
    /// Checks the parameters and that the kind fits the node; reads nothing from the node.
    pub(crate) build: fn(&Params, &NodePlan) -> Result<Fault, FaultError>,
}

impl Kind {
    pub(crate) fn find(name: &str) -> Result<&'static Kind, FaultError> {
        KINDS
            .iter()
            .find(|k| k.name == name)
            .ok_or_else(|| FaultError::UnknownKind {
                kind: name.to_string(),
                known: KINDS.iter().map(|k| k.name.to_string()).collect(),
            })
    }

    /// The fault for `node` with `given` parameters, or the usage error that says what is wrong.
    pub(crate) fn fault(
        &self,
        node: &NodePlan,
        given: &[(String, String)],
    ) -> Result<Fault, FaultError> {
        let params = Params::new(self.name, self.params, given)?;
        (self.build)(&params, node)
    }

    /// What `fault apply` would refuse about `given` on `node` as planned, known before the
    /// node exists: level validation asks this, so a level cannot name a fault that cannot apply.
    pub(crate) fn check_fit(
        &self,
        node: &NodePlan,
        given: &[(String, String)],
    ) -> Result<(), FaultError> {
        self.fault(node, given).map(|_| ())
    }

    pub(crate) fn does_not_fit(&self, node: &NodePlan, why: impl Into<String>) -> FaultError {
        FaultError::DoesNotFit {
            kind: self.name.to_string(),
            node: node.name.clone(),
            why: why.into(),
        }
    }
}

/// Whether a fault is still in effect on its node, as a cheap check there says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Verdict {
    pub(crate) active: bool,
    pub(crate) detail: String,
}

/// What a fault kind does to a node. Scripts run as root with `sh -c` and print `key=value`
/// lines that the other methods read; none of these methods does I/O itself.
pub(crate) trait FaultOps: Send + Sync {
    fn kind(&self) -> &'static str;

    /// One line for messages, e.g. "fill / until 0 MiB are free".
    fn summary(&self) -> String;

    /// Reads what `inject_script` will change and changes nothing. Exit status 3 with a
    /// message on stderr means the fault does not fit the node as it is.
    fn prepare_script(&self) -> String;

    /// Keeps the undo data from the prepare script's output; an error means the fault does not
    /// fit the node (nothing was changed).
    fn prepared(&mut self, out: &Fields) -> Result<(), String>;

    fn inject_script(&self) -> String;

    /// Keeps what only the inject knows (an inode, a PID); informational or for a more
    /// precise revert, never required by it.
    fn injected(&mut self, _out: &Fields) -> Result<(), String> {
        Ok(())
    }

    /// Whether the node is forcibly reset through libvirt right after `inject_script`.
    fn resets_node(&self) -> bool {
        false
    }

    /// Whether the scripts run on this host (on the host side of the node) instead of the node.
    fn on_host(&self) -> bool {
        false
    }

    fn verify_script(&self) -> String;

    /// Reads the verify script's output. `host_now` is this host's clock (Unix seconds).
    fn verdict(&self, out: &Fields, host_now: i64) -> Verdict;

    /// Undoes the fault using only what `prepared` kept. Safe to run twice, after a crash at
    /// any point of the inject, and after the node rebooted. It prints what it did, one line
    /// per change. `host_now` is this host's clock when firedrill runs it, `None` when the
    /// node's own timer does (`--for`).
    fn revert_script(&self, host_now: Option<i64>) -> String;
}

/// Prints `ssh_from=ADDR` for each SSH session on the node (firedrill's own among them), so a
/// network fault can refuse to cut the path it is reverted through.
const SSH_FROM: &str = "ss -Htn state established '( sport = :22 )' | awk '{ split($4, a, \":\"); print \"ssh_from=\" a[1] }'\n";

/// `name=value` for a script, with the value shell-quoted.
fn var(name: &str, value: &str) -> String {
    format!("{name}={}\n", crate::ssh::quote(value))
}

/// Sizes in messages.
fn mib(bytes: u64) -> String {
    let m = bytes as f64 / 1_048_576.0;
    if m >= 1024.0 {
        format!("{:.1} GiB", m / 1024.0)
    } else {
        format!("{m:.0} MiB")
    }
}

/// The systemd unit of each role's service, for faults that stop or watch one.
fn role_service(role: crate::spec::Role) -> &'static str {
    crate::roles::def(role).unit
}

fn has_role(node: &NodePlan, role: crate::spec::Role) -> bool {
    node.roles.contains(&role)
}

/// The `service` parameter of a kind that acts on one of the node's role services: the unit
/// named (`todo` or `todo.service`), which must be one of them, or `default`.
fn service_param(p: &params::Params, node: &NodePlan, default: &str) -> Result<String, FaultError> {
    let services: Vec<&'static str> = node.roles.iter().map(|r| role_service(*r)).collect();
    let Some(s) = p.get("service") else {
        return Ok(default.to_string());
    };
    let unit = if s.ends_with(".service") {
        s.to_string()
    } else {
        format!("{s}.service")
    };
    if !services.contains(&unit.as_str()) {
        return Err(p.bad(
            "service",
            format!("{} runs: {}", node.name, services.join(", ")),
        ));
    }
    Ok(unit)
}

#[cfg(test)]
mod tests {
    use super::testing::{build, node};
    use crate::spec::Role;

    /// Every script of every kind, before and after `prepared`, parses in dash (the node's
    /// /bin/sh), so a quoting slip cannot hide in a kind without a live test.
    #[test]
    fn every_script_of_every_kind_parses_in_dash() {
        let app = node("all", &[Role::App, Role::Haproxy, Role::Mysql]);
        type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
        let cases: &[Case] = &[
            (
                "disk-full",
                &[],
                "filler=/var/backups/todo-uploads.tar\navail=99999999999\n",
            ),
            (
                "disk-full",
                &[("path", "/srv/it's here.tar")],
                "filler=/srv/it's here.tar\navail=99999999999\n",
            ),
            (
                "memory-hog",
                &[],
                "sshd=1 0\nsshd=2 -17\navailable_kib=400000\n",
            ),
            ("cpu-hog", &[], "cpus=1\n"),
            ("reboot-no-unit", &[], "enabled=enabled\nactive=active\n"),
            (
                "time-drift",
                &[],
                "link=/usr/share/zoneinfo/Etc/UTC\ntimezone_file=Etc/UTC\ncurrent=+0000\nzone=Asia/Tokyo 0030+0900\n",
            ),
            (
                "time-drift",
                &[],
                "file=VFppZjIAAAA=\ncurrent=+0000\nzone=Asia/Tokyo 0030+0900\n",
            ),
            (
                "time-drift",
                &[],
                "absent=yes\ncurrent=+0000\nzone=Asia/Tokyo 0030+0900\n",
            ),
            (
                "time-drift",
                &[("mode", "clock")],
                "sync=chrony.service active\nnow=1700000000\n",
            ),
            (
                "bad-permissions",
                &[("target", "config")],
                "perm=640 root todo\naccess=yes\napp=active\n",
            ),
            ("missing-dir", &[], "perm=755 todo todo\ndev=1 1\n"),
            ("service-stopped", &[], "active=active\n"),
            ("db-lock", &[], "pending=0\nrows=3\n"),
            ("payload-limit", &[("max", "1024")], "active=active\n"),
            (
                "net-delay",
                &[("loss", "5")],
                "tap=vnet3\nqdisc=qdisc noqueue 0: root\n",
            ),
            ("process-freeze", &[], "main=812\nproc=812 4711 S\n"),
            ("inode-exhaustion", &[], "perm=755 todo todo\n"),
            ("log-flood", &[("rate", "5")], "mount=/\navail=6442450944\n"),
            (
                "clock-jump",
                &[],
                "sync=chrony.service active\nnow=1700000000\n",
            ),
            ("oom-loop", &[], "dir=absent\nactive=active\n"),
            ("fd-exhaustion", &[], "dir=existed\nactive=active\n"),
            (
                "slow-disk",
                &[],
                "dir=absent\nactive=active\ndevice=/dev/vda\nmajmin=254:0\n",
            ),
            (
                "db-password-rotated",
                &[],
                "host=10.0.0.0/255.255.255.0\nplugin=mysql_native_password\nbefore=0123456789abcdef\n",
            ),
            (
                "partition",
                &[("peer", "db"), ("port", "3306")],
                "peer_ip=10.78.0.20\nssh_from=10.78.0.1\n",
            ),
            (
                "route-missing",
                &[("to", "10.90.0.0/24")],
                "route=10.90.0.0/24 via 10.78.0.2 dev ens3 proto static\nconnected=10.78.0.0/24\nssh_from=10.78.0.1\n",
            ),
            ("dns-broken", &[], "link=../run/resolvconf/resolv.conf\n"),
            ("dns-broken", &[], "file=bmFtZXNlcnZlciAxMC43OC4wLjEK\n"),
            ("mtu-blackhole", &[], "ready=yes\n"),
            (
                "cert-expired",
                &[],
                "sha=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n",
            ),
        ];
        let parses = |what: &str, script: &str| {
            let out = std::process::Command::new("dash")
                .args(["-n", "-c", script])
                .output()
                .expect("dash");
            assert!(out.status.success(), "{what}:\n{script}\n{out:?}");
        };
        for (kind, params, prepared) in cases {
            let mut fault = build(kind, &app, params).unwrap();
            let ops = fault.ops();
            parses(kind, &ops.prepare_script());
            parses(kind, &ops.revert_script(Some(1)));
            ops.prepared(&super::text::Fields::parse(prepared))
                .unwrap_or_else(|e| panic!("{kind}: {e}"));
            for script in [
                ops.inject_script(),
                ops.verify_script(),
                ops.revert_script(Some(1_700_000_000)),
                ops.revert_script(None),
            ] {
                parses(kind, &script);
            }
        }
    }
}
