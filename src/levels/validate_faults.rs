//! The faults of a level: each kind exists, takes the parameters given, is not applied twice
//! to one node, and fits its node, as the fault kind itself decides.

use super::upper_first;
use crate::faults::{FaultError, KINDS, Kind};
use crate::levels::level::{FaultSpec, Level};
use crate::plan::Plan;
use crate::spec::At;
use crate::spec::problem::Report;
use crate::spec::suggest::did_you_mean;

pub(super) fn check_faults(level: &Level, lab: Option<&Plan>, r: &mut Report) {
    if level.faults.is_empty() {
        r.error(
            None,
            "faults",
            "the level has no fault: there is nothing to fix",
            "add `faults:` with a `kind` from `firedrill fault list`, or a scripted fault with `run` and `revert`",
        );
    }
    let mut seen: Vec<(&str, &str, usize)> = Vec::new();
    for (i, f) in level.faults.iter().enumerate() {
        let FaultSpec::Kind { kind, node, params } = f else {
            continue;
        };
        let path = format!("faults[{i}]");
        let Some(info) = KINDS.iter().find(|k| k.name == kind.value) else {
            let names: Vec<&str> = KINDS.iter().map(|k| k.name).collect();
            let hint = match did_you_mean(&kind.value, names.iter().copied()) {
                Some(dym) => format!("{dym} Kinds are: {}", names.join(", ")),
                None => format!("kinds are: {}", names.join(", ")),
            };
            r.error(
                Some(kind.pos),
                &format!("{path}.kind"),
                format!("unknown fault kind `{}`", kind.value),
                hint,
            );
            continue;
        };
        let known: Vec<&str> = info.params.iter().map(|p| p.name).collect();
        for (key, _) in params {
            if known.contains(&key.value.as_str()) {
                continue;
            }
            let hint = if known.is_empty() {
                "it takes no parameters; remove `params`".to_string()
            } else {
                let all = format!("its parameters are: {}", known.join(", "));
                match did_you_mean(&key.value, known.iter().copied()) {
                    Some(dym) => format!("{dym} {}", upper_first(&all)),
                    None => all,
                }
            };
            r.error(
                Some(key.pos),
                &format!("{path}.params.{}", key.value),
                format!(
                    "fault kind `{}` has no parameter `{}`",
                    info.name, key.value
                ),
                hint,
            );
        }
        if let Some(first) = seen
            .iter()
            .find(|(k, n, _)| *k == info.name && *n == node.value)
        {
            r.error(
                Some(kind.pos),
                &format!("{path}.kind"),
                format!(
                    "fault `{}` is applied to `{}` twice (first at faults[{}])",
                    info.name, node.value, first.2
                ),
                "a node takes one fault of each kind; remove one",
            );
        }
        seen.push((info.name, &node.value, i));
        // Unknown parameters are reported above; the rest still get the kind's own checks.
        let known_params: Vec<(At<String>, String)> = params
            .iter()
            .filter(|(k, _)| known.contains(&k.value.as_str()))
            .cloned()
            .collect();
        check_fit(info, &path, kind, node, &known_params, lab, r);
    }
}

/// Asks the fault kind itself what `fault apply` would refuse (values, roles), so a level
/// cannot ship a fault that cannot be applied to its node.
fn check_fit(
    info: &Kind,
    path: &str,
    kind: &At<String>,
    node: &At<String>,
    params: &[(At<String>, String)],
    lab: Option<&Plan>,
    r: &mut Report,
) {
    let Some(lab) = lab else { return };
    let Some(planned) = lab.nodes.iter().find(|n| n.name == node.value) else {
        return; // reported by check_nodes
    };
    let given: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| (k.value.clone(), v.clone()))
        .collect();
    match info.check_fit(planned, &given) {
        Ok(()) => {}
        Err(FaultError::DoesNotFit { why, .. }) => {
            let fits: Vec<&str> = lab
                .nodes
                .iter()
                .filter(|n| info.check_fit(n, &given).is_ok())
                .map(|n| n.name.as_str())
                .collect();
            r.error(
                Some(node.pos),
                &format!("{path}.node"),
                format!("fault `{}` does not fit `{}`: {why}", info.name, node.value),
                if fits.is_empty() {
                    format!(
                        "lab `{}` has no node it fits; use another lab or fault",
                        lab.lab
                    )
                } else {
                    format!("choose one of: {}", fits.join(", "))
                },
            );
        }
        Err(FaultError::BadParam {
            param, value, why, ..
        }) => {
            let pos = params
                .iter()
                .find(|(k, _)| k.value == param)
                .map_or(kind.pos, |(k, _)| k.pos);
            r.error(
                Some(pos),
                &format!("{path}.params.{param}"),
                format!(
                    "`{value}` is not a valid `{param}` for fault kind `{}`",
                    info.name
                ),
                why,
            );
        }
        Err(other) => r.error(
            Some(kind.pos),
            &format!("{path}.kind"),
            other.to_string(),
            "`firedrill fault list` describes each kind and its parameters",
        ),
    }
}
