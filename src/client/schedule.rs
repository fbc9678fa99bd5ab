//! The open loop. Request i is due at start + i/rate, whatever the server does; if no slot is free
//! at that moment (every `--max-inflight` slot waits on the server), it is counted as dropped.
//!
//! It sleeps on a timerfd (`timer.rs`), not on tokio's millisecond timer, so that the client's own
//! lag stays far below the latencies it measures.

use super::request::{Outcome, Sender, is_write};
use super::timer::Timer;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Semaphore, mpsc, watch};

/// What the scheduler and the request tasks tell the collector. Times are offsets from the start.
#[derive(Debug)]
pub(crate) enum Msg {
    Sent {
        scheduled: Duration,
        lag: Duration,
    },
    Done {
        index: u64,
        scheduled: Duration,
        completed: Duration,
        outcome: Outcome,
    },
    Dropped {
        index: u64,
        scheduled: Duration,
        reason: String,
    },
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Plan {
    pub(crate) rate: f64,
    /// `None`: until stopped.
    pub(crate) total: Option<u64>,
    pub(crate) write_ratio: f64,
    pub(crate) max_inflight: usize,
    pub(crate) timeout: Duration,
}

/// When request `index` is due.
pub(crate) fn due(index: u64, rate: f64) -> Duration {
    Duration::from_secs_f64(index as f64 / rate)
}

/// How many requests a run of `duration` holds: those due strictly before its end.
pub(crate) fn total_requests(rate: f64, duration: Duration) -> u64 {
    // The epsilon keeps 2000/s * 10 s at 20,000 despite rounding in the product.
    (rate * duration.as_secs_f64() - 1e-9).ceil().max(0.0) as u64
}

/// Runs the schedule until the plan is done or `stop` turns true. Spawned on the runtime, so
/// that each request task starts on the worker the timer woke. The channel closes when this task
/// and every request it started are finished.
pub(crate) async fn run(
    plan: Plan,
    sender: Arc<Sender>,
    tx: mpsc::UnboundedSender<Msg>,
    mut stop: watch::Receiver<bool>,
    start: Instant,
) {
    let timer = Timer::new();
    let slots = Arc::new(Semaphore::new(plan.max_inflight));
    let mut index = 0u64;
    let mut stop_open = true;
    while plan.total.is_none_or(|n| index < n) {
        let scheduled = due(index, plan.rate);
        tokio::select! {
            biased;
            changed = stop.changed(), if stop_open => {
                match changed {
                    Ok(()) if *stop.borrow() => return,
                    Ok(()) => {}
                    // Nobody can stop us any more: keep to the plan.
                    Err(_) => stop_open = false,
                }
                continue;
            }
            _ = timer.sleep_until(start + scheduled) => {}
        }
        if start.elapsed() >= scheduled + plan.timeout {
            // The client itself stalled (suspended, starved of CPU) longer than the timeout.
            let _ = tx.send(Msg::Dropped {
                index,
                scheduled,
                reason: "the client fell behind its schedule by more than --timeout".into(),
            });
        } else if let Ok(slot) = slots.clone().try_acquire_owned() {
            let tx = tx.clone();
            let sender = sender.clone();
            let write = is_write(index, plan.write_ratio);
            tokio::spawn(async move {
                let lag = start.elapsed().saturating_sub(scheduled);
                let _ = tx.send(Msg::Sent { scheduled, lag });
                let outcome = sender.send(index, write, (start + scheduled).into()).await;
                drop(slot);
                let _ = tx.send(Msg::Done {
                    index,
                    scheduled,
                    completed: start.elapsed(),
                    outcome,
                });
            });
        } else {
            let _ = tx.send(Msg::Dropped {
                index,
                scheduled,
                reason: format!(
                    "all {} slots (--max-inflight) were waiting on the server",
                    plan.max_inflight
                ),
            });
        }
        index += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_times_and_totals() {
        assert_eq!(due(0, 50.0), Duration::ZERO);
        assert_eq!(due(50, 50.0), Duration::from_secs(1));
        assert_eq!(due(1, 2000.0), Duration::from_micros(500));
        assert_eq!(total_requests(50.0, Duration::from_secs(2)), 100);
        assert_eq!(total_requests(2000.0, Duration::from_secs(10)), 20_000);
        assert_eq!(total_requests(0.5, Duration::from_secs(3)), 2);
        assert_eq!(total_requests(3.0, Duration::from_millis(500)), 2);
        assert_eq!(total_requests(0.1, Duration::from_secs(1)), 1);
    }
}
