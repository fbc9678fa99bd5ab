//! What a request is (`--path`, `--method`, `--header`, `--body`), several streams side by side
//! (`--streams`), and the write ledger (`--ledger`), against the local test server.

use super::Client;
use super::server::{Action, Request, Server, TODOS, healthy};
use serde_json::Value;
use std::collections::BTreeSet;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(15);

#[test]
fn the_flags_shape_every_request() {
    let server = Server::start(|_, req| healthy(req));
    let run = Client::new()
        .args(&[
            "--url",
            &server.url(),
            "--rate",
            "20",
            "--duration",
            "1s",
            "--path",
            "/items?list=home",
            "--method",
            "post",
            "--header",
            "X-Client: drill",
            "--header",
            "Accept: text/plain",
            "--body",
            r#"{"name": "task {{seq}} {{word}}", "completed": false}"#,
        ])
        .with_report()
        .run(LIMIT);
    assert_eq!(
        run.code, 0,
        "stdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
    let got = server.received();
    assert_eq!(got.len(), 20);
    let mut seqs = BTreeSet::new();
    for r in &got {
        assert_eq!(
            (r.method.as_str(), r.path.as_str()),
            ("POST", "/items?list=home")
        );
        assert_eq!(r.header("x-client"), Some("drill"));
        // The stream's header replaces the default one of the same name.
        assert_eq!(r.header("accept"), Some("text/plain"));
        assert_eq!(r.header("content-type"), Some("application/json"));
        let body: Value = serde_json::from_str(&r.body).expect("the body is JSON");
        let name = body["name"].as_str().expect("a name");
        let mut words = name.split(' ');
        assert_eq!(words.next(), Some("task"));
        seqs.insert(
            words
                .next()
                .and_then(|n| n.parse::<u64>().ok())
                .expect("a number"),
        );
        let word = words.next().expect("a word");
        assert!(
            !word.is_empty() && word.chars().all(|c| c.is_ascii_lowercase()),
            "{name}"
        );
        assert_eq!(body["completed"], false);
    }
    assert_eq!(seqs, (0..20).collect::<BTreeSet<u64>>());
    assert_eq!(run.summary()["stream"], "default");
}

/// The seeds' exercise: v1's shape is served; the old client is happy, the new one is not.
#[test]
fn two_streams_side_by_side_each_with_its_own_lines_and_summary() {
    let server = Server::start(|_, req| {
        if req.path == "/todos?v=2" {
            Action::Respond(200, r#"[{"title":"Get Milk","done":false}]"#.into())
        } else {
            Action::Respond(200, TODOS.into())
        }
    });
    let client = Client::new();
    let file = client.home().join("streams.yaml");
    std::fs::write(
        &file,
        r#"streams:
  - name: old
    rate: 20
    expect: ["todos[].name:string"]
  - name: new
    rate: 10
    path: /todos?v=2
    expect: ["[].title:string", "[].done:bool"]
  - name: new-on-v1
    rate: 10
    expect: ["[].title:string"]
"#,
    )
    .expect("write the streams file");
    let run = client
        .args(&[
            "--url",
            &server.url(),
            "--duration",
            "2s",
            "--streams",
            &file.display().to_string(),
        ])
        .with_report()
        .run(LIMIT);
    // new-on-v1 misses the SLO: exit 1.
    assert_eq!(
        run.code, 1,
        "stdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
    let summaries: Vec<&Value> = run
        .report
        .iter()
        .filter(|v| v["type"] == "summary")
        .collect();
    let by = |name: &str| {
        *summaries
            .iter()
            .find(|s| s["stream"] == name)
            .unwrap_or_else(|| panic!("no summary for {name}: {summaries:?}"))
    };
    assert_eq!(summaries.len(), 3);
    assert_eq!(
        (by("old")["sent"].as_u64(), by("old")["ok"].as_u64()),
        (Some(40), Some(40))
    );
    assert_eq!(
        (by("new")["sent"].as_u64(), by("new")["ok"].as_u64()),
        (Some(20), Some(20))
    );
    assert_eq!(by("new-on-v1")["classes"]["json"].as_u64(), Some(20));
    assert_eq!(by("new-on-v1")["slo_met"], false);
    assert_eq!(by("old")["target_rate"], 20.0);
    // Per-second records of each stream add up to its total.
    for name in ["old", "new", "new-on-v1"] {
        let sent: u64 = run
            .seconds()
            .iter()
            .filter(|s| s["stream"] == name)
            .map(|s| s["sent"].as_u64().expect("a count"))
            .sum();
        assert_eq!(sent, by(name)["sent"].as_u64().expect("sent"), "{name}");
    }
    // The server saw each stream's path.
    let got = server.received();
    assert_eq!(got.iter().filter(|r| r.path == "/todos?v=2").count(), 20);
    assert_eq!(got.iter().filter(|r| r.path == "/todos").count(), 60);
    // One line per stream per second, named; one summary each.
    assert!(
        run.stdout.contains(" +0s  old  sent 20  ok 20  failed 0"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains(" +0s  new  sent 10  ok 10  failed 0"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains(" +0s  new-on-v1  sent 10  ok 0  failed 10 (json 10)"),
        "{}",
        run.stdout
    );
    for name in ["old", "new", "new-on-v1"] {
        assert!(
            run.stdout.contains(&format!("summary of stream {name} ")),
            "{}",
            run.stdout
        );
    }
    assert!(
        run.stdout
            .contains("  the body is object, expected array (--expect [].title:string)"),
        "{}",
        run.stdout
    );
}

fn ledger_lines(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .expect("the ledger exists")
        .lines()
        .map(|l| serde_json::from_str(l).expect("every ledger line is JSON"))
        .collect()
}

/// Writes get ids 1, 2, 3... from the server; every fourth write fails with a 500.
fn numbering_server() -> Server {
    let writes = std::sync::atomic::AtomicU64::new(0);
    Server::start(move |_, req: &Request| {
        if req.method != "POST" {
            return Action::Respond(200, TODOS.into());
        }
        let n = writes.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        if n.is_multiple_of(4) {
            return Action::Respond(500, r#"{"error":"database gone"}"#.into());
        }
        let item: Value = serde_json::from_str(&req.body).expect("a JSON item");
        Action::Respond(
            201,
            serde_json::json!({"id": n, "name": item["name"], "completed": false}).to_string(),
        )
    })
}

#[test]
fn the_ledger_holds_every_acknowledged_write_and_only_those() {
    let server = numbering_server();
    // Outside the clients' homes: each goes with its run, the ledger spans both.
    let dir = tempfile::tempdir().expect("tempdir");
    let ledger = dir.path().join("ledger.jsonl");
    let ledger_arg = ledger.display().to_string();
    let run = Client::new()
        .args(&[
            "--url",
            &server.url(),
            "--rate",
            "40",
            "--duration",
            "1s",
            "--write-ratio",
            "0.5",
            "--ledger",
            &ledger_arg,
        ])
        .run(LIMIT);
    assert_eq!(
        run.code, 1,
        "a quarter of the writes failed: {}",
        run.stdout
    );
    let lines = ledger_lines(&ledger);
    // 20 writes, of which 5 failed: 15 acknowledged, with the ids the server gave.
    assert_eq!(lines.len(), 15, "{lines:?}");
    let ids: BTreeSet<u64> = lines
        .iter()
        .map(|l| l["id"].as_u64().expect("an id"))
        .collect();
    assert_eq!(
        ids,
        (1..=20u64)
            .filter(|n| !n.is_multiple_of(4))
            .collect::<BTreeSet<u64>>()
    );
    for l in &lines {
        assert_eq!(
            (l["method"].as_str(), l["path"].as_str()),
            (Some("POST"), Some("/todos"))
        );
        assert_eq!(l["status"], 201);
        assert_eq!(l["stream"], "default");
        assert_eq!(l["content"]["id"], l["id"]);
        let name = l["content"]["name"].as_str().expect("a name");
        let seq = l["seq"].as_u64().expect("a seq");
        assert_eq!(name, format!("firedrill item {seq}"));
        assert!(l["ts"].as_str().is_some_and(|t| t.ends_with('Z')));
    }

    // A second run appends.
    let again = Client::new()
        .args(&[
            "--url",
            &server.url(),
            "--rate",
            "10",
            "--duration",
            "1s",
            "--method",
            "PUT",
            "--body",
            r#"{"name": "put {{seq}}"}"#,
            "--ledger",
            &ledger_arg,
        ])
        .run(LIMIT);
    // The server answers PUT like a GET (200 with the list, no id): acknowledged, without an id.
    assert_eq!(again.code, 0, "{}", again.stdout);
    let lines = ledger_lines(&ledger);
    assert_eq!(lines.len(), 25);
    let puts: Vec<&Value> = lines.iter().filter(|l| l["method"] == "PUT").collect();
    assert_eq!(puts.len(), 10);
    assert!(
        puts.iter()
            .all(|l| l.get("id").is_none() && l["status"] == 200)
    );
}
