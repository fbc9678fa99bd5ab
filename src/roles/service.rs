//! A role's systemd service: enabled, running, and restarted or reloaded only when its
//! configuration changed.

use super::error::RoleError;
use super::session::Session;
use crate::remote::Remote;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Service {
    /// The unit that runs the daemon.
    pub(super) unit: &'static str,
    /// The unit to enable for boot. Usually `unit`; PostgreSQL's cluster unit is started through
    /// `postgresql.service`.
    pub(super) enable_unit: &'static str,
}

impl Service {
    pub(super) const fn single(unit: &'static str) -> Service {
        Service {
            unit,
            enable_unit: unit,
        }
    }
}

/// What a running service needs after its configuration changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum OnChange {
    Restart,
    Reload,
}

/// Prints two lines: the boot state of `enable_unit` and the run state of `unit`. Both
/// commands exit non-zero for "disabled"/"inactive", which is an answer, not a failure.
pub(super) fn state_script(service: Service) -> String {
    format!(
        "systemctl is-enabled {}; systemctl is-active {}",
        service.enable_unit, service.unit
    )
}

/// Found in `state_script`'s command and in no other role's (`fresh`).
pub(super) const STATE_MARK: &str = "systemctl is-enabled ";

/// What a node fresh from the golden image answers to `state_script`: the image leaves the
/// roles' units disabled and nothing of theirs runs. For a unit that does run there (a
/// package's own), `ensure` then enables and starts it, which changes nothing.
pub(super) fn fresh_state(_: &str) -> crate::remote::Output {
    crate::remote::Output {
        status: 3,
        stdout: b"disabled\ninactive\n".to_vec(),
        stderr: Vec::new(),
    }
}

/// Enables and starts `service`; restarts or reloads it if it was running and `change` says
/// its configuration changed.
pub(super) async fn ensure<R: Remote>(
    session: &mut Session<'_, R>,
    step: &str,
    service: Service,
    change: Option<OnChange>,
) -> Result<(), RoleError> {
    let script = state_script(service);
    let out = session.run(step, &script, None).await?;
    let text = out.stdout_str();
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    let [boot, run] = lines[..] else {
        return Err(session.unexpected(
            step,
            &script,
            format!(
                "expected two lines (boot state, run state), got {:?}; stderr: {}",
                text,
                out.stderr_tail(3)
            ),
        ));
    };
    if boot != "enabled" {
        // Enabling only links the unit for boot: without `--no-reload` systemctl would reload
        // every unit (5-20 s under emulation). A role that writes a unit file reloads itself.
        let cmd = format!("systemctl enable --no-reload {}", service.enable_unit);
        session.ok(step, &cmd, None).await?;
        session.changed(format!("{} enabled", service.enable_unit));
    }
    let action = match (run == "active", change) {
        (false, _) => Some(("start", "started")),
        (true, Some(OnChange::Restart)) => Some(("restart", "restarted")),
        (true, Some(OnChange::Reload)) => Some(("reload", "reloaded")),
        (true, None) => None,
    };
    if let Some((verb, done)) = action {
        session.say(&format!("{verb}ing {}", service.unit));
        let cmd = format!("systemctl {verb} {}", service.unit);
        session.ok(step, &cmd, None).await?;
        session.changed(format!("{} {done}", service.unit));
    }
    Ok(())
}
