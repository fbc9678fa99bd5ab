//! The nodes of one `up` start paused and run together. Under emulation a guest that runs takes
//! a core from the first instruction, so the nodes started first slowed down the starts of the
//! others: starting the four nodes of three-tier on two cores, one start in eight took
//! 1.26-1.28 s. Started paused (QEMU up, its devices ready, no guest code run yet), each start
//! only shares the host with the other starts, and every guest is then let run at once.
//!
//! A node that needs no start, or fails before it, leaves the gate (its ticket is dropped), and
//! no node waits longer than `max_wait` for the others: a libvirt that takes minutes to define
//! one node (see `slow_libvirt`) does not hold the rest paused.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::watch;

/// How long a node started paused waits for the others to be started too.
pub(crate) const MAX_WAIT: Duration = Duration::from_secs(2);

struct Gate {
    /// Tickets neither used nor dropped yet.
    out: AtomicUsize,
    open: watch::Sender<bool>,
}

/// One node's place at the gate.
pub(crate) struct Ticket {
    gate: Option<Arc<Gate>>,
    max_wait: Duration,
}

/// One ticket per node of the `up`.
pub(crate) fn tickets(nodes: usize, max_wait: Duration) -> Vec<Ticket> {
    let gate = Arc::new(Gate {
        out: AtomicUsize::new(nodes),
        open: watch::Sender::new(nodes == 0),
    });
    (0..nodes)
        .map(|_| Ticket {
            gate: Some(gate.clone()),
            max_wait,
        })
        .collect()
}

impl Gate {
    /// Called once per ticket (it is taken out of its `Option`).
    fn arrive(&self) {
        if self.out.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.open.send_replace(true);
        }
    }
}

impl Ticket {
    /// This node is started, paused: returns once every node of the `up` is started or out of
    /// the gate, or after `max_wait`.
    pub(crate) async fn started(mut self) {
        let Some(gate) = self.gate.take() else {
            return;
        };
        let mut open = gate.open.subscribe();
        gate.arrive();
        let _ = tokio::time::timeout(self.max_wait, open.wait_for(|o| *o)).await;
    }
}

impl Drop for Ticket {
    /// A node that needs no start, or failed: the others stop waiting for it.
    fn drop(&mut self) {
        if let Some(gate) = self.gate.take() {
            gate.arrive();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    const LONG: Duration = Duration::from_secs(30);

    #[tokio::test]
    async fn every_node_runs_once_the_last_one_is_started() {
        let mut tickets = tickets(3, LONG);
        let last = tickets.pop().unwrap();
        let waiting: Vec<_> = tickets
            .into_iter()
            .map(|t| tokio::spawn(t.started()))
            .collect();
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            waiting.iter().all(|w| !w.is_finished()),
            "released before the last start"
        );
        let began = Instant::now();
        last.started().await;
        for w in waiting {
            w.await.unwrap();
        }
        assert!(began.elapsed() < Duration::from_secs(1));
    }

    #[tokio::test]
    async fn a_node_that_needs_no_start_or_failed_leaves_the_gate() {
        let mut tickets = tickets(3, LONG);
        let (running, failed) = (tickets.pop().unwrap(), tickets.pop().unwrap());
        let starting = tokio::spawn(tickets.pop().unwrap().started());
        drop(running);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            !starting.is_finished(),
            "released with a node still to start"
        );
        drop(failed);
        tokio::time::timeout(Duration::from_secs(5), starting)
            .await
            .expect("released once the failed node left")
            .unwrap();
    }

    #[tokio::test]
    async fn no_node_waits_longer_than_max_wait_for_a_slow_one() {
        let mut tickets = tickets(2, Duration::from_millis(200));
        let _slow = tickets.pop().unwrap();
        let began = Instant::now();
        tickets.pop().unwrap().started().await;
        let waited = began.elapsed();
        assert!(
            waited >= Duration::from_millis(200) && waited < Duration::from_secs(5),
            "{waited:?}"
        );
    }

    #[tokio::test]
    async fn a_lone_node_does_not_wait() {
        let began = Instant::now();
        tickets(1, LONG).pop().unwrap().started().await;
        assert!(began.elapsed() < Duration::from_secs(1));
    }
}
