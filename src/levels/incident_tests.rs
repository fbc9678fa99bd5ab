use super::*;
use crate::levels::play_state::End;
use crate::levels::testutil::{LEVEL, synthetic_report, t, valid};

fn play() -> Play {
    crate::levels::testutil::played()
}

/// The report of the test level, solved at t(150) and written at t(200).
fn solved(level: &Level, report: &ClientReport) -> String {
    let mut play = play();
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
fn report_of_a_solved_level() {
    let level = valid(LEVEL);
    let report = ClientReport::parse(std::path::Path::new("client.jsonl"), &synthetic_report());
    let text = solved(&level, &report);
    crate::golden::assert_golden("levels/incident-solved.md", &text);
}

#[test]
fn report_while_the_level_is_played_does_not_name_the_cause() {
    let level = valid(LEVEL);
    let mut report = ClientReport::parse(std::path::Path::new("client.jsonl"), &synthetic_report());
    report.seconds.retain(|s| s.ts < t(70));
    let mut play = play();
    play.checks.truncate(1);
    let text = render(&Input {
        level: &level,
        play: &play,
        report: &report,
        now: t(70),
    });
    assert!(!text.contains("disk-full"), "{text}");
    assert!(!text.contains("Debrief"), "{text}");
    crate::golden::assert_golden("levels/incident-ongoing.md", &text);
}

#[test]
fn the_plays_own_events_are_not_repeated_in_the_timeline() {
    use crate::levels::client_report::ReportEvent;
    let level = valid(LEVEL);
    let mut report = ClientReport::parse(std::path::Path::new("client.jsonl"), &synthetic_report());
    let own = |kind: &str, at: i64, message: &str| ReportEvent {
        ts: t(at),
        kind: kind.into(),
        node: None,
        message: message.into(),
    };
    report.events.push(own(
        "level-fault",
        31,
        "a fault of the level changed a node (f1)",
    ));
    report
        .events
        .push(own("level-started", 32, "incident started: Saving fails"));
    let text = solved(&level, &report);
    assert!(!text.contains("a fault of the level changed"), "{text}");
    assert!(!text.contains("incident started:"), "{text}");
    // The client's other events still are.
    assert!(text.contains("fault injected on app1"), "{text}");
}

/// What a game master injected shows in the timeline once the play is over, not before.
#[test]
fn the_game_masters_faults_show_after_the_end() {
    let level = valid(LEVEL);
    let report = ClientReport::parse(std::path::Path::new("client.jsonl"), &synthetic_report());
    let mut running = play();
    running.gm = vec![crate::levels::play_state::GmFault {
        at: t(120),
        kind: "cpu-hog".into(),
        node: "db".into(),
        id: "f7".into(),
    }];
    let mut ended = running.clone();
    let score = ended.score(&level, &report, t(150), Outcome::Solved);
    ended.end = Some(End {
        at: t(150),
        outcome: Outcome::Solved,
        score,
    });
    let text = |play: &Play| {
        render(&Input {
            level: &level,
            play,
            report: &report,
            now: t(200),
        })
    };
    let line = "the game master injected cpu-hog on db (f7)";
    assert!(!text(&running).contains(line));
    assert!(text(&ended).contains(line), "{}", text(&ended));
}

#[test]
fn a_paged_level_reports_the_time_to_detect_and_the_page() {
    let text = LEVEL
        .replace("lab: ../three-tier.yaml", "lab: ../monitored.yaml")
        .replace(
            "briefing: Users say that saving an item fails.\n",
            "briefing: You are on call.\npage: {alert: NodeDiskFull}\n",
        );
    let level = valid(&text);
    let report = ClientReport::parse(std::path::Path::new("client.jsonl"), &synthetic_report());
    let mut play = play();
    let input = |play: &Play| {
        render(&Input {
            level: &level,
            play,
            report: &report,
            now: t(200),
        })
    };
    // Not paged (yet, or in time).
    assert!(input(&play).contains(
        "\n- Time to detect: not detected; Alertmanager did not page NodeDiskFull within 10m00s of the faults.\n"
    ));
    play.paged = Some(crate::levels::page::Paged {
        at: t(125),
        alert: "NodeDiskFull".into(),
        summary: "/ on app1 is full".into(),
        description: String::new(),
    });
    let text = input(&play);
    assert!(
        text.contains(
            "\n- Time to detect: 1m35s, from the first fault to Alertmanager's page (NodeDiskFull: / on app1 is full).\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("| 14:02:05 | Alertmanager paged NodeDiskFull: / on app1 is full |"),
        "{text}"
    );
    // A level without a page says nothing of detection.
    assert!(!solved(&valid(LEVEL), &report).contains("Time to detect"));
}
