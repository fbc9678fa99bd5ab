//! service-stopped: one of the node's role services is stopped (cleanly, so systemd does not
//! restart it).

use super::params::ParamSpec;
use super::text::Fields;
use super::{Fault, FaultOps, Kind, Verdict};
use serde::{Deserialize, Serialize};

pub(crate) const KIND: Kind = Kind {
    name: "service-stopped",
    about: "A role's service is stopped (todo, haproxy, mariadb or postgresql)",
    params: &[ParamSpec {
        name: "service",
        value: "UNIT",
        help: "which of the node's role services (default: its first role's)",
    }],
    build: |p, node| {
        let services: Vec<&'static str> =
            node.roles.iter().map(|r| super::role_service(*r)).collect();
        let Some(first) = services.first() else {
            return Err(KIND.does_not_fit(node, "the node has no role, so no service to stop"));
        };
        let service = super::service_param(p, node, first)?;
        Ok(Fault::ServiceStopped(ServiceStopped {
            service,
            was_active: None,
        }))
    },
};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ServiceStopped {
    pub(crate) service: String,
    #[serde(default)]
    pub(crate) was_active: Option<bool>,
}

impl FaultOps for ServiceStopped {
    fn kind(&self) -> &'static str {
        KIND.name
    }

    fn summary(&self) -> String {
        format!("stop {}", self.service)
    }

    fn prepare_script(&self) -> String {
        format!(
            "echo \"active=$(systemctl is-active {} 2>/dev/null)\"\n",
            self.service
        )
    }

    fn prepared(&mut self, out: &Fields) -> Result<(), String> {
        match out.get("active") {
            Some("active") => {
                self.was_active = Some(true);
                Ok(())
            }
            state => Err(format!(
                "{} is not running (systemctl is-active says {:?})",
                self.service,
                state.unwrap_or_default()
            )),
        }
    }

    fn inject_script(&self) -> String {
        format!("set -e\nsystemctl stop {}\n", self.service)
    }

    fn verify_script(&self) -> String {
        self.prepare_script()
    }

    fn verdict(&self, out: &Fields, _host_now: i64) -> Verdict {
        let state = out.get("active").unwrap_or("unknown");
        Verdict {
            active: state != "active",
            detail: format!("{} {state}", self.service),
        }
    }

    fn revert_script(&self, _host_now: Option<i64>) -> String {
        if self.was_active != Some(true) {
            return "echo 'nothing was stopped'\n".to_string();
        }
        format!(
            "set -e\nif ! systemctl is-active --quiet {u}; then systemctl start {u}; echo \"started {u}\"; fi\n",
            u = self.service
        )
    }
}

#[cfg(test)]
#[path = "service_stopped_tests.rs"]
mod tests;
