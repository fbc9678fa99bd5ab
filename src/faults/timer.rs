//! `--for`: a timer on the node that reverts the fault even if firedrill is gone by then.
//!
//! A timer written as unit files and enabled, so it survives a reboot of the node (a fault that
//! resets it, or the learner's own reboot): `OnActiveSec` counts on the monotonic clock from
//! when the timer starts (now, and again at every boot until it has run), so a stepped clock
//! (time-drift) does not move it. It is armed only once the fault is in place (an armed timer
//! whose fault failed would revert something that was never done). The service runs the
//! revert and then, whatever the revert's exit status, removes its own units: a failed revert
//! never leaves a unit that runs again at every boot. Records written by older versions may
//! name a transient timer (`across_reboot: false`); `disarm_script` still cancels those.
//!
//! The revert script reaches the service on stdin (StandardInputData / a file), never in
//! ExecStart: systemd expands `$NAME` in ExecStart arguments, which would mangle a shell
//! script.

use super::record::AutoRevert;
use super::text::rfc3339;
use crate::ssh::quote;
use std::time::{Duration, SystemTime};

/// The unit name on the node for fault `id`.
pub(crate) fn unit_name(id: &str) -> String {
    format!("fd-{id}-revert")
}

pub(crate) fn plan(id: &str, after_s: u64, on_host: bool) -> AutoRevert {
    let due = SystemTime::now() + Duration::from_secs(after_s);
    AutoRevert {
        after_s,
        unit: unit_name(id),
        due: rfc3339(due),
        due_unix: super::text::unix_now().saturating_add(i64::try_from(after_s).unwrap_or(0)),
        across_reboot: !on_host,
        on_host,
        pid: None,
    }
}

const UNIT_DIR: &str = "/etc/systemd/system";

/// Arms the timer. The revert script comes on stdin.
pub(crate) fn arm_script(plan: &AutoRevert, what: &str) -> String {
    let unit = &plan.unit;
    let description = format!("firedrill: revert fault {what}");
    if plan.on_host {
        // A detached sleeper on this host, marked with the unit name so that cancelling it
        // can make sure the PID is still the sleeper's. It prints its PID for the record.
        return format!(
            "script=$(cat)\n\
             setsid nohup sh -c \": {unit}; sleep {after}; $script\" </dev/null >/dev/null 2>&1 &\n\
             echo \"pid=$!\"\n",
            after = plan.after_s
        );
    }
    let service = format!(
        "[Unit]\nDescription={description}\n\n[Service]\nType=oneshot\nExecStart=/bin/sh {UNIT_DIR}/{unit}.sh\n"
    );
    let timer = format!(
        "[Unit]\nDescription={description}\n\n[Timer]\nOnActiveSec={}\nAccuracySec=1s\n\n[Install]\nWantedBy=timers.target\n",
        plan.after_s
    );
    // The revert runs in its own shell (an `exit` in it cannot skip the cleanup); then the
    // units go, whatever the revert's status, and that status is the service's.
    let runner = format!(
        "sh {UNIT_DIR}/{unit}.revert\nrc=$?\nsystemctl disable {unit}.timer\nrm -f {UNIT_DIR}/{unit}.service {UNIT_DIR}/{unit}.timer {UNIT_DIR}/{unit}.revert {UNIT_DIR}/{unit}.sh\nsystemctl daemon-reload\nexit $rc\n"
    );
    format!(
        "set -e\n\
         umask 022\n\
         cat > {UNIT_DIR}/{unit}.revert\n\
         printf '%s' {runner} > {UNIT_DIR}/{unit}.sh\n\
         printf '%s' {service} > {UNIT_DIR}/{unit}.service\n\
         printf '%s' {timer} > {UNIT_DIR}/{unit}.timer\n\
         systemctl daemon-reload\n\
         systemctl enable --now --quiet {unit}.timer\n\
         echo armed={unit}.timer\n",
        runner = quote(&runner),
        service = quote(&service),
        timer = quote(&timer),
    )
}

/// Cancels the timer if it is still there; prints a line only if it was.
pub(crate) fn disarm_script(plan: &AutoRevert) -> String {
    let unit = &plan.unit;
    if plan.on_host {
        let pid = plan.pid.map_or(String::new(), |p| p.to_string());
        return format!(
            "p={pid}\n\
             if [ -n \"$p\" ] && grep -qa {unit} /proc/$p/cmdline 2>/dev/null; then\n\
             \x20 kill $p\n\
             \x20 echo \"cancelled the revert timer (pid $p)\"\n\
             fi\n"
        );
    }
    if !plan.across_reboot {
        return format!(
            "if systemctl is-active --quiet {unit}.timer; then\n\
             \x20 systemctl stop {unit}.timer\n\
             \x20 echo \"cancelled the revert timer {unit}.timer\"\n\
             fi\n\
             systemctl reset-failed {unit}.service {unit}.timer 2>/dev/null || true\n"
        );
    }
    format!(
        "if [ -e {UNIT_DIR}/{unit}.timer ]; then\n\
         \x20 systemctl disable --now --quiet {unit}.timer 2>/dev/null || true\n\
         \x20 rm -f {UNIT_DIR}/{unit}.service {UNIT_DIR}/{unit}.timer {UNIT_DIR}/{unit}.sh {UNIT_DIR}/{unit}.revert\n\
         \x20 systemctl daemon-reload\n\
         \x20 echo \"cancelled the revert timer {unit}.timer\"\n\
         fi\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_due_time_is_after_seconds_from_now() {
        let p = plan("f1", 90, false);
        let now = super::super::text::unix_now();
        assert!((p.due_unix - now - 90).abs() <= 1, "{p:?}");
        assert!(p.due.ends_with('Z'));
    }

    /// The timer's files, written for real into a temp dir by the same printf lines; then the
    /// service's script is run with a revert that fails: the units still go.
    #[test]
    fn timer_units_are_well_formed_and_a_failed_revert_removes_them_too() {
        let p = plan("f2", 300, false);
        assert!(p.across_reboot);
        let s = arm_script(&p, "f2 (reboot-no-unit)");
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_str().unwrap();
        // Only the redirections point into the temp dir; systemctl is a no-op here.
        let local = format!(
            "systemctl() {{ :; }}\n{}",
            s.replace(&format!("> {UNIT_DIR}/"), &format!("> {dir}/"))
        );
        let mut child = std::process::Command::new("sh")
            .arg("-c")
            .arg(&local)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        {
            use std::io::Write;
            let mut input = child.stdin.take().unwrap();
            input.write_all(b"echo reverting; exit 7\n").unwrap();
        }
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{out:?}");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "armed=fd-f2-revert.timer\n"
        );
        let read = |n: &str| std::fs::read_to_string(tmp.path().join(n)).unwrap();
        assert_eq!(
            read("fd-f2-revert.timer"),
            "[Unit]\nDescription=firedrill: revert fault f2 (reboot-no-unit)\n\n[Timer]\n\
             OnActiveSec=300\nAccuracySec=1s\n\n[Install]\nWantedBy=timers.target\n"
        );
        assert_eq!(
            read("fd-f2-revert.service"),
            "[Unit]\nDescription=firedrill: revert fault f2 (reboot-no-unit)\n\n[Service]\n\
             Type=oneshot\nExecStart=/bin/sh /etc/systemd/system/fd-f2-revert.sh\n"
        );
        assert_eq!(read("fd-f2-revert.revert"), "echo reverting; exit 7\n");
        // The service's script, with the node's paths pointed at the temp dir.
        let runner = read("fd-f2-revert.sh").replace(&format!("{UNIT_DIR}/"), &format!("{dir}/"));
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("systemctl() {{ :; }}\n{runner}"))
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(7),
            "the revert's status is the service's"
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout), "reverting\n");
        let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
        assert!(
            left.is_empty(),
            "a failed revert leaves no unit behind: {left:?}"
        );
    }

    #[test]
    fn disarm_only_speaks_when_there_was_a_timer() {
        // A transient timer, as records of older versions name it.
        let mut old = plan("f1", 60, false);
        old.across_reboot = false;
        let s = disarm_script(&old);
        assert!(
            s.starts_with("if systemctl is-active --quiet fd-f1-revert.timer; then\n"),
            "{s}"
        );
        let s = disarm_script(&plan("f1", 60, false));
        assert!(
            s.starts_with("if [ -e /etc/systemd/system/fd-f1-revert.timer ]; then\n"),
            "{s}"
        );
        for s in [disarm_script(&old), disarm_script(&plan("f1", 60, false))] {
            let out = std::process::Command::new("sh")
                .arg("-n")
                .arg("-c")
                .arg(&s)
                .output()
                .unwrap();
            assert!(out.status.success(), "{s}: {out:?}");
        }
    }
}
