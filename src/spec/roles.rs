//! Role checks: each role of a node listed once, its options block checked by the role's own
//! file (`roles::check_options`), and ports that would collide on a node.

use super::problem::Report;
use super::{Lab, Node, Role, RoleOptions};

/// What already listens on `port` on `node`: SSH, or one of its roles (their fixed ports, from
/// the role table).
pub(crate) fn taken_port(node: &Node, port: u16) -> Option<&'static str> {
    if port == 22 {
        return Some("SSH");
    }
    Role::ALL
        .iter()
        .filter(|r| crate::roles::options::has(node, **r))
        .flat_map(|r| r.def().ports.iter())
        .find(|(p, _)| *p == port)
        .map(|(_, what)| *what)
}

/// Each node's checked role options, in node order.
pub(super) fn check(
    lab: &Lab,
    addressing: &super::network::Addressing,
    r: &mut Report,
) -> Vec<Vec<RoleOptions>> {
    let lookup = crate::roles::options::Lookup::new(lab);
    lab.nodes
        .value
        .iter()
        .enumerate()
        .map(|(i, node)| {
            check_listed_once(i, node, r);
            role_options(lab, addressing, &lookup, i, node, r)
        })
        .collect()
}

fn check_listed_once(i: usize, node: &Node, r: &mut Report) {
    for (k, role) in node.roles.iter().enumerate() {
        if node.roles[..k].iter().any(|o| o.value == role.value) {
            r.error(
                Some(role.pos),
                &format!("nodes[{i}].roles"),
                format!("role `{}` is listed twice", role.value),
                "list each role once",
            );
        }
    }
}

/// The options of each role of `node` that reads its own block, checked by the role's file; a
/// block on a node without the role is reported here for every role alike.
fn role_options(
    lab: &Lab,
    addressing: &super::network::Addressing,
    lookup: &crate::roles::options::Lookup<'_>,
    i: usize,
    node: &Node,
    r: &mut Report,
) -> Vec<RoleOptions> {
    for (key, _) in &node.role_options {
        if !node.roles.iter().any(|role| role.value.name() == key.name) {
            r.error(
                Some(key.pos),
                &format!("nodes[{i}].{}", key.name),
                format!(
                    "`{}:` options on node `{}`, which has no `{}` role",
                    key.name, node.name.value, key.name
                ),
                format!(
                    "add `{}` to its `roles`, or remove `{}:`",
                    key.name, key.name
                ),
            );
        }
    }
    node.roles
        .iter()
        .enumerate()
        // A role listed twice is reported above; its block is checked once.
        .filter(|(k, role)| !node.roles[..*k].iter().any(|o| o.value == role.value))
        .map(|(_, role)| role)
        .filter(|role| role.value.def().has_options)
        .filter_map(|role| {
            let input = crate::roles::OptionsInput {
                lab,
                lookup,
                index: i,
                block: crate::roles::options::block(node, role.value),
                role_pos: role.pos,
                cidrs: &addressing.cidrs,
                ifaces: &addressing.ifaces,
            };
            crate::roles::check_options(role.value, &input, r)
        })
        .collect()
}

#[cfg(test)]
mod tests;
