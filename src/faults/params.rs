//! `--param k=v` and `--for 10m`: parsing on the command line (clap value parsers, so a
//! malformed value exits with 2 before anything runs) and checking against a kind's parameters.

use super::FaultError;
use std::collections::BTreeMap;
use std::time::Duration;

/// One parameter a fault kind takes, for `fault list` and for checking `--param`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ParamSpec {
    pub(crate) name: &'static str,
    /// Shown as `name=VALUE` in `fault list`.
    pub(crate) value: &'static str,
    pub(crate) help: &'static str,
}

/// clap value parser for `--param k=v`.
pub(crate) fn parse_param(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(format!("expected KEY=VALUE, like leave=100, not {s:?}")),
    }
}

/// The longest `--for`: a fault meant to last longer should be reverted by hand.
const MAX_FOR: u64 = 7 * 86_400;
/// Shorter than this, the revert races the inject and its check.
const MIN_FOR: u64 = 10;

/// clap value parser for `--for`: `90s`, `10m`, `1h30m`, `2d`.
pub(crate) fn parse_for(s: &str) -> Result<Duration, String> {
    let secs = parse_span(s)?;
    if secs < MIN_FOR {
        return Err(format!(
            "{s} is too short: give at least 10s (the fault must be in place, and checked, before it reverts)"
        ));
    }
    if secs > MAX_FOR {
        return Err(format!(
            "{s} is longer than 7d; leave out --for and revert it by hand"
        ));
    }
    Ok(Duration::from_secs(secs))
}

/// `1h30m`, `10m`, `45s`, `2d` as seconds. Every number needs its unit.
pub(crate) fn parse_span(s: &str) -> Result<u64, String> {
    let bad = || {
        format!(
            "{s:?} is not a duration: write a number and a unit (s, m, h, d), like 90s, 10m or 1h30m"
        )
    };
    let mut total: u64 = 0;
    let mut number = String::new();
    let mut parts = 0;
    for c in s.trim().chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return Err(bad()),
        };
        let n: u64 = number.parse().map_err(|_| bad())?;
        total = n
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(bad)?;
        number.clear();
        parts += 1;
    }
    if parts == 0 || !number.is_empty() {
        return Err(bad());
    }
    Ok(total)
}

/// `-3h`, `+90m`, `2h` (ahead) as signed seconds.
pub(crate) fn parse_offset(s: &str) -> Result<i64, String> {
    let t = s.trim();
    let (sign, rest) = match t.strip_prefix('-') {
        Some(r) => (-1, r),
        None => (1, t.strip_prefix('+').unwrap_or(t)),
    };
    let secs = parse_span(rest).map_err(|_| {
        format!("{s:?} is not an offset: write a sign, a number and a unit, like -3h or +90m")
    })?;
    let secs = i64::try_from(secs).map_err(|_| format!("{s:?} is too large"))?;
    Ok(sign * secs)
}

/// `secs` as the shortest of `1h30m`, `10m`, `45s`, `2d`.
pub(crate) fn format_span(secs: u64) -> String {
    if secs == 0 {
        return "0s".to_string();
    }
    let mut out = String::new();
    let mut rest = secs;
    for (unit, n) in [("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)] {
        if rest >= n {
            out.push_str(&format!("{}{unit}", rest / n));
            rest %= n;
        }
    }
    out
}

/// The `--param`s given for one kind, checked against its `ParamSpec`s.
#[derive(Debug, Clone)]
pub(crate) struct Params {
    kind: &'static str,
    values: BTreeMap<String, String>,
}

impl Params {
    pub(crate) fn new(
        kind: &'static str,
        specs: &[ParamSpec],
        given: &[(String, String)],
    ) -> Result<Params, FaultError> {
        let mut values = BTreeMap::new();
        for (k, v) in given {
            if !specs.iter().any(|s| s.name == k) {
                return Err(FaultError::UnknownParam {
                    kind: kind.to_string(),
                    param: k.clone(),
                    allowed: specs.iter().map(|s| s.name.to_string()).collect(),
                });
            }
            if values.insert(k.clone(), v.clone()).is_some() {
                return Err(FaultError::RepeatedParam { param: k.clone() });
            }
        }
        Ok(Params { kind, values })
    }

    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    pub(crate) fn bad(&self, name: &str, why: impl Into<String>) -> FaultError {
        FaultError::BadParam {
            kind: self.kind.to_string(),
            param: name.to_string(),
            value: self.get(name).unwrap_or_default().to_string(),
            why: why.into(),
        }
    }

    /// A whole number in `min..=max`, or `default` when not given.
    pub(crate) fn number(
        &self,
        name: &str,
        default: u64,
        min: u64,
        max: u64,
    ) -> Result<u64, FaultError> {
        let Some(v) = self.get(name) else {
            return Ok(default);
        };
        let n: u64 = v
            .trim()
            .parse()
            .map_err(|_| self.bad(name, "write a whole number"))?;
        if n < min || n > max {
            return Err(self.bad(name, format!("it must be between {min} and {max}")));
        }
        Ok(n)
    }

    /// One of `choices`, or `default` when not given.
    pub(crate) fn choice(
        &self,
        name: &str,
        choices: &[&'static str],
        default: &'static str,
    ) -> Result<&'static str, FaultError> {
        let Some(v) = self.get(name) else {
            return Ok(default);
        };
        choices
            .iter()
            .find(|c| **c == v)
            .copied()
            .ok_or_else(|| self.bad(name, format!("choose one of: {}", choices.join(", "))))
    }

    /// A signed offset like `-3h`.
    pub(crate) fn offset(&self, name: &str, default: i64) -> Result<i64, FaultError> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => parse_offset(v).map_err(|why| self.bad(name, why)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPECS: &[ParamSpec] = &[
        ParamSpec {
            name: "leave",
            value: "MiB",
            help: "free space left",
        },
        ParamSpec {
            name: "mode",
            value: "timezone|clock",
            help: "what drifts",
        },
    ];

    fn given(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn param_needs_a_key_and_an_equals_sign() {
        assert_eq!(parse_param("leave=100"), Ok(("leave".into(), "100".into())));
        assert_eq!(parse_param("path=/a=b"), Ok(("path".into(), "/a=b".into())));
        assert_eq!(parse_param("zone="), Ok(("zone".into(), String::new())));
        assert_eq!(
            parse_param("leave"),
            Err("expected KEY=VALUE, like leave=100, not \"leave\"".into())
        );
        assert!(parse_param("=5").is_err());
    }

    #[test]
    fn durations_need_units_and_add_up() {
        assert_eq!(parse_span("90s"), Ok(90));
        assert_eq!(parse_span("10m"), Ok(600));
        assert_eq!(parse_span("1h30m"), Ok(5400));
        assert_eq!(parse_span("2d"), Ok(172_800));
        assert_eq!(parse_span(" 1h1m1s "), Ok(3661));
        for bad in [
            "",
            "10",
            "m",
            "10x",
            "1.5h",
            "-3h",
            "h10",
            "99999999999999999999d",
        ] {
            assert_eq!(
                parse_span(bad),
                Err(format!(
                    "{bad:?} is not a duration: write a number and a unit (s, m, h, d), like 90s, 10m or 1h30m"
                )),
                "{bad}"
            );
        }
        assert_eq!(parse_for("10m"), Ok(Duration::from_secs(600)));
        for short in ["0s", "9s"] {
            assert_eq!(
                parse_for(short),
                Err(format!(
                    "{short} is too short: give at least 10s (the fault must be in place, and checked, before it reverts)"
                ))
            );
        }
        assert_eq!(parse_for("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(
            parse_for("8d"),
            Err("8d is longer than 7d; leave out --for and revert it by hand".into())
        );
    }

    #[test]
    fn offsets_are_signed() {
        assert_eq!(parse_offset("-3h"), Ok(-10_800));
        assert_eq!(parse_offset("+90m"), Ok(5400));
        assert_eq!(parse_offset("2h"), Ok(7200));
        assert_eq!(
            parse_offset("-3"),
            Err(
                "\"-3\" is not an offset: write a sign, a number and a unit, like -3h or +90m"
                    .into()
            )
        );
    }

    #[test]
    fn spans_format_back() {
        assert_eq!(format_span(0), "0s");
        assert_eq!(format_span(600), "10m");
        assert_eq!(format_span(5400), "1h30m");
        assert_eq!(format_span(90_061), "1d1h1m1s");
    }

    #[test]
    fn params_are_checked_against_the_kind() {
        let p = Params::new("disk-full", SPECS, &given(&[("leave", "100")])).unwrap();
        assert_eq!(p.number("leave", 0, 0, 1000).unwrap(), 100);
        assert_eq!(
            p.choice("mode", &["timezone", "clock"], "timezone")
                .unwrap(),
            "timezone"
        );

        let err = Params::new("disk-full", SPECS, &given(&[("size", "1")])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "disk-full has no parameter `size`; its parameters are: leave, mode\n  hint: `firedrill fault list` shows each kind's parameters"
        );
        assert!(err.is_usage());
        let err = Params::new("cpu-hog", &[], &given(&[("size", "1")])).unwrap_err();
        assert!(err.to_string().contains("it takes no parameters"), "{err}");
        let err = Params::new(
            "disk-full",
            SPECS,
            &given(&[("leave", "1"), ("leave", "2")]),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "--param leave is given twice; give each parameter once"
        );
    }

    #[test]
    fn bad_values_name_the_param_and_the_rule() {
        let p = Params::new(
            "disk-full",
            SPECS,
            &given(&[("leave", "lots"), ("mode", "sun")]),
        )
        .unwrap();
        assert_eq!(
            p.number("leave", 0, 0, 1000).unwrap_err().to_string(),
            "disk-full: --param leave=\"lots\" is not valid: write a whole number"
        );
        assert_eq!(
            p.choice("mode", &["timezone", "clock"], "timezone")
                .unwrap_err()
                .to_string(),
            "disk-full: --param mode=\"sun\" is not valid: choose one of: timezone, clock"
        );
        let p = Params::new("disk-full", SPECS, &given(&[("leave", "5000")])).unwrap();
        assert_eq!(
            p.number("leave", 0, 0, 1000).unwrap_err().to_string(),
            "disk-full: --param leave=\"5000\" is not valid: it must be between 0 and 1000"
        );
    }
}
