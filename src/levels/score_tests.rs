use super::*;
use crate::levels::client_report::ClientReport;
use crate::levels::testutil::{synthetic_report, t};

fn input(outcome: Outcome, elapsed_s: u64, used_solution: bool) -> ScoreInput {
    let report = ClientReport::parse(std::path::Path::new("client.jsonl"), &synthetic_report());
    ScoreInput {
        difficulty: Difficulty::Medium,
        minutes: 1,
        slo: 99.9,
        hint_costs: 30,
        elapsed_s,
        // From the injection at 14:00:30 to the end of the report.
        totals: report.totals(t(30), t(150)),
        outcome,
        used_solution,
    }
}

#[test]
fn the_budget_is_failed_requests_as_outage_against_thirty_days() {
    // 60 failed of 1200 requests in 120 s at 10/s: 6 s of full outage. 99.9% allows 2592 s.
    let burned = budget_burned_pct(
        Totals {
            results: 1200,
            bad: 60,
            seconds: 120,
        },
        99.9,
    );
    assert!((burned - 600.0 / 2592.0).abs() < 1e-9, "{burned}");
    assert_eq!(budget_burned_pct(Totals::default(), 99.9), 0.0);
    // A full outage of 43 min 12 s burns the whole budget of 99.9%.
    let all = budget_burned_pct(
        Totals {
            results: 25920,
            bad: 25920,
            seconds: 2592,
        },
        99.9,
    );
    assert!((all - 100.0).abs() < 1e-9, "{all}");
}

#[test]
fn score_from_a_synthetic_client_report() {
    // Solved 3 min 30 s after the clock started; the estimate is 1 min: 2 full minutes over.
    let s = compute(&input(Outcome::Solved, 210, false));
    // 99.9% is not exact in binary: compare the budget share with a tolerance.
    assert!((s.budget_burned_pct - 600.0 / 2592.0).abs() < 1e-9);
    assert_eq!(
        s,
        Score {
            base: 750,
            hints: 30,
            time: 20,
            budget: 1,
            total: 699,
            budget_burned_pct: s.budget_burned_pct,
            elapsed_s: 210,
            zero_because: None,
        }
    );
    assert_eq!(
        explain(&s, 2, 1, 99.9),
        "score 699 of 750\n  -30 for 2 hint(s)\n  -20 for time: 3m30s on the clock, estimate 1 min\n  \
         -1 for the error budget: 0.23% of a 30-day budget at 99.9% burned\n"
    );
}

#[test]
fn giving_up_resetting_and_the_reference_solution_score_zero() {
    for (outcome, used, why) in [
        (Outcome::GaveUp, false, "the level was given up"),
        (
            Outcome::Reset,
            false,
            "the level was reset before it was solved",
        ),
        (Outcome::Solved, true, "the reference solution was applied"),
    ] {
        let s = compute(&input(outcome, 210, used));
        assert_eq!((s.total, s.zero_because.as_deref()), (0, Some(why)));
        assert_eq!((s.hints, s.time, s.budget), (30, 20, 1));
    }
}

#[test]
fn the_score_never_goes_below_zero() {
    let mut i = input(Outcome::Solved, 100 * 60, false);
    i.difficulty = Difficulty::Easy;
    assert_eq!(compute(&i).total, 0);
}

#[test]
fn history_round_trips_and_renders() {
    let entries = vec![
        ScoreEntry {
            at: t(210),
            level: "disk-full".into(),
            title: "Saving fails".into(),
            difficulty: Difficulty::Easy,
            outcome: Outcome::Solved,
            elapsed_s: 210,
            hints: 2,
            budget_burned_pct: 0.2315,
            score: 449,
        },
        ScoreEntry {
            at: t(4000),
            level: "db-lock".into(),
            title: "Reads hang".into(),
            difficulty: Difficulty::Hard,
            outcome: Outcome::GaveUp,
            elapsed_s: 3725,
            hints: 0,
            budget_burned_pct: 12.0,
            score: 0,
        },
    ];
    let text: String = entries
        .iter()
        .map(|e| serde_json::to_string(e).unwrap() + "\n")
        .collect::<String>()
        + "{\"at\":\"2024";
    let path = std::path::Path::new("scores.jsonl");
    let (parsed, bad) = crate::jsonl::parse::<ScoreEntry>(path, &text, 1);
    assert_eq!(parsed, entries);
    assert_eq!(
        bad.iter().map(ToString::to_string).collect::<Vec<_>>(),
        [
            "scores.jsonl:3: the last line is unfinished (cut off by a crash, or still being written); the line is left out"
        ]
    );
    assert_eq!(
        render_history(&entries),
        "WHEN (UTC)        LEVEL                DIFFICULTY OUTCOME      TIME HINTS   BUDGET  SCORE\n\
         2024-05-01 14:03  disk-full            easy       solved      3m30s     2    0.23%    449\n\
         2024-05-01 15:06  db-lock              hard       gave up  1h02m05s     0      12%      0\n\
         2 play(s), 1 solved, 449 points in all\n"
    );
    assert_eq!(
        render_history(&[]),
        "no plays yet: start one with `firedrill play LEVEL` or `firedrill play --random`\n"
    );
}
