//! The Level CI's "is the fault felt" rule (felt.rs), fed `check`'s own rendering: the format
//! it reads is the one `render_check` writes.

use super::client_report::{ClientReport, mitigation};
use super::commands::render_check;
use super::evaluate::{Evaluation, Verdict};
use super::felt::fault_felt;
use super::level::Mitigate;
use super::testutil::{synthetic_report, t};
use crate::spec::Pos;

fn verdict(description: &str, met: bool, note: Option<String>, hidden: bool) -> Verdict {
    Verdict {
        id: description
            .split(' ')
            .next()
            .unwrap_or_default()
            .to_lowercase(),
        description: description.into(),
        met,
        note,
        unknown: false,
        hidden,
    }
}

fn check(objectives: Vec<Verdict>) -> String {
    let eval = Evaluation {
        objectives,
        guards: vec![verdict("Rows are kept", true, None, false)],
        rebooted: Vec::new(),
        reboot_spans: Vec::new(),
    };
    render_check(&eval) + "1 of 3 objectives met; keep going (`firedrill hint` if you are stuck)\n"
}

/// The synthetic client's verdict on "99% over `seconds` s" since `since` at 150 s: it fails one
/// request in ten from 30 s to 89 s and serves every other second.
fn served(since: i64, seconds: u32) -> Verdict {
    let report = ClientReport::parse(std::path::Path::new("c.jsonl"), &synthetic_report());
    let rule = Mitigate {
        pos: Pos { line: 1, column: 1 },
        success_percent: 99.0,
        seconds,
        p99_ms: None,
    };
    let m = mitigation(&report, &rule, t(since), t(150), &[]);
    verdict(
        "Customers are served (99% over 30 s)",
        m.met,
        Some(m.detail),
        false,
    )
}

fn healthy(met: bool) -> Verdict {
    verdict("Both app servers are healthy", met, None, false)
}

fn cause(met: bool) -> Verdict {
    verdict("The resolver agrees with the zone", met, None, true)
}

/// Every visible objective met in every check, a window still filling with good traffic among
/// them, while the hidden one is not: the fault was not felt.
#[test]
fn every_visible_objective_met_in_every_check_is_a_fault_not_felt() {
    let filling = served(130, 30);
    assert!(!filling.met);
    assert_eq!(
        filling.note.as_deref(),
        Some(
            "20 s of traffic observed since the incident started; 30 s are needed; so far 100% \
             of requests succeeded (needs 99%): on track"
        )
    );
    let checks = [
        check(vec![filling, healthy(true), cause(false)]),
        check(vec![served(30, 30), healthy(true), cause(false)]),
    ];
    assert_eq!(
        fault_felt(&checks),
        Err(
            "the fault is not felt: every visible objective is met before the fix: Customers \
             are served (99% over 30 s) (100% of requests succeeded over the last 30 s (needs \
             99%)); Both app servers are healthy (in each of the 2 checks); make the fault \
             reach what the objectives watch, or the objectives watch what the fault breaks"
                .to_string()
        )
    );
    // A hidden objective met says nothing either way.
    let met_hidden = check(vec![served(30, 30), healthy(true), cause(true)]);
    assert!(fault_felt(&[met_hidden]).is_err());
}

/// One visible objective not met in one check is enough: a fault may take a few seconds to
/// reach the customers (connections age out of a pool).
#[test]
fn one_visible_objective_not_met_in_one_check_is_a_fault_felt() {
    let fine = check(vec![served(30, 30), healthy(true), cause(false)]);
    let felt = check(vec![served(30, 30), healthy(false), cause(false)]);
    assert_eq!(fault_felt(&[fine.clone(), felt, fine]), Ok(()));
    // A window filling with failures so far is not on track: 20 of the 80 s failed one
    // request in ten.
    let failing = served(70, 90);
    assert_eq!(
        failing.note.as_deref(),
        Some(
            "80 s of traffic observed since the incident started; 90 s are needed; so far 97.5% \
             of requests succeeded (needs 99%)"
        )
    );
    assert_eq!(
        fault_felt(&[check(vec![failing, healthy(true), cause(false)])]),
        Ok(())
    );
    // A window with no traffic yet tells nothing good: not met.
    let none = verdict(
        "Customers are served (99% over 30 s)",
        false,
        Some("the mock client has not reported yet".into()),
        false,
    );
    assert_eq!(
        fault_felt(&[check(vec![none, healthy(true), cause(false)])]),
        Ok(())
    );
}

/// Nothing to judge (no check, no visible objective, output without objectives): no claim.
#[test]
fn without_a_visible_objective_the_rule_says_nothing() {
    assert_eq!(fault_felt(&[]), Ok(()));
    assert_eq!(fault_felt(&[check(vec![cause(false)])]), Ok(()));
    assert_eq!(fault_felt(&["error: no play\n".to_string()]), Ok(()));
}
