//! log-flood: a sync agent stuck in a retry loop writes the same warning to a plain log file
//! under /var/log as fast as the disk takes it, until the filesystem is full: another path to
//! disk-full's symptom, and one that comes back. The agent keeps the file open (O_APPEND) and
//! retries every second once the disk is full, so deleting the file frees nothing while it
//! runs, and truncating it only buys the time it takes to refill; the fix is to stop it.
//!
//! Bounded: it runs as `nobody`, so it stops at root's reserved blocks (root daemons, the
//! journal and SSH keep working while every other user gets ENOSPC), and `rate` can slow it
//! down. It runs as a transient unit (see `hog.rs`), under a plausible name. Revert stops the
//! unit and removes the log file it made, and only that file (by its inode).
//!
//! Services that do not run as root get ENOSPC too, as in production: on a single-server lab
//! MariaDB (user `mysql`) stopped while the disk was full, and its restart failed while its start
//! script could not write to /tmp (seen in the end-to-end test twice). Revert does not restart
//! what the full disk stopped; `up` does, as it does for any stopped role service.

use super::hog::{self, Hog};
use super::params::ParamSpec;
use super::text::Fields;
use super::{Fault, FaultOps, Kind, Verdict, mib, var};
use serde::{Deserialize, Serialize};

pub(crate) const KIND: Kind = Kind {
    name: "log-flood",
    about: "A chatty process fills /var/log with a log file until the disk is full",
    params: &[ParamSpec {
        name: "rate",
        value: "MiB/s",
        help: "how fast the log grows (default 0: as fast as the disk takes it)",
    }],
    build: |p, _node| {
        Ok(Fault::LogFlood(LogFlood {
            rate_mib: p.number("rate", 0, 0, 10_000)?,
            log: LOG.to_string(),
            inode: None,
        }))
    },
};

const UNIT: &str = "sync-agent.service";
const LOG: &str = "/var/log/sync-agent.log";

/// Free bytes (for ordinary users) that still count as full: the agent writes 1 MiB at a time
/// and the filesystem frees a little now and then.
const SLACK: u64 = 8 << 20;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct LogFlood {
    /// MiB per second; 0 is as fast as the disk takes it.
    pub(crate) rate_mib: u64,
    pub(crate) log: String,
    /// The log file's inode, once the inject made it.
    #[serde(default)]
    pub(crate) inode: Option<u64>,
}

/// The agent: the same warning, stamped once per 1 MiB written. A full disk (ENOSPC) makes it
/// wait a second and try again, holding the file open.
fn program(log: &str, rate_mib: u64) -> String {
    format!(
        "import datetime, os, time\n\
         fd = os.open({log:?}, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)\n\
         rate = {rate_mib} << 20\n\
         pid = os.getpid()\n\
         while True:\n\
         \x20   began = time.monotonic()\n\
         \x20   ts = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='milliseconds')\n\
         \x20   line = f'{{ts}} WARN sync-agent[{{pid}}]: upstream sync.internal:8443 unreachable (connection refused); retrying now\\n'.encode()\n\
         \x20   chunk = memoryview(line * ((1 << 20) // len(line)))\n\
         \x20   try:\n\
         \x20       while chunk:\n\
         \x20           chunk = chunk[os.write(fd, chunk):]\n\
         \x20   except OSError:\n\
         \x20       time.sleep(1)\n\
         \x20       continue\n\
         \x20   if rate:\n\
         \x20       time.sleep(max(0.0, (1 << 20) / rate - (time.monotonic() - began)))\n"
    )
}

/// Free bytes for ordinary users on the filesystem holding `$1`.
const AVAIL_FN: &str = "avail() { df -B1 --output=avail \"$1\" | tail -n 1 | tr -d ' '; }\n";

impl LogFlood {
    fn start_script(&self) -> String {
        Hog {
            unit: UNIT,
            description: "Sync agent",
            title: &format!(
                "/usr/local/bin/sync-agent --verbose --log-file {}",
                self.log
            ),
            comm: "sync-agent",
            properties: &[],
            program: &program(&self.log, self.rate_mib),
        }
        .start_script()
    }
}

impl FaultOps for LogFlood {
    fn kind(&self) -> &'static str {
        KIND.name
    }

    fn summary(&self) -> String {
        let speed = if self.rate_mib == 0 {
            "as fast as the disk takes it".to_string()
        } else {
            format!("at {} MiB/s", self.rate_mib)
        };
        format!("grow {} {speed} until the disk is full", self.log)
    }

    fn prepare_script(&self) -> String {
        let mut s = hog::check_script(UNIT);
        s += &var("f", &self.log);
        s += AVAIL_FN;
        s += "if [ -e \"$f\" ] || [ -L \"$f\" ]; then echo \"$f already exists, and firedrill only removes files it made\" >&2; exit 3; fi\n\
              echo \"mount=$(df --output=target \"$(dirname \"$f\")\" | tail -n 1)\"\n\
              echo \"avail=$(avail \"$(dirname \"$f\")\")\"\n";
        s
    }

    fn prepared(&mut self, out: &Fields) -> Result<(), String> {
        let avail: u64 = out.number("avail")?;
        if avail <= SLACK {
            return Err(format!(
                "only {} are free on {} already",
                mib(avail),
                out.get("mount").unwrap_or("/var/log")
            ));
        }
        Ok(())
    }

    fn inject_script(&self) -> String {
        let mut s = String::from("set -e\n");
        s += &var("f", &self.log);
        s += "if [ -e \"$f\" ] || [ -L \"$f\" ]; then echo \"$f appeared after firedrill checked; not touching it\" >&2; exit 3; fi\n\
              install -m 0640 -o nobody -g nogroup /dev/null \"$f\"\n\
              echo \"inode=$(stat -c %i \"$f\")\"\n";
        s += &self.start_script();
        s
    }

    fn injected(&mut self, out: &Fields) -> Result<(), String> {
        self.inode = Some(out.number("inode")?);
        Ok(())
    }

    fn verify_script(&self) -> String {
        let mut s = hog::state_script(UNIT);
        s += &var("f", &self.log);
        s += AVAIL_FN;
        s += "if [ -e \"$f\" ]; then echo \"size=$(stat -c %s \"$f\")\"; fi\n\
              echo \"avail=$(avail \"$(dirname \"$f\")\")\"\n";
        s
    }

    fn verdict(&self, out: &Fields, _host_now: i64) -> Verdict {
        let state = out.get("state").unwrap_or("unknown");
        let avail: Option<u64> = out.number("avail").ok();
        let full = avail.is_some_and(|a| a <= SLACK);
        let size = out.number::<u64>("size").map_or("gone".to_string(), mib);
        Verdict {
            active: state == "active" && full,
            detail: format!(
                "{UNIT} {state}; {} {size}; {} free",
                self.log,
                avail.map_or("unknown".to_string(), mib)
            ),
        }
    }

    /// Stops the agent first (a file still open keeps its blocks), then removes its log file
    /// and nothing else: not a file someone put at that path later.
    fn revert_script(&self, _host_now: Option<i64>) -> String {
        let mut s = hog::stop_script(UNIT);
        s += &var("f", &self.log);
        s += &format!(
            "ino={}\n",
            self.inode.map_or(String::new(), |i| i.to_string())
        );
        s += "if [ ! -e \"$f\" ] && [ ! -L \"$f\" ]; then :\n\
              elif [ -n \"$ino\" ] && [ \"$(stat -c %i \"$f\")\" != \"$ino\" ]; then\n\
              \x20 echo \"left $f: it is not the file firedrill made (another inode)\"\n\
              elif [ -z \"$ino\" ] && [ \"$(stat -c %U \"$f\")\" != nobody ]; then\n\
              \x20 echo \"left $f: firedrill did not make it (not owned by nobody)\"\n\
              else\n\
              \x20 rm -f \"$f\"\n\
              \x20 echo \"removed $f\"\n\
              fi\n";
        s
    }
}

#[cfg(test)]
#[path = "log_flood_tests.rs"]
mod tests;
