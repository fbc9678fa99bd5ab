//! The `--streams` file: good files, and bad ones with their exact messages.

use super::streams_file::{Shared, load};
use hyper::{Method, Uri};
use std::path::Path;
use std::time::Duration;

fn shared(url: &Uri) -> Shared<'_> {
    Shared {
        url,
        post_url: url,
        timeout: Duration::from_secs(2),
        max_inflight: None,
    }
}

fn errors(text: &str) -> String {
    let url: Uri = "http://10.78.0.10/todos".parse().expect("uri");
    match load(Path::new("s.yaml"), text, &shared(&url)) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e) => e.to_string(),
    }
}

/// The seeds' exercise: an old client that expects v1's shape and a new one that expects v2's,
/// side by side, and a writer.
const OLD_AND_NEW: &str = r#"streams:
  - name: stubborn-old-client
    rate: 5
    expect: ["todos[].name:string", "todos[].completed:bool"]
  - name: new-client
    rate: 2.5
    path: /todos?v=2
    headers: {Accept: application/json, X-Client: new}
    expect:
      - "[].title:string"
      - "[].done:bool"
  - name: writer
    rate: 1
    method: post
    body: '{"name": "task {{seq}} {{word}}", "completed": false}'
    write_ratio: 0
"#;

#[test]
fn a_good_file() {
    let url: Uri = "http://10.78.0.10/todos".parse().expect("uri");
    let streams = load(Path::new("s.yaml"), OLD_AND_NEW, &shared(&url)).expect("loads");
    let names: Vec<&str> = streams.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["stubborn-old-client", "new-client", "writer"]);
    let (old, new, writer) = (&streams[0], &streams[1], &streams[2]);
    assert_eq!(old.load.to_string(), "5");
    assert_eq!(old.method, Method::GET);
    assert_eq!(old.url.to_string(), "http://10.78.0.10/todos");
    assert_eq!(old.expects.len(), 2);
    assert_eq!(old.max_inflight, 15);
    assert_eq!(new.load.to_string(), "2.5");
    assert_eq!(new.url.to_string(), "http://10.78.0.10/todos?v=2");
    let headers: Vec<(String, String)> = new
        .headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    assert_eq!(
        headers,
        [
            ("accept".to_string(), "application/json".to_string()),
            ("x-client".to_string(), "new".to_string())
        ]
    );
    assert_eq!(
        new.expects
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>(),
        ["[].title:string", "[].done:bool"]
    );
    assert_eq!(writer.method, Method::POST);
    assert_eq!(
        writer
            .body
            .as_ref()
            .map(|b| b.render(3, 0).starts_with(r#"{"name": "task 3 "#)),
        Some(true)
    );
}

const HINT: &str = "; the format is in the README (\"The mock client\")";

#[test]
fn syntax_and_shape_errors_carry_line_and_column() {
    let errors = |text| errors(text).replace(HINT, "");
    assert_eq!(
        errors("streams:\n  - name: a\n    rate: 5\n    colour: red\n"),
        "s.yaml:4:5: unknown field `colour`, expected one of name, rate, ramp, path, method, headers, body, expect, write_ratio"
    );
    assert_eq!(
        errors("streams:\n  - name: a\n    rate: fast\n"),
        "s.yaml:3:11: invalid floating point"
    );
    assert_eq!(
        errors("streams:\n  - name: a\n"),
        "s.yaml:2:11: stream `a`, rate: give the stream a rate (e.g. rate: 5) or a ramp (e.g. ramp: \"5:60,10:60\")"
    );
    assert_eq!(
        errors("stream:\n  - name: a\n"),
        "s.yaml:1:1: unknown field `stream`, expected one of streams"
    );
}

#[test]
fn every_bad_value_is_reported_at_its_place() {
    let text = r#"streams:
  - name: Old Client
    rate: 0
    method: FETCH
    path: todos
    headers: {"X Bad": v}
    body: '{"name": "{{id}}"}'
    expect: ["todos[.name:string"]
    write_ratio: 2
  - name: dup
    rate: 1
  - name: dup
    rate: 1
"#;
    assert_eq!(
        errors(text),
        [
            "s.yaml:2:11: stream name `Old Client`: use 1 to 24 lowercase letters, digits, - and _, e.g. old-client",
            "s.yaml:3:11: stream `Old Client`, rate: 0 is not above 0; give requests per second, e.g. rate: 5",
            "s.yaml:5:11: stream `Old Client`, path `todos`: it does not start with /; write a path that starts with /, e.g. /todos or /todos?since=today",
            "s.yaml:4:13: stream `Old Client`, method `FETCH`: not an HTTP method; write one of GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS",
            "s.yaml:6:14: stream `Old Client`, header `X Bad`: `X Bad` is not a header name (letters, digits and -)",
            "s.yaml:7:11: stream `Old Client`, body: unknown placeholder `{{id}}`; the placeholders are {{seq}} (the request's number) and {{word}} (a random word)",
            "s.yaml:8:14: stream `Old Client`, expect `todos[.name:string`: unclosed `[` in `todos[`; write PATH:TYPE, e.g. todos[].name:string, with TYPE one of string, bool, number, array, object, null",
            "s.yaml:9:18: stream `Old Client`, write_ratio: 2 is not a fraction from 0 to 1, e.g. write_ratio: 0.1",
            "s.yaml:12:11: stream `dup` is named twice (first at line 10); give each stream its own name",
        ]
        .join("\n")
    );
    assert_eq!(
        errors("streams: []\n"),
        "s.yaml:1:10: `streams` is empty; give at least one stream"
    );
}

#[test]
fn a_stream_ramps_with_the_flag_s_syntax() {
    let url: Uri = "http://10.78.0.10/todos".parse().expect("uri");
    let text =
        "streams:\n  - name: steps\n    ramp: \"5:60, 10:60,20:60\"\n  - name: flat\n    rate: 3\n";
    let streams = load(Path::new("s.yaml"), text, &shared(&url)).expect("loads");
    assert_eq!(streams[0].load.ramp().as_deref(), Some("5:60,10:60,20:60"));
    // Slots are sized for the highest stage: 20/s x (2 s + 1 s).
    assert_eq!(streams[0].max_inflight, 60);
    assert_eq!(streams[1].load.ramp(), None);
    let text = r#"streams:
  - name: both
    rate: 5
    ramp: "5:60"
  - name: neither
    path: /todos
  - name: bad
    ramp: "5:60,ten:60"
"#;
    assert_eq!(
        errors(text),
        [
            "s.yaml:4:11: stream `both`, ramp: the stream has both rate and ramp; keep one (ramp sets the rate of each stage)",
            "s.yaml:5:11: stream `neither`, rate: give the stream a rate (e.g. rate: 5) or a ramp (e.g. ramp: \"5:60,10:60\")",
            "s.yaml:8:11: stream `bad`, ramp `5:60,ten:60`: stage 2 `ten:60`: the rate must be a number of requests per second above 0; write RATE:SECONDS stages separated by commas, e.g. 5:60,10:60,20:60",
        ]
        .join("\n")
    );
}
