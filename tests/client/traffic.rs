//! Runs against misbehaving servers: the counts per class, the open loop holding its rate while
//! the server stalls, the outage stretch, the report, and the lab's events merged into the output.

use super::Client;
use super::server::{Action, Request, Server, TODOS, healthy};
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(15);

fn ts(v: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(v.as_str().expect("a time"))
        .expect("RFC 3339")
        .with_timezone(&Utc)
}

fn millis_between(a: &Value, b: &Value) -> i64 {
    (ts(b) - ts(a)).num_milliseconds()
}

/// 50 requests a second for 2 s: 100 requests, one every 20 ms.
fn fifty_for_two_seconds(url: &str) -> Client {
    Client::new()
        .args(&["--url", url, "--rate", "50", "--duration", "2s"])
        .with_report()
}

#[test]
fn healthy_server_reads_and_writes_all_ok() {
    let server = Server::start(|_, req| healthy(req));
    let run = fifty_for_two_seconds(&server.url())
        .args(&[
            "--write-ratio",
            "0.1",
            "--expect",
            "todos[].name:string",
            "--expect",
            "todos[].completed:bool",
        ])
        .run(LIMIT);
    assert_eq!(
        run.code, 0,
        "stdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
    assert_eq!(
        (run.count("scheduled"), run.count("sent"), run.count("ok")),
        (100, 100, 100)
    );
    assert_eq!((run.count("failed"), run.count("dropped")), (0, 0));
    assert_eq!(run.summary()["slo_met"], true);
    assert_eq!(run.summary()["availability"], 100.0);
    assert_eq!(run.summary()["longest_failure"], Value::Null);
    assert_eq!(run.per_second_sum("sent"), 100);
    assert_eq!(run.per_second_sum("ok"), 100);

    // Exactly every tenth request is a write, with a generated item.
    let got = server.received();
    let posts: Vec<&Request> = got.iter().filter(|r| r.method == "POST").collect();
    assert_eq!(posts.len(), 10);
    assert_eq!(got.iter().filter(|r| r.method == "GET").count(), 90);
    for p in posts {
        assert_eq!(p.path, "/todos");
        let item: Value = serde_json::from_str(&p.body).expect("JSON item");
        assert!(
            item["name"]
                .as_str()
                .is_some_and(|n| n.starts_with("firedrill item "))
        );
        assert_eq!(item["completed"], false);
    }

    // Not a terminal: plain text, one line per second, then the summary.
    assert!(!run.stdout.contains('\x1b'), "{}", run.stdout);
    assert!(
        run.stdout
            .contains(" +0s  sent 50  ok 50  failed 0  dropped 0  ")
    );
    assert!(
        run.stdout
            .contains("  scheduled 100  sent 100  ok 100  failed 0  dropped 0\n")
    );
    assert!(
        run.stdout
            .contains("availability 100.000% against an SLO of 99.9%: met")
    );
}

#[test]
fn errors_for_a_while_are_counted_and_the_outage_is_located() {
    // Requests 21..=40 (due from 0.40 s to 0.78 s) get a 500.
    let server = Server::start(|n, req| {
        if (21..=40).contains(&n) {
            Action::Respond(500, r#"{"error":"boom"}"#.into())
        } else {
            healthy(req)
        }
    });
    let run = fifty_for_two_seconds(&server.url()).run(LIMIT);
    assert_eq!(run.code, 1, "the SLO was missed; stdout:\n{}", run.stdout);
    assert_eq!(
        (run.count("ok"), run.class("5xx"), run.count("failed")),
        (80, 20, 20)
    );
    assert_eq!(run.summary()["availability"], 80.0);
    assert_eq!(run.summary()["slo_met"], false);
    let stretch = &run.summary()["longest_failure"];
    assert_eq!(stretch["requests"], 20);
    let from_start = millis_between(&run.summary()["start"], &stretch["start"]);
    assert!((399..=401).contains(&from_start), "{from_start} ms");
    assert!((379..=381).contains(&millis_between(&stretch["start"], &stretch["end"])));
    assert!(
        run.stdout.contains("  5xx           20  HTTP 500\n"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("longest failure stretch: 20 requests, ")
    );
    assert!(
        run.stdout
            .contains("availability 80.000% against an SLO of 99.9%: MISSED")
    );
    // The whole outage fell in the first second.
    let first = run.seconds()[0];
    assert_eq!(
        (first["ok"].as_u64(), first["failed"].as_u64()),
        (Some(30), Some(20))
    );
    assert_eq!(first["classes"]["5xx"], 20);
    assert_eq!(first["success_ratio"], 0.6);
}

#[test]
fn a_stall_shows_as_timeouts_and_the_rate_holds() {
    // Requests 21..=40 are read and never answered.
    let server = Server::start(|n, req| {
        if (21..=40).contains(&n) {
            Action::Stall
        } else {
            healthy(req)
        }
    });
    let run = fifty_for_two_seconds(&server.url())
        .args(&["--timeout", "500ms"])
        .run(LIMIT);
    assert_eq!(run.code, 1);
    assert_eq!((run.count("ok"), run.class("timeout")), (80, 20));
    assert_eq!((run.count("sent"), run.count("dropped")), (100, 0));
    // No slowdown: the client kept sending on schedule through the stall. A closed-loop client
    // would have waited out 20 x 0.5 s and managed under 10/s; the margins below only absorb a
    // busy CI machine descheduling the client for a moment.
    let achieved = run.summary()["achieved_rate"].as_f64().expect("rate");
    assert!((45.0..=55.0).contains(&achieved), "achieved {achieved}/s");
    for s in run
        .seconds()
        .iter()
        .filter(|s| s["second"].as_u64() < Some(2))
    {
        let sent = s["sent"].as_u64().expect("count");
        assert!((40..=60).contains(&sent), "{s}");
        assert!(s["lag_max_ms"].as_f64() < Some(250.0), "{s}");
    }
    // Stalled requests are due from 0.40 s to 0.78 s and time out 0.5 s later: 5 before the end
    // of the first second, 15 in the next; the rest are still in flight as the first one ends.
    let (first, second) = (run.seconds()[0], run.seconds()[1]);
    assert_eq!(first["classes"]["timeout"], 5, "{first}");
    assert_eq!(second["classes"]["timeout"], 15, "{second}");
    assert!(first["inflight"].as_u64() >= Some(12), "{first}");
    assert!(
        run.stdout.contains("no complete answer within 500ms"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_stall_beyond_the_inflight_cap_drops_requests_on_schedule() {
    // Requests 11..=15 stall and fill all 5 slots for a second: the ones due meanwhile are
    // dropped, counted, and not sent late.
    let server = Server::start(|n, req| {
        if (11..=15).contains(&n) {
            Action::Stall
        } else {
            healthy(req)
        }
    });
    let run = fifty_for_two_seconds(&server.url())
        .args(&["--timeout", "1s", "--max-inflight", "5"])
        .run(LIMIT);
    assert_eq!(run.code, 1);
    let (ok, timeout, dropped) = (run.count("ok"), run.class("timeout"), run.count("dropped"));
    assert_eq!(timeout, 5);
    // Due from 0.30 s to about 1.20 s: 45 requests, give or take the one due as a slot frees.
    assert!((44..=46).contains(&dropped), "dropped {dropped}");
    assert_eq!(ok + timeout + dropped, 100);
    assert_eq!(run.count("sent"), 100 - dropped);
    assert_eq!(server.received().len() as u64, 100 - dropped);
    assert!(
        run.stdout
            .contains("all 5 slots (--max-inflight) were waiting on the server")
    );
    let stretch = &run.summary()["longest_failure"];
    assert_eq!(stretch["requests"], timeout + dropped);
}

#[test]
fn a_closed_port_is_refused() {
    let server = Server::start(|n, req| {
        if n == 40 {
            Action::RespondThenClosePort(200, TODOS.into())
        } else {
            healthy(req)
        }
    });
    let run = fifty_for_two_seconds(&server.url()).run(LIMIT);
    assert_eq!(run.code, 1);
    assert_eq!(
        (run.count("ok"), run.class("refused")),
        (40, 60),
        "{}",
        run.stdout
    );
    assert_eq!(run.count("failed"), 60);
    let stretch = &run.summary()["longest_failure"];
    assert_eq!(stretch["requests"], 60);
    let from_start = millis_between(&run.summary()["start"], &stretch["start"]);
    assert!((799..=801).contains(&from_start), "{from_start} ms");
    assert!(run.stdout.contains("Connection refused"), "{}", run.stdout);
}

#[test]
fn a_changed_json_shape_fails_the_expect_checks() {
    let server = Server::start(|n, req| {
        if n <= 30 {
            healthy(req)
        } else {
            Action::Respond(
                200,
                r#"{"todos":[{"title":"Get Milk","done":"no"}]}"#.into(),
            )
        }
    });
    let run = fifty_for_two_seconds(&server.url())
        .args(&[
            "--expect",
            "todos[].name:string",
            "--expect",
            "todos[].completed:bool",
        ])
        .run(LIMIT);
    assert_eq!(run.code, 1);
    assert_eq!((run.count("ok"), run.class("json")), (30, 70));
    assert!(
        run.stdout.contains(
            "  json          70  todos[0].name is missing (--expect todos[].name:string)\n"
        ),
        "{}",
        run.stdout
    );
}

#[test]
fn lab_events_appear_in_their_second_and_in_the_report() {
    let server = Server::start(|_, req| healthy(req));
    let client = Client::new()
        .args(&["--lab", "minimal", "--rate", "20", "--duration", "3s"])
        .with_report();
    let lab = client.home().join("labs/minimal");
    std::fs::create_dir_all(&lab).expect("mkdir");
    // The state `up` writes for labs/minimal.yaml with its app node `web` (tests/golden/state),
    // moved to this server.
    let golden = crate::exe::repository().join("tests/golden/state/minimal.json");
    let state = std::fs::read_to_string(golden).expect("golden state");
    assert!(state.contains("\"app_port\": 8080"), "{state}");
    std::fs::write(
        lab.join("state.json"),
        state.replace("10.77.0.10", "127.0.0.1").replace(
            "\"app_port\": 8080",
            &format!("\"app_port\": {}", server.port),
        ),
    )
    .expect("state");
    let events = lab.join("events.jsonl");
    let event = |message: &str| {
        format!(
            "{{\"ts\":\"{}\",\"kind\":\"fault-injected\",\"node\":\"app1\",\"message\":\"{message}\"}}\n",
            Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        )
    };
    std::fs::write(&events, event("before the run")).expect("old event");

    let child = client.spawn();
    std::thread::sleep(Duration::from_millis(1300));
    let line = event("fault disk-full injected on app1");
    let mut log = std::fs::OpenOptions::new()
        .append(true)
        .open(&events)
        .expect("open log");
    std::io::Write::write_all(&mut log, line.as_bytes()).expect("append");
    let run = client.wait(child, LIMIT);

    assert_eq!(
        run.code, 0,
        "stdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
    assert_eq!(run.count("ok"), 60, "the URL came from the lab state");
    assert!(!run.stdout.contains("before the run"));
    let lines: Vec<&str> = run.stdout.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.ends_with("  event fault-injected: fault disk-full injected on app1"))
        .unwrap_or_else(|| panic!("no event line in:\n{}", run.stdout));
    assert!(
        lines[at + 1].contains(" sent "),
        "a second's line follows: {}",
        lines[at + 1]
    );

    // In the report, the event sits just before the record of the second it happened in.
    let i = run
        .report
        .iter()
        .position(|v| v["type"] == "event")
        .expect("an event record");
    let e = &run.report[i];
    assert_eq!(e["kind"], "fault-injected");
    assert_eq!(e["node"], "app1");
    assert_eq!(e["message"], "fault disk-full injected on app1");
    assert_eq!(
        run.report.iter().filter(|v| v["type"] == "event").count(),
        1
    );
    let next = &run.report[i + 1];
    assert_eq!(next["type"], "second");
    let into_second = millis_between(&next["ts"], &e["ts"]);
    assert!((0..1000).contains(&into_second), "{e} then {next}");
    assert!(i == 0 || run.report[i - 1]["type"] == "second");
}

#[test]
fn ctrl_c_ends_the_run_with_a_summary() {
    let server = Server::start(|_, req| healthy(req));
    let client = Client::new()
        .args(&["--url", &server.url(), "--rate", "20"])
        .with_report();
    let child = client.spawn();
    std::thread::sleep(Duration::from_millis(1500));
    // SAFETY: kill(2) on the PID of a child this test started and has not reaped.
    let rc = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    assert_eq!(rc, 0);
    let run = client.wait(child, Duration::from_secs(5));
    assert_eq!(
        run.code, 0,
        "stdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
    let scheduled = run.count("scheduled");
    assert!((20..=40).contains(&scheduled), "{scheduled}");
    assert_eq!(run.count("ok"), scheduled);
    assert!(run.stdout.contains("summary "));
}
