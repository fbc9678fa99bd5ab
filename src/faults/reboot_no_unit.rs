//! reboot-no-unit: the app is left running from a manual start (nohup) with its systemd unit
//! disabled, then the node is forcibly reset through libvirt. It comes back without the app,
//! and haproxy marks it DOWN. Solved means the unit is enabled again.

use super::params::ParamSpec;
use super::text::Fields;
use super::{Fault, FaultOps, Kind, Verdict};
use crate::spec::Role;
use serde::{Deserialize, Serialize};

pub(crate) const KIND: Kind = Kind {
    name: "reboot-no-unit",
    about: "The app runs from a manual nohup start with its unit disabled; then the node is reset",
    params: &[] as &[ParamSpec],
    build: |_p, node| {
        let Some(port) = node.app_port.filter(|_| super::has_role(node, Role::App)) else {
            return Err(KIND.does_not_fit(
                node,
                "it disables the todo app's unit, and the node has no app role",
            ));
        };
        Ok(Fault::RebootNoUnit(RebootNoUnit {
            port,
            was_active: None,
            pid: None,
        }))
    },
};

const UNIT: &str = "todo.service";

/// The manually started app's processes: the todo user's app.py outside the unit's cgroup.
const MANUAL_FN: &str = "manual() { for p in $(pgrep -u todo -f /opt/todo/app.py); do \
    grep -q todo.service /proc/$p/cgroup 2>/dev/null || echo $p; done; }\n";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct RebootNoUnit {
    pub(crate) port: u16,
    /// Whether todo.service was running before (it was enabled: the fault requires it).
    #[serde(default)]
    pub(crate) was_active: Option<bool>,
    /// The manually started app, until the reset.
    #[serde(default)]
    pub(crate) pid: Option<u32>,
}

impl FaultOps for RebootNoUnit {
    fn kind(&self) -> &'static str {
        KIND.name
    }

    fn summary(&self) -> String {
        format!("start the app by hand, disable {UNIT}, reset the node")
    }

    fn prepare_script(&self) -> String {
        format!(
            "echo \"enabled=$(systemctl is-enabled {UNIT} 2>/dev/null)\"\n\
             echo \"active=$(systemctl is-active {UNIT} 2>/dev/null)\"\n"
        )
    }

    fn prepared(&mut self, out: &Fields) -> Result<(), String> {
        let enabled = out.get("enabled").unwrap_or_default();
        if enabled != "enabled" {
            return Err(format!(
                "{UNIT} is not enabled (systemctl is-enabled says {enabled:?}), so there is nothing to break: \
                 enable it, or revert the fault that disabled it"
            ));
        }
        self.was_active = Some(out.get("active") == Some("active"));
        Ok(())
    }

    /// Disabling and the manual start happen before the reset, as an admin's would; `sync`
    /// makes sure the disabled unit is on disk when the power goes.
    fn inject_script(&self) -> String {
        format!(
            "set -e\n\
             systemctl disable --now --quiet {UNIT}\n\
             cd /var/lib/todo\n\
             setsid setpriv --reuid=todo --regid=todo --init-groups nohup /usr/bin/python3 /opt/todo/app.py \
             </dev/null >/dev/null 2>&1 &\n\
             echo \"pid=$!\"\n\
             i=0\n\
             while [ $i -lt 50 ] && ! curl -s -o /dev/null --max-time 1 http://127.0.0.1:{port}/healthz; do sleep 0.2; i=$((i + 1)); done\n\
             sync\n",
            port = self.port
        )
    }

    fn injected(&mut self, out: &Fields) -> Result<(), String> {
        self.pid = Some(out.number("pid")?);
        Ok(())
    }

    fn resets_node(&self) -> bool {
        true
    }

    fn verify_script(&self) -> String {
        format!(
            "{MANUAL_FN}\
             echo \"enabled=$(systemctl is-enabled {UNIT} 2>/dev/null)\"\n\
             echo \"active=$(systemctl is-active {UNIT} 2>/dev/null)\"\n\
             echo \"manual=$(manual | tr '\\n' ' ')\"\n\
             echo \"uptime=$(cut -d ' ' -f 1 /proc/uptime)\"\n"
        )
    }

    fn verdict(&self, out: &Fields, _host_now: i64) -> Verdict {
        let enabled = out.get("enabled").unwrap_or("unknown");
        let manual = out.get("manual").unwrap_or_default().trim();
        let app = if out.get("active") == Some("active") {
            format!("{UNIT} running")
        } else if !manual.is_empty() {
            format!("app running from a manual start (pid {manual})")
        } else {
            "app not running".to_string()
        };
        let uptime = out
            .get("uptime")
            .and_then(|u| u.trim().parse::<f64>().ok())
            .map_or(String::new(), |u| format!("; node up {u:.0}s"));
        Verdict {
            active: enabled != "enabled",
            detail: format!("{UNIT} {enabled}; {app}{uptime}"),
        }
    }

    /// Stops a manual start (it would hold the port), then enables and starts the unit.
    fn revert_script(&self, _host_now: Option<i64>) -> String {
        let mut s = String::from("set -e\n");
        s += MANUAL_FN;
        s += "for p in $(manual); do kill $p 2>/dev/null && echo \"stopped the manually started app (pid $p)\" || true; done\n\
              i=0\n\
              while [ $i -lt 50 ] && [ -n \"$(manual)\" ]; do sleep 0.1; i=$((i + 1)); done\n";
        s += &format!(
            "if [ \"$(systemctl is-enabled {UNIT} 2>/dev/null)\" != enabled ]; then systemctl enable --quiet {UNIT}; echo \"enabled {UNIT}\"; fi\n"
        );
        if self.was_active != Some(false) {
            s += &format!(
                "if ! systemctl is-active --quiet {UNIT}; then systemctl start {UNIT}; echo \"started {UNIT}\"; fi\n"
            );
        }
        s
    }
}

#[cfg(test)]
#[path = "reboot_no_unit_tests.rs"]
mod tests;
