//! process-freeze: a role's service is stopped with SIGSTOP, as a Ctrl-Z in a forgotten
//! terminal or a debugger left attached would. systemd still says "active (running)" and the
//! kernel still accepts connections into the listen backlog, but nothing answers: requests time
//! out instead of being refused. Every process of the unit is stopped (its main process first),
//! so a master-worker service (haproxy, nginx) hangs too.
//!
//! Each process is recorded with its start time, so a PID that the kernel gave to another
//! process after a restart is never signalled. Revert resumes (SIGCONT) exactly the processes
//! that are still the ones stopped; `systemctl restart` (SIGTERM, then SIGCONT) is the
//! learner's fix and leaves the revert nothing to do.

use super::params::ParamSpec;
use super::text::Fields;
use super::{Fault, FaultOps, Kind, Verdict};
use crate::spec::Role;
use serde::{Deserialize, Serialize};

pub(crate) const KIND: Kind = Kind {
    name: "process-freeze",
    about: "A service's processes are stopped (SIGSTOP): systemd says running, nothing answers",
    params: &[ParamSpec {
        name: "service",
        value: "UNIT",
        help: "which of the node's role services (default: the app's, else its first role's)",
    }],
    build: |p, node| {
        let services: Vec<&'static str> =
            node.roles.iter().map(|r| super::role_service(*r)).collect();
        let default = if super::has_role(node, Role::App) {
            Some(super::role_service(Role::App))
        } else {
            services.first().copied()
        };
        let Some(default) = default else {
            return Err(KIND.does_not_fit(node, "the node has no role, so no service to freeze"));
        };
        let service = super::service_param(p, node, default)?;
        Ok(Fault::ProcessFreeze(ProcessFreeze {
            service,
            processes: None,
        }))
    },
};

/// A process as it was when it was stopped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Proc {
    pub(crate) pid: u32,
    /// Field 22 of /proc/PID/stat (clock ticks after boot): with the PID, names one process.
    pub(crate) start: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ProcessFreeze {
    pub(crate) service: String,
    /// The unit's processes, the main one first; `None` until the node was read.
    #[serde(default)]
    pub(crate) processes: Option<Vec<Proc>>,
}

/// `look PID` sets `$state` and `$start` of a process (empty when it is gone). The fields
/// after the `)` that closes the command name: state is the 1st, starttime the 20th.
const LOOK_FN: &str = "look() { state=; start=; st=$(cat /proc/$1/stat 2>/dev/null) || return 0; \
    set -- ${st##*) }; state=$1; start=${20}; }\n";

impl ProcessFreeze {
    fn procs(&self) -> &[Proc] {
        self.processes.as_deref().unwrap_or_default()
    }

    /// `each PID START` for every recorded process, after the function `each` is defined.
    fn each_line(&self) -> String {
        self.procs()
            .iter()
            .map(|p| format!("each {} {}\n", p.pid, p.start))
            .collect()
    }
}

impl FaultOps for ProcessFreeze {
    fn kind(&self) -> &'static str {
        KIND.name
    }

    fn summary(&self) -> String {
        format!("stop {}'s processes with SIGSTOP", self.service)
    }

    /// Prints `main=` and a `proc=PID START STATE` line per process of the unit's cgroup.
    fn prepare_script(&self) -> String {
        let u = &self.service;
        let mut s = format!(
            "u={u}\n\
             if [ \"$(systemctl is-active $u 2>/dev/null)\" != active ]; then echo \"$u is not running, so there is nothing to freeze\" >&2; exit 3; fi\n\
             echo \"main=$(systemctl show -p MainPID --value $u)\"\n\
             cg=$(systemctl show -p ControlGroup --value $u)\n"
        );
        s += LOOK_FN;
        s += "for p in $(cat \"/sys/fs/cgroup$cg/cgroup.procs\" 2>/dev/null); do\n\
              \x20 look $p; [ -n \"$start\" ] && echo \"proc=$p $start $state\"\n\
              done\n";
        s
    }

    fn prepared(&mut self, out: &Fields) -> Result<(), String> {
        let main: u32 = out.number("main")?;
        let mut procs = Vec::new();
        for line in out.all("proc") {
            let parts: Vec<&str> = line.split_whitespace().collect();
            let [pid, start, state] = parts.as_slice() else {
                return Err(format!("`{line}` is not `PID START STATE`"));
            };
            let pid: u32 = pid.parse().map_err(|_| format!("bad PID in `{line}`"))?;
            let start: u64 = start
                .parse()
                .map_err(|_| format!("bad start time in `{line}`"))?;
            if matches!(*state, "T" | "t") {
                return Err(format!(
                    "{} (pid {pid}) is already stopped (state {state}); firedrill only resumes what it stopped",
                    self.service
                ));
            }
            procs.push(Proc { pid, start });
        }
        let Some(at) = procs.iter().position(|p| p.pid == main) else {
            return Err(format!(
                "systemd names no running main process of {} (MainPID={main})",
                self.service
            ));
        };
        let first = procs.remove(at);
        procs.insert(0, first);
        self.processes = Some(procs);
        Ok(())
    }

    fn inject_script(&self) -> String {
        let mut s = String::from(LOOK_FN);
        s += "each() { look $1; if [ \"$start\" = \"$2\" ]; then kill -STOP $1 && echo \"stopped=$1\"; fi; }\n";
        s += &self.each_line();
        // A stop takes effect when the process is next scheduled: wait for the main one.
        if let Some(main) = self.procs().first() {
            s += &format!(
                "for i in 1 2 3 4 5 6 7 8 9 10; do look {}; [ \"$state\" = T ] && break; sleep 0.5; done\n\
                 echo \"state=$state\"\n",
                main.pid
            );
        }
        s
    }

    fn verify_script(&self) -> String {
        let mut s = String::from(LOOK_FN);
        s += "each() { look $1; if [ \"$start\" = \"$2\" ]; then echo \"proc=$1 $state\"; else echo \"proc=$1 gone\"; fi; }\n";
        s += &self.each_line();
        s += &format!(
            "echo \"active=$(systemctl is-active {} 2>/dev/null)\"\n",
            self.service
        );
        s
    }

    fn verdict(&self, out: &Fields, _host_now: i64) -> Verdict {
        let procs = out.all("proc");
        let stopped = procs.iter().filter(|l| l.ends_with(" T")).count();
        let main = self.procs().first().map(|p| p.pid);
        let main_state = main.and_then(|pid| {
            let prefix = format!("{pid} ");
            procs
                .iter()
                .find_map(|l| l.strip_prefix(prefix.as_str()).map(str::to_string))
        });
        let systemd = out.get("active").unwrap_or("unknown");
        let main_text = match (main, main_state.as_deref()) {
            (Some(pid), Some("gone")) => format!("main process {pid} is gone"),
            (Some(pid), Some(state)) => format!("main process {pid} in state {state}"),
            _ => "no main process recorded".to_string(),
        };
        Verdict {
            active: main_state.as_deref() == Some("T"),
            detail: format!(
                "{}: {main_text}, {stopped} of {} processes stopped; systemd says {systemd}",
                self.service,
                self.procs().len()
            ),
        }
    }

    fn revert_script(&self, _host_now: Option<i64>) -> String {
        if self.procs().is_empty() {
            return "echo 'no process was stopped'\n".to_string();
        }
        let mut s = String::from(LOOK_FN);
        s += &format!(
            "each() {{ look $1; if [ \"$start\" = \"$2\" ] && [ \"$state\" = T ]; then kill -CONT $1 && echo \"resumed {} process $1\"; fi; }}\n",
            self.service
        );
        s += &self.each_line();
        s
    }
}

#[cfg(test)]
#[path = "process_freeze_tests.rs"]
mod tests;
