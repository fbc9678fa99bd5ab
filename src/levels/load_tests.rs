use super::level::{
    Check, ClientSettings, Difficulty, Expect, FaultSpec, Mitigate, SolutionStep, StateCheck,
};
use super::testutil::{FILE, LEVEL, edit, problems, valid};
use crate::spec::{At, Pos};
use std::path::PathBuf;

fn at<T>(value: T, line: usize, column: usize) -> At<T> {
    At {
        value,
        pos: Pos { line, column },
    }
}

fn pos(line: usize, column: usize) -> Pos {
    Pos { line, column }
}

#[test]
fn parses_every_field_with_its_position() {
    let level = valid(LEVEL);
    assert_eq!(level.source, PathBuf::from(FILE));
    assert_eq!(level.id, at("t".to_string(), 1, 5));
    assert_eq!(level.title, "Saving fails");
    assert_eq!(level.difficulty, Difficulty::Easy);
    assert_eq!(level.minutes, 15);
    assert_eq!(level.lab, at("../three-tier.yaml".to_string(), 5, 6));
    assert_eq!(
        level.lab_path,
        PathBuf::from("labs/levels/../three-tier.yaml")
    );
    assert_eq!(level.slo, 99.9);
    assert_eq!(level.client, ClientSettings::default());
    assert_eq!(level.briefing.pos, pos(6, 11));
    assert_eq!(
        level.faults,
        vec![FaultSpec::Kind {
            kind: at("disk-full".into(), 8, 11),
            node: at("app1".into(), 9, 11),
            params: vec![(at("leave".into(), 10, 14), "0".into())],
        }]
    );
    assert_eq!(
        level.objectives[0].check,
        Check::Mitigate(Mitigate {
            pos: pos(14, 23),
            success_percent: 99.0,
            seconds: 30,
            p99_ms: None,
        })
    );
    assert!(!level.objectives[0].persistent());
    assert_eq!(
        level.objectives[1].check,
        Check::State(StateCheck {
            pos: pos(18, 14),
            node: at("app1".into(), 18, 21),
            command: "df".into(),
            expect: vec![Expect::Exit(0)],
        })
    );
    assert!(level.objectives[1].persistent());
    assert_eq!(level.guards[0].id, at("rows".into(), 21, 9));
    let Check::State(rows) = &level.guards[0].check else {
        panic!("not a state check")
    };
    assert!(rows.needs_baseline());
    assert_eq!(level.hints[0].cost, 10);
    assert_eq!(level.debrief, "The disk was full.");
    let SolutionStep::Node(step) = &level.solution[0] else {
        panic!("a step on a node")
    };
    assert_eq!(step.node, at("app1".into(), 29, 12));
    assert_eq!(step.run, "rm -f /var/backups/todo-uploads.tar");
    assert_eq!(step.revert, None);
}

#[test]
fn optional_sections_scripted_faults_and_every_expectation() {
    let text = edit(
        "faults:\n  - kind: disk-full\n    node: app1\n    params: {leave: 0}\n",
        "slo: 99.5\nclient: {rate: 5, write_ratio: 0.5, path: /todos?since=today}\n\
         setup:\n  - {node: db, run: seed, revert: unseed}\n\
         faults:\n  - {node: db, run: lock, revert: unlock}\n",
    )
    .replace(
        "expect: {exit: 0}",
        "expect: {exit: 1, stdout_contains: a, stdout_lacks: b, stdout_is: c, same_as_baseline: true}",
    )
    .replace(
        "command: count, expect: {at_least_baseline: true}",
        "command: date +%s, expect: {clock_within_s: 5}",
    );
    let level = valid(&text);
    assert_eq!(level.slo, 99.5);
    assert_eq!(
        level.client,
        ClientSettings {
            rate: 5.0,
            write_ratio: 0.5,
            path: Some("/todos?since=today".into()),
            streams: None,
            ramp: None,
            https: None,
        }
    );
    assert_eq!(level.setup[0].revert.as_deref(), Some("unseed"));
    let FaultSpec::Script(step) = &level.faults[0] else {
        panic!("not scripted: {:?}", level.faults[0])
    };
    assert_eq!(
        (step.run.as_str(), step.revert.as_deref()),
        ("lock", Some("unlock"))
    );
    let Check::State(s) = &level.objectives[1].check else {
        panic!("not a state check")
    };
    assert_eq!(
        s.expect,
        vec![
            Expect::Exit(1),
            Expect::StdoutContains("a".into()),
            Expect::StdoutLacks("b".into()),
            Expect::StdoutIs("c".into()),
            Expect::SameAsBaseline,
        ]
    );
    let Check::State(g) = &level.guards[0].check else {
        panic!("not a state check")
    };
    assert_eq!(g.expect, vec![Expect::ClockWithin(5)]);
}

#[test]
fn required_fields_are_all_reported() {
    assert_eq!(
        problems("id: t\n"),
        [
            "labs/levels/t.yaml:1:1: missing required field `title`\n  hint: add `title: ...`, one line a pager would show",
            "labs/levels/t.yaml:1:1: missing required field `difficulty`\n  hint: add `difficulty: easy` (easy, medium or hard)",
            "labs/levels/t.yaml:1:1: missing required field `minutes`\n  hint: add `minutes: 20`, the time the level takes an engineer",
            "labs/levels/t.yaml:1:1: missing required field `lab`\n  hint: add `lab: ../three-tier.yaml`, relative to this file",
            "labs/levels/t.yaml:1:1: missing required field `briefing`\n  hint: add `briefing: |` with the symptoms a user or pager reports",
            "labs/levels/t.yaml:1:1: missing required field `objectives`\n  hint: add `objectives:`, each with a `check` a program can run",
            "labs/levels/t.yaml:1:1: missing required field `debrief`\n  hint: add `debrief: |` with the root cause and what to check",
            "labs/levels/t.yaml:1:1: missing required field `solution`\n  hint: add `solution:`, the commands that fix the level",
        ]
    );
    assert_eq!(
        problems(""),
        [
            "labs/levels/t.yaml:1:1: the level file is empty\n  hint: start from a level in labs/levels/: it has `id`, `lab`, `briefing`, `faults`, `objectives` and `solution`"
        ]
    );
}

#[test]
fn unknown_keys_and_bad_values() {
    let text = edit("title: Saving fails", "titel: Saving fails")
        .replace("difficulty: easy", "difficulty: hardd")
        .replace("minutes: 15", "minutes: 0")
        .replace(
            "briefing: Users say that saving an item fails.",
            "briefing: \"  \"",
        );
    assert_eq!(
        problems(&text),
        [
            "labs/levels/t.yaml:1:1: missing required field `title`\n  hint: add `title: ...`, one line a pager would show",
            "labs/levels/t.yaml:2:1: titel: unknown key `titel`\n  hint: did you mean `title`?",
            "labs/levels/t.yaml:3:13: difficulty: unknown difficulty `hardd`\n  hint: did you mean `hard`? Use easy, medium or hard",
            "labs/levels/t.yaml:4:10: minutes: minutes must be from 1 to 240\n  hint: the minutes an engineer needs, e.g. `minutes: 20`",
            "labs/levels/t.yaml:6:11: briefing: `briefing` is empty\n  hint: write the text, or remove the key if it is optional",
        ]
    );
}

#[test]
fn client_and_slo_ranges() {
    let text = edit(
        "lab: ../three-tier.yaml\n",
        "lab: ../three-tier.yaml\nslo: 100\nclient: {rate: 0, write_ratio: 2, path: todos}\n",
    );
    assert_eq!(
        problems(&text),
        [
            "labs/levels/t.yaml:6:6: slo: the SLO must be above 0 and below 100\n  hint: the availability objective in percent, e.g. `slo: 99.9`",
            "labs/levels/t.yaml:7:16: client.rate: the rate must be above 0\n  hint: requests per second, above 0 and at most 1000, e.g. `rate: 10`",
            "labs/levels/t.yaml:7:32: client.write_ratio: write_ratio must be from 0 to 1\n  hint: a fraction from 0 to 1, e.g. `write_ratio: 0.1`",
            "labs/levels/t.yaml:7:41: client.path: `todos` is not a path\n  hint: start it with /, e.g. `path: /todos?since=today`",
        ]
    );
}

#[test]
fn a_fault_has_a_kind_or_a_script() {
    let text = edit(
        "  - kind: disk-full\n    node: app1\n    params: {leave: 0}\n",
        "  - {kind: disk-full, node: app1, run: x}\n  - {node: app1}\n  - {node: db, run: x}\n  \
         - {node: db, run: x, revert: y, params: {a: 1}}\n  - {kind: cpu-hog, node: db, revert: y, params: [1]}\n",
    );
    assert_eq!(
        problems(&text),
        [
            "labs/levels/t.yaml:8:40: faults[0].run: a fault has either `kind` or `run`, not both\n  hint: use `kind` for a fault of `firedrill fault list`, `run` and `revert` for a scripted one",
            "labs/levels/t.yaml:9:5: faults[1]: a fault needs `kind` or `run`\n  hint: give `kind: KIND` (see `firedrill fault list`), or `run` and `revert` for a scripted fault",
            "labs/levels/t.yaml:10:5: faults[2]: missing required field `revert`\n  hint: a scripted fault needs `revert`: the commands that undo `run` when the level ends",
            "labs/levels/t.yaml:11:5: faults[3].params: `params` is for a fault `kind`\n  hint: put the values into the `run` script",
            "labs/levels/t.yaml:12:39: faults[4].revert: `revert` is for a scripted fault\n  hint: a fault `kind` knows how to undo itself; remove `revert`",
            "labs/levels/t.yaml:12:50: faults[4].params: expected a mapping of parameters, found a list\n  hint: write `params: {leave: 0}`; `firedrill fault list` shows each kind's parameters",
        ]
    );
}

#[test]
fn checks_need_one_kind_and_something_to_expect() {
    let text = edit(
        "check: {mitigate: {success_percent: 99, seconds: 30}}",
        "check: {mitigate: {success_percent: 0, seconds: 2, p99_ms: 0}, state: {}}",
    )
    .replace("expect: {exit: 0}", "expect: {}")
    .replace(
        "expect: {at_least_baseline: true}",
        "expect: {same_as_baseline: false}",
    );
    assert_eq!(
        problems(&text),
        [
            "labs/levels/t.yaml:14:75: objectives[0].check.state: a check has one of `mitigate` and `state`, not both\n  hint: split it into two objectives",
            "labs/levels/t.yaml:18:48: objectives[1].check.state.expect: `expect` has nothing to check\n  hint: give one or more of: exit, stdout_contains, stdout_lacks, stdout_is, at_least_baseline, same_as_baseline, differs_from_baseline, clock_within_s",
            "labs/levels/t.yaml:24:68: guards[0].check.state.expect.same_as_baseline: `same_as_baseline: false` checks nothing\n  hint: write `same_as_baseline: true`, or remove it",
        ]
    );
    let text = edit(
        "check: {mitigate: {success_percent: 99, seconds: 30}}",
        "check: {mitigate: {success_percent: 0, seconds: 2, p99_ms: 0}}",
    );
    assert_eq!(
        problems(&text),
        [
            "labs/levels/t.yaml:14:41: objectives[0].check.mitigate.success_percent: the success percentage must be above 0\n  hint: a percentage above 0 and at most 100, e.g. `success_percent: 99`",
            "labs/levels/t.yaml:14:53: objectives[0].check.mitigate.seconds: seconds must be from 5 to 3600\n  hint: seconds, from 5 to 3600, e.g. `seconds: 30`",
            "labs/levels/t.yaml:14:64: objectives[0].check.mitigate.p99_ms: p99_ms must be from 1 to 60000\n  hint: milliseconds, from 1 to 60000, e.g. `p99_ms: 500`",
        ]
    );
    assert_eq!(
        problems(&edit(
            "check: {mitigate: {success_percent: 99, seconds: 30}}",
            "check: {}"
        )),
        [
            "labs/levels/t.yaml:14:12: objectives[0].check: a check needs `mitigate`, `state`, `client` or `ledger`\n  hint: e.g. `mitigate: {success_percent: 99, seconds: 30}`"
        ]
    );
}

#[test]
fn repeated_params_and_non_boolean_persistence() {
    let text = edit("params: {leave: 0}", "params: {leave: 0, leave: 1}")
        .replace("persistence: true", "persistence: yes please");
    assert_eq!(
        problems(&text),
        [
            "labs/levels/t.yaml:10:24: faults[0].params.leave: `leave` is given twice (first on line 10)\n  hint: keep only one of them",
            "labs/levels/t.yaml:19:18: objectives[1].persistence: expected true or false, found `yes please`\n  hint: write `true` or `false`",
        ]
    );
}
