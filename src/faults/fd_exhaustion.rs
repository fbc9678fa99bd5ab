//! fd-exhaustion: the app's open-files limit (`LimitNOFILE` in a drop-in) is set just above
//! what the idle app holds. Every request takes a socket from the client and one to the
//! database; under load the app runs out of descriptors, and its answers and its journal say
//! "Too many open files" (or it stops accepting connections at all). The limit is read when
//! the process starts, so inject and revert restart the app.

use super::dropin::DropIn;
use super::params::ParamSpec;
use super::text::Fields;
use super::{Fault, FaultOps, Kind, Verdict};
use crate::spec::Role;
use serde::{Deserialize, Serialize};

pub(crate) const KIND: Kind = Kind {
    name: "fd-exhaustion",
    about: "The app's open-files limit is too low: under load it fails with \"Too many open files\"",
    params: &[ParamSpec {
        name: "limit",
        value: "N",
        help: "the app's open-files limit (default 8: the idle app holds 4, under 8 requests/s 11-17)",
    }],
    build: |p, node| {
        if !super::has_role(node, Role::App) {
            return Err(KIND.does_not_fit(
                node,
                "it limits the todo app's open files, and the node has no app role",
            ));
        }
        Ok(Fault::FdExhaustion(FdExhaustion {
            limit: p.number("limit", 8, 4, 1 << 20)?,
            dropin: DropIn::new(super::role_service(Role::App), "50-limits.conf"),
        }))
    },
};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct FdExhaustion {
    pub(crate) limit: u64,
    pub(crate) dropin: DropIn,
}

impl FaultOps for FdExhaustion {
    fn kind(&self) -> &'static str {
        KIND.name
    }

    fn summary(&self) -> String {
        format!("limit {} to {} open files", self.dropin.unit, self.limit)
    }

    fn prepare_script(&self) -> String {
        self.dropin.prepare_script()
    }

    fn prepared(&mut self, out: &Fields) -> Result<(), String> {
        self.dropin.prepared(out)
    }

    fn inject_script(&self) -> String {
        self.dropin.write_script(&format!(
            "# Cap descriptors per process.\n[Service]\nLimitNOFILE={}",
            self.limit
        )) + &self.dropin.restart_script()
    }

    /// The running process's own limit and how many descriptors it holds.
    fn verify_script(&self) -> String {
        let mut s = self.dropin.present_script();
        s += &self.dropin.cgroup_script();
        s += "echo \"main_pid=$main_pid\"\n";
        s += "if [ \"${main_pid:-0}\" != 0 ] && [ -r /proc/$main_pid/limits ]; then\n\
              \x20 echo \"soft=$(awk '/^Max open files/ {print $4}' /proc/$main_pid/limits)\"\n\
              \x20 echo \"open=$(ls /proc/$main_pid/fd | wc -l)\"\n\
              fi\n";
        s
    }

    fn verdict(&self, out: &Fields, _host_now: i64) -> Verdict {
        let soft = out.number::<u64>("soft").ok();
        let active = out.get("dropin") == Some("present") && soft == Some(self.limit);
        let unit = &self.dropin.unit;
        let pid = out.get("main_pid").unwrap_or("0");
        let open = out.get("open").unwrap_or("unknown");
        Verdict {
            active,
            detail: match soft {
                Some(soft) => {
                    format!("{unit} (PID {pid}) may open {soft} files and has {open} open")
                }
                None => format!("{unit} is not running"),
            },
        }
    }

    fn revert_script(&self, _host_now: Option<i64>) -> String {
        self.dropin.remove_script(&self.dropin.restart_script())
            + &self.dropin.start_if_down_script()
    }
}

#[cfg(test)]
#[path = "fd_exhaustion_tests.rs"]
mod tests;
