//! oom-loop: a memory limit (`MemoryMax` in a drop-in, as a well-meant `systemctl edit` would
//! set it) on the app's unit, above what the idle app needs and below what it needs under
//! load. Under load the kernel's OOM killer kills the app inside its cgroup, systemd restarts
//! it (`Restart=on-failure`), the next burst kills it again. Revert removes the drop-in and
//! reloads systemd, which lifts the limit from the running unit.

use super::dropin::DropIn;
use super::params::ParamSpec;
use super::text::Fields;
use super::{Fault, FaultOps, Kind, Verdict};
use crate::spec::Role;
use serde::{Deserialize, Serialize};

pub(crate) const KIND: Kind = Kind {
    name: "oom-loop",
    about: "A memory limit on the app's unit: under load the kernel kills the app, systemd restarts it, again and again",
    params: &[ParamSpec {
        name: "max",
        value: "MiB",
        help: "the app's memory limit (default 18: the idle app needs 15-17, under 8 requests/s 21-23)",
    }],
    build: |p, node| {
        if !super::has_role(node, Role::App) {
            return Err(KIND.does_not_fit(
                node,
                "it limits the todo app's memory, and the node has no app role",
            ));
        }
        Ok(Fault::OomLoop(OomLoop {
            max_mib: p.number("max", 18, 8, 1 << 20)?,
            dropin: DropIn::new(super::role_service(Role::App), "50-memory.conf"),
        }))
    },
};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct OomLoop {
    pub(crate) max_mib: u64,
    pub(crate) dropin: DropIn,
}

impl OomLoop {
    fn body(&self) -> String {
        format!(
            "# Keep the app from starving the node.\n[Service]\nMemoryMax={}M",
            self.max_mib
        )
    }
}

impl FaultOps for OomLoop {
    fn kind(&self) -> &'static str {
        KIND.name
    }

    fn summary(&self) -> String {
        format!("limit {} to {} MiB", self.dropin.unit, self.max_mib)
    }

    fn prepare_script(&self) -> String {
        self.dropin.prepare_script()
    }

    fn prepared(&mut self, out: &Fields) -> Result<(), String> {
        self.dropin.prepared(out)
    }

    fn inject_script(&self) -> String {
        self.dropin.write_script(&self.body())
    }

    fn verify_script(&self) -> String {
        let u = &self.dropin.unit;
        let mut s = self.dropin.present_script();
        s += &format!(
            "echo \"memory_max=$(systemctl show -p MemoryMax --value {u})\"\n\
             echo \"restarts=$(systemctl show -p NRestarts --value {u})\"\n"
        );
        s
    }

    fn verdict(&self, out: &Fields, _host_now: i64) -> Verdict {
        let limit = out.number::<u64>("memory_max").ok();
        let active = out.get("dropin") == Some("present") && limit == Some(self.max_mib << 20);
        let unit = &self.dropin.unit;
        let restarts = out.get("restarts").unwrap_or("unknown");
        Verdict {
            active,
            detail: if active {
                format!(
                    "{unit} may use {} MiB; systemd restarted it {restarts} times",
                    self.max_mib
                )
            } else {
                format!(
                    "{unit} has no {} MiB limit (MemoryMax={})",
                    self.max_mib,
                    out.get("memory_max").unwrap_or("unknown")
                )
            },
        }
    }

    fn revert_script(&self, _host_now: Option<i64>) -> String {
        self.dropin.remove_script("") + &self.dropin.start_if_down_script()
    }
}

#[cfg(test)]
#[path = "oom_loop_tests.rs"]
mod tests;
