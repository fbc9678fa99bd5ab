//! `--for`: a timer on the node that reverts the fault even if firedrill is gone by then.
//!
//! Usually a transient systemd timer (`systemd-run --on-active`): it counts on the monotonic
//! clock, so a stepped clock (time-drift) does not move it, and it disappears once it has run.
//! A fault that resets the node would lose a transient timer, so for those the timer is written
//! as unit files, enabled but not started: it starts at the next boot and fires `after` seconds
//! into it.
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

pub(crate) fn plan(id: &str, after_s: u64, across_reboot: bool, on_host: bool) -> AutoRevert {
    let due = SystemTime::now() + Duration::from_secs(after_s);
    AutoRevert {
        after_s,
        unit: unit_name(id),
        due: rfc3339(due),
        due_unix: super::text::unix_now().saturating_add(i64::try_from(after_s).unwrap_or(0)),
        across_reboot,
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
    if !plan.across_reboot {
        // stdin of this script becomes the service's stdin data, read by /bin/sh.
        return format!(
            "set -e\n\
             data=$(base64 -w0)\n\
             systemd-run --quiet --collect --unit={unit} --description={desc} \
             --on-active={after} --timer-property=AccuracySec=1s \
             --timer-property=RemainAfterElapse=no \
             -p StandardInput=data -p StandardInputData=\"$data\" /bin/sh\n\
             echo armed={unit}.timer\n",
            desc = quote(&description),
            after = plan.after_s,
        );
    }
    let service = format!(
        "[Unit]\nDescription={description}\n\n[Service]\nType=oneshot\nExecStart=/bin/sh {UNIT_DIR}/{unit}.sh\n"
    );
    let timer = format!(
        "[Unit]\nDescription={description}\n\n[Timer]\nOnBootSec={}\nAccuracySec=1s\n\n[Install]\nWantedBy=timers.target\n",
        plan.after_s
    );
    // The script removes its own units once the revert has run.
    let cleanup = format!(
        "systemctl disable {unit}.timer\nrm -f {UNIT_DIR}/{unit}.service {UNIT_DIR}/{unit}.timer {UNIT_DIR}/{unit}.sh\nsystemctl daemon-reload\n"
    );
    format!(
        "set -e\n\
         umask 022\n\
         cat > {UNIT_DIR}/{unit}.sh\n\
         printf '%s' {cleanup} >> {UNIT_DIR}/{unit}.sh\n\
         printf '%s' {service} > {UNIT_DIR}/{unit}.service\n\
         printf '%s' {timer} > {UNIT_DIR}/{unit}.timer\n\
         systemctl daemon-reload\n\
         systemctl enable --quiet {unit}.timer\n\
         echo armed={unit}.timer\n",
        cleanup = quote(&cleanup),
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
         \x20 rm -f {UNIT_DIR}/{unit}.service {UNIT_DIR}/{unit}.timer {UNIT_DIR}/{unit}.sh\n\
         \x20 systemctl daemon-reload\n\
         \x20 echo \"cancelled the revert timer {unit}.timer\"\n\
         fi\n"
    )
}

/// The data `arm_script` hands to systemd, for tests: what the service will run.
#[cfg(test)]
pub(crate) fn stdin_data(script: &str) -> String {
    super::text::base64(script.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_timer_reads_the_script_from_stdin() {
        let p = plan("f3", 600, false, false);
        assert_eq!(p.unit, "fd-f3-revert");
        assert!(!p.across_reboot);
        let s = arm_script(&p, "f3 (cpu-hog)");
        assert_eq!(
            s,
            "set -e\ndata=$(base64 -w0)\nsystemd-run --quiet --collect --unit=fd-f3-revert \
             --description='firedrill: revert fault f3 (cpu-hog)' --on-active=600 \
             --timer-property=AccuracySec=1s --timer-property=RemainAfterElapse=no \
             -p StandardInput=data -p StandardInputData=\"$data\" /bin/sh\necho armed=fd-f3-revert.timer\n"
        );
        assert_eq!(stdin_data("echo hi\n"), "ZWNobyBoaQo=");
    }

    #[test]
    fn the_due_time_is_after_seconds_from_now() {
        let p = plan("f1", 90, false, false);
        let now = super::super::text::unix_now();
        assert!((p.due_unix - now - 90).abs() <= 1, "{p:?}");
        assert!(p.due.ends_with('Z'));
    }

    /// The boot timer's files, written for real into a temp dir by the same printf lines.
    #[test]
    fn boot_timer_units_are_well_formed() {
        let p = plan("f2", 300, true, false);
        let s = arm_script(&p, "f2 (reboot-no-unit)");
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_str().unwrap();
        // Only the redirections point into the temp dir; systemctl is a no-op here.
        let local = format!(
            "systemctl() {{ :; }}\n{}",
            s.replace(&format!("> {UNIT_DIR}/"), &format!("> {dir}/"))
        );
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(&local)
            .stdin(std::fs::File::open("/dev/null").unwrap())
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "armed=fd-f2-revert.timer\n"
        );
        let read = |n: &str| std::fs::read_to_string(tmp.path().join(n)).unwrap();
        assert_eq!(
            read("fd-f2-revert.timer"),
            "[Unit]\nDescription=firedrill: revert fault f2 (reboot-no-unit)\n\n[Timer]\n\
             OnBootSec=300\nAccuracySec=1s\n\n[Install]\nWantedBy=timers.target\n"
        );
        assert_eq!(
            read("fd-f2-revert.service"),
            "[Unit]\nDescription=firedrill: revert fault f2 (reboot-no-unit)\n\n[Service]\n\
             Type=oneshot\nExecStart=/bin/sh /etc/systemd/system/fd-f2-revert.sh\n"
        );
        assert_eq!(
            read("fd-f2-revert.sh"),
            "systemctl disable fd-f2-revert.timer\nrm -f /etc/systemd/system/fd-f2-revert.service \
             /etc/systemd/system/fd-f2-revert.timer /etc/systemd/system/fd-f2-revert.sh\n\
             systemctl daemon-reload\n"
        );
    }

    #[test]
    fn disarm_only_speaks_when_there_was_a_timer() {
        let s = disarm_script(&plan("f1", 60, false, false));
        assert!(
            s.starts_with("if systemctl is-active --quiet fd-f1-revert.timer; then\n"),
            "{s}"
        );
        let s = disarm_script(&plan("f1", 60, true, false));
        assert!(
            s.starts_with("if [ -e /etc/systemd/system/fd-f1-revert.timer ]; then\n"),
            "{s}"
        );
        for s in [
            disarm_script(&plan("f1", 60, false, false)),
            disarm_script(&plan("f1", 60, true, false)),
        ] {
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
