//! clock-jump: the clock jumps days ahead at once (a bad hardware clock at boot, a mistyped
//! `date -s`), with time sync stopped so it stays there. Everything that compares times
//! breaks together: "today" is another day, new items are stamped in the future, certificates
//! and tokens look expired. The step, its check and its revert are time-drift's clock mode
//! (`time_drift_clock.rs`): revert sets the clock from firedrill's host (from the node's
//! hardware clock when the `--for` timer runs it) and starts the time sync that ran before.

use super::params::{ParamSpec, parse_span};
use super::text::Fields;
use super::time_drift::Clock;
use super::{Fault, FaultOps, Kind, Verdict};
use serde::{Deserialize, Serialize};

pub(crate) const KIND: Kind = Kind {
    name: "clock-jump",
    about: "The node's clock jumps days ahead and time sync is stopped: dates and \"today\" go wrong",
    params: &[ParamSpec {
        name: "by",
        value: "SPAN",
        help: "how far ahead, e.g. 2d or 36h (default 2d; from 1h to 3650d)",
    }],
    build: |p, _node| {
        let by = match p.get("by") {
            None => DEFAULT_S,
            Some(v) => parse_span(v).map_err(|why| p.bad("by", why))?,
        };
        if !(3600..=3650 * 86_400).contains(&by) {
            return Err(p.bad(
                "by",
                "a jump is between 1h and 3650d ahead (for smaller steps, either way, use time-drift mode=clock)",
            ));
        }
        Ok(Fault::ClockJump(ClockJump {
            clock: Clock {
                offset_s: i64::try_from(by).unwrap_or(DEFAULT_S as i64),
                sync_units: None,
            },
        }))
    },
};

const DEFAULT_S: u64 = 2 * 86_400;

/// The record holds the clock step's fields as they are (`offset_s`, `sync_units`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub(crate) struct ClockJump {
    pub(crate) clock: Clock,
}

impl FaultOps for ClockJump {
    fn kind(&self) -> &'static str {
        KIND.name
    }
    fn summary(&self) -> String {
        self.clock.summary()
    }
    fn prepare_script(&self) -> String {
        self.clock.prepare_script()
    }
    fn prepared(&mut self, out: &Fields) -> Result<(), String> {
        self.clock.prepared(out)
    }
    fn inject_script(&self) -> String {
        self.clock.inject_script()
    }
    fn verify_script(&self) -> String {
        self.clock.verify_script()
    }
    fn verdict(&self, out: &Fields, host_now: i64) -> Verdict {
        self.clock.verdict(out, host_now)
    }
    fn revert_script(&self, host_now: Option<i64>) -> String {
        self.clock.revert_script(host_now)
    }
}

#[cfg(test)]
#[path = "clock_jump_tests.rs"]
mod tests;
