//! time-drift mode=timezone: /etc/localtime is pointed at another zone, chosen so that it is
//! just past midnight there, and changed back from the record (a link, a copied file, or none).

use super::super::text::Fields;
use super::super::{Verdict, var};
use serde::{Deserialize, Serialize};

/// Zones people live in, one or more for every hour from UTC-11 to UTC+14 in summer and in
/// winter, so that for any moment one of them is in the first hour after midnight.
pub(crate) const CANDIDATES: &[&str] = &[
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
    pub(super) fn summary(&self) -> String {
        match &self.zone {
            Some(z) => format!("set the timezone to {z}"),
            None => "set the timezone many hours away".to_string(),
        }
    }

    fn root_var(&self) -> String {
        var("R", &self.root)
    }

    pub(super) fn prepare_script(&self) -> String {
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

    pub(super) fn prepared(&mut self, out: &Fields) -> Result<(), String> {
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

    pub(super) fn inject_script(&self) -> String {
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

    pub(super) fn verify_script(&self) -> String {
        let mut s = self.root_var();
        s += "echo \"link=$(readlink \"$R/etc/localtime\")\"\n";
        s += "echo \"local=$(TZ=\":$R/etc/localtime\" date '+%Y-%m-%d %H:%M %Z')\"\n";
        s
    }

    pub(super) fn verdict(&self, out: &Fields) -> Verdict {
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

    pub(super) fn revert_script(&self) -> String {
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
