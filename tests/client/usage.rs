//! Bad input: one clear line on stderr and exit code 2, before any request is sent.

use super::Client;
use std::time::Duration;

fn refused(args: &[&str], expected: &str) {
    let run = Client::new().args(args).run(Duration::from_secs(10));
    assert_eq!(run.code, 2, "{args:?}: stderr {:?}", run.stderr);
    assert_eq!(run.stderr, format!("error: {expected}\n"), "{args:?}");
    assert_eq!(run.stdout, "", "{args:?}");
}

const URL: &str = "http://127.0.0.1:9/todos";

#[test]
fn bad_rates() {
    refused(
        &["--url", URL, "--rate", "0"],
        "--rate 0: the rate must be a number of requests per second above 0, e.g. --rate 20",
    );
    refused(
        &["--url", URL, "--rate", "-5"],
        "--rate -5: the rate must be a number of requests per second above 0, e.g. --rate 20",
    );
}

#[test]
fn bad_ramps() {
    refused(
        &["--url", URL, "--ramp", "5:60,10"],
        "--ramp 5:60,10: stage 2 `10`: there is no `:` between the rate and the seconds; write RATE:SECONDS stages separated by commas, e.g. 5:60,10:60,20:60",
    );
    refused(
        &["--url", URL, "--rate", "5", "--ramp", "5:60"],
        "--rate and --ramp both given: --ramp sets the rate of each stage and the last one holds; drop --rate",
    );
}

#[test]
fn bad_durations() {
    refused(
        &["--url", URL, "--duration", "30"],
        "--duration 30: not a duration (the number has no unit); write a number and a unit, e.g. 500ms, 30s, 2m or 1h",
    );
    refused(
        &["--url", URL, "--timeout", "soon"],
        "--timeout soon: not a duration (expected a number); write a number and a unit, e.g. 500ms, 30s, 2m or 1h",
    );
}

#[test]
fn bad_urls() {
    refused(
        &["--url", "ftp://127.0.0.1/todos"],
        "--url ftp://127.0.0.1/todos: only http:// and https:// URLs are supported; write it as http://HOST[:PORT]/PATH or https://..., e.g. http://10.78.0.10/todos",
    );
    refused(
        &["--url", "not a url"],
        "--url not a url: it is not a URL; write it as http://HOST[:PORT]/PATH or https://..., e.g. http://10.78.0.10/todos",
    );
    refused(
        &["--url", URL, "--cacert", "/nonexistent/ca.pem"],
        &format!(
            "--cacert is for https:// targets and {URL} is plain HTTP; drop --cacert, or pass --url https://..."
        ),
    );
}

#[test]
fn bad_expect_paths() {
    refused(
        &["--url", URL, "--expect", "todos[.name:string"],
        "--expect todos[.name:string: unclosed `[` in `todos[`; write PATH:TYPE, e.g. todos[].name:string, with TYPE one of string, bool, number, array, object, null",
    );
    refused(
        &["--url", URL, "--expect", "todos[].done:boolean"],
        "--expect todos[].done:boolean: unknown type `boolean`; write PATH:TYPE, e.g. todos[].name:string, with TYPE one of string, bool, number, array, object, null",
    );
}

#[test]
fn labs_that_are_not_up() {
    refused(
        &["--lab", "three-tier"],
        "lab three-tier is not up: run `firedrill up LAB.yaml`",
    );
    refused(
        &[],
        "no lab is up: run `firedrill up LAB.yaml`, or pass --url",
    );
}

#[test]
fn bad_ratios_and_slo() {
    refused(
        &["--url", URL, "--write-ratio", "2"],
        "--write-ratio 2: the write ratio is a fraction from 0 to 1, e.g. --write-ratio 0.1",
    );
    refused(
        &["--url", URL, "--slo", "120"],
        "--slo 120: the SLO is a percentage above 0 and at most 100, e.g. --slo 99.9",
    );
}

#[test]
fn bad_requests() {
    refused(
        &["--url", URL, "--body", r#"{"name": "{{id}}"}"#],
        r#"--body {"name": "{{id}}"}: unknown placeholder `{{id}}`; the placeholders are {{seq}} (the request's number) and {{word}} (a random word); write the body as it is sent, e.g. '{"name": "task {{seq}} {{word}}"}'"#,
    );
    refused(
        &["--url", URL, "--method", "FETCH"],
        "--method FETCH: not an HTTP method; write one of GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS",
    );
    refused(
        &["--url", URL, "--header", "X-Client drill"],
        "--header X-Client drill: there is no `:` between the name and the value; write NAME: VALUE, e.g. --header 'Authorization: Bearer abc'",
    );
    refused(
        &["--url", URL, "--path", "todos"],
        "--path todos: it does not start with /; write a path that starts with /, e.g. /todos or /todos?since=today",
    );
}

#[test]
fn bad_streams_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("s.yaml");
    std::fs::write(&file, "streams:\n  - name: old\n    rate: -1\n").expect("write");
    let path = file.display().to_string();
    refused(
        &["--url", URL, "--streams", &path],
        &format!(
            "{path}:3:11: stream `old`, rate: -1 is not above 0; give requests per second, e.g. rate: 5"
        ),
    );
    refused(
        &["--url", URL, "--streams", "/nonexistent/s.yaml"],
        "--streams /nonexistent/s.yaml: cannot read the file: No such file or directory (os error 2); check the path",
    );
    // The flags a streams file replaces are refused next to it (clap's own message).
    let run = Client::new()
        .args(&["--url", URL, "--streams", &path, "--rate", "5"])
        .run(Duration::from_secs(10));
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("'--streams <FILE.yaml>' cannot be used with '--rate <N>'"),
        "{}",
        run.stderr
    );
}

#[test]
fn verify_needs_a_ledger_with_writes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let empty = dir.path().join("empty.jsonl");
    std::fs::write(&empty, "").expect("write");
    let path = empty.display().to_string();
    refused(
        &["verify", "--ledger", &path],
        &format!(
            "the ledger {path} holds no writes\n  hint: run `firedrill client --ledger {path}` with writes (--write-ratio, or a stream with method POST) first"
        ),
    );
    std::fs::write(&empty, r#"{"ts":"2024-05-01T14:03:03.120Z","stream":"w","seq":0,"method":"POST","path":"/todos","status":201,"id":1,"content":{"id":1}}"#)
        .expect("write");
    let run = Client::new()
        .args(&["verify", "--ledger", &path])
        .run(Duration::from_secs(10));
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.starts_with("error: "), "{}", run.stderr);
    refused(
        &["verify", "--ledger", "/nonexistent/l.jsonl"],
        "--ledger /nonexistent/l.jsonl: cannot read the file: No such file or directory (os error 2); check the path",
    );
}
