//! How many requests a stream sends when: a constant `--rate`, or a `--ramp` of stages
//! (`5:60,10:60,20:60`: 5 req/s for 60 s, then 10, then 20, which then holds until the run ends).
//!
//! The schedule is the integral of the target rate: request i is due when that integral reaches
//! i. With one stage this is exactly i/rate, as before ramps existed.

use std::fmt;
use std::time::Duration;

/// One stage: `rate` requests per second for `seconds`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Stage {
    rate: f64,
    seconds: u64,
}

/// A stream's target rate over time. The last stage holds until the run ends.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Load {
    stages: Vec<Stage>,
    /// Written as `--ramp` (a constant rate has none).
    ramp: bool,
}

/// What to write instead of a bad ramp; the caller names the flag or the file position.
pub(crate) const RAMP_HINT: &str =
    "write RATE:SECONDS stages separated by commas, e.g. 5:60,10:60,20:60";

impl Load {
    /// A constant rate (already checked: finite and above 0).
    pub(crate) fn constant(rate: f64) -> Load {
        Load {
            stages: vec![Stage {
                rate,
                seconds: u64::MAX,
            }],
            ramp: false,
        }
    }

    /// `RATE:SECONDS[,RATE:SECONDS...]`; the reason when it is not one.
    pub(crate) fn parse_ramp(s: &str) -> Result<Load, String> {
        let text = s.trim();
        if text.is_empty() {
            return Err("it is empty".into());
        }
        let mut stages = Vec::new();
        for (n, part) in text.split(',').enumerate() {
            let part = part.trim();
            let at = |why: &str| format!("stage {} `{part}`: {why}", n + 1);
            let Some((rate, seconds)) = part.split_once(':') else {
                return Err(at("there is no `:` between the rate and the seconds"));
            };
            let rate = match rate.trim().parse::<f64>() {
                Ok(r) if r.is_finite() && r > 0.0 => r,
                _ => {
                    return Err(at(
                        "the rate must be a number of requests per second above 0",
                    ));
                }
            };
            let seconds = match seconds.trim().parse::<u64>() {
                Ok(s) if s > 0 && s <= 1_000_000_000 => s,
                _ => return Err(at("the seconds must be a whole number above 0")),
            };
            stages.push(Stage { rate, seconds });
        }
        Ok(Load { stages, ramp: true })
    }

    /// Each stage's start, from the run's start, in seconds.
    fn starts(&self) -> impl Iterator<Item = (f64, &Stage)> {
        let mut at = 0.0_f64;
        self.stages.iter().map(move |s| {
            let start = at;
            at += s.seconds as f64;
            (start, s)
        })
    }

    fn is_last(&self, stage: &Stage) -> bool {
        std::ptr::eq(stage, self.stages.last().expect("a load has a stage"))
    }

    /// The target rate at `at`.
    pub(crate) fn rate_at(&self, at: Duration) -> f64 {
        let t = at.as_secs_f64();
        for (start, s) in self.starts() {
            if self.is_last(s) || t < start + s.seconds as f64 {
                return s.rate;
            }
        }
        unreachable!("the last stage holds forever")
    }

    /// Requests due by `at`, as a real number: the integral of the rate from the start.
    fn count_by(&self, at: f64) -> f64 {
        let mut count = 0.0;
        for (start, s) in self.starts() {
            if self.is_last(s) || at < start + s.seconds as f64 {
                return count + (at - start) * s.rate;
            }
            count += s.rate * s.seconds as f64;
        }
        unreachable!("the last stage holds forever")
    }

    /// When request `index` is due.
    pub(crate) fn due(&self, index: u64) -> Duration {
        let i = index as f64;
        let mut count = 0.0;
        for (start, s) in self.starts() {
            let end = count + s.rate * s.seconds as f64;
            if self.is_last(s) || i < end {
                return Duration::from_secs_f64(start + (i - count) / s.rate);
            }
            count = end;
        }
        unreachable!("the last stage holds forever")
    }

    /// How many requests a run of `duration` holds: those due strictly before its end.
    pub(crate) fn total(&self, duration: Duration) -> u64 {
        // The epsilon keeps 2000/s * 10 s at 20,000 despite rounding in the product.
        (self.count_by(duration.as_secs_f64()) - 1e-9)
            .ceil()
            .max(0.0) as u64
    }

    /// The last request due at or before `at`.
    pub(crate) fn last_due_by(&self, at: Duration) -> u64 {
        self.count_by(at.as_secs_f64()).floor().max(0.0) as u64
    }

    /// Requests due in second `second` of the run: the stage's rate when the second lies within
    /// one stage.
    pub(crate) fn target_in_second(&self, second: u64) -> f64 {
        let rate = self.rate_at(Duration::from_secs(second));
        // Stages last whole seconds, so a second never straddles two.
        debug_assert_eq!(
            rate,
            self.rate_at(Duration::from_secs_f64(second as f64 + 0.5))
        );
        rate
    }

    /// The mean target rate over the first `elapsed` of the run (the rate itself when constant).
    pub(crate) fn mean_rate(&self, elapsed: Duration) -> f64 {
        let t = elapsed.as_secs_f64();
        if !self.ramp || t <= 0.0 {
            return self.rate_at(elapsed);
        }
        (self.count_by(t) / t * 1000.0).round() / 1000.0
    }

    /// The highest rate the stream reaches: what its slots and threads are sized for.
    pub(crate) fn peak(&self) -> f64 {
        self.stages.iter().map(|s| s.rate).fold(0.0, f64::max)
    }

    /// The stages as written, for a ramp.
    pub(crate) fn ramp(&self) -> Option<String> {
        self.ramp.then(|| self.to_string())
    }
}

impl fmt::Display for Load {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.ramp {
            return write!(f, "{}", self.stages[0].rate);
        }
        let stages: Vec<String> = self
            .stages
            .iter()
            .map(|s| format!("{}:{}", s.rate, s.seconds))
            .collect();
        write!(f, "{}", stages.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(s: &str) -> Load {
        Load::parse_ramp(s).expect("a valid ramp")
    }

    #[test]
    fn parsing() {
        let r = ramp("5:60, 10:60,20:60");
        assert_eq!(r.to_string(), "5:60,10:60,20:60");
        assert_eq!(r.ramp().as_deref(), Some("5:60,10:60,20:60"));
        assert_eq!(r.peak(), 20.0);
        assert_eq!(ramp("0.5:4").to_string(), "0.5:4");
        assert_eq!(Load::constant(20.0).to_string(), "20");
        assert_eq!(Load::constant(20.0).ramp(), None);
        let err = |s| Load::parse_ramp(s).map(|_| ()).unwrap_err();
        assert_eq!(err(""), "it is empty");
        assert_eq!(
            err("5:60,10"),
            "stage 2 `10`: there is no `:` between the rate and the seconds"
        );
        assert_eq!(
            err("0:60"),
            "stage 1 `0:60`: the rate must be a number of requests per second above 0"
        );
        assert_eq!(
            err("5:60,fast:10"),
            "stage 2 `fast:10`: the rate must be a number of requests per second above 0"
        );
        assert_eq!(
            err("5:1.5"),
            "stage 1 `5:1.5`: the seconds must be a whole number above 0"
        );
        assert_eq!(
            err("5:0"),
            "stage 1 `5:0`: the seconds must be a whole number above 0"
        );
        assert_eq!(
            err("5:60,"),
            "stage 2 ``: there is no `:` between the rate and the seconds"
        );
        assert!(Load::parse_ramp("inf:3").is_err());
        assert!(Load::parse_ramp("5:-3").is_err());
    }

    #[test]
    fn a_constant_rate_is_the_old_schedule() {
        let c = Load::constant(50.0);
        assert_eq!(c.due(0), Duration::ZERO);
        assert_eq!(c.due(50), Duration::from_secs(1));
        assert_eq!(Load::constant(2000.0).due(1), Duration::from_micros(500));
        assert_eq!(c.total(Duration::from_secs(2)), 100);
        assert_eq!(
            Load::constant(2000.0).total(Duration::from_secs(10)),
            20_000
        );
        assert_eq!(Load::constant(0.5).total(Duration::from_secs(3)), 2);
        assert_eq!(Load::constant(3.0).total(Duration::from_millis(500)), 2);
        assert_eq!(Load::constant(0.1).total(Duration::from_secs(1)), 1);
        assert_eq!(c.last_due_by(Duration::from_millis(1000)), 50);
        assert_eq!(c.last_due_by(Duration::from_millis(1019)), 50);
        assert_eq!(c.last_due_by(Duration::ZERO), 0);
        assert_eq!(c.target_in_second(7), 50.0);
        assert_eq!(c.mean_rate(Duration::from_millis(2345)), 50.0);
    }

    #[test]
    fn stages_follow_one_another_and_the_last_holds() {
        let r = ramp("5:2,10:2,20:2");
        // 10 requests in the first stage, 20 in the second, 40 in the third, then 20/s on.
        assert_eq!(r.due(0), Duration::ZERO);
        assert_eq!(r.due(9), Duration::from_millis(1800));
        assert_eq!(r.due(10), Duration::from_secs(2));
        assert_eq!(r.due(11), Duration::from_millis(2100));
        assert_eq!(r.due(30), Duration::from_secs(4));
        assert_eq!(r.due(70), Duration::from_secs(6));
        assert_eq!(r.due(90), Duration::from_secs(7));
        assert_eq!(r.total(Duration::from_secs(2)), 10);
        assert_eq!(r.total(Duration::from_secs(6)), 70);
        assert_eq!(r.total(Duration::from_secs(10)), 150);
        assert_eq!(r.last_due_by(Duration::from_millis(2050)), 10);
        assert_eq!(r.last_due_by(Duration::from_millis(4999)), 49);
        let targets: Vec<f64> = (0..8).map(|s| r.target_in_second(s)).collect();
        assert_eq!(targets, [5.0, 5.0, 10.0, 10.0, 20.0, 20.0, 20.0, 20.0]);
        assert_eq!(r.rate_at(Duration::from_millis(3999)), 10.0);
        assert_eq!(r.mean_rate(Duration::from_secs(6)), 11.667);
        assert_eq!(r.mean_rate(Duration::from_secs(1)), 5.0);
        // Just after a request's due time, it is the last one due (a shard that waited for a
        // slot sends it, not its neighbour).
        for i in 0..200 {
            let just_after = r.due(i) + Duration::from_micros(1);
            assert_eq!(r.last_due_by(just_after), i, "request {i}");
        }
    }

    #[test]
    fn a_ramp_down_works_too() {
        let r = ramp("20:1,2:3");
        assert_eq!(r.due(20), Duration::from_secs(1));
        assert_eq!(r.due(21), Duration::from_millis(1500));
        assert_eq!(r.total(Duration::from_secs(4)), 26);
        assert_eq!(r.total(Duration::from_secs(5)), 28);
    }
}
