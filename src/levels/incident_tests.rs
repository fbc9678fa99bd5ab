use super::*;
use crate::levels::play_state::{AppliedFault, CheckRecord, End};
use crate::levels::testutil::{LEVEL, synthetic_report, t, valid};
use std::collections::BTreeMap;

fn play() -> Play {
    Play {
        level: "t".into(),
        title: "Saving fails".into(),
        difficulty: crate::levels::level::Difficulty::Easy,
        file: "/levels/t.yaml".into(),
        lab: "three-tier".into(),
        lab_file: "/labs/three-tier.yaml".into(),
        dir: "/home/play/t-20240501T140000Z".into(),
        prepared_at: t(0),
        baseline_at: None,
        faults_at: Some(t(30)),
        started_at: Some(t(32)),
        client: None,
        setup_done: 0,
        faults: vec![AppliedFault {
            index: 0,
            id: Some("f1".into()),
        }],
        baselines: BTreeMap::new(),
        hints: vec![t(50)],
        checks: vec![
            CheckRecord {
                at: t(60),
                met: 0,
                objectives: 2,
                guards_ok: true,
            },
            CheckRecord {
                at: t(150),
                met: 2,
                objectives: 2,
                guards_ok: true,
            },
        ],
        used_solution: false,
        end: None,
    }
}

#[test]
fn report_of_a_solved_level() {
    let level = valid(LEVEL);
    let report = ClientReport::parse(&synthetic_report());
    let mut play = play();
    let score = play.score(&level, &report, t(150), Outcome::Solved);
    play.end = Some(End {
        at: t(150),
        outcome: Outcome::Solved,
        score,
    });
    let text = render(&Input {
        level: &level,
        play: &play,
        report: &report,
        now: t(200),
    });
    crate::golden::assert_golden("levels/incident-solved.md", &text);
}

#[test]
fn report_while_the_level_is_played_does_not_name_the_cause() {
    let level = valid(LEVEL);
    let mut report = ClientReport::parse(&synthetic_report());
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
