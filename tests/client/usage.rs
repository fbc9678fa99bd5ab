//! Bad input: one clear line on stderr and exit code 2, before any request is sent.

use crate::Client;
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
        "--url ftp://127.0.0.1/todos: only http:// URLs are supported; write it as http://HOST[:PORT]/PATH, e.g. http://10.78.0.10/todos",
    );
    refused(
        &["--url", "not a url"],
        "--url not a url: it is not a URL; write it as http://HOST[:PORT]/PATH, e.g. http://10.78.0.10/todos",
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
