//! The longest stretch of failures, in schedule order: what the user of the service lived through
//! as "the outage". Answers arrive out of order, so results wait in a small window until every
//! earlier request is known.

use std::collections::VecDeque;
use std::time::Duration;

/// A run of consecutive failed requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stretch {
    pub(crate) first: u64,
    pub(crate) last: u64,
    /// Scheduled time of the first failure, from the start of the run.
    pub(crate) start: Duration,
    /// Scheduled time of the last failure.
    pub(crate) end: Duration,
    /// Failed requests in the stretch.
    pub(crate) requests: u64,
}

#[derive(Debug, Default)]
pub(crate) struct OutageTracker {
    /// Index of the first request in `window`.
    next: u64,
    window: VecDeque<Option<(bool, Duration)>>,
    current: Option<Stretch>,
    longest: Option<Stretch>,
}

impl OutageTracker {
    pub(crate) fn record(&mut self, index: u64, ok: bool, scheduled: Duration) {
        if index < self.next {
            return; // already counted; a request is reported once, so this is defensive
        }
        let slot = (index - self.next) as usize;
        if self.window.len() <= slot {
            self.window.resize(slot + 1, None);
        }
        self.window[slot] = Some((ok, scheduled));
        while let Some(Some((ok, at))) = self.window.front().copied() {
            self.window.pop_front();
            self.feed(self.next, ok, at);
            self.next += 1;
        }
    }

    fn feed(&mut self, index: u64, ok: bool, at: Duration) {
        if ok {
            self.close();
            return;
        }
        match &mut self.current {
            Some(s) => {
                s.last = index;
                s.end = at;
                s.requests += 1;
            }
            None => {
                self.current = Some(Stretch {
                    first: index,
                    last: index,
                    start: at,
                    end: at,
                    requests: 1,
                })
            }
        }
    }

    fn close(&mut self) {
        if let Some(s) = self.current.take()
            && self.longest.is_none_or(|l| s.requests > l.requests)
        {
            self.longest = Some(s);
        }
    }

    /// The longest stretch. Requests never reported (the run was cut short) are skipped, so the
    /// results after them still count.
    pub(crate) fn finish(mut self) -> Option<Stretch> {
        while let Some(slot) = self.window.pop_front() {
            if let Some((ok, at)) = slot {
                self.feed(self.next, ok, at);
            }
            self.next += 1;
        }
        self.close();
        self.longest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn out_of_order_results_make_one_stretch() {
        let mut t = OutageTracker::default();
        // 0 ok, 1..=3 fail, 4 ok, 5..=6 fail, then the end.
        let results = [
            (2, false),
            (0, true),
            (3, false),
            (1, false),
            (5, false),
            (4, true),
            (6, false),
        ];
        for (i, ok) in results {
            t.record(i, ok, ms(i * 20));
        }
        assert_eq!(
            t.finish(),
            Some(Stretch {
                first: 1,
                last: 3,
                start: ms(20),
                end: ms(60),
                requests: 3,
            })
        );
    }

    #[test]
    fn a_stretch_running_at_the_end_counts() {
        let mut t = OutageTracker::default();
        t.record(0, false, ms(0));
        t.record(1, true, ms(20));
        for i in 2..6 {
            t.record(i, false, ms(i * 20));
        }
        let s = t.finish().expect("stretch");
        assert_eq!((s.first, s.last, s.requests), (2, 5, 4));
        assert_eq!((s.start, s.end), (ms(40), ms(100)));
    }

    #[test]
    fn no_failures_no_stretch_and_gaps_are_skipped() {
        let mut t = OutageTracker::default();
        t.record(0, true, ms(0));
        t.record(1, true, ms(20));
        assert_eq!(t.finish(), None);

        let mut t = OutageTracker::default();
        t.record(0, false, ms(0));
        t.record(2, false, ms(40)); // 1 never reported
        assert_eq!(
            t.finish().map(|s| (s.first, s.last, s.requests)),
            Some((0, 2, 2))
        );
    }
}
