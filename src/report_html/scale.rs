//! Where things go on the chart: the time axis (its buckets of seconds and its ticks), the
//! latency scale (logarithmic: a 5 ms service and a 2 s timeout on one panel) and the count
//! scale (rounded up to 1, 2 or 5 times a power of ten).

use chrono::{DateTime, FixedOffset, TimeZone, Utc};

/// The plot's left edge and width in the SVG's user units.
pub(super) const X0: f64 = 76.0;
pub(super) const PLOT_W: f64 = 1000.0;

/// Seconds per bucket, and between ticks: each a divisor of the next larger unit, so buckets and
/// ticks fall on round clock times.
const STEPS: [i64; 18] = [
    1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400,
];

/// At most this many intervals between time ticks: room for each label.
const MAX_TICKS: i64 = 8;

/// Seconds per bucket: 1 while every second has a pixel of its own, else the smallest step that
/// keeps the buckets at most one per pixel.
pub(super) fn bucket_seconds(span_s: i64) -> i64 {
    let width = PLOT_W as i64;
    STEPS
        .iter()
        .copied()
        .find(|&s| span_s <= s * width)
        .unwrap_or(STEPS[STEPS.len() - 1])
}

#[derive(Debug, Clone)]
pub(super) struct TimeAxis {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    span_ms: i64,
    /// Seconds per bucket.
    pub step: i64,
    pub buckets: usize,
}

impl TimeAxis {
    /// An axis from `from` to `to`, at least a second long.
    pub(super) fn new(from: DateTime<Utc>, to: DateTime<Utc>) -> TimeAxis {
        let span_ms = (to - from).num_milliseconds().max(1000);
        let span_s = (span_ms + 999) / 1000;
        let step = bucket_seconds(span_s);
        TimeAxis {
            from,
            to: from + chrono::Duration::milliseconds(span_ms),
            span_ms,
            step,
            buckets: usize::try_from((span_s + step - 1) / step).unwrap_or(0),
        }
    }

    /// The x of `t`, kept inside the plot.
    pub(super) fn x(&self, t: DateTime<Utc>) -> f64 {
        let f = (t - self.from).num_milliseconds() as f64 / self.span_ms as f64;
        X0 + f.clamp(0.0, 1.0) * PLOT_W
    }

    /// The bucket a second starting at `t` falls in.
    pub(super) fn bucket_of(&self, t: DateTime<Utc>) -> Option<usize> {
        if t < self.from || t >= self.to {
            return None;
        }
        let k = (t - self.from).num_seconds() / self.step;
        usize::try_from(k).ok().filter(|&k| k < self.buckets)
    }

    /// The left and right x of bucket `k` (the last one ends with the axis).
    pub(super) fn bucket_span(&self, k: usize) -> (f64, f64) {
        let start = self.from + chrono::Duration::seconds(k as i64 * self.step);
        let end = start + chrono::Duration::seconds(self.step);
        (self.x(start), self.x(end.min(self.to)))
    }

    /// Ticks at round clock times in `zone`, each with its label: `14:00:30`, or `14:05` when
    /// they are a minute or more apart.
    pub(super) fn ticks(&self, zone: FixedOffset) -> Vec<(f64, String)> {
        let span_s = self.span_ms / 1000;
        let step = STEPS
            .iter()
            .copied()
            .find(|&s| span_s <= s * MAX_TICKS)
            .unwrap_or(STEPS[STEPS.len() - 1]);
        let offset_ms = i64::from(zone.local_minus_utc()) * 1000;
        let step_ms = step * 1000;
        let local = self.from.timestamp_millis() + offset_ms;
        let mut at = (local + step_ms - 1).div_euclid(step_ms) * step_ms - offset_ms;
        let format = if step < 60 { "%H:%M:%S" } else { "%H:%M" };
        let mut ticks = Vec::new();
        while let Some(t) = Utc.timestamp_millis_opt(at).single() {
            if t > self.to {
                break;
            }
            ticks.push((self.x(t), t.with_timezone(&zone).format(format).to_string()));
            at += step_ms;
        }
        ticks
    }
}

/// The smallest of 1, 2 or 5 times a power of ten that is at least `v` (1 for nothing).
pub(super) fn nice_max(v: f64) -> f64 {
    if v.is_nan() || v <= 0.0 {
        return 1.0;
    }
    let mut p = 10f64.powi(v.log10().floor() as i32);
    loop {
        for m in [1.0, 2.0, 5.0] {
            if m * p >= v * (1.0 - 1e-9) {
                return m * p;
            }
        }
        p *= 10.0;
    }
}

/// Latency in milliseconds on a log scale, whole decades from `lo` to `hi` (powers of ten).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct LogScale {
    pub lo: i32,
    pub hi: i32,
}

impl LogScale {
    /// Decades around every value in `values` (none below 0.1 ms); at least one decade.
    pub(super) fn around(values: impl Iterator<Item = f64>) -> Option<LogScale> {
        let (mut min, mut max) = (f64::INFINITY, 0.0_f64);
        for v in values.filter(|v| v.is_finite() && *v > 0.0) {
            min = min.min(v);
            max = max.max(v);
        }
        if max <= 0.0 {
            return None;
        }
        let lo = (min.max(0.1).log10().floor() as i32).max(-1);
        let hi = (max.log10().ceil() as i32).max(lo + 1);
        Some(LogScale { lo, hi })
    }

    /// How far up `ms` is, 0 at the bottom and 1 at the top.
    pub(super) fn frac(&self, ms: f64) -> f64 {
        let v = ms.max(10f64.powi(self.lo)).log10();
        ((v - f64::from(self.lo)) / f64::from(self.hi - self.lo)).clamp(0.0, 1.0)
    }

    /// The decades with their labels: `0.1 ms`, `1 ms`, `10 ms`, `100 ms`, `1 s`, `10 s`.
    pub(super) fn ticks(&self) -> Vec<(f64, String)> {
        (self.lo..=self.hi)
            .map(|e| {
                let ms = 10f64.powi(e);
                let label = if ms >= 1000.0 {
                    format!("{} s", ms / 1000.0)
                } else {
                    format!("{ms} ms")
                };
                (self.frac(ms), label)
            })
            .collect()
    }
}
