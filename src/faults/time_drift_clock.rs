//! time-drift mode=clock: stop time sync, step the clock by `offset`. Revert steps it back by
//! the same offset (the time that passed meanwhile is kept) and restarts time sync, but only
//! if the clock is still off by about that offset: a learner who already fixed it keeps the
//! fix. The reference is this host's clock when firedrill reverts, and the node's hardware
//! clock (which libvirt keeps in UTC and `date -s` does not touch) when its timer does.

use super::super::Verdict;
use super::super::params::format_span;
use super::super::text::Fields;
use serde::{Deserialize, Serialize};

/// Time sync services that would undo the step behind the learner's back.
const SYNC_UNITS: &[&str] = &["chrony.service", "systemd-timesyncd.service"];

/// How far from the expected drift still counts as "the fault's drift".
const TOLERANCE_S: i64 = 120;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Clock {
    pub(crate) offset_s: i64,
    /// The sync services that were running before, and are restarted on revert.
    #[serde(default)]
    pub(crate) sync_units: Option<Vec<String>>,
}

fn signed_span(secs: i64) -> String {
    let sign = if secs < 0 { "-" } else { "+" };
    format!("{sign}{}", format_span(secs.unsigned_abs()))
}

/// A shell function that steps the clock by `$1` nanoseconds, keeping sub-second precision.
const STEP_FN: &str = "step() { ns=$(date +%s%N); ns=$((ns + $1)); \
    date -s \"@$((ns / 1000000000)).$(printf %09d $((ns % 1000000000)))\" >/dev/null; }\n";

impl Clock {
    pub(in crate::faults) fn summary(&self) -> String {
        format!(
            "stop time sync and step the clock {}",
            signed_span(self.offset_s)
        )
    }

    pub(in crate::faults) fn prepare_script(&self) -> String {
        let mut s = format!("for u in {}; do\n", SYNC_UNITS.join(" "));
        s += "  echo \"sync=$u $(systemctl is-active $u 2>/dev/null)\"\ndone\n";
        s += "echo \"now=$(date +%s)\"\n";
        s
    }

    pub(in crate::faults) fn prepared(&mut self, out: &Fields) -> Result<(), String> {
        let _now: i64 = out.number("now")?;
        let active = out
            .all("sync")
            .iter()
            .filter_map(|l| l.split_once(' '))
            .filter(|(_, state)| state.trim() == "active")
            .map(|(unit, _)| unit.to_string())
            .collect();
        self.sync_units = Some(active);
        Ok(())
    }

    fn units(&self) -> &[String] {
        self.sync_units.as_deref().unwrap_or_default()
    }

    pub(in crate::faults) fn inject_script(&self) -> String {
        let mut s = String::from("set -e\n");
        for u in self.units() {
            s += &format!("systemctl stop {u}\n");
        }
        s += STEP_FN;
        s += &format!("step {}\n", self.offset_s * 1_000_000_000);
        s += "echo \"now=$(date +%s)\"\n";
        s
    }

    pub(in crate::faults) fn verify_script(&self) -> String {
        let mut s = String::from("echo \"now=$(date +%s)\"\n");
        s += &format!("for u in {}; do\n", SYNC_UNITS.join(" "));
        s += "  echo \"sync=$u $(systemctl is-active $u 2>/dev/null)\"\ndone\n";
        s
    }

    pub(in crate::faults) fn verdict(&self, out: &Fields, host_now: i64) -> Verdict {
        let Ok(now) = out.number::<i64>("now") else {
            return Verdict {
                active: false,
                detail: "the node did not say its time".to_string(),
            };
        };
        let drift = now - host_now;
        let sync: Vec<String> = out
            .all("sync")
            .iter()
            .filter_map(|l| l.split_once(' '))
            .filter(|(unit, _)| self.units().iter().any(|u| u == unit))
            .map(|(unit, state)| format!("{unit} {}", state.trim()))
            .collect();
        let sync = if sync.is_empty() {
            String::new()
        } else {
            format!("; {}", sync.join(", "))
        };
        Verdict {
            active: (drift - self.offset_s).abs() <= TOLERANCE_S,
            detail: format!(
                "clock {} from firedrill's host (stepped {}){sync}",
                signed_span(drift),
                signed_span(self.offset_s)
            ),
        }
    }

    pub(in crate::faults) fn revert_script(&self, host_now: Option<i64>) -> String {
        let mut s = String::from("set -e\n");
        s += &format!("off={}\n", self.offset_s);
        s += &match host_now {
            Some(t) => format!("ref={t}\n"),
            None => "ref=$(cat /sys/class/rtc/rtc0/since_epoch 2>/dev/null || true)\n".to_string(),
        };
        s += STEP_FN;
        let back = format!(
            "step {}; echo \"stepped the clock back by {}\"",
            -self.offset_s * 1_000_000_000,
            signed_span(-self.offset_s)
        );
        s += &format!(
            "if [ -z \"$ref\" ]; then {back}\n\
             else\n\
             \x20 d=$(($(date +%s) - ref))\n\
             \x20 if [ $((d - off)) -ge -{TOLERANCE_S} ] && [ $((d - off)) -le {TOLERANCE_S} ]; then {back}\n\
             \x20 elif [ $d -lt -{TOLERANCE_S} ] || [ $d -gt {TOLERANCE_S} ]; then\n\
             \x20   date -s \"@$ref\" >/dev/null; echo \"set the clock to the reference time (it was off by ${{d}}s)\"\n\
             \x20 fi\n\
             fi\n"
        );
        for u in self.units() {
            s += &format!(
                "if ! systemctl is-active --quiet {u}; then systemctl start {u}; echo \"started {u}\"; fi\n"
            );
        }
        s
    }
}
