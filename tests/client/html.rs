//! `--html FILE`: the run's timeline as one HTML page, written when the run ends.

use super::Client;
use super::server::{Action, Server, healthy};
use std::time::Duration;

/// 20/s for 3 s; requests 21 to 30 (the second second's first half) get a 500.
#[test]
fn the_run_is_written_as_an_html_timeline_when_it_ends() {
    let server = Server::start(|n, req| {
        if (21..=30).contains(&n) {
            Action::Respond(500, r#"{"error":"boom"}"#.into())
        } else {
            healthy(req)
        }
    });
    let client = Client::new();
    let page = client.home().join("out/run.html");
    let client = client
        .args(&[
            "--url",
            &server.url(),
            "--rate",
            "20",
            "--duration",
            "3s",
            "--html",
            &page.display().to_string(),
        ])
        .with_report();
    let run = client.run(Duration::from_secs(20));
    assert_eq!(
        run.code, 1,
        "missed the SLO:\n{}\n{}",
        run.stdout, run.stderr
    );
    assert!(
        run.stdout
            .contains(&format!("wrote the timeline to {}", page.display())),
        "{}",
        run.stdout
    );
    // Not a terminal: no sparkline.
    assert!(!run.stdout.contains('█'), "{}", run.stdout);
    let html = std::fs::read_to_string(&page).expect("the page was written");
    assert!(html.starts_with("<!DOCTYPE html>"), "{html}");
    assert!(html.contains("<h1>Mock client run at "), "{html}");
    assert!(
        html.contains(&format!("GET {} at 20/s", server.url())),
        "{html}"
    );
    // The same counts as the report, in the summary and in the chart.
    let (ok, failed) = (run.count("ok"), run.count("failed"));
    assert_eq!((failed, run.count("dropped")), (10, 0));
    assert!(
        html.contains(&format!("<div class=\"value\">{}</div>", ok + failed)),
        "{html}"
    );
    assert!(
        html.contains("<div class=\"value\">10 (16.67%)</div>"),
        "{html}"
    );
    assert!(
        html.contains(&format!("{} requests, 10 failed", ok + failed)),
        "{html}"
    );
    assert!(html.contains("</i>5xx</span>"), "{html}");
    assert!(!html.contains("<script"), "{html}");
}

#[test]
fn html_to_a_directory_is_refused_before_the_run() {
    let client = Client::new();
    let dir = client.home().display().to_string();
    let run = client
        .args(&["--url", "http://127.0.0.1:9/todos", "--html", &dir])
        .run(Duration::from_secs(20));
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert_eq!(
        run.stderr.trim(),
        format!("error: --html {dir}: it is a directory; give the name of the HTML file to write")
    );
}
