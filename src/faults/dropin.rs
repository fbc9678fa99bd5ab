//! What oom-loop, fd-exhaustion and slow-disk share: a systemd drop-in on a role's unit, as an
//! operator's `systemctl edit` would leave one. It is written only under a name that is free
//! (the prepare refuses otherwise), so revert removes a file firedrill created and nothing
//! else; the drop-in directory goes too when firedrill created it and it is empty again.

use super::text::Fields;
use super::var;
use serde::{Deserialize, Serialize};

const UNIT_DIR: &str = "/etc/systemd/system";

/// A drop-in file on a unit, and what revert needs to know about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct DropIn {
    /// e.g. `todo.service`.
    pub(crate) unit: String,
    /// The file's full path, e.g. `/etc/systemd/system/todo.service.d/50-memory.conf`.
    pub(crate) path: String,
    /// Whether the `<unit>.d` directory was there before (`None` until prepared).
    #[serde(default)]
    pub(crate) dir_existed: Option<bool>,
    /// Whether the unit was running before (`None` until prepared).
    #[serde(default)]
    pub(crate) was_active: Option<bool>,
}

impl DropIn {
    pub(crate) fn new(unit: &str, file: &str) -> DropIn {
        DropIn {
            unit: unit.to_string(),
            path: format!("{UNIT_DIR}/{unit}.d/{file}"),
            dir_existed: None,
            was_active: None,
        }
    }

    fn dir(&self) -> &str {
        self.path
            .rsplit_once('/')
            .map_or(self.path.as_str(), |(d, _)| d)
    }

    fn vars(&self) -> String {
        var("unit", &self.unit) + &var("dropin", &self.path) + &var("dir", self.dir())
    }

    /// Refuses (exit 3) an unknown unit or a drop-in name already taken; prints `dir=` and
    /// `active=` for `prepared`.
    pub(crate) fn prepare_script(&self) -> String {
        let mut s = self.vars();
        s += "if [ \"$(systemctl show -p LoadState --value \"$unit\")\" != loaded ]; then echo \"$unit is not installed on this node\" >&2; exit 3; fi\n\
              if [ -e \"$dropin\" ]; then echo \"$dropin exists already; firedrill will not replace it\" >&2; exit 3; fi\n\
              if [ -d \"$dir\" ]; then echo dir=existed; else echo dir=absent; fi\n\
              echo \"active=$(systemctl is-active \"$unit\" 2>/dev/null)\"\n";
        s
    }

    /// Keeps what revert needs; the unit must be running (the fault shows on a running one).
    pub(crate) fn prepared(&mut self, out: &Fields) -> Result<(), String> {
        self.dir_existed = Some(match out.need("dir")? {
            "existed" => true,
            "absent" => false,
            other => return Err(format!("`dir={other}` is neither existed nor absent")),
        });
        match out.get("active") {
            Some("active") => {
                self.was_active = Some(true);
                Ok(())
            }
            state => Err(format!(
                "{} is not running ({:?}); start it first",
                self.unit,
                state.unwrap_or_default()
            )),
        }
    }

    /// Writes `body` (atomically, root-owned, 0644) and reloads systemd, which applies cgroup
    /// settings (MemoryMax, IO limits) to the running unit at once.
    pub(crate) fn write_script(&self, body: &str) -> String {
        let mut s = String::from("set -e\n");
        s += &self.vars();
        s += &var("body", body);
        s += "mkdir -p \"$dir\"\n\
              tmp=$(mktemp \"$dir/.firedrill.XXXXXX\")\n\
              printf '%s\\n' \"$body\" > \"$tmp\"\n\
              chmod 644 \"$tmp\"\n\
              mv -f \"$tmp\" \"$dropin\"\n\
              systemctl daemon-reload\n";
        s
    }

    /// Removes the drop-in (if it is still there) and the directory if firedrill made it and
    /// it is empty, reloads systemd and runs `then` (only when it removed something, so a
    /// second revert changes nothing). Prints one line per change.
    pub(crate) fn remove_script(&self, then: &str) -> String {
        let mut s = String::from("set -e\n");
        s += &self.vars();
        s += "if [ -e \"$dropin\" ]; then\n\
              rm -f \"$dropin\"\n\
              echo \"removed $dropin\"\n";
        if self.dir_existed == Some(false) {
            s += "rmdir \"$dir\" 2>/dev/null || true\n";
        }
        s += "systemctl daemon-reload\n";
        s += then;
        s += "fi\n";
        s
    }

    /// Restarts the unit if it runs (or is restarting), so a setting read at start (a limit)
    /// takes effect; prints `restarted UNIT`.
    pub(crate) fn restart_script(&self) -> String {
        format!(
            "case \"$(systemctl is-active {u} 2>/dev/null)\" in\n\
             \x20 active|activating|reloading|failed) systemctl restart {u}; echo \"restarted {u}\" ;;\n\
             esac\n",
            u = self.unit
        )
    }

    /// Starts the unit again if it ran before the fault and is down now (killed too often in a
    /// row, systemd gives up: `start-limit-hit`); prints `started UNIT`.
    pub(crate) fn start_if_down_script(&self) -> String {
        if self.was_active != Some(true) {
            return String::new();
        }
        format!(
            "if ! systemctl is-active --quiet {u}; then systemctl reset-failed {u} 2>/dev/null || true; systemctl start {u}; echo \"started {u}\"; fi\n",
            u = self.unit
        )
    }

    /// Prints `dropin=present|absent`.
    pub(crate) fn present_script(&self) -> String {
        let mut s = var("dropin", &self.path);
        s += "if [ -e \"$dropin\" ]; then echo dropin=present; else echo dropin=absent; fi\n";
        s
    }

    /// Sets `cg` (the unit's directory under /sys/fs/cgroup) and `main_pid`.
    pub(crate) fn cgroup_script(&self) -> String {
        format!(
            "cg=/sys/fs/cgroup$(systemctl show -p ControlGroup --value {u})\n\
             main_pid=$(systemctl show -p MainPID --value {u})\n",
            u = self.unit
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::testing::sh;

    #[test]
    fn paths_and_prepared() {
        let mut d = DropIn::new("todo.service", "50-memory.conf");
        assert_eq!(d.path, "/etc/systemd/system/todo.service.d/50-memory.conf");
        assert_eq!(d.dir(), "/etc/systemd/system/todo.service.d");
        assert_eq!(
            d.prepared(&Fields::parse("dir=absent\nactive=inactive\n")),
            Err("todo.service is not running (\"inactive\"); start it first".into())
        );
        assert_eq!(
            d.prepared(&Fields::parse("active=active\n")),
            Err("the script printed no `dir=` line".into())
        );
        d.prepared(&Fields::parse("dir=absent\nactive=active\n"))
            .unwrap();
        assert_eq!(d.dir_existed, Some(false));
        assert!(d.remove_script("").contains("rmdir"));
        d.prepared(&Fields::parse("dir=existed\nactive=active\n"))
            .unwrap();
        assert!(!d.remove_script("").contains("rmdir"));
    }

    /// The scripts for real in a temporary directory standing in for /etc/systemd/system:
    /// the file is written with the body, a taken name is refused, and removal takes the file
    /// and the directory firedrill made, and leaves a directory that was there before.
    #[test]
    fn write_refuse_and_remove_on_a_real_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_str().unwrap();
        let mut d = DropIn::new("todo.service", "50-limits.conf");
        d.path = format!("{root}/todo.service.d/50-limits.conf");
        let stub = "systemctl() { case \"$1 $2\" in \"show -p\") echo loaded ;; \"is-active \"*) echo active ;; *) echo \"systemctl $*\" >&2 ;; esac; }\n";
        let run = |script: &str| sh(&format!("{stub}{script}"));

        let out = run(&d.prepare_script());
        assert!(out.success(), "{out:?}");
        d.prepared(&Fields::parse(&out.stdout_str())).unwrap();
        assert_eq!(d.dir_existed, Some(false));
        let out = run(&d.write_script("[Service]\nLimitNOFILE=12"));
        assert!(out.success(), "{out:?}");
        assert_eq!(
            std::fs::read_to_string(&d.path).unwrap(),
            "[Service]\nLimitNOFILE=12\n"
        );
        assert!(
            out.stderr_tail(20).contains("systemctl daemon-reload"),
            "{out:?}"
        );
        let again = run(&d.prepare_script());
        assert_eq!(again.status, 3, "{again:?}");
        assert!(
            again.stderr_tail(20).contains("exists already"),
            "{again:?}"
        );
        assert_eq!(
            Fields::parse(&run(&d.present_script()).stdout_str()).get("dropin"),
            Some("present")
        );
        let out = run(&d.remove_script(""));
        assert_eq!(out.stdout_str(), format!("removed {}\n", d.path));
        assert!(!std::path::Path::new(&format!("{root}/todo.service.d")).exists());
        assert_eq!(run(&d.remove_script("")).stdout_str(), "");

        // A directory that was there stays, with the learner's own file in it.
        std::fs::create_dir(format!("{root}/todo.service.d")).unwrap();
        std::fs::write(format!("{root}/todo.service.d/override.conf"), "x").unwrap();
        let out = run(&d.prepare_script());
        d.prepared(&Fields::parse(&out.stdout_str())).unwrap();
        assert_eq!(d.dir_existed, Some(true));
        assert!(run(&d.write_script("[Service]")).success());
        run(&d.remove_script(""));
        assert!(std::path::Path::new(&format!("{root}/todo.service.d/override.conf")).exists());
        assert!(!std::path::Path::new(&d.path).exists());
    }
}
