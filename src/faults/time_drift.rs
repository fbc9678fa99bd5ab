//! time-drift, in two modes that teach different things:
//! - `timezone`: /etc/localtime points to another zone, chosen so that it is just past midnight
//!   there (most of the day that is many hours away), and `/todos?since=today` loses the items
//!   made before that midnight;
//! - `clock`: time sync (chrony, systemd-timesyncd) is stopped and the clock stepped by
//!   `offset`, so it stays wrong. The clock mode lives in `time_drift_clock.rs`.

use super::params::ParamSpec;
use super::text::Fields;
use super::{Fault, FaultOps, Kind, Verdict, var};
use serde::{Deserialize, Serialize};

#[path = "time_drift_clock.rs"]
mod clock;
pub(crate) use clock::Clock;

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
            help: "mode=timezone: e.g. Pacific/Kiritimati (default: a zone many hours away where it is just past midnight)",
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

/// Zones people live in, one or more for every hour from UTC-11 to UTC+14 in summer and in
/// winter, so that for any moment one of them is in the first hour after midnight.
const CANDIDATES: &[&str] = &[
    "Pacific/Pago_Pago",
    "Pacific/Honolulu",
    "Pacific/Gambier",
    "America/Anchorage",
    "America/Los_Angeles",
    "America/Denver",
    "America/Chicago",
    "America/New_York",
    "America/Halifax",
    "America/Sao_Paulo",
    "Atlantic/South_Georgia",
    "Atlantic/Cape_Verde",
    "Europe/London",
    "Africa/Lagos",
    "Africa/Johannesburg",
    "Europe/Moscow",
    "Asia/Dubai",
    "Asia/Karachi",
    "Asia/Dhaka",
    "Asia/Bangkok",
    "Asia/Shanghai",
    "Asia/Tokyo",
    "Australia/Brisbane",
    "Pacific/Noumea",
    "Pacific/Fiji",
    "Pacific/Tongatapu",
    "Pacific/Kiritimati",
];

/// How far (in minutes of UTC offset) a zone must be from the node's. Distance itself is not
/// the point: what breaks "today" is a zone whose day began after today's items were made, so
/// the nearest such zone may be only an hour or two away (it is many hours away for most of
/// the day).
const MIN_DISTANCE_MIN: i32 = 60;

/// /etc/localtime as it was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub(crate) enum Localtime {
    Link {
        target: String,
    },
    /// A copy rather than a link: its bytes, base64.
    File {
        base64: String,
    },
    Absent,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Timezone {
    /// The zone asked for with --param zone.
    #[serde(default)]
    pub(crate) requested: Option<String>,
    /// The zone set, chosen before the inject.
    #[serde(default)]
    pub(crate) zone: Option<String>,
    #[serde(default)]
    pub(crate) previous: Option<Localtime>,
    /// /etc/timezone's contents, if the file existed.
    #[serde(default)]
    pub(crate) previous_timezone_file: Option<String>,
    /// A directory standing in for `/` (tests only; never recorded).
    #[serde(skip)]
    pub(crate) root: String,
}

/// `+1400`, `-0930` as minutes.
pub(crate) fn parse_utc_offset(s: &str) -> Option<i32> {
    let s = s.trim();
    let (sign, digits) = match s.as_bytes().first()? {
        b'+' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        _ => return None,
    };
    if digits.len() != 4 || !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let h: i32 = digits[..2].parse().ok()?;
    let m: i32 = digits[2..].parse().ok()?;
    Some(sign * (h * 60 + m))
}

/// One `zone=NAME HHMM+OFFS` line: the zone's local time (minutes after midnight) and offset.
pub(crate) fn parse_zone_line(line: &str) -> Option<(String, i32, i32)> {
    let (name, rest) = line.trim().split_once(' ')?;
    let rest = rest.trim();
    if rest.len() != 9 {
        return None;
    }
    let h: i32 = rest[..2].parse().ok()?;
    let m: i32 = rest[2..4].parse().ok()?;
    Some((name.to_string(), h * 60 + m, parse_utc_offset(&rest[4..])?))
}

/// The zone far enough from `current` (minutes east of UTC) where it is earliest in the day:
/// its "today" began most recently, so the most of today's items fall out of it.
pub(crate) fn choose_zone(current: i32, zones: &[(String, i32, i32)]) -> Option<&str> {
    zones
        .iter()
        .filter(|(_, _, offset)| (offset - current).abs() >= MIN_DISTANCE_MIN)
        .min_by_key(|(_, local, _)| *local)
        .map(|(name, _, _)| name.as_str())
}

impl Timezone {
    fn summary(&self) -> String {
        match &self.zone {
            Some(z) => format!("set the timezone to {z}"),
            None => "set the timezone many hours away".to_string(),
        }
    }

    fn root_var(&self) -> String {
        var("R", &self.root)
    }

    fn prepare_script(&self) -> String {
        let zones: Vec<&str> = match &self.requested {
            Some(z) => vec![z.as_str()],
            None => CANDIDATES.to_vec(),
        };
        let mut s = self.root_var();
        s += "if [ -L \"$R/etc/localtime\" ]; then echo \"link=$(readlink \"$R/etc/localtime\")\"\n\
              elif [ -e \"$R/etc/localtime\" ]; then echo \"file=$(base64 -w0 \"$R/etc/localtime\")\"\n\
              else echo absent=yes; fi\n\
              if [ -f \"$R/etc/timezone\" ]; then echo \"timezone_file=$(cat \"$R/etc/timezone\")\"; fi\n\
              echo \"current=$(TZ=\":$R/etc/localtime\" date +%z)\"\n";
        s += &format!(
            "for z in {}; do\n\
             \x20 if [ -f \"$R/usr/share/zoneinfo/$z\" ]; then echo \"zone=$z $(TZ=\":$R/usr/share/zoneinfo/$z\" date +%H%M%z)\"; fi\n\
             done\n",
            zones.join(" ")
        );
        s
    }

    fn prepared(&mut self, out: &Fields) -> Result<(), String> {
        let previous = if let Some(target) = out.get("link") {
            Localtime::Link {
                target: target.to_string(),
            }
        } else if let Some(data) = out.get("file") {
            Localtime::File {
                base64: data.to_string(),
            }
        } else if out.get("absent").is_some() {
            Localtime::Absent
        } else {
            return Err("the script did not say what /etc/localtime is".to_string());
        };
        let current = out
            .get("current")
            .and_then(parse_utc_offset)
            .ok_or("the script printed no valid `current=` offset")?;
        let zones: Vec<(String, i32, i32)> = out
            .all("zone")
            .iter()
            .filter_map(|l| parse_zone_line(l))
            .collect();
        let zone = match &self.requested {
            Some(z) => {
                let Some((_, _, offset)) = zones.iter().find(|(n, _, _)| n == z) else {
                    return Err(format!(
                        "the node has no zone {z} (/usr/share/zoneinfo/{z} is missing)"
                    ));
                };
                if *offset == current {
                    return Err(format!(
                        "{z} has the node's current UTC offset, so nothing would change; choose a zone many hours away"
                    ));
                }
                z.clone()
            }
            None => choose_zone(current, &zones)
                .ok_or("none of the usual zones is installed on the node (tzdata missing?)")?
                .to_string(),
        };
        self.previous = Some(previous);
        self.previous_timezone_file = out.get("timezone_file").map(str::to_string);
        self.zone = Some(zone);
        Ok(())
    }

    fn zone(&self) -> &str {
        self.zone.as_deref().unwrap_or("UTC")
    }

    /// A symlink renamed over /etc/localtime: readers never find it missing.
    fn link_script(target: &str) -> String {
        format!(
            "t=$(mktemp -u \"$R/etc/.localtime.XXXXXX\")\nln -s {} \"$t\"\nmv -fT \"$t\" \"$R/etc/localtime\"\n",
            crate::ssh::quote(target)
        )
    }

    fn inject_script(&self) -> String {
        let mut s = String::from("set -e\n");
        s += &self.root_var();
        s += &Self::link_script(&format!("/usr/share/zoneinfo/{}", self.zone()));
        s += &format!(
            "if [ -f \"$R/etc/timezone\" ]; then echo {} > \"$R/etc/timezone\"; fi\n",
            crate::ssh::quote(self.zone())
        );
        s += "echo \"local=$(TZ=\":$R/etc/localtime\" date '+%Y-%m-%d %H:%M %Z')\"\n";
        s
    }

    fn verify_script(&self) -> String {
        let mut s = self.root_var();
        s += "echo \"link=$(readlink \"$R/etc/localtime\")\"\n";
        s += "echo \"local=$(TZ=\":$R/etc/localtime\" date '+%Y-%m-%d %H:%M %Z')\"\n";
        s
    }

    fn verdict(&self, out: &Fields) -> Verdict {
        let want = format!("/usr/share/zoneinfo/{}", self.zone());
        let link = out.get("link").unwrap_or_default();
        let was = match &self.previous {
            Some(Localtime::Link { target }) => target
                .trim_start_matches("/usr/share/zoneinfo/")
                .to_string(),
            Some(Localtime::File { .. }) => "a copied zone file".to_string(),
            Some(Localtime::Absent) | None => "UTC".to_string(),
        };
        let now = if link.is_empty() {
            "no /etc/localtime link".to_string()
        } else {
            link.trim_start_matches("/usr/share/zoneinfo/").to_string()
        };
        Verdict {
            active: link == want,
            detail: format!(
                "timezone {now} (was {was}); local time {}",
                out.get("local").unwrap_or("unknown")
            ),
        }
    }

    fn revert_script(&self) -> String {
        let mut s = String::from("set -e\n");
        s += &self.root_var();
        match &self.previous {
            None => return "echo 'the timezone was never changed'\n".to_string(),
            Some(Localtime::Link { target }) => {
                s += &format!(
                    "if [ \"$(readlink \"$R/etc/localtime\")\" != {q} ]; then\n{}echo \"restored /etc/localtime -> \"{q}\nfi\n",
                    Self::link_script(target),
                    q = crate::ssh::quote(target)
                );
            }
            Some(Localtime::File { base64 }) => {
                s += &format!(
                    "t=$(mktemp \"$R/etc/.localtime.XXXXXX\")\n\
                     echo {base64} | base64 -d > \"$t\"\n\
                     chmod 644 \"$t\"\n\
                     if [ -L \"$R/etc/localtime\" ] || ! cmp -s \"$t\" \"$R/etc/localtime\"; then\n\
                     \x20 mv -fT \"$t\" \"$R/etc/localtime\"; echo 'restored /etc/localtime'\n\
                     else rm -f \"$t\"; fi\n"
                );
            }
            Some(Localtime::Absent) => {
                s += "if [ -e \"$R/etc/localtime\" ] || [ -L \"$R/etc/localtime\" ]; then \
                      rm -f \"$R/etc/localtime\"; echo 'removed /etc/localtime (there was none)'; fi\n";
            }
        }
        if let Some(content) = &self.previous_timezone_file {
            let q = crate::ssh::quote(content);
            s += &format!(
                "if [ \"$(cat \"$R/etc/timezone\" 2>/dev/null)\" != {q} ]; then printf '%s\\n' {q} > \"$R/etc/timezone\"; echo 'restored /etc/timezone'; fi\n"
            );
        }
        s
    }
}

#[cfg(test)]
#[path = "time_drift_tests.rs"]
mod tests;
