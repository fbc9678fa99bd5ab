use super::testutil::{LEVEL, edit, problems, valid};

#[test]
fn the_test_level_is_valid() {
    valid(LEVEL);
}

#[test]
fn the_id_is_a_name_and_the_file_name() {
    assert_eq!(
        problems(&edit("id: t", "id: Disk_Full")),
        [
            "labs/levels/t.yaml:1:5: id: level id `Disk_Full` is not valid\n  hint: use lowercase letters, digits and '-', starting and ending with a letter or digit (at most 40)"
        ]
    );
    assert_eq!(
        problems(&edit("id: t", "id: disk-full")),
        [
            "labs/levels/t.yaml:1:5: id: level id `disk-full` does not match the file name `t.yaml`\n  hint: `firedrill play ID` finds a level by its file name: rename the file to `disk-full.yaml` or change `id`"
        ]
    );
}

#[test]
fn the_lab_must_load() {
    assert_eq!(
        problems(&edit("lab: ../three-tier.yaml", "lab: ../four-tier.yaml")),
        [
            "labs/levels/t.yaml:5:6: lab: cannot use lab `../four-tier.yaml` (labs/levels/../four-tier.yaml): cannot read the lab file: No such file or directory (os error 2)\n  \
          hint: give a lab file relative to this level file, e.g. `../three-tier.yaml`"
        ]
    );
}

/// The level's lab passes the checks of `firedrill validate` of a lab; its problems are listed
/// after the level's, with the lab file's name and place.
#[test]
fn the_lab_is_validated_as_a_lab() {
    let text =
        edit("lab: ../three-tier.yaml", "lab: ../etc.yaml").replace("node: db,", "node: app1,");
    assert_eq!(
        problems(&text),
        [
            "labs/levels/t.yaml:5:6: lab: cannot use lab `../etc.yaml` (labs/levels/../etc.yaml): it has 2 error(s), listed below with its file name\n  \
          hint: fix the lab file (`firedrill validate labs/levels/../etc.yaml` checks it alone), or give another lab",
            "labs/levels/../etc.yaml:1:7: name: lab name `../../etc` is not valid\n  \
          hint: use lowercase letters, digits and '-' (at most 20), starting and ending with a letter or digit",
            "labs/levels/../etc.yaml:5:26: nodes[0].roles: node `app1` has role app but the lab has no database node\n  \
          hint: add a node with role mysql or postgres, e.g. `- {name: db, roles: [mysql]}`",
        ]
    );
}

#[test]
fn an_empty_solution_is_refused() {
    let solution = "solution:\n  - {node: app1, run: rm -f /var/backups/todo-uploads.tar}\n";
    assert_eq!(
        problems(&edit(solution, "solution: []\n")),
        [
            "labs/levels/t.yaml:28:11: solution: `solution` is empty: Level CI plays the level against it and `give-up --solution` applies it\n  \
          hint: list the commands that fix the level, e.g. `- {node: app1, run: systemctl start todo}`"
        ]
    );
}

#[test]
fn every_node_named_is_in_the_lab() {
    let text = edit("node: app1\n    params", "node: app3\n    params")
        .replace("state: {node: db,", "state: {node: web,")
        .replace("- {node: app1, run: rm", "- {node: ab1, run: rm");
    assert_eq!(
        problems(&text),
        [
            "labs/levels/t.yaml:9:11: faults[0].node: node `app3` is not in lab `three-tier`\n  hint: did you mean `app1`? The lab's nodes are: lb, app1, app2, db",
            "labs/levels/t.yaml:24:21: guards[0].check.state.node: node `web` is not in lab `three-tier`\n  hint: its nodes are: lb, app1, app2, db",
            "labs/levels/t.yaml:29:12: solution[0].node: node `ab1` is not in lab `three-tier`\n  hint: its nodes are: lb, app1, app2, db",
        ]
    );
}

#[test]
fn fault_kinds_params_and_roles() {
    let text = edit(
        "  - kind: disk-full\n    node: app1\n    params: {leave: 0}\n",
        "  - {kind: disk-ful, node: app1}\n  - {kind: disk-full, node: app1, params: {leve: 1, size: 2}}\n  \
         - {kind: missing-dir, node: db, params: {path: /x}}\n  - {kind: disk-full, node: app1}\n",
    );
    // Every kind, in `fault list` order (a new kind is one line there, not one here too).
    let kinds: Vec<&str> = crate::faults::KINDS.iter().map(|k| k.name).collect();
    assert!(kinds.starts_with(&["disk-full", "memory-hog"]), "{kinds:?}");
    assert_eq!(
        problems(&text),
        [
            format!("labs/levels/t.yaml:8:12: faults[0].kind: unknown fault kind `disk-ful`\n  hint: did you mean `disk-full`? Kinds are: {}", kinds.join(", ")).as_str(),
            "labs/levels/t.yaml:9:44: faults[1].params.leve: fault kind `disk-full` has no parameter `leve`\n  hint: did you mean `leave`? Its parameters are: leave, path",
            "labs/levels/t.yaml:9:53: faults[1].params.size: fault kind `disk-full` has no parameter `size`\n  hint: its parameters are: leave, path",
            "labs/levels/t.yaml:10:31: faults[2].node: fault `missing-dir` does not fit `db`: it removes the todo app's upload directory, and the node has no app role\n  hint: choose one of: app1, app2",
            "labs/levels/t.yaml:10:44: faults[2].params.path: fault kind `missing-dir` has no parameter `path`\n  hint: it takes no parameters; remove `params`",
            "labs/levels/t.yaml:11:12: faults[3].kind: fault `disk-full` is applied to `app1` twice (first at faults[1])\n  hint: a node takes one fault of each kind; remove one",
        ]
    );
}

#[test]
fn fault_values_and_fit_are_the_fault_kinds_own_checks() {
    // The values and the role fit come from the kind itself, as `fault apply` would check them.
    let text = edit(
        "  - kind: disk-full\n    node: app1\n    params: {leave: 0}\n",
        "  - {kind: disk-full, node: app1, params: {leave: lots}}\n  - {kind: db-lock, node: lb}\n  \
         - {kind: payload-limit, node: lb, params: {max: 100}}\n  - {kind: db-lock, node: db}\n",
    );
    assert_eq!(
        problems(&text),
        [
            "labs/levels/t.yaml:8:44: faults[0].params.leave: `lots` is not a valid `leave` for fault kind `disk-full`\n  hint: write a whole number",
            "labs/levels/t.yaml:9:27: faults[1].node: fault `db-lock` does not fit `lb`: it locks the todo table, and the node has no database role\n  hint: choose one of: db",
        ]
    );
}

#[test]
fn a_level_needs_a_fault_and_a_root_cause_check() {
    let text = edit(
        "faults:\n  - kind: disk-full\n    node: app1\n    params: {leave: 0}\n",
        "faults: []\n",
    )
    .replace(
        "check:\n      state: {node: app1, command: df, expect: {exit: 0}}\n    persistence: true",
        "check: {mitigate: {success_percent: 99, seconds: 30}}\n    persistence: true",
    );
    assert_eq!(
        problems(&text),
        [
            "labs/levels/t.yaml:15:18: objectives[1].persistence: persistence needs a `state` check: it is the check that runs again after the reboot\n  \
             hint: move `persistence: true` to the objective that checks the root cause on a node",
            "labs/levels/t.yaml: faults: the level has no fault: there is nothing to fix\n  \
             hint: add `faults:` with a `kind` from `firedrill fault list`, or a scripted fault with `run` and `revert`",
            "labs/levels/t.yaml: objectives: no objective checks the root cause: a service that is only restarted would count as fixed\n  \
             hint: add an objective with a `state:` check on the node that is broken",
        ]
    );
}

#[test]
fn ids_guards_and_clock_checks() {
    let text = edit("  - id: room", "  - id: served")
        .replace(
            "check:\n      state: {node: db, command: count, expect: {at_least_baseline: true}}",
            "check: {mitigate: {success_percent: 99, seconds: 30}}\n  - id: Clock\n    description: c\n    \
             check: {state: {node: db, command: date, expect: {clock_within_s: 5, stdout_is: x}}}",
        );
    assert_eq!(
        problems(&text),
        [
            "labs/levels/t.yaml:15:9: objectives[1].id: objective id `served` is used twice\n  hint: give each objective its own id",
            "labs/levels/t.yaml:23:23: guards[0].check.mitigate: a guard checks the state of a node, not the mock client\n  \
             hint: use `state:`; the service being up is an objective",
            "labs/levels/t.yaml:24:9: guards[1].id: guard id `Clock` is not valid\n  \
             hint: use lowercase letters, digits and '-', starting and ending with a letter or digit (at most 40)",
            "labs/levels/t.yaml:26:20: guards[1].check.state.expect: `clock_within_s` reads the whole stdout as a time; it cannot be combined with another stdout expectation\n  \
             hint: split it into two checks",
        ]
    );
}

#[test]
fn nothing_shown_before_the_end_names_the_cause() {
    let text = edit(
        "briefing: Users say that saving an item fails.",
        "briefing: Saving fails; I think the Disk Full alert fired.",
    )
    .replace(
        "description: No todo is lost",
        "description: No disk-full left",
    );
    assert_eq!(
        problems(&text),
        [
            "labs/levels/t.yaml:6:11: briefing: the briefing names the cause (`disk full`)\n  \
             hint: describe only what users and monitoring see; finding the cause is the level",
            "labs/levels/t.yaml:22:18: guards[0].description: the description names the cause (`disk-full`), and `check` prints it\n  \
             hint: say what must be true once fixed, not what was broken",
        ]
    );
}

#[test]
fn a_level_without_hints_gets_a_warning() {
    let text = edit("hints:\n  - {text: Look at the disks, cost: 10}\n", "");
    assert_eq!(
        problems(&text),
        [
            "labs/levels/t.yaml: hints: the level has no hints\n  hint: add tiered hints: a nudge first, the answer last"
        ]
    );
}

/// A hidden objective may name the cause (its description shows once met); a level needs at
/// least one visible objective, and a nudge names the level's own objectives and guards.
#[test]
fn hidden_objectives_and_nudges() {
    let text = edit(
        "    description: The app server can write its data\n",
        "    description: app1's disk-full is gone\n    hidden: true\n",
    )
    .replace(
        "  - {text: Look at the disks, cost: 10}\n",
        "  - {text: Look at the disks, cost: 10}\n  - {text: Users are back; is the cause gone?, when: {met: [served], not_met: [room]}}\n",
    );
    let level = valid(&text);
    assert!(level.objectives[1].hidden && !level.objectives[0].hidden);
    assert_eq!(level.hints.len(), 1, "a nudge is not a paid hint");
    assert_eq!(level.nudges.len(), 1);
    assert_eq!(level.nudges[0].met[0].value, "served");
    assert_eq!(level.nudges[0].not_met[0].value, "room");

    let all_hidden = text.replace(
        "    description: Users are served again\n",
        "    description: Users are served again\n    hidden: true\n",
    );
    assert_eq!(
        problems(&all_hidden),
        [
            "labs/levels/t.yaml: objectives: every objective is hidden: the learner would not know what must be true\n  \
             hint: add a visible objective that states the outcome for users, e.g. \"Users are served again\""
        ]
    );
    let unknown = text.replace("not_met: [room]", "not_met: [rom]");
    assert_eq!(
        problems(&unknown),
        [
            "labs/levels/t.yaml:28:80: hints: `when` names `rom`, which is no objective or guard of this level; did you mean `room`?\n  \
             hint: use one of: served, room, rows"
        ]
    );
    let priced = text.replace(
        "is the cause gone?, when:",
        "is the cause gone?, cost: 5, when:",
    );
    assert_eq!(
        problems(&priced),
        [
            "labs/levels/t.yaml:28:54: hints[1].cost: a hint with `when` costs nothing: `check` shows it while its condition holds\n  \
             hint: remove `cost`, or remove `when` to make it a hint that `firedrill hint` sells"
        ]
    );
}

#[test]
fn a_page_names_an_alert_rule_and_needs_a_monitor_node() {
    let paged = |alert: &str| {
        edit("lab: ../three-tier.yaml", "lab: ../monitored.yaml").replace(
            "briefing: Users say that saving an item fails.\n",
            &format!("briefing: You are on call.\npage: {{alert: {alert}}}\n"),
        )
    };
    let level = valid(&paged("NodeDiskFull"));
    assert_eq!(
        level.page.map(|p| p.alert.value),
        Some("NodeDiskFull".to_string())
    );
    assert_eq!(
        problems(&paged("NodeDiskFul")),
        [
            "labs/levels/t.yaml:7:15: page.alert: `NodeDiskFul` is not an alert of the monitor role\n  \
             hint: did you mean `NodeDiskFull`? The alerts are: TodoErrorBudgetBurn, TodoLatencyHigh, \
             TodoDatabaseErrors, FrontDoorDown, HaproxyServerDown, HaproxyBackendDown, DatabaseDown, \
             NodeDown, TargetDown, NodeDiskFull, NodeDiskFillingUp, NodeMemoryLow, NodeOomKill, \
             NodeCpuSaturated, NodeClockSkew"
        ]
    );
    let unmonitored =
        paged("NodeDiskFull").replace("lab: ../monitored.yaml", "lab: ../three-tier.yaml");
    assert_eq!(
        problems(&unmonitored),
        [
            "labs/levels/t.yaml:7:7: page: the page comes from Alertmanager, but lab `three-tier` has no node with the `monitor` role\n  \
             hint: use a lab with a monitor node (labs/monitored.yaml), or remove `page` to give the briefing as written"
        ]
    );
    let no_alert = paged("NodeDiskFull").replace("page: {alert: NodeDiskFull}", "page: {}");
    assert_eq!(
        problems(&no_alert),
        [
            "labs/levels/t.yaml:7:7: page: missing required field `alert`\n  \
             hint: add `alert: NAME`, an alert of templates/monitor/alerts.yml (e.g. NodeDiskFull)"
        ]
    );
}

#[test]
fn an_https_client_needs_a_haproxy_node() {
    let https = edit(
        "briefing: Users say that saving an item fails.\n",
        "client: {rate: 5, https: true}\nbriefing: Users say that saving an item fails.\n",
    );
    let level = valid(&https);
    assert!(level.client.https());
    assert!(!valid(LEVEL).client.https());
    let without = https.replace("lab: ../three-tier.yaml", "lab: ../single-server.yaml");
    let found: Vec<String> = problems(&without)
        .into_iter()
        .filter(|p| p.contains("client.https"))
        .collect();
    assert_eq!(
        found,
        [
            "labs/levels/t.yaml:6:26: client.https: the client's HTTPS is haproxy's front end on :443, but lab `single-server` has no node with the `haproxy` role\n  \
             hint: use a lab with a haproxy node (labs/three-tier.yaml), or remove `https`"
        ]
    );
    let bad = https.replace("https: true", "https: sometimes");
    assert!(
        problems(&bad).iter().any(|p| p.contains("client.https")),
        "{:?}",
        problems(&bad)
    );
}
