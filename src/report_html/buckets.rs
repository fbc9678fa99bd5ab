//! One stream's seconds summed per bucket of the time axis. Counts add up; latency keeps the
//! slowest second of the bucket (a spike is never averaged away).

use super::scale::TimeAxis;
use crate::client::report::SecondRecord;

/// A failure class as the chart draws it.
pub(super) struct Class {
    pub name: &'static str,
    pub color: &'static str,
    /// Its count in a second.
    pub count: fn(&SecondRecord) -> u64,
}

const fn class(name: &'static str, color: &'static str, count: fn(&SecondRecord) -> u64) -> Class {
    Class { name, color, count }
}

/// The failure classes, bottom to top in the stack.
pub(super) const CLASSES: [Class; 10] = [
    class("refused", "#7b3294", |s| s.classes.refused),
    class("timeout", "#e66101", |s| s.classes.timeout),
    class("reset", "#fdb863", |s| s.classes.reset),
    class("tls", "#1b7837", |s| s.classes.tls),
    class("5xx", "#d73027", |s| s.classes.http5xx),
    class("4xx", "#b2abd2", |s| s.classes.http4xx),
    class("413", "#5e3c99", |s| s.classes.http413),
    class("json", "#8c510a", |s| s.classes.json),
    class("other", "#969696", |s| s.classes.other),
    class("dropped", "#404040", |s| s.dropped),
];

#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Bucket {
    pub ok: u64,
    pub bad: u64,
    /// By `CLASSES`.
    pub classes: [u64; CLASSES.len()],
    pub p50: Option<f64>,
    pub p99: Option<f64>,
}

impl Bucket {
    pub(super) fn results(&self) -> u64 {
        self.ok + self.bad
    }

    /// Success in percent; `None` when no request was answered or dropped.
    pub(super) fn success(&self) -> Option<f64> {
        (self.results() > 0).then(|| self.ok as f64 * 100.0 / self.results() as f64)
    }
}

fn slower(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// The buckets of `axis` (`None` where the stream has no second).
pub(super) fn sum<'a>(
    axis: &TimeAxis,
    seconds: impl Iterator<Item = &'a SecondRecord>,
) -> Vec<Option<Bucket>> {
    let mut buckets: Vec<Option<Bucket>> = vec![None; axis.buckets];
    for s in seconds {
        let Some(k) = axis.bucket_of(s.ts) else {
            continue;
        };
        let b = buckets[k].get_or_insert_with(Bucket::default);
        b.ok += s.ok;
        b.bad += s.bad();
        for (n, class) in CLASSES.iter().enumerate() {
            b.classes[n] += (class.count)(s);
        }
        b.p50 = slower(b.p50, s.p50_ms);
        b.p99 = slower(b.p99, s.p99_ms);
    }
    buckets
}
