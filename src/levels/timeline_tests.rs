use super::*;
use crate::levels::client_report::ClientReport;
use crate::levels::level::Level;
use crate::levels::play_state::{End, Play};
use crate::levels::score::Outcome;
use crate::levels::testutil::{EXERCISE, LEVEL, played, synthetic_report, t, valid};

fn report() -> ClientReport {
    ClientReport::parse(std::path::Path::new("client.jsonl"), &synthetic_report())
}

/// The test level's page, solved at 14:02:30 and written at 14:03:20.
fn solved_page(level: &Level, report: &ClientReport) -> String {
    let mut play = played();
    let score = play.score(level, report, t(150), Outcome::Solved);
    play.end = Some(End {
        at: t(150),
        outcome: Outcome::Solved,
        score,
    });
    render(&Input {
        level,
        play: &play,
        report,
        now: t(200),
    })
}

#[test]
fn html_timeline_of_a_solved_level() {
    let level = valid(LEVEL);
    let html = solved_page(&level, &report());
    // The figures: 1,200 requests from the fault, 60 failed over 60 s, mitigated at 14:01:30.
    assert!(html.contains("<div class=\"value\">1200</div>"), "{html}");
    assert!(
        html.contains("<div class=\"value\">60 (5%)</div>"),
        "{html}"
    );
    assert!(
        html.contains("<div class=\"value\">1m00s</div><div class=\"detail\">14:00:30 to 14:01:30"),
        "{html}"
    );
    assert!(
        html.contains("first failure 14:00:30, errors stop 14:01:30"),
        "{html}"
    );
    // Once solved, the cause is named.
    assert!(
        html.contains("faults injected: disk-full on app1"),
        "{html}"
    );
    crate::golden::assert_golden("levels/incident-solved.html", &html);
}

#[test]
fn html_timeline_while_the_level_is_played_names_no_cause() {
    let level = valid(LEVEL);
    let mut report = report();
    report.seconds.retain(|s| s.ts < t(70));
    let mut play = played();
    play.checks.truncate(1);
    let html = render(&Input {
        level: &level,
        play: &play,
        report: &report,
        now: t(70),
    });
    assert!(!html.contains("disk-full"), "{html}");
    assert!(html.contains(">faults injected</td>"), "{html}");
    assert!(html.contains("Status: <b>in progress</b>"), "{html}");
    assert!(
        html.contains("<div class=\"value\">not yet</div>"),
        "{html}"
    );
}

#[test]
fn html_timeline_of_an_exercise_draws_each_stream() {
    let level = valid(EXERCISE);
    let mut report = report();
    let writes: Vec<_> = report
        .seconds
        .iter()
        .map(|s| {
            let mut w = s.clone();
            w.stream = "writer".into();
            w.ok = 2;
            w.failed = 0;
            w.classes.http5xx = 0;
            w
        })
        .collect();
    report.seconds.extend(writes);
    let mut play: Play = played();
    play.faults.clear();
    play.faults_at = Some(t(30));
    play.started_at = Some(t(30));
    let html = render(&Input {
        level: &level,
        play: &play,
        report: &report,
        now: t(150),
    });
    assert!(html.contains("<h1>Change: Grow the pool</h1>"), "{html}");
    assert!(html.contains(">Stream default</tspan>"), "{html}");
    assert!(html.contains(">Stream writer</tspan>"), "{html}");
    assert!(html.contains("300 requests, 0 failed"), "{html}");
    assert!(
        html.contains("change window opens (ticket delivered)"),
        "{html}"
    );
    assert!(
        html.contains("from the start of the change (14:00:30)"),
        "{html}"
    );
}

/// The colour of a pixel is `want`'s, give or take antialiasing.
fn near(px: &[u8], want: &str) -> bool {
    let channel = |i: usize| u8::from_str_radix(&want[1 + 2 * i..3 + 2 * i], 16).expect("hex");
    (0..3).all(|i| px[i].abs_diff(channel(i)) <= 24)
}

/// Runs `chromium` until it exits, for at most a minute.
fn screenshot(page: &std::path::Path, png: &std::path::Path, profile: &std::path::Path) {
    let mut child = std::process::Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            &format!("--user-data-dir={}", profile.display()),
            &format!("--screenshot={}", png.display()),
            "--window-size=1200,800",
            &format!("file://{}", page.display()),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("chromium runs (scripts/install-deps installs it)");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().expect("wait for chromium") {
            assert!(status.success(), "chromium failed: {status}");
            return;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium took over a minute to take the screenshot");
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// The page as a person sees it: Chromium draws it, and the chart is there (the success line
/// across the plot, the failures of the fault's minute in red), not a blank or broken page.
/// With `UPDATE_GOLDEN=1` the screenshot also replaces docs/timeline.png, the README's picture.
#[test]
#[ignore = "needs chromium: scripts/test"]
fn html_timeline_renders_in_chromium() {
    let level = valid(LEVEL);
    let html = solved_page(&level, &report());
    let dir = tempfile::tempdir().expect("tempdir");
    let page = dir.path().join("timeline.html");
    let png = dir.path().join("timeline.png");
    std::fs::write(&page, &html).expect("write the page");
    screenshot(&page, &png, &dir.path().join("profile"));

    let file = std::fs::File::open(&png).expect("chromium wrote the screenshot");
    let mut decoder = png::Decoder::new(std::io::BufReader::new(file));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info().expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size().expect("a sane size")];
    let info = reader.next_frame(&mut buf).expect("a frame");
    assert_eq!((info.width, info.height), (1200, 800));
    let step = info.color_type.samples();
    assert!(step >= 3, "{:?}", info.color_type);
    let (width, height) = (info.width as usize, info.height as usize);
    // Pixels of a colour, and the columns they occupy.
    let find = |color: &str| {
        let mut count = 0;
        let mut columns = vec![false; width];
        for y in 0..height {
            let row = &buf[y * info.line_size..(y + 1) * info.line_size];
            for (x, seen) in columns.iter_mut().enumerate() {
                if near(&row[x * step..x * step + 3], color) {
                    count += 1;
                    *seen = true;
                }
            }
        }
        (count, columns.iter().filter(|c| **c).count())
    };
    let (green, green_cols) = find(crate::report_html::SUCCESS);
    let (red, red_cols) = find(crate::report_html::FAILED);
    // The legend's swatches are 12 px wide: the line and the bars are far more.
    assert!(
        green > 1500 && green_cols > width * 6 / 10,
        "the success line: {green} pixels in {green_cols} columns"
    );
    // The failures last 60 of the chart's 150 s: a third of the plot.
    assert!(
        red > 3000 && red_cols > width / 4,
        "the failures: {red} pixels in {red_cols} columns"
    );
    let white = buf
        .chunks(step)
        .filter(|px| px[..3].iter().all(|&c| c > 245))
        .count();
    assert!(
        white < width * height * 95 / 100,
        "the page is almost blank: {white} white pixels"
    );
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        let docs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/timeline.png");
        std::fs::copy(&png, &docs).expect("copy the screenshot into docs/");
    }
}

#[test]
fn html_timeline_of_a_paged_level_shows_the_time_to_detect() {
    let text = LEVEL
        .replace("lab: ../three-tier.yaml", "lab: ../monitored.yaml")
        .replace(
            "briefing: Users say that saving an item fails.\n",
            "briefing: You are on call.\npage: {alert: NodeDiskFull}\n",
        );
    let level = valid(&text);
    let report = report();
    let mut play = played();
    play.paged = Some(crate::levels::page::Paged {
        at: t(125),
        alert: "NodeDiskFull".into(),
        summary: "/ on app1 is full".into(),
        description: String::new(),
    });
    let html = render(&Input {
        level: &level,
        play: &play,
        report: &report,
        now: t(200),
    });
    // From the first fault (14:00:30) to the page (14:02:05).
    assert!(
        html.contains(
            "<div class=\"label\">Time to detect</div><div class=\"value\">1m35s</div><div class=\"detail\">Alertmanager paged NodeDiskFull at 14:02:05</div>"
        ),
        "{html}"
    );
    assert!(
        html.contains("Alertmanager paged NodeDiskFull: / on app1 is full"),
        "{html}"
    );
    play.paged = None;
    let html = render(&Input {
        level: &level,
        play: &play,
        report: &report,
        now: t(200),
    });
    assert!(
        html.contains("<div class=\"value\">not detected</div>"),
        "{html}"
    );
    // No page expected, no card.
    assert!(!solved_page(&valid(LEVEL), &report).contains("Time to detect"));
}
