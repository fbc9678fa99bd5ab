//! Cross-checks of a parsed level: its id and file name, the lab it uses, the nodes and fault
//! kinds it names, that a check can tell a fix from damage, and that nothing the learner sees
//! before the end (briefing, what `check` prints) names the cause.

use super::level::{Check, Expect, FaultSpec, Level};
use crate::faults::KINDS;
use crate::host::HostFacts;
use crate::plan::Plan;
use crate::spec::Problems;
use crate::spec::problem::{Problem, Report};
use crate::spec::suggest::did_you_mean;
use crate::spec::{At, Role};
use std::path::Path;

#[path = "validate_faults.rs"]
mod faults;
use faults::check_faults;
#[path = "validate_exercise.rs"]
mod exercise;

/// Checks the lab file at a path: the lab as `up` would plan it (`plan::preview`) and its
/// warnings, or every problem with it. Validation and play read the level's lab from that plan.
pub(crate) type LabLoader<'a> = dyn Fn(&Path) -> Result<(Plan, Vec<Problem>), Problems> + 'a;

/// Reads the lab file once and checks it as `firedrill validate` checks a lab, against `host`.
pub(crate) fn load_lab(path: &Path, host: &HostFacts) -> Result<(Plan, Vec<Problem>), Problems> {
    let (lab, warnings) = crate::spec::check(path, host, false)?;
    Ok((crate::plan::preview(&lab), warnings))
}

/// What the checks of a parsed level found.
pub(super) struct Validation {
    /// Problems in the level file.
    pub problems: Vec<Problem>,
    /// Problems in its lab file (errors and warnings), in that file's order.
    pub lab_problems: Vec<Problem>,
    /// The lab's plan, if its file passed every check.
    pub lab: Option<Plan>,
}

const ID_MAX: usize = 40;

pub(super) fn validate(level: &Level, lab_loader: &LabLoader<'_>) -> Validation {
    let mut r = Report::new(&level.source);
    check_id(level, &mut r);
    let shown = level.lab_path.display();
    let (lab, lab_problems) = match lab_loader(&level.lab_path) {
        Ok((lab, warnings)) => (Some(lab), warnings),
        // Unreadable: its one problem says why, in the level's own message.
        Err(Problems(problems))
            if problems.len() == 1 && problems[0].line.is_none() && problems[0].path.is_empty() =>
        {
            r.error(
                Some(level.lab.pos),
                "lab",
                format!(
                    "cannot use lab `{}` ({shown}): {}",
                    level.lab.value, problems[0].message
                ),
                "give a lab file relative to this level file, e.g. `../three-tier.yaml`",
            );
            (None, Vec::new())
        }
        Err(Problems(problems)) => {
            let errors = problems.iter().filter(|p| p.is_error()).count();
            r.error(
                Some(level.lab.pos),
                "lab",
                format!("cannot use lab `{}` ({shown}): it has {errors} error(s), listed below with its file name", level.lab.value),
                format!("fix the lab file (`firedrill validate {shown}` checks it alone), or give another lab"),
            );
            (None, problems)
        }
    };
    exercise::check_kind(level, &mut r);
    let later = exercise::solution_labs(level, lab.as_ref(), lab_loader, &mut r);
    if let Some(lab) = &lab {
        let labs: Vec<&Plan> = std::iter::once(lab).chain(later.iter()).collect();
        check_nodes(level, &labs, &mut r);
        exercise::check_ledger_nodes(level, &labs, &mut r);
    }
    exercise::check_client(level, &mut r);
    if level.kind == super::level::Kind::Incident {
        check_faults(level, lab.as_ref(), &mut r);
    }
    check_page(level, lab.as_ref(), &mut r);
    check_https(level, lab.as_ref(), &mut r);
    check_objectives(level, &mut r);
    check_secrecy(level, &mut r);
    if level.hints.is_empty() {
        r.warning(
            None,
            "hints",
            "the level has no hints",
            "add tiered hints: a nudge first, the answer last",
        );
    }
    Validation {
        problems: r.problems,
        lab_problems,
        lab,
    }
}

use crate::paths::is_label as is_id;

/// `page.alert` is an alert the monitor role loads, and the lab has a monitor node to fire it.
fn check_page(level: &Level, lab: Option<&Plan>, r: &mut Report) {
    let Some(page) = &level.page else {
        return;
    };
    let alert = &page.alert;
    let names = crate::roles::alert_names();
    if !names.contains(&alert.value.as_str()) {
        let hint = match did_you_mean(&alert.value, names.iter().copied()) {
            Some(dym) => format!("{dym} The alerts are: {}", names.join(", ")),
            None => format!(
                "name an alert of templates/monitor/alerts.yml: {}",
                names.join(", ")
            ),
        };
        r.error(
            Some(alert.pos),
            "page.alert",
            format!("`{}` is not an alert of the monitor role", alert.value),
            hint,
        );
    }
    let Some(lab) = lab else {
        return;
    };
    if !lab.nodes.iter().any(|n| n.roles.contains(&Role::Monitor)) {
        r.error(
            Some(page.pos),
            "page",
            format!(
                "the page comes from Alertmanager, but lab `{}` has no node with the `monitor` role",
                lab.lab
            ),
            "use a lab with a monitor node (labs/monitored.yaml), or remove `page` to give the briefing as written",
        );
    }
}

/// `client.https` loads haproxy's :443: the lab needs a haproxy node.
fn check_https(level: &Level, lab: Option<&Plan>, r: &mut Report) {
    let (Some(https), Some(lab)) = (&level.client.https, lab) else {
        return;
    };
    if https.value && !lab.nodes.iter().any(|n| n.roles.contains(&Role::Haproxy)) {
        r.error(
            Some(https.pos),
            "client.https",
            format!(
                "the client's HTTPS is haproxy's front end on :443, but lab `{}` has no node with the `haproxy` role",
                lab.lab
            ),
            "use a lab with a haproxy node (labs/three-tier.yaml), or remove `https`",
        );
    }
}

const ID_RULE: &str =
    "use lowercase letters, digits and '-', starting and ending with a letter or digit";

fn check_id(level: &Level, r: &mut Report) {
    let id = &level.id;
    if !is_id(&id.value, ID_MAX) {
        r.error(
            Some(id.pos),
            "id",
            format!("level id `{}` is not valid", id.value),
            format!("{ID_RULE} (at most {ID_MAX})"),
        );
        return;
    }
    let stem = level
        .source
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned());
    if let Some(stem) = stem.filter(|s| *s != id.value) {
        r.error(
            Some(id.pos),
            "id",
            format!("level id `{}` does not match the file name `{stem}.yaml`", id.value),
            format!("`firedrill play ID` finds a level by its file name: rename the file to `{}.yaml` or change `id`", id.value),
        );
    }
}

/// Every node the level names must be in the lab, or in a lab file the solution brings up (a
/// node the exercise adds).
fn check_nodes(level: &Level, labs: &[&Plan], r: &mut Report) {
    let lab = labs[0];
    let mut named: Vec<(String, &At<String>)> = Vec::new();
    for (i, s) in level.setup.iter().enumerate() {
        named.push((format!("setup[{i}].node"), &s.node));
    }
    for (i, f) in level.faults.iter().enumerate() {
        named.push((format!("faults[{i}].node"), f.node()));
    }
    for (i, o) in level.objectives.iter().enumerate() {
        if let Check::State(s) = &o.check {
            named.push((format!("objectives[{i}].check.state.node"), &s.node));
        }
    }
    for (i, g) in level.guards.iter().enumerate() {
        if let Check::State(s) = &g.check {
            named.push((format!("guards[{i}].check.state.node"), &s.node));
        }
    }
    for (i, s) in level.solution.iter().enumerate() {
        if let super::level::SolutionStep::Node(s) = s {
            named.push((format!("solution[{i}].node"), &s.node));
        }
    }
    let mut names: Vec<&str> = Vec::new();
    for n in labs
        .iter()
        .flat_map(|l| l.nodes.iter().map(|n| n.name.as_str()))
    {
        if !names.contains(&n) {
            names.push(n);
        }
    }
    for (path, node) in named {
        if names.contains(&node.value.as_str()) {
            continue;
        }
        let list = format!("its nodes are: {}", names.join(", "));
        let hint = match did_you_mean(&node.value, names.iter().copied()) {
            Some(dym) => format!("{dym} The lab's nodes are: {}", names.join(", ")),
            None => list,
        };
        r.error(
            Some(node.pos),
            &path,
            format!("node `{}` is not in lab `{}`", node.value, lab.lab),
            hint,
        );
    }
}

pub(super) fn upper_first(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map_or_else(String::new, |f| f.to_uppercase().chain(c).collect())
}

fn check_objectives(level: &Level, r: &mut Report) {
    let mut ids: Vec<&str> = Vec::new();
    for (i, o) in level.objectives.iter().enumerate() {
        check_item_id(
            &o.id,
            &format!("objectives[{i}].id"),
            "objective",
            &mut ids,
            r,
        );
        if let (Some(p), Check::Mitigate(_)) = (&o.persistence, &o.check)
            && p.value
        {
            r.error(
                Some(p.pos),
                &format!("objectives[{i}].persistence"),
                "persistence needs a `state` check: it is the check that runs again after the reboot",
                "move `persistence: true` to the objective that checks the root cause on a node",
            );
        }
        if let Check::State(s) = &o.check {
            clock_alone(s, &format!("objectives[{i}].check.state"), r);
        }
    }
    if !level
        .objectives
        .iter()
        .any(|o| matches!(o.check, Check::State(_)))
    {
        r.error(
            None,
            "objectives",
            "no objective checks the root cause: a service that is only restarted would count as fixed",
            "add an objective with a `state:` check on the node that is broken",
        );
    }
    if level.objectives.iter().all(|o| o.hidden) && !level.objectives.is_empty() {
        r.error(
            None,
            "objectives",
            "every objective is hidden: the learner would not know what must be true",
            "add a visible objective that states the outcome for users, e.g. \"Users are served again\"",
        );
    }
    check_nudges(level, r);
    let mut ids: Vec<&str> = Vec::new();
    for (i, g) in level.guards.iter().enumerate() {
        check_item_id(&g.id, &format!("guards[{i}].id"), "guard", &mut ids, r);
        match &g.check {
            Check::Mitigate(m) => r.error(
                Some(m.pos),
                &format!("guards[{i}].check.mitigate"),
                "a guard checks the state of a node, not the mock client",
                "use `state:`; the service being up is an objective",
            ),
            Check::State(s) => clock_alone(s, &format!("guards[{i}].check.state"), r),
            // The customers' guards: what the client saw, and the writes it was promised.
            Check::Client(_) | Check::Ledger(_) => {}
        }
    }
}

/// `clock_within_s` reads stdout as a time, so another stdout expectation cannot also hold.
fn clock_alone(s: &super::level::StateCheck, path: &str, r: &mut Report) {
    let clock = s.expect.iter().any(|e| matches!(e, Expect::ClockWithin(_)));
    let stdout = s
        .expect
        .iter()
        .any(|e| !matches!(e, Expect::ClockWithin(_) | Expect::Exit(_)));
    if clock && stdout {
        r.error(
            Some(s.pos),
            &format!("{path}.expect"),
            "`clock_within_s` reads the whole stdout as a time; it cannot be combined with another stdout expectation",
            "split it into two checks",
        );
    }
}

fn check_item_id<'a>(
    id: &'a At<String>,
    path: &str,
    what: &str,
    seen: &mut Vec<&'a str>,
    r: &mut Report,
) {
    if !is_id(&id.value, ID_MAX) {
        r.error(
            Some(id.pos),
            path,
            format!("{what} id `{}` is not valid", id.value),
            format!("{ID_RULE} (at most {ID_MAX})"),
        );
    } else if seen.contains(&id.value.as_str()) {
        r.error(
            Some(id.pos),
            path,
            format!("{what} id `{}` is used twice", id.value),
            format!("give each {what} its own id"),
        );
    }
    seen.push(&id.value);
}

/// The briefing and what `check` prints must not name a fault kind of the level.
/// A nudge names objectives and guards of this level.
fn check_nudges(level: &Level, r: &mut Report) {
    let known: Vec<&str> = level
        .objectives
        .iter()
        .map(|o| o.id.value.as_str())
        .chain(level.guards.iter().map(|g| g.id.value.as_str()))
        .collect();
    for n in &level.nudges {
        for id in n.met.iter().chain(n.not_met.iter()) {
            if !known.contains(&id.value.as_str()) {
                r.error(
                    Some(id.pos),
                    "hints",
                    format!(
                        "`when` names `{}`, which is no objective or guard of this level{}",
                        id.value,
                        did_you_mean(&id.value, known.iter().copied())
                            .map_or(String::new(), |d| format!("; {d}"))
                    ),
                    format!("use one of: {}", known.join(", ")),
                );
            }
        }
    }
}

fn check_secrecy(level: &Level, r: &mut Report) {
    let kinds: Vec<&str> = level
        .faults
        .iter()
        .filter_map(|f| match f {
            FaultSpec::Kind { kind, .. } => {
                KINDS.iter().find(|k| k.name == kind.value).map(|k| k.name)
            }
            FaultSpec::Script(_) => None,
        })
        .collect();
    let names = |text: &str| -> Option<String> {
        let lower = text.to_lowercase();
        kinds
            .iter()
            .flat_map(|k| spellings(k))
            .find(|s| lower.contains(s.as_str()))
    };
    if let Some(found) = names(&level.briefing.value) {
        r.error(
            Some(level.briefing.pos),
            "briefing",
            format!("the briefing names the cause (`{found}`)"),
            "describe only what users and monitoring see; finding the cause is the level",
        );
    }
    let described = level
        .objectives
        .iter()
        .enumerate()
        // A hidden objective shows its description once met: it may name the cause.
        .filter(|(_, o)| !o.hidden)
        .map(|(i, o)| (format!("objectives[{i}].description"), &o.description))
        .chain(
            level
                .guards
                .iter()
                .enumerate()
                .map(|(i, g)| (format!("guards[{i}].description"), &g.description)),
        );
    for (path, d) in described {
        if let Some(found) = names(&d.value) {
            r.error(
                Some(d.pos),
                &path,
                format!("the description names the cause (`{found}`), and `check` prints it"),
                "say what must be true once fixed, not what was broken",
            );
        }
    }
}

/// The ways a text can name a kind: `disk-full`, `disk full`.
fn spellings(name: &str) -> [String; 2] {
    [name.to_string(), name.replace('-', " ")]
}
