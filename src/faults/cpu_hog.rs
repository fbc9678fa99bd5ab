//! cpu-hog: a runaway "backup compressor" burns `workers` cores at 100%. It runs as a transient
//! unit, so it outlives the SSH session, and `top` shows it as `xz`.

use super::hog::{self, Hog};
use super::params::ParamSpec;
use super::text::Fields;
use super::{Fault, FaultOps, Kind, Verdict};
use serde::{Deserialize, Serialize};

pub(crate) const KIND: Kind = Kind {
    name: "cpu-hog",
    about: "A runaway backup compressor burns CPU: every answer gets slower",
    params: &[ParamSpec {
        name: "workers",
        value: "N",
        help: "cores to burn (default: all of the node's)",
    }],
    build: |p, node| {
        let cpus = u64::from(node.domain.cpus.max(1));
        Ok(Fault::CpuHog(CpuHog {
            workers: u32::try_from(p.number("workers", cpus, 1, 256)?).unwrap_or(1),
            started: false,
        }))
    },
};

const UNIT: &str = "backup-compress.service";

/// One busy process per worker: the first forks the others, and they share the unit's
/// cgroup, so stopping the unit stops them all.
fn program(workers: u32) -> String {
    format!(
        "import os\n\
         for _ in range({} - 1):\n\
         \x20   if os.fork() == 0:\n\
         \x20       break\n\
         while True:\n\
         \x20   pass\n",
        workers
    )
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct CpuHog {
    pub(crate) workers: u32,
    /// The unit was started (from the inject's output).
    #[serde(default)]
    pub(crate) started: bool,
}

impl CpuHog {
    fn start_script(&self) -> String {
        Hog {
            unit: UNIT,
            description: "Compress the nightly database backup",
            title: "xz -9 -T0 /var/backups/todo-db.sql",
            comm: "xz",
            properties: &[],
            program: &program(self.workers),
        }
        .start_script()
    }
}

impl FaultOps for CpuHog {
    fn kind(&self) -> &'static str {
        KIND.name
    }

    fn summary(&self) -> String {
        format!("burn {} core(s) at 100%", self.workers)
    }

    fn prepare_script(&self) -> String {
        let mut s = hog::check_script(UNIT);
        s += "echo \"cpus=$(nproc)\"\n";
        s
    }

    fn prepared(&mut self, out: &Fields) -> Result<(), String> {
        // More workers than cores only queue up; the symptom is the same, so it is allowed.
        let _cpus: u32 = out.number("cpus")?;
        Ok(())
    }

    fn inject_script(&self) -> String {
        let mut s = String::from("set -e\n");
        s += &self.start_script();
        s += "echo started=yes\n";
        s
    }

    fn injected(&mut self, out: &Fields) -> Result<(), String> {
        self.started = out.get("started") == Some("yes");
        Ok(())
    }

    fn verify_script(&self) -> String {
        hog::state_script(UNIT)
    }

    fn verdict(&self, out: &Fields, _host_now: i64) -> Verdict {
        let state = out.get("state").unwrap_or("unknown");
        let tasks = out.get("tasks").unwrap_or("?");
        Verdict {
            active: state == "active",
            detail: format!("{UNIT} {state} ({tasks} processes)"),
        }
    }

    fn revert_script(&self, _host_now: Option<i64>) -> String {
        hog::stop_script(UNIT)
    }
}

#[cfg(test)]
pub(crate) fn program_for_test(workers: u32) -> String {
    program(workers)
}

#[cfg(test)]
pub(crate) fn start_command(workers: u32) -> String {
    CpuHog {
        workers,
        started: false,
    }
    .start_script()
}

#[cfg(test)]
#[path = "cpu_hog_tests.rs"]
mod tests;
