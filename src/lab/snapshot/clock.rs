//! Guest clocks after a pause or a revert: a paused guest's clock stands still, and a reverted
//! guest wakes with the clock of the snapshot's moment. Each is set from the host's clock over
//! the lab's shell (`date -s`; the image has no guest agent, and `date` needs nothing else).

use crate::lab::Nodes;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long a node may take to answer after a revert.
const REACH: Duration = Duration::from_secs(30);
/// The pause between two tries to reach a node just reverted.
const RETRY: Duration = Duration::from_secs(1);

/// `date` that sets the clock to `now` (UNIX seconds and nanoseconds), quiet.
fn set_clock(now: Duration) -> String {
    format!(
        "date -u -s @{}.{:09} >/dev/null",
        now.as_secs(),
        now.subsec_nanos()
    )
}

/// Sets each node's clock from the host's (`set_one`), all nodes at once: the nodes whose clock
/// could not be set, with why.
pub(super) async fn sync<N: Nodes>(nodes: &N, names: &[String]) -> Vec<String> {
    let each = names.iter().map(|node| set_one(nodes, node));
    futures::future::join_all(each)
        .await
        .into_iter()
        .flatten()
        .collect()
}

/// Sets one node's clock from the host's: the node's failure, if any.
///
/// The first command opens the session (after a revert, cold: seconds under TCG); only then is
/// the host's time read and sent, so the clock is set to within the one-way delay of one
/// command on an open session (a few milliseconds; under TCG tens). Adding half of the first
/// command's round trip, as this once did, set clocks up to a second ahead after a revert:
/// that round trip is mostly the login.
pub(super) async fn set_one<N: Nodes>(nodes: &N, node: &str) -> Option<String> {
    // Right after a revert the node's new network port may not forward yet ("no route to
    // host" for a second or two): try for up to 30 s.
    let deadline = Instant::now() + REACH;
    let first = loop {
        let first = nodes.run(node, "true").await;
        if first.is_ok() || Instant::now() >= deadline {
            break first;
        }
        tokio::time::sleep(RETRY).await;
    };
    let result = match first {
        Ok(_) => {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default();
            nodes.run(node, &set_clock(now)).await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(out) if out.status == 0 => None,
        Ok(out) => Some(format!("{node}: date: {}", out.stderr_tail(2))),
        Err(e) => Some(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_command_is_exact_to_the_nanosecond() {
        assert_eq!(
            set_clock(Duration::new(1_763_800_000, 5_000_000)),
            "date -u -s @1763800000.005000000 >/dev/null"
        );
    }

    #[tokio::test]
    async fn clocks_are_set_from_the_host_and_failures_are_named() {
        use crate::remote::fake::{FakeRemote, exact, exit, ok, prefix};
        let nodes = crate::lab::FakeNodes::new(vec![
            FakeRemote::new("app")
                .logged_in_as_root()
                // Just reverted: the first attempt finds no route; the next one works.
                .fail_once(exact("sh -c true"), "cannot connect: No route to host")
                .once(exact("sh -c true"), ok(""))
                .once(prefix("sh -c 'date -u -s @"), ok("")),
            FakeRemote::new("db")
                .logged_in_as_root()
                .once(exact("sh -c true"), ok(""))
                .once(
                    prefix("sh -c 'date -u -s @"),
                    exit(1, "date: cannot set date: Operation not permitted"),
                ),
        ]);
        let before = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let started = Instant::now();
        let failures = sync(&nodes, &["app".to_string(), "db".to_string()]).await;
        // app answered at the second try, a pause later.
        assert!(started.elapsed() >= RETRY, "{failures:?}");
        assert_eq!(
            failures,
            ["db: date: date: cannot set date: Operation not permitted"]
        );
        let app = nodes.nodes["app"].commands();
        assert_eq!(app.len(), 3, "{app:?}");
        let secs: u64 = app[2]
            .strip_prefix("sh -c 'date -u -s @")
            .and_then(|r| r.split('.').next())
            .and_then(|n| n.parse().ok())
            .unwrap();
        assert!(secs >= before && secs <= before + 5, "{app:?}");
        for n in nodes.nodes.values() {
            n.assert_all_used();
        }
    }
}
