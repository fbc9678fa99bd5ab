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
use std::time::{Duration, Instant};
use tokio::sync::{Semaphore, mpsc, watch};

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

/// One shard below 1,000 req/s, where a thread is mostly idle; above, one per core (at most 4,
/// and never more than there are slots to share).
pub(crate) fn shard_count(rate: f64, max_inflight: usize, cores: usize) -> u64 {
    if rate < 1000.0 {
        return 1;
    }
    cores.clamp(1, 4).min(max_inflight.max(1)) as u64
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
pub(crate) async fn run(
    plan: Plan,
    sender: Arc<Sender>,
    tx: mpsc::UnboundedSender<Msg>,
    stop: watch::Receiver<bool>,
    start: Instant,
) {
    let slots = Arc::new(Semaphore::new(plan.max_inflight));
    schedule(&plan, sender, &tx, stop, start, &slots).await;
    // A current-thread runtime drops its tasks when `block_on` returns: wait for them first.
    let _ = slots.acquire_many(plan.max_inflight as u32).await;
}

async fn schedule(
    plan: &Plan,
    sender: Arc<Sender>,
    tx: &mpsc::UnboundedSender<Msg>,
    stop: watch::Receiver<bool>,
    start: Instant,
    slots: &Arc<Semaphore>,
) {
    let mut stop = StopSignal {
        rx: stop,
        open: true,
    };
    let timer = Timer::new();
    let busy: Arc<str> = format!(
        "all {} slots (--max-inflight) were waiting on the server",
        plan.max_inflight * plan.shards as usize
    )
    .into();
    let behind: Arc<str> = "the client fell behind its schedule by more than --timeout".into();
    let step = plan.shards;
    let mut held = None;
    let mut index = plan.shard;
    while index < plan.total {
        if held.is_none() {
            held = match slots.clone().try_acquire_owned() {
                Ok(slot) => Some(slot),
                Err(_) => {
                    // Every slot waits on the server: wait for one before the clock, which would
                    // be time wasted. The requests that fell due meanwhile found no slot and are
                    // dropped, except the newest, which goes out now, late, its lateness
                    // counted in its latency.
                    let Some(Ok(slot)) = stop.race(slots.clone().acquire_owned()).await else {
                        return;
                    };
                    let due_by = plan.load.last_due_by(start.elapsed()).min(plan.total - 1);
                    let newest = last_of_shard(due_by, plan.shard, step).max(index);
                    if newest > index {
                        let _ = tx.send(Msg::Dropped {
                            stream: plan.stream,
                            first: index,
                            end: newest,
                            step,
                            reason: busy.clone(),
                        });
                        index = newest;
                    }
                    Some(slot)
                }
            };
        }
        let scheduled = plan.load.due(index);
        if stop
            .race(timer.sleep_until(start + scheduled))
            .await
            .is_none()
        {
            return;
        }
        if start.elapsed() >= scheduled + plan.timeout {
            // The client itself stalled (suspended, starved of CPU) longer than the timeout.
            let _ = tx.send(Msg::Dropped {
                stream: plan.stream,
                first: index,
                end: index + 1,
                step,
                reason: behind.clone(),
            });
            index += step;
            continue;
        }
        let Some(slot) = held.take() else {
            continue;
        };
        let tx = tx.clone();
        let sender = sender.clone();
        let write = is_write(index, plan.write_ratio);
        let stream = plan.stream;
        tokio::spawn(async move {
            let lag = start.elapsed().saturating_sub(scheduled);
            let _ = tx.send(Msg::Sent {
                stream,
                scheduled,
                lag,
            });
            let outcome = sender.send(index, write, (start + scheduled).into()).await;
            drop(slot);
            let _ = tx.send(Msg::Done {
                stream,
                index,
                scheduled,
                completed: start.elapsed(),
                outcome,
            });
        });
        index += step;
        // Behind schedule, the timer returns at once and this loop would hold the thread, and
        // the answers that free slots could not be read. Let them run between requests.
        if start.elapsed() > plan.load.due(index) {
            tokio::task::yield_now().await;
        }
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
        assert_eq!(shard_count(2000.0, 1000, 2), 2);
        assert_eq!(shard_count(2000.0, 1000, 16), 4);
        assert_eq!(shard_count(2000.0, 1, 2), 1);
        assert_eq!(slots_of_shard(5, 0, 2), 3);
        assert_eq!(slots_of_shard(5, 1, 2), 2);
        assert_eq!(slots_of_shard(1000, 3, 4), 250);
    }
}
