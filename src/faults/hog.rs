//! What memory-hog and cpu-hog share: a Python program run as a transient systemd unit (so it
//! outlives the SSH session) under a plausible process name, and stopping that unit.
//!
//! The program reaches python3 on stdin (StandardInputData), so `ps` shows only the
//! plausible command line (`exec -a` sets argv[0]); `prctl(PR_SET_NAME)` sets the short name
//! that `top` shows. Nothing is written to the node's disk.

use super::text::base64;
use crate::ssh::quote;

/// A long-lived process on the node.
pub(crate) struct Hog<'a> {
    /// The systemd unit, e.g. `backup-compress.service`.
    pub(crate) unit: &'a str,
    pub(crate) description: &'a str,
    /// The whole command line `ps` shows.
    pub(crate) title: &'a str,
    /// The short name `top` shows (at most 15 bytes).
    pub(crate) comm: &'a str,
    /// Extra `-p` properties for the unit.
    pub(crate) properties: &'a [&'a str],
    /// The Python program after the prctl line.
    pub(crate) program: &'a str,
}

impl Hog<'_> {
    /// The whole Python source.
    pub(crate) fn source(&self) -> String {
        format!(
            "import ctypes\nctypes.CDLL(None).prctl(15, b{:?}, 0, 0, 0)\n{}",
            self.comm, self.program
        )
    }

    /// Starts the unit. No `$` may appear in the command: systemd expands `$NAME` in ExecStart.
    pub(crate) fn start_script(&self) -> String {
        let mut props = String::new();
        for p in self.properties {
            props.push_str(&format!(" -p {}", quote(p)));
        }
        let exec = format!("exec -a {} /usr/bin/python3", quote(self.title));
        format!(
            "systemd-run --quiet --collect --unit={unit} --description={desc} --uid=nobody{props} \
             -p StandardInput=data -p StandardInputData={data} /bin/bash -c {exec}\n",
            unit = self.unit,
            desc = quote(self.description),
            data = base64(self.source().as_bytes()),
            exec = quote(&exec),
        )
    }
}

/// Refuses (exit 3) if a unit of that name is already loaded: it would not be ours.
pub(crate) fn check_script(unit: &str) -> String {
    format!(
        "if [ \"$(systemctl show -p LoadState --value {unit})\" = loaded ]; then \
         echo \"a unit {unit} already exists on this node; firedrill will not replace it\" >&2; exit 3; fi\n"
    )
}

/// Prints `state=` (systemctl is-active) and `tasks=` for the unit.
pub(crate) fn state_script(unit: &str) -> String {
    format!(
        "echo \"state=$(systemctl is-active {unit} 2>/dev/null)\"\n\
         echo \"tasks=$(systemctl show -p TasksCurrent --value {unit} 2>/dev/null)\"\n"
    )
}

/// Stops the unit if it runs; a unit already gone is fine (the node may have rebooted).
pub(crate) fn stop_script(unit: &str) -> String {
    format!(
        "case \"$(systemctl is-active {unit} 2>/dev/null)\" in\n\
         \x20 active|activating|reloading) systemctl stop {unit}; echo \"stopped {unit}\" ;;\n\
         esac\n\
         systemctl reset-failed {unit} 2>/dev/null || true\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOG: Hog = Hog {
        unit: "demo.service",
        description: "Demo job",
        title: "sleep 1000",
        comm: "sleep",
        properties: &["OOMScoreAdjust=300"],
        program: "import time\ntime.sleep(3)\n",
    };

    #[test]
    fn the_start_command_carries_no_dollar_and_the_program_only_as_data() {
        let s = HOG.start_script();
        assert_eq!(
            s,
            format!(
                "systemd-run --quiet --collect --unit=demo.service --description='Demo job' \
                 --uid=nobody -p OOMScoreAdjust=300 -p StandardInput=data -p StandardInputData={} /bin/bash -c \
                 'exec -a '\\''sleep 1000'\\'' /usr/bin/python3'\n",
                base64(HOG.source().as_bytes())
            )
        );
        assert!(!s.contains('$'), "{s}");
    }

    /// What systemd would run, run here: bash execs python3 with the plausible argv and the
    /// program on stdin; the process then shows that command line and short name.
    #[test]
    fn the_process_shows_the_plausible_name() {
        use std::io::Write;
        use std::process::{Command, Stdio};
        let mut child = Command::new("/bin/bash")
            .arg("-c")
            .arg(format!("exec -a {} /usr/bin/python3", quote(HOG.title)))
            .stdin(Stdio::piped())
            .spawn()
            .expect("bash");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(HOG.source().as_bytes())
            .expect("write program");
        let pid = child.id();
        // Python's start-up under a loaded host (niced beside TCG guests) took over 10 s once.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        let comm = loop {
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            if comm.trim() == "sleep" || std::time::Instant::now() > deadline {
                break comm;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        };
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(comm.trim(), "sleep");
        assert_eq!(String::from_utf8_lossy(&cmdline), "sleep 1000\0");
    }

    #[test]
    fn stop_and_state_scripts_parse_in_dash() {
        for s in [
            stop_script(HOG.unit),
            state_script(HOG.unit),
            check_script(HOG.unit),
        ] {
            let out = std::process::Command::new("dash")
                .args(["-n", "-c", &s])
                .output()
                .expect("dash");
            assert!(out.status.success(), "{s}: {out:?}");
        }
    }
}
