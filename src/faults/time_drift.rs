//! time-drift, in two modes that teach different things:
//! - `timezone`: /etc/localtime points to another zone, chosen so that it is just past midnight
//!   there (most of the day that is many hours away), and `/todos?since=today` loses the items
//!   made before that midnight;
//! - `clock`: time sync (chrony, systemd-timesyncd) is stopped and the clock stepped by
//!   `offset`, so it stays wrong. The clock mode lives in `time_drift_clock.rs`.

use super::params::ParamSpec;
use super::text::Fields;
use super::{Fault, FaultOps, Kind, Verdict};
use serde::{Deserialize, Serialize};

#[path = "time_drift_clock.rs"]
mod clock;
#[path = "time_drift_zone.rs"]
mod zone;
pub(crate) use clock::Clock;
pub(crate) use zone::Timezone;
#[cfg(test)]
pub(crate) use zone::{CANDIDATES, Localtime, choose_zone, parse_utc_offset, parse_zone_line};

pub(crate) const KIND: Kind = Kind {
    name: "time-drift",
    about: "The node's time goes wrong: its timezone (\"today\" moves) or its clock (sync stopped)",
    params: &[
        ParamSpec {
            name: "mode",
            value: "timezone|clock",
            help: "what drifts (default timezone)",
        },
        ParamSpec {
            name: "zone",
            value: "ZONE",
            help: "mode=timezone: e.g. Pacific/Kiritimati (default: a zone where it is just past midnight)",
        },
        ParamSpec {
            name: "offset",
            value: "OFFSET",
            help: "mode=clock: how far to step the clock, e.g. -3h or +90m (default -3h)",
        },
    ],
    build: |p, _node| {
        let mode = p.choice("mode", &["timezone", "clock"], "timezone")?;
        if mode == "timezone" {
            if p.get("offset").is_some() {
                return Err(p.bad("offset", "it is for mode=clock"));
            }
            let requested = match p.get("zone") {
                None => None,
                Some(z) if valid_zone(z) => Some(z.to_string()),
                Some(_) => return Err(p.bad("zone", "write a zone name like Asia/Tokyo")),
            };
            return Ok(Fault::TimeDrift(TimeDrift::Timezone(Timezone {
                requested,
                ..Timezone::default()
            })));
        }
        if p.get("zone").is_some() {
            return Err(p.bad("zone", "it is for mode=timezone"));
        }
        let offset_s = p.offset("offset", -3 * 3600)?;
        if offset_s.abs() < 60 || offset_s.abs() > 30 * 86_400 {
            return Err(p.bad("offset", "it must be between 1m and 30d, either way"));
        }
        Ok(Fault::TimeDrift(TimeDrift::Clock(Clock {
            offset_s,
            sync_units: None,
        })))
    },
};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "lowercase")]
pub(crate) enum TimeDrift {
    Timezone(Timezone),
    Clock(Clock),
}

impl FaultOps for TimeDrift {
    fn kind(&self) -> &'static str {
        KIND.name
    }
    fn summary(&self) -> String {
        match self {
            TimeDrift::Timezone(z) => z.summary(),
            TimeDrift::Clock(c) => c.summary(),
        }
    }
    fn prepare_script(&self) -> String {
        match self {
            TimeDrift::Timezone(z) => z.prepare_script(),
            TimeDrift::Clock(c) => c.prepare_script(),
        }
    }
    fn prepared(&mut self, out: &Fields) -> Result<(), String> {
        match self {
            TimeDrift::Timezone(z) => z.prepared(out),
            TimeDrift::Clock(c) => c.prepared(out),
        }
    }
    fn inject_script(&self) -> String {
        match self {
            TimeDrift::Timezone(z) => z.inject_script(),
            TimeDrift::Clock(c) => c.inject_script(),
        }
    }
    fn verify_script(&self) -> String {
        match self {
            TimeDrift::Timezone(z) => z.verify_script(),
            TimeDrift::Clock(c) => c.verify_script(),
        }
    }
    fn verdict(&self, out: &Fields, host_now: i64) -> Verdict {
        match self {
            TimeDrift::Timezone(z) => z.verdict(out),
            TimeDrift::Clock(c) => c.verdict(out, host_now),
        }
    }
    fn revert_script(&self, host_now: Option<i64>) -> String {
        match self {
            TimeDrift::Timezone(z) => z.revert_script(),
            TimeDrift::Clock(c) => c.revert_script(host_now),
        }
    }
}

fn valid_zone(z: &str) -> bool {
    !z.is_empty()
        && !z.starts_with('/')
        && !z
            .split('/')
            .any(|part| part.is_empty() || part == "." || part == "..")
        && z.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_+-/".contains(c))
}

#[cfg(test)]
#[path = "time_drift_tests.rs"]
mod tests;
