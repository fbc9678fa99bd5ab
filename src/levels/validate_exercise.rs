//! Cross-checks of what exercises added to the level file: the kind, the lab files of the
//! solution's `up` steps, the client's streams file and the streams and database nodes that
//! checks name.

use super::LabLoader;
use crate::levels::level::{Check, Kind, Level, SolutionStep};
use crate::plan::Plan;
use crate::roles::Role;
use crate::spec::Problems;
use crate::spec::problem::Report;
use crate::spec::suggest::did_you_mean;

/// An exercise breaks nothing: it has no faults.
pub(super) fn check_kind(level: &Level, r: &mut Report) {
    if level.kind == Kind::Exercise
        && let Some(f) = level.faults.first()
    {
        r.error(
            Some(f.node().pos),
            "faults[0]",
            "an exercise has no faults: nothing is broken on purpose",
            "remove `faults`; prepare the lab with `setup` steps (each with its `revert`), or make the level `kind: incident`",
        );
    }
}

/// The lab files the solution's `up` steps converge to: each must be a valid lab with the level
/// lab's name, and its `restart` nodes must be in it. Returns the ones that are.
pub(super) fn solution_labs(
    level: &Level,
    lab: Option<&Plan>,
    lab_loader: &LabLoader<'_>,
    r: &mut Report,
) -> Vec<Plan> {
    let mut labs = Vec::new();
    for (i, step) in level.solution.iter().enumerate() {
        let SolutionStep::Up {
            file,
            path,
            restart,
        } = step
        else {
            continue;
        };
        let at = format!("solution[{i}].up");
        let view = match lab_loader(path) {
            Ok((view, _)) => view,
            Err(Problems(problems)) => {
                let first = problems
                    .iter()
                    .find(|p| p.is_error())
                    .map_or_else(String::new, |p| format!(": {p}"));
                r.error(
                    Some(file.pos),
                    &at,
                    format!("cannot use lab file `{}`{first}", file.value),
                    format!(
                        "give a valid lab file relative to this level file (`firedrill validate {}` lists its problems)",
                        path.display()
                    ),
                );
                continue;
            }
        };
        if let Some(lab) = lab
            && view.lab != lab.lab
        {
            r.error(
                Some(file.pos),
                &at,
                format!(
                    "lab file `{}` is lab `{}`, not the level's lab `{}`",
                    file.value, view.lab, lab.lab
                ),
                format!(
                    "`up` converges the running lab: give it `name: {}`",
                    lab.lab
                ),
            );
            continue;
        }
        for node in restart {
            if !view.nodes.iter().any(|n| n.name == node.value) {
                r.error(
                    Some(node.pos),
                    &format!("solution[{i}].restart"),
                    format!("node `{}` is not in lab file `{}`", node.value, file.value),
                    "name nodes of that lab file",
                );
            }
        }
        labs.push(view);
    }
    labs
}

/// The streams file reads as the client would read it, and every stream a check names is one
/// of its streams (`default` without a streams file).
pub(super) fn check_client(level: &Level, r: &mut Report) {
    let names = match &level.client.streams {
        None => vec![crate::client::DEFAULT_STREAM.to_string()],
        Some(file) => match crate::client::stream_names(&file.value) {
            Ok(names) => names,
            Err(e) => {
                r.error(
                    Some(file.pos),
                    "client.streams",
                    format!("the client refuses this streams file: {e}"),
                    "fix the file (`firedrill client --streams FILE --duration 1s` checks it too)",
                );
                return;
            }
        },
    };
    for (at, check) in checks(level) {
        let Check::Client(b) = check else { continue };
        let Some(stream) = &b.stream else { continue };
        if names.contains(&stream.value) {
            continue;
        }
        let list = format!("the client's streams are: {}", names.join(", "));
        r.error(
            Some(stream.pos),
            &format!("{at}.check.client.stream"),
            format!("no stream `{}`", stream.value),
            match did_you_mean(&stream.value, names.iter().map(String::as_str)) {
                Some(d) => format!("{d} {}", super::upper_first(&list)),
                None => list,
            },
        );
    }
}

/// A ledger check's `node` is a database node of the lab (or of a lab the solution brings up).
pub(super) fn check_ledger_nodes(level: &Level, labs: &[&Plan], r: &mut Report) {
    let mut databases: Vec<&str> = Vec::new();
    for n in labs.iter().flat_map(|l| l.nodes.iter()) {
        if n.roles
            .iter()
            .any(|r| matches!(r, Role::Mysql | Role::Postgres))
            && !databases.contains(&n.name.as_str())
        {
            databases.push(&n.name);
        }
    }
    for (at, check) in checks(level) {
        let Check::Ledger(l) = check else { continue };
        if let Some(node) = &l.node
            && !databases.contains(&node.value.as_str())
        {
            r.error(
                Some(node.pos),
                &format!("{at}.check.ledger.node"),
                format!("`{}` is not a database node of the lab", node.value),
                format!("its database nodes are: {}", databases.join(", ")),
            );
        }
    }
}

/// Every check of the level, with where it is (`objectives[0]`, `guards[1]`).
fn checks(level: &Level) -> impl Iterator<Item = (String, &Check)> {
    let objectives = level
        .objectives
        .iter()
        .enumerate()
        .map(|(i, o)| (format!("objectives[{i}]"), &o.check));
    let guards = level
        .guards
        .iter()
        .enumerate()
        .map(|(i, g)| (format!("guards[{i}]"), &g.check));
    objectives.chain(guards)
}
