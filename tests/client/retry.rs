//! A server that closes keep-alive connections as requests go out on them: a GET is sent once
//! more on a new connection and succeeds; a POST is never resent; a new connection's close is a
//! failure whatever the method.

use super::server::{Action, Server, healthy};
use super::{Client, Run};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(15);

/// 20 requests a second for 2 s.
fn run_against(server: &Server, extra: &[&str]) -> Run {
    Client::new()
        .args(&["--url", &server.url(), "--rate", "20", "--duration", "2s"])
        .args(extra)
        .with_report()
        .run(LIMIT)
}

/// Answers the first request of each connection; closes the connection, unanswered, on any
/// later one.
fn closes_reused_connections() -> Server {
    Server::start(|_, req| {
        if req.on_connection == 1 {
            healthy(req)
        } else {
            Action::Close
        }
    })
}

#[test]
fn a_get_on_a_reused_connection_that_closes_is_resent_once_a_post_never() {
    let server = closes_reused_connections();
    let run = run_against(&server, &[]);
    assert_eq!(
        run.code, 0,
        "stdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
    assert_eq!((run.count("ok"), run.count("failed")), (40, 0));
    let retried = run.count("retried");
    let got = server.received();
    // Every request but the first found the previous one's connection idle, met its close and
    // went again on a new one: each retry is one more arrival at the server.
    assert_eq!(got.len() as u64, 40 + retried);
    assert_eq!(
        got.iter().filter(|r| r.on_connection > 1).count() as u64,
        retried
    );
    assert!(retried >= 30, "retried {retried}\n{}", run.stdout);
    assert_eq!(run.per_second_sum("retried"), retried);
    assert!(run.stdout.contains("  retried "), "{}", run.stdout);

    // The same server, POSTs: a request that reached a reused connection fails as a reset.
    let server = closes_reused_connections();
    let run = run_against(
        &server,
        &["--method", "POST", "--body", r#"{"name": "t{{seq}}"}"#],
    );
    let got = server.received();
    assert_eq!(got.len(), 40, "no POST went twice");
    let closed = got.iter().filter(|r| r.on_connection > 1).count() as u64;
    assert!(closed >= 10, "{closed} POSTs met a reused connection");
    assert_eq!(run.class("reset"), closed, "{}", run.stdout);
    assert_eq!(run.count("ok"), 40 - closed);
    assert_eq!(run.count("retried"), 0);
}

#[test]
fn a_close_on_a_new_connection_or_after_an_answer_began_is_a_failure_even_for_a_get() {
    // ... and so is a reused one that closed after the first byte of an answer.
    let server = Server::start(|_, req| {
        if req.on_connection == 1 {
            healthy(req)
        } else {
            Action::CloseMidAnswer
        }
    });
    let run = run_against(&server, &[]);
    let got = server.received();
    assert_eq!(got.len(), 40, "no GET went twice");
    let closed = got.iter().filter(|r| r.on_connection > 1).count() as u64;
    assert!(closed >= 10, "{closed} GETs met a reused connection");
    assert_eq!(run.count("failed"), closed, "{}", run.stdout);
    assert_eq!(run.count("retried"), 0);

    let server = Server::start(|_, _| Action::Close);
    let run = run_against(&server, &[]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert_eq!(run.class("reset"), 40, "{}", run.stdout);
    assert_eq!(run.count("retried"), 0);
    assert_eq!(server.received().len(), 40);
}
