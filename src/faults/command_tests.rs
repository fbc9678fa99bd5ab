use super::*;
use crate::faults::engine::Reverted;
use crate::faults::record::FaultState;
use crate::faults::revert::{ensure_none_active, format_reverted};
use crate::faults::testing::{disk_full_fault, node as test_node};
use crate::paths::LabDir;
use crate::spec::Role;
use crate::state::LabPhase;
use clap::Parser;

#[derive(Debug, Parser)]
struct Cli {
    #[command(subcommand)]
    command: FaultCommand,
}

fn parse(args: &[&str]) -> Result<FaultCommand, clap::Error> {
    Cli::try_parse_from(std::iter::once("fault").chain(args.iter().copied())).map(|c| c.command)
}

#[test]
fn apply_takes_params_and_a_duration() {
    let FaultCommand::Apply {
        kind,
        node,
        params,
        duration,
        lab,
    } = parse(&[
        "apply",
        "time-drift",
        "db",
        "--param",
        "mode=clock",
        "--param",
        "offset=-3h",
        "--for",
        "1h30m",
    ])
    .unwrap()
    else {
        panic!()
    };
    assert_eq!(
        (kind.as_str(), node.as_str(), lab),
        ("time-drift", "db", None)
    );
    assert_eq!(
        params,
        [
            ("mode".to_string(), "clock".to_string()),
            ("offset".to_string(), "-3h".to_string())
        ]
    );
    assert_eq!(duration, Some(Duration::from_secs(5400)));
}

#[test]
fn bad_arguments_are_usage_errors_that_say_what_is_wrong() {
    let err = |args: &[&str]| {
        let e = parse(args).unwrap_err();
        assert_eq!(e.exit_code(), 2, "{e}");
        e.to_string()
    };
    let msg = err(&["apply", "disk-ful", "app1"]);
    assert!(msg.contains("invalid value 'disk-ful'"), "{msg}");
    assert!(
        msg.contains("disk-full, memory-hog, cpu-hog, reboot-no-unit, time-drift"),
        "{msg}"
    );
    let msg = err(&["apply", "disk-full", "app1", "--param", "leave"]);
    assert!(
        msg.contains("expected KEY=VALUE, like leave=100, not \"leave\""),
        "{msg}"
    );
    let msg = err(&["apply", "disk-full", "app1", "--for", "10"]);
    assert!(msg.contains("\"10\" is not a duration"), "{msg}");
    let msg = err(&["apply", "disk-full", "app1", "--for", "9d"]);
    assert!(msg.contains("9d is longer than 7d"), "{msg}");
    err(&["revert"]);
    err(&["revert", "f1", "--all"]);
    assert!(matches!(
        parse(&["revert", "--all"]).unwrap(),
        FaultCommand::Revert {
            all: true,
            id: None,
            ..
        }
    ));
    assert!(matches!(
        parse(&["status", "--json"]).unwrap(),
        FaultCommand::Status { json: true, .. }
    ));
}

#[test]
fn the_list_shows_each_kind_and_its_params() {
    let text = format_list(KINDS);
    let lines: Vec<&str> = text.lines().collect();
    let width = "db-password-rotated".len();
    assert_eq!(
        lines[0],
        format!(
            "{:<width$} Fill the filesystem holding the app's data: uploads fail with \"No space left on device\"",
            "disk-full"
        )
    );
    assert_eq!(
        lines[1],
        format!(
            "{:<width$} --param leave=MiB                  space left free for the app user (default 0; root's reserved blocks always stay)",
            ""
        )
    );
    // Every description and every parameter starts in the same column, the longest name's.
    for line in &lines {
        let (name, rest) = line.split_at(width);
        assert!(
            rest.starts_with(' ') && !rest[1..].starts_with(' '),
            "{line}"
        );
        assert!(
            name.trim().is_empty() || KINDS.iter().any(|k| k.name == name.trim()),
            "{line}"
        );
    }
    for k in KINDS {
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with(&format!("{:<width$} ", k.name))),
            "{}",
            k.name
        );
    }
    assert!(text.contains("--param mode=timezone|clock"), "{text}");
}

/// Each kind's name is the tag its records carry, so a record always finds its kind again.
#[test]
fn kind_names_match_the_record_tags() {
    let mut app = test_node("all", &[Role::App, Role::Haproxy, Role::Mysql, Role::Dns]);
    // dns-view-order needs the dns role's views.
    app.options = crate::faults::testing::gw_with_views(&["inside"]).options;
    // The kinds with a parameter that has no default.
    let required = |kind: &str| match kind {
        "partition" => vec![("peer".to_string(), "db".to_string())],
        "dns-wrong-record" | "dns-stale" => vec![("name".to_string(), "db".to_string())],
        "route-missing" => vec![("to".to_string(), "default".to_string())],
        _ => vec![],
    };
    for k in KINDS {
        let fault = k
            .fault(&app, &required(k.name))
            .unwrap_or_else(|e| panic!("{}: {e}", k.name));
        let json = serde_json::to_value(&fault).unwrap();
        assert_eq!(json["kind"], k.name);
        let mut back: crate::faults::Fault = serde_json::from_value(json).unwrap();
        assert_eq!(back.ops().kind(), k.name);
    }
}

#[test]
fn revert_messages() {
    assert_eq!(
        format_reverted(
            "f1: disk-full on app1",
            &Reverted::Done(vec!["removed /x".into()])
        ),
        "f1: disk-full on app1: reverted\n  removed /x\n"
    );
    assert_eq!(
        format_reverted("f1: disk-full on app1", &Reverted::Done(vec![])),
        "f1: disk-full on app1: reverted (nothing was left to undo on the node)\n"
    );
    assert_eq!(
        format_reverted("f1: disk-full on app1", &Reverted::NothingChanged),
        "f1: disk-full on app1: reverted (the inject had not changed anything on the node)\n"
    );
}

fn lab(home: &Home) -> LabDir {
    let dir = home.lab(&"three-tier".into());
    let mut state = crate::state::sample();
    state.name = "three-tier".into();
    state.phase = LabPhase::Up;
    state.plan.nodes = vec![
        test_node("app1", &[Role::App]),
        test_node("db", &[Role::Mysql]),
    ];
    state.observed = crate::state::of_plan(state.plan.clone()).observed;
    state.save(&dir).unwrap();
    dir
}

/// Bad input is refused before any connection, and leaves no record.
#[tokio::test]
async fn apply_refuses_bad_input_before_connecting() {
    let tmp = tempfile::tempdir().unwrap();
    let home = Home::at(tmp.path());
    let dir = lab(&home);
    let refuse = |kind: &'static str, node: &'static str, params: Vec<(String, String)>| {
        let home = home.clone();
        async move {
            let target = Target {
                lab: None,
                kind,
                node,
                params: &params,
                duration: None,
                hidden: false,
            };
            let e = apply(&home, target).await.unwrap_err();
            assert!(e.is_usage(), "{e}");
            e.to_string()
        }
    };
    assert_eq!(
        refuse("disk-full", "app9", vec![]).await,
        "lab `three-tier` has no node `app9`; its nodes are: app1, db"
    );
    assert_eq!(
        refuse("disk-full", "db", vec![]).await,
        "disk-full does not fit node db: it fills the app's data filesystem, and the node has no app role"
    );
    assert!(
        refuse("disk-full", "app1", vec![("size".into(), "1".into())])
            .await
            .starts_with("disk-full has no parameter `size`; its parameters are: leave, path")
    );
    assert!(Store::new(&dir).all().unwrap().is_empty());

    let mut active = FaultRecord::new("app1", disk_full_fault());
    Store::new(&dir).create(&mut active).unwrap();
    active.state = FaultState::Active;
    Store::new(&dir).save(&active).unwrap();
    assert_eq!(
        refuse("disk-full", "app1", vec![]).await,
        "disk-full is already on app1 as fault f1\n  hint: revert it first with `firedrill fault revert f1`"
    );
    let err = ensure_none_active(&home, None).unwrap_err();
    assert_eq!(
        err.to_string(),
        "1 fault(s) may still be on nodes of lab three-tier: f1\n  hint: revert them with `firedrill fault revert --all`, or use `down --force`"
    );
    assert!(!err.is_usage());
    active.state = FaultState::Reverted;
    Store::new(&dir).save(&active).unwrap();
    ensure_none_active(&home, None).unwrap();
    ensure_none_active(&home, Some("other")).unwrap();
}

/// A revert of a record that is already reverted, or of an unknown id, needs no node.
#[tokio::test]
async fn revert_of_unknown_or_reverted_faults_needs_no_node() {
    let tmp = tempfile::tempdir().unwrap();
    let home = Home::at(tmp.path());
    let dir = lab(&home);
    let err = revert(&home, None, Some("f7"), false, true)
        .await
        .unwrap_err();
    assert!(err.is_usage());
    assert_eq!(
        err.to_string(),
        "lab `three-tier` has no fault `f7` (it has none)\n  hint: `firedrill fault status` lists them"
    );
    let mut rec = FaultRecord::new("app1", disk_full_fault());
    Store::new(&dir).create(&mut rec).unwrap();
    // Never prepared: reverting it only updates the record.
    revert(&home, None, Some("f1"), false, true).await.unwrap();
    assert_eq!(
        Store::new(&dir).load("f1").unwrap().unwrap().state,
        FaultState::Reverted
    );
    revert(&home, None, Some("f1"), false, true).await.unwrap();
    revert(&home, None, None, true, true).await.unwrap();
    let err = revert(&home, None, Some("f2"), false, true)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("its faults are: f1"), "{err}");
}

/// One damaged record does not block the others: `revert --all` reverts every good one and
/// reports the damaged one, `down` names it, and `fault forget` lets the user move on.
#[tokio::test]
async fn a_damaged_record_is_reported_never_used_and_can_be_forgotten() {
    let tmp = tempfile::tempdir().unwrap();
    let home = Home::at(tmp.path());
    let dir = lab(&home);
    let store = Store::new(&dir);
    // f1 never reached its node: reverting it needs no connection.
    let mut good = FaultRecord::new("app1", disk_full_fault());
    store.create(&mut good).unwrap();
    std::fs::write(dir.faults_dir().join("f2.json"), "{ torn").unwrap();

    let err = ensure_none_active(&home, None).unwrap_err().to_string();
    assert_eq!(
        err,
        "2 fault(s) may still be on nodes of lab three-tier: f1, f2\n  hint: revert them with `firedrill fault revert --all`; f2 damaged and cannot be reverted: look at them, then `firedrill fault forget ID`, or use `down --force`"
    );

    let err = revert(&home, None, None, true, false).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "1 of 2 reverts failed (see above)\n  hint: fix the cause and run `firedrill fault revert --all` again"
    );
    assert_eq!(
        store.load("f1").unwrap().unwrap().state,
        FaultState::Reverted
    );
    let err = revert(&home, None, Some("f2"), false, false)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("f2.json is damaged"), "{err}");
    let err = revert(&home, None, Some("../f2"), false, false)
        .await
        .unwrap_err();
    assert!(err.is_usage(), "{err}");

    forget(&home, None, "f2").await.unwrap();
    ensure_none_active(&home, None).unwrap();
    revert(&home, None, None, true, false).await.unwrap();
    assert!(store.scan().unwrap().damaged.is_empty());
}
