//! Counting: per-second buckets for the live lines and the report, and run totals for the
//! summary. Pure: every input is an offset from the start of the run, so tests feed it directly.
//!
//! Attribution: a request counts as sent in the second it actually left; its result (ok, a failure
//! class, dropped) and its latency count in the second the result became known. A stall therefore
//! shows first as requests in flight, then as timeouts, as the user would feel it.

use super::class::Class;
use super::outage::{OutageTracker, Stretch};
use super::request::Outcome;
use hdrhistogram::Histogram;
use std::collections::BTreeMap;
use std::time::Duration;

/// Microseconds, up to an hour, three significant digits.
fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("constant bounds are valid")
}

/// p50 / p90 / p99 / max in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Percentiles {
    pub(crate) p50: f64,
    pub(crate) p90: f64,
    pub(crate) p99: f64,
    pub(crate) max: f64,
}

fn percentiles(h: &Histogram<u64>) -> Option<Percentiles> {
    if h.is_empty() {
        return None;
    }
    // HDR reports the top of a value's bucket (0.1% wide): latency is never under-reported.
    let ms = |us: u64| us as f64 / 1000.0;
    Some(Percentiles {
        p50: ms(h.value_at_quantile(0.5)),
        p90: ms(h.value_at_quantile(0.9)),
        p99: ms(h.value_at_quantile(0.99)),
        max: ms(h.max()),
    })
}

/// Counts per class, indexed by `Class::index`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counts([u64; Class::COUNT]);

impl Counts {
    pub(crate) fn get(&self, c: Class) -> u64 {
        self.0[c.index()]
    }
    fn add(&mut self, c: Class) {
        self.0[c.index()] += 1;
    }
    /// Sent and failed: every class but ok and dropped.
    pub(crate) fn failed(&self) -> u64 {
        Class::FAILED.iter().map(|&c| self.get(c)).sum()
    }
    /// Every result: ok, failed and dropped.
    pub(crate) fn results(&self) -> u64 {
        self.0.iter().sum()
    }
}

/// One second of the run, ready to print and to write to the report.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SecondStats {
    pub(crate) second: u64,
    pub(crate) sent: u64,
    pub(crate) counts: Counts,
    pub(crate) latency: Option<Percentiles>,
    /// Sent and not yet answered at the end of this second.
    pub(crate) inflight: u64,
    /// How late the client itself sent a request, at worst, in this second.
    pub(crate) lag_max: Duration,
    /// Results in this second that took a second send (`Outcome::retried`).
    pub(crate) retried: u64,
}

impl SecondStats {
    /// ok / (ok + failed + dropped) of the results known in this second.
    pub(crate) fn success_ratio(&self) -> Option<f64> {
        let n = self.counts.results();
        (n > 0).then(|| self.counts.get(Class::Ok) as f64 / n as f64)
    }
}

#[derive(Debug)]
struct Bucket {
    sent: u64,
    counts: Counts,
    hist: Histogram<u64>,
    lag_max: Duration,
    retried: u64,
}

impl Bucket {
    fn new() -> Bucket {
        Bucket {
            sent: 0,
            counts: Counts::default(),
            hist: new_histogram(),
            lag_max: Duration::ZERO,
            retried: 0,
        }
    }
}

/// Run totals for the summary.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Totals {
    pub(crate) sent: u64,
    pub(crate) counts: Counts,
    pub(crate) latency: Option<Percentiles>,
    /// The first reason seen for each class, so the summary can say what "reset" meant here.
    pub(crate) reasons: Vec<(Class, String)>,
    pub(crate) longest_failure: Option<Stretch>,
    /// Requests sent per second between the first and the last send, as measured.
    pub(crate) achieved_rate: Option<f64>,
    /// How late the client itself sent requests: the part of every latency that is the client's.
    pub(crate) lag: Option<Percentiles>,
    /// Requests sent a second time (`Outcome::retried`).
    pub(crate) retried: u64,
}

impl Totals {
    pub(crate) fn scheduled(&self) -> u64 {
        self.sent + self.counts.get(Class::Dropped)
    }
    /// Percent of scheduled requests that were ok; `None` when nothing was scheduled.
    pub(crate) fn availability(&self) -> Option<f64> {
        let n = self.scheduled();
        (n > 0).then(|| 100.0 * self.counts.get(Class::Ok) as f64 / n as f64)
    }
}

#[derive(Debug)]
pub(crate) struct Stats {
    buckets: BTreeMap<u64, Bucket>,
    /// Seconds below this have been flushed; late results go to this one.
    flushed: u64,
    sent: u64,
    done: u64,
    counts: Counts,
    hist: Histogram<u64>,
    reasons: Vec<(Class, String)>,
    outage: OutageTracker,
    first_send: Option<Duration>,
    last_send: Duration,
    lag: Histogram<u64>,
    retried: u64,
}

impl Stats {
    pub(crate) fn new() -> Stats {
        Stats {
            buckets: BTreeMap::new(),
            flushed: 0,
            sent: 0,
            done: 0,
            counts: Counts::default(),
            hist: new_histogram(),
            reasons: Vec::new(),
            outage: OutageTracker::default(),
            first_send: None,
            last_send: Duration::ZERO,
            lag: new_histogram(),
            retried: 0,
        }
    }

    fn bucket(&mut self, at: Duration) -> &mut Bucket {
        let second = at.as_secs().max(self.flushed);
        self.buckets.entry(second).or_insert_with(Bucket::new)
    }

    /// Request sent at `scheduled + lag`.
    pub(crate) fn sent(&mut self, scheduled: Duration, lag: Duration) {
        let at = scheduled + lag;
        let b = self.bucket(at);
        b.sent += 1;
        b.lag_max = b.lag_max.max(lag);
        self.sent += 1;
        self.first_send.get_or_insert(at);
        self.last_send = self.last_send.max(at);
        self.lag.saturating_record(lag.as_micros() as u64);
    }

    /// Request `index`, due at `scheduled`, came to `outcome` at `completed`.
    pub(crate) fn done(
        &mut self,
        index: u64,
        scheduled: Duration,
        completed: Duration,
        outcome: &Outcome,
    ) {
        self.retried += u64::from(outcome.retried);
        let b = self.bucket(completed);
        b.counts.add(outcome.class);
        b.retried += u64::from(outcome.retried);
        if let Some(l) = outcome.latency {
            b.hist.saturating_record(l.as_micros() as u64);
            self.hist.saturating_record(l.as_micros() as u64);
        }
        self.done += 1;
        self.result(index, scheduled, outcome.class, outcome.reason.as_deref());
    }

    /// Request `index`, due at `scheduled`, could not be sent.
    pub(crate) fn dropped(&mut self, index: u64, scheduled: Duration, reason: &str) {
        self.bucket(scheduled).counts.add(Class::Dropped);
        self.result(index, scheduled, Class::Dropped, Some(reason));
    }

    fn result(&mut self, index: u64, scheduled: Duration, class: Class, reason: Option<&str>) {
        self.counts.add(class);
        self.outage.record(index, class == Class::Ok, scheduled);
        if let Some(r) = reason
            && !self.reasons.iter().any(|(c, _)| *c == class)
        {
            self.reasons.push((class, r.to_string()));
        }
    }

    /// The last second that has anything in it.
    pub(crate) fn last_second(&self) -> Option<u64> {
        self.buckets.keys().next_back().copied()
    }

    /// Closes `second` (and any earlier one still open, merged into it).
    pub(crate) fn flush(&mut self, second: u64) -> SecondStats {
        let mut merged = Bucket::new();
        let keys: Vec<u64> = self.buckets.range(..=second).map(|(k, _)| *k).collect();
        for k in keys {
            if let Some(b) = self.buckets.remove(&k) {
                merged.sent += b.sent;
                for c in Class::ALL {
                    merged.counts.0[c.index()] += b.counts.get(c);
                }
                // Same bounds on both sides, so adding cannot fail.
                let _ = merged.hist.add(&b.hist);
                merged.lag_max = merged.lag_max.max(b.lag_max);
                merged.retried += b.retried;
            }
        }
        self.flushed = second + 1;
        SecondStats {
            second,
            sent: merged.sent,
            counts: merged.counts,
            latency: percentiles(&merged.hist),
            inflight: self.sent - self.done,
            lag_max: merged.lag_max,
            retried: merged.retried,
        }
    }

    pub(crate) fn finish(self) -> Totals {
        let mut reasons = self.reasons;
        reasons.sort_by_key(|(c, _)| c.index());
        let achieved_rate = match self.first_send {
            Some(first) if self.sent > 1 && self.last_send > first => {
                Some((self.sent - 1) as f64 / (self.last_send - first).as_secs_f64())
            }
            _ => None,
        };
        Totals {
            sent: self.sent,
            counts: self.counts,
            latency: percentiles(&self.hist),
            reasons,
            longest_failure: self.outage.finish(),
            achieved_rate,
            lag: percentiles(&self.lag),
            retried: self.retried,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn outcome(class: Class, latency_ms: Option<u64>) -> Outcome {
        Outcome {
            class,
            latency: latency_ms.map(ms),
            reason: (class != Class::Ok).then(|| format!("why {}", class.name())),
            ack: None,
            retried: false,
        }
    }

    fn outcome_us(class: Class, us: u64) -> Outcome {
        Outcome {
            latency: Some(Duration::from_micros(us)),
            ..outcome(class, None)
        }
    }

    #[test]
    fn seconds_and_totals() {
        let mut s = Stats::new();
        // Second 0: three sent; two ok (1 ms, 1.5 ms), one 500 (2 ms). Below 2,048 us the
        // histogram is exact.
        for i in 0..3 {
            s.sent(ms(i * 300), ms(1));
        }
        s.done(0, ms(0), ms(1), &outcome(Class::Ok, Some(1)));
        s.done(1, ms(300), ms(302), &outcome_us(Class::Ok, 1500));
        s.done(2, ms(600), ms(602), &outcome(Class::Http5xx, Some(2)));

        // Second 1: one sent that times out in second 3, one dropped.
        s.sent(ms(900 + 200), ms(0));
        s.dropped(4, ms(1400), "slots full");
        let first = s.flush(0);
        assert_eq!(first.sent, 3);
        assert_eq!(first.counts.get(Class::Ok), 2);
        assert_eq!(first.counts.get(Class::Http5xx), 1);
        assert_eq!(first.counts.failed(), 1);
        assert_eq!(first.lag_max, ms(1));
        assert_eq!(first.inflight, 1);
        let lat = first.latency.expect("latencies");
        assert_eq!((lat.p50, lat.p90, lat.max), (1.5, 2.0, 2.0));
        assert_eq!(first.success_ratio(), Some(2.0 / 3.0));

        let second = s.flush(1);
        assert_eq!(second.sent, 1);
        assert_eq!(second.counts.get(Class::Dropped), 1);
        assert_eq!(second.success_ratio(), Some(0.0));
        assert_eq!(second.latency, None);

        s.done(3, ms(1100), ms(3100), &outcome(Class::Timeout, None));
        assert_eq!(s.last_second(), Some(3));
        let empty = s.flush(2);
        assert_eq!((empty.sent, empty.counts.results()), (0, 0));
        assert_eq!(empty.success_ratio(), None);
        let third = s.flush(3);
        assert_eq!(third.counts.get(Class::Timeout), 1);
        assert_eq!(third.inflight, 0);

        let t = s.finish();
        assert_eq!(t.sent, 4);
        assert_eq!(t.scheduled(), 5);
        assert_eq!(t.counts.get(Class::Ok), 2);
        assert_eq!(t.availability(), Some(40.0));
        assert_eq!(
            t.reasons,
            vec![
                (Class::Timeout, "why timeout".to_string()),
                (Class::Http5xx, "why 5xx".to_string()),
                (Class::Dropped, "slots full".to_string()),
            ]
        );
        let stretch = t.longest_failure.expect("stretch");
        assert_eq!((stretch.first, stretch.last, stretch.requests), (2, 4, 3));
        assert_eq!((stretch.start, stretch.end), (ms(600), ms(1400)));
        // Sends at 1, 301, 601 and 1100 ms: 3 intervals in 1.099 s.
        let rate = t.achieved_rate.expect("rate");
        assert!((rate - 3.0 / 1.099).abs() < 1e-9, "{rate}");
    }

    #[test]
    fn late_results_go_to_the_open_second() {
        let mut s = Stats::new();
        s.sent(ms(0), ms(0));
        let _ = s.flush(0);
        let _ = s.flush(1);
        s.done(0, ms(0), ms(900), &outcome(Class::Ok, Some(900)));
        let late = s.flush(2);
        assert_eq!(late.counts.get(Class::Ok), 1);
    }

    #[test]
    fn retries_count_in_the_second_of_their_result() {
        let mut s = Stats::new();
        let resent = |class| Outcome {
            retried: true,
            ..outcome(class, None)
        };
        for i in 0..3 {
            s.sent(ms(i * 400), ms(0));
        }
        s.done(0, ms(0), ms(2), &outcome(Class::Ok, Some(2)));
        s.done(1, ms(400), ms(403), &resent(Class::Ok));
        s.done(2, ms(800), ms(1200), &resent(Class::Reset));
        assert_eq!(s.flush(0).retried, 1);
        let second = s.flush(1);
        assert_eq!((second.retried, second.counts.get(Class::Reset)), (1, 1));
        assert_eq!(s.finish().retried, 2);
    }
}
