//! The open loop. Request i is due at start + i/rate, whatever the server does; if no slot is free
//! at that moment (every `--max-inflight` slot waits on the server), it is counted as dropped.
//!
//! The requests are dealt out to shards, round robin: shard s of S sends requests s, s+S, s+2S...
//! on its own thread, with its own current-thread runtime, connections and slots. A request then
//! never crosses threads between the timer and its answer: a shared multi-thread runtime spent
//! more time waking its workers (futex) than sending requests.
//!
//! It sleeps on a timerfd (`timer.rs`), not on tokio's millisecond timer, so that the client's own
//! lag stays far below the latencies it measures.

use super::config::Config;
use super::load::Load;
use super::request::{Outcome, Sender, is_write};
use super::timer::Timer;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::sync::{Notify, mpsc, watch};

/// What the shards tell the collector, each about a request of stream `stream` (its position in
/// the run's list). Times are offsets from the start.
#[derive(Debug)]
pub(crate) enum Msg {
    Sent {
        stream: usize,
        scheduled: Duration,
        lag: Duration,
    },
    Done {
        stream: usize,
        index: u64,
        scheduled: Duration,
        completed: Duration,
        outcome: Outcome,
    },
    /// Requests `(first..end).step_by(step)` could not be sent on time.
    Dropped {
        stream: usize,
        first: u64,
        end: u64,
        step: u64,
        reason: Arc<str>,
    },
}

/// One shard's part of the run.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub(crate) stream: usize,
    pub(crate) load: Load,
    /// `u64::MAX`: until stopped.
    pub(crate) total: u64,
    pub(crate) write_ratio: f64,
    /// This shard's slots.
    pub(crate) max_inflight: usize,
    pub(crate) timeout: Duration,
    pub(crate) shard: u64,
    pub(crate) shards: u64,
}

/// The last request at or before `index` that belongs to `shard` (`shard` itself at the least).
fn last_of_shard(index: u64, shard: u64, shards: u64) -> u64 {
    if index < shard {
        return shard;
    }
    index - (index - shard) % shards
}

/// One shard below 1,000 req/s, where a thread is mostly idle; above, one per two cores (at
/// least one, at most 4, and never more than there are slots to share). The other half of the
/// cores is the service's: a lab's VMs run on this host, and a benchmark's server on it too. On
/// two cores against a local nginx, one shard answered 1.16-1.22x what oha did, two shards
/// 0.91-0.93x: with three busy threads on two cores, the server lost its core to the client.
pub(crate) fn shard_count(rate: f64, max_inflight: usize, cores: usize) -> u64 {
    if rate < 1000.0 {
        return 1;
    }
    (cores / 2).clamp(1, 4).min(max_inflight.max(1)) as u64
}

/// Shard `shard`'s share of `total` slots; the first ones get the remainder.
pub(crate) fn slots_of_shard(total: usize, shard: u64, shards: u64) -> usize {
    let (shard, shards) = (shard as usize, shards as usize);
    total / shards + usize::from(shard < total % shards)
}

/// tokio wakes its own driver (an eventfd write, then a read) whenever a new timer expires
/// before every pending one. Each request's deadline is such a timer when the server answers
/// quickly and nothing else is pending. A tick every half timeout keeps an earlier timer always
/// pending, so request deadlines go into the wheel silently. Ends with the shard's runtime.
async fn keep_timer_wheel_warm(timeout: Duration) {
    let mut tick = tokio::time::interval((timeout / 2).max(Duration::from_millis(1)));
    loop {
        tick.tick().await;
    }
}

/// Starts every shard of stream `index` on its own thread. The channel closes when all of them
/// (of every stream), and every request they sent, are finished.
pub(crate) fn spawn_shards(
    cfg: &Arc<Config>,
    index: usize,
    tx: mpsc::UnboundedSender<Msg>,
    stop: watch::Receiver<bool>,
    start: Instant,
) -> std::io::Result<()> {
    let stream = &cfg.streams[index];
    let total = cfg.duration.map_or(u64::MAX, |d| stream.load.total(d));
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let shards = shard_count(stream.load.peak(), stream.max_inflight, cores);
    // One seed per run and stream: `{{word}}` differs between runs, and is the same on every
    // shard of a stream, whichever shard sends a request.
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
        ^ index as u64;
    for shard in 0..shards {
        let plan = Plan {
            stream: index,
            load: stream.load.clone(),
            total,
            write_ratio: stream.write_ratio,
            max_inflight: slots_of_shard(stream.max_inflight, shard, shards),
            timeout: cfg.timeout,
            shard,
            shards,
        };
        let (cfg, tx, stop) = (cfg.clone(), tx.clone(), stop.clone());
        // No signal or process driver: Ctrl-C is the collector's business.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()?;
        std::thread::Builder::new()
            .name(format!("firedrill-{index}-{shard}"))
            .spawn(move || {
                // As a task, not as the `block_on` future itself: waking that one always goes
                // through the runtime's eventfd, a write and a read per request.
                runtime.block_on(async move {
                    let sender = Arc::new(Sender::new(
                        &cfg.streams[index],
                        cfg.timeout,
                        cfg.ledger.is_some(),
                        seed,
                        cfg.tls.clone(),
                    ));
                    tokio::spawn(keep_timer_wheel_warm(plan.timeout));
                    let _ = tokio::spawn(run(plan, sender, tx, stop, start)).await;
                })
            })?;
    }
    Ok(())
}

/// Ctrl-C, as the schedule sees it.
struct StopSignal {
    rx: watch::Receiver<bool>,
    /// False once the sender is gone: nobody can stop us any more, so keep to the plan.
    open: bool,
}

impl StopSignal {
    /// Runs `fut` to its end, or returns `None` as soon as a stop is asked for.
    async fn race<T>(&mut self, fut: impl Future<Output = T>) -> Option<T> {
        let mut fut = std::pin::pin!(fut);
        loop {
            tokio::select! {
                biased;
                changed = self.rx.changed(), if self.open => match changed {
                    Ok(()) if *self.rx.borrow() => return None,
                    Ok(()) => {}
                    Err(_) => self.open = false,
                },
                v = &mut fut => return Some(v),
            }
        }
    }
}

/// Runs one shard's schedule until the plan is done or `stop` turns true, then waits for its
/// requests in flight (each ends by its deadline).
///
/// Each slot is a task for the whole run, not one per request: a request's task no longer has
/// to be allocated, copied and freed (its future is about 2 KB), nor a slot taken and given back.
/// The free slots take turns at the clock: one of them (the leader) sleeps until the next
/// request is due, claims it, hands the clock to another free slot, and sends it. A slot whose
/// request ends takes the clock itself when nobody holds it; when every slot is busy, that is
/// the only way the clock moves, so a saturated shard wakes no other task at all.
pub(crate) async fn run(
    plan: Plan,
    sender: Arc<Sender>,
    tx: mpsc::UnboundedSender<Msg>,
    stop: watch::Receiver<bool>,
    start: Instant,
) {
    let shard = Arc::new(Shard {
        busy: format!(
            "all {} slots (--max-inflight) were waiting on the server",
            plan.max_inflight * plan.shards as usize
        )
        .into(),
        behind: "the client fell behind its schedule by more than --timeout".into(),
        turn: Mutex::new(Turn {
            next: plan.shard,
            leader: false,
            vacant: false,
            idle: 0,
            stopped: false,
        }),
        called: Notify::new(),
        timer: Timer::new(),
        plan,
        sender,
        tx,
        start,
    });
    let slots: Vec<_> = (0..shard.plan.max_inflight)
        .map(|_| {
            let stop = StopSignal {
                rx: stop.clone(),
                open: true,
            };
            tokio::spawn(slot(shard.clone(), stop))
        })
        .collect();
    // A current-thread runtime drops its tasks when `block_on` returns: wait for them first.
    for s in slots {
        let _ = s.await;
    }
}

/// What a shard's slots share.
struct Shard {
    plan: Plan,
    sender: Arc<Sender>,
    tx: mpsc::UnboundedSender<Msg>,
    start: Instant,
    timer: Timer,
    turn: Mutex<Turn>,
    /// Free slots wait here for the clock.
    called: Notify,
    busy: Arc<str>,
    behind: Arc<str>,
}

/// Who holds the clock, and the next request to claim. Only ever locked between two awaits.
struct Turn {
    /// This shard's next request not yet claimed.
    next: u64,
    /// A slot holds the clock.
    leader: bool,
    /// Nobody held the clock, and no slot was free to take it: the requests that fell due
    /// meanwhile found no slot.
    vacant: bool,
    /// Free slots waiting to be called.
    idle: usize,
    stopped: bool,
}

impl Shard {
    fn turn(&self) -> std::sync::MutexGuard<'_, Turn> {
        self.turn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes the clock, waiting for it if another slot holds it; `None` when the run is over.
    async fn take_clock(&self) -> Option<()> {
        loop {
            // Listening before looking: a call, or the end, made after the look reaches it.
            let called = self.called.notified();
            let mut called = std::pin::pin!(called);
            called.as_mut().enable();
            {
                let mut t = self.turn();
                if t.stopped || t.next >= self.plan.total {
                    drop(t);
                    self.end();
                    return None;
                }
                if !t.leader {
                    t.leader = true;
                    return Some(());
                }
                t.idle += 1;
            }
            called.await;
            self.turn().idle -= 1;
        }
    }

    /// Hands the clock on: to a free slot if there is one, else to the next slot whose request
    /// ends.
    fn give_clock(&self) {
        let mut t = self.turn();
        t.leader = false;
        if t.idle > 0 {
            drop(t);
            self.called.notify_one();
        } else {
            t.vacant = true;
        }
    }

    /// The run is over for every slot: the free ones stop waiting (once).
    fn end(&self) {
        let mut t = self.turn();
        t.leader = false;
        if std::mem::replace(&mut t.stopped, true) {
            return;
        }
        drop(t);
        self.called.notify_waiters();
    }

    /// With the clock held: waits until the next request is due and claims it; `None` when
    /// stopped or the plan is done. Requests that fell due while no slot was free are dropped,
    /// except the newest, which goes out now, late, its lateness counted in its latency.
    async fn claim(&self, stop: &mut StopSignal) -> Option<(u64, Duration)> {
        let plan = &self.plan;
        let step = plan.shards;
        loop {
            let index = {
                let mut t = self.turn();
                if t.next >= plan.total {
                    return None;
                }
                if std::mem::take(&mut t.vacant) {
                    let due_by = plan
                        .load
                        .last_due_by(self.start.elapsed())
                        .min(plan.total - 1);
                    let newest = last_of_shard(due_by, plan.shard, step).max(t.next);
                    if newest > t.next {
                        let _ = self.tx.send(Msg::Dropped {
                            stream: plan.stream,
                            first: t.next,
                            end: newest,
                            step,
                            reason: self.busy.clone(),
                        });
                        t.next = newest;
                    }
                }
                t.next
            };
            let scheduled = plan.load.due(index);
            stop.race(self.timer.sleep_until(self.start + scheduled))
                .await?;
            self.turn().next = index + step;
            if self.start.elapsed() >= scheduled + plan.timeout {
                // The client itself stalled (suspended, starved of CPU) longer than the timeout.
                let _ = self.tx.send(Msg::Dropped {
                    stream: plan.stream,
                    first: index,
                    end: index + 1,
                    step,
                    reason: self.behind.clone(),
                });
                continue;
            }
            return Some((index, scheduled));
        }
    }
}

/// One slot, for the whole run: takes the clock in turn, claims a request, sends it.
async fn slot(shard: Arc<Shard>, mut stop: StopSignal) {
    let plan = &shard.plan;
    while shard.take_clock().await.is_some() {
        let Some((index, scheduled)) = shard.claim(&mut stop).await else {
            shard.end();
            return;
        };
        shard.give_clock();
        let lag = shard.start.elapsed().saturating_sub(scheduled);
        let _ = shard.tx.send(Msg::Sent {
            stream: plan.stream,
            scheduled,
            lag,
        });
        let write = is_write(index, plan.write_ratio);
        let outcome = shard
            .sender
            .send(index, write, (shard.start + scheduled).into())
            .await;
        let _ = shard.tx.send(Msg::Done {
            stream: plan.stream,
            index,
            scheduled,
            completed: shard.start.elapsed(),
            outcome,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_split_requests_and_slots() {
        assert_eq!(last_of_shard(10, 0, 2), 10);
        assert_eq!(last_of_shard(11, 0, 2), 10);
        assert_eq!(last_of_shard(11, 1, 2), 11);
        assert_eq!(last_of_shard(12, 2, 3), 11);
        assert_eq!(last_of_shard(7, 0, 1), 7);
        assert_eq!(last_of_shard(0, 1, 2), 1);
        assert_eq!(shard_count(50.0, 60, 2), 1);
        assert_eq!(shard_count(2000.0, 1000, 2), 1);
        assert_eq!(shard_count(2000.0, 1000, 1), 1);
        assert_eq!(shard_count(2000.0, 1000, 6), 3);
        assert_eq!(shard_count(2000.0, 1000, 16), 4);
        assert_eq!(shard_count(2000.0, 2, 16), 2);
        assert_eq!(shard_count(2000.0, 1, 2), 1);
        assert_eq!(slots_of_shard(5, 0, 2), 3);
        assert_eq!(slots_of_shard(5, 1, 2), 2);
        assert_eq!(slots_of_shard(1000, 3, 4), 250);
    }
}
