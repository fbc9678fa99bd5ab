//! memory-hog: a process allocates and touches memory until about `leave` MiB are available,
//! and holds it there, topping up when memory is freed. sshd is shielded from the OOM killer
//! for the duration (its processes' oom_score_adj go to -1000 and back on revert).

use super::hog::{self, Hog};
use super::params::ParamSpec;
use super::text::Fields;
use super::{Fault, FaultOps, Kind, Verdict};
use serde::{Deserialize, Serialize};

pub(crate) const KIND: Kind = Kind {
    name: "memory-hog",
    about: "A runaway process eats memory until little is left: the app slows, the OOM killer wakes",
    params: &[ParamSpec {
        name: "leave",
        value: "MiB",
        help: "memory left available (MemAvailable), default 48",
    }],
    build: |p, _node| {
        Ok(Fault::MemoryHog(MemoryHog {
            leave_mib: p.number("leave", 48, 0, 1 << 20)?,
            sshd: None,
        }))
    },
};

const UNIT: &str = "report-cache.service";

/// How close to the target counts as holding it.
const SLACK_MIB: u64 = 64;

/// The program: fill in 8 MiB steps (bytes objects written in full, so the pages are really
/// touched) until MemAvailable reaches the target, then keep it there.
fn program(leave_mib: u64) -> String {
    program_reading(leave_mib, "/proc/meminfo")
}

fn program_reading(leave_mib: u64, meminfo: &str) -> String {
    format!(
        "import time\n\
         LEAVE_KIB = {}\n\
         CHUNK = 8 << 20\n\
         held = []\n\
         def available_kib():\n\
         \x20   with open('{}') as f:\n\
         \x20       for line in f:\n\
         \x20           if line.startswith('MemAvailable:'):\n\
         \x20               return int(line.split()[1])\n\
         \x20   return 0\n\
         while True:\n\
         \x20   spare = (available_kib() - LEAVE_KIB) * 1024\n\
         \x20   if spare >= 1 << 20:\n\
         \x20       held.append(b'Z' * min(CHUNK, spare))\n\
         \x20   else:\n\
         \x20       time.sleep(1)\n",
        leave_mib * 1024,
        meminfo
    )
}

/// Waits (at most 3 minutes: a TCG guest fills slowly) until the hog has taken the memory, so
/// the fault is in effect when `apply` returns, as a level's clock assumes.
fn fill_wait(low_mib: u64) -> String {
    format!(
        "i=0\n\
         while [ \"$(awk '/^MemAvailable:/ {{print $2}}' /proc/meminfo)\" -gt {} ] && [ $i -lt 180 ]; do sleep 1; i=$((i + 1)); done\n",
        low_mib * 1024
    )
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SshdAdj {
    pub(crate) pid: u32,
    pub(crate) oom_score_adj: i32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct MemoryHog {
    pub(crate) leave_mib: u64,
    /// sshd's processes and their oom_score_adj before the fault.
    #[serde(default)]
    pub(crate) sshd: Option<Vec<SshdAdj>>,
}

impl MemoryHog {
    fn hog(&self, program: &str) -> String {
        Hog {
            unit: UNIT,
            description: "Report cache warm-up",
            title: "java -Xms256m -jar /opt/reports/report-cache.jar --warm",
            comm: "java",
            properties: &[],
            program,
        }
        .start_script()
    }
}

impl FaultOps for MemoryHog {
    fn kind(&self) -> &'static str {
        KIND.name
    }

    fn summary(&self) -> String {
        format!("hold memory until {} MiB are available", self.leave_mib)
    }

    fn prepare_script(&self) -> String {
        let mut s = hog::check_script(UNIT);
        s += "for p in $(pgrep -x sshd); do echo \"sshd=$p $(cat /proc/$p/oom_score_adj)\"; done\n";
        s += "echo \"available_kib=$(awk '/^MemAvailable:/ {print $2}' /proc/meminfo)\"\n";
        s
    }

    fn prepared(&mut self, out: &Fields) -> Result<(), String> {
        let mut sshd = Vec::new();
        for line in out.all("sshd") {
            let (pid, adj) = line
                .split_once(' ')
                .ok_or_else(|| format!("`sshd={line}` is not `PID ADJ`"))?;
            sshd.push(SshdAdj {
                pid: pid
                    .trim()
                    .parse()
                    .map_err(|_| format!("`sshd={line}`: bad PID"))?,
                oom_score_adj: adj
                    .trim()
                    .parse()
                    .map_err(|_| format!("`sshd={line}`: bad oom_score_adj"))?,
            });
        }
        let available: u64 = out.number("available_kib")?;
        if available / 1024 <= self.leave_mib {
            return Err(format!(
                "only {} MiB are available already, not more than the {} MiB to leave",
                available / 1024,
                self.leave_mib
            ));
        }
        self.sshd = Some(sshd);
        Ok(())
    }

    fn inject_script(&self) -> String {
        let mut s = String::from("set -e\n");
        for a in self.sshd.iter().flatten() {
            // Only if the PID is still sshd: PIDs are reused.
            s += &format!(
                "if [ \"$(cat /proc/{pid}/comm 2>/dev/null)\" = sshd ]; then echo -1000 > /proc/{pid}/oom_score_adj; fi\n",
                pid = a.pid
            );
        }
        s += &self.hog(&program(self.leave_mib));
        s += &fill_wait(self.leave_mib + SLACK_MIB);
        s
    }

    fn verify_script(&self) -> String {
        let mut s = hog::state_script(UNIT);
        s += "echo \"available_kib=$(awk '/^MemAvailable:/ {print $2}' /proc/meminfo)\"\n";
        s
    }

    fn verdict(&self, out: &Fields, _host_now: i64) -> Verdict {
        let running = out.get("state") == Some("active");
        let available = out.number::<u64>("available_kib").ok().map(|k| k / 1024);
        let low = available.is_some_and(|a| a <= self.leave_mib + SLACK_MIB);
        let avail_text = available.map_or("unknown".to_string(), |a| format!("{a} MiB"));
        Verdict {
            active: running && low,
            detail: format!(
                "{UNIT} {}; {avail_text} available",
                out.get("state").unwrap_or("unknown")
            ),
        }
    }

    fn revert_script(&self, _host_now: Option<i64>) -> String {
        let mut s = hog::stop_script(UNIT);
        for a in self.sshd.iter().flatten() {
            s += &format!(
                "if [ \"$(cat /proc/{pid}/comm 2>/dev/null)\" = sshd ] && [ \"$(cat /proc/{pid}/oom_score_adj)\" != {adj} ]; then \
                 echo {adj} > /proc/{pid}/oom_score_adj; echo \"restored oom_score_adj {adj} of sshd {pid}\"; fi\n",
                pid = a.pid,
                adj = a.oom_score_adj
            );
        }
        s
    }
}

/// For tests: the exact start command for a target.
#[cfg(test)]
pub(crate) fn start_command(leave_mib: u64) -> String {
    let f = MemoryHog {
        leave_mib,
        sshd: None,
    };
    f.hog(&program(leave_mib))
}

#[cfg(test)]
pub(crate) fn program_for_test(leave_mib: u64, meminfo: &str) -> String {
    program_reading(leave_mib, meminfo)
}

#[cfg(test)]
#[path = "memory_hog_tests.rs"]
mod tests;
