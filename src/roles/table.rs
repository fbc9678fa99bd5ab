//! What each role is, in one place: its name in the lab file, the unit that runs it, the ports
//! it listens on, and when `up` configures it. Each role's file defines its `DEF`; this table
//! lists them. The lab file's checks, the configure phases, the faults (which service to stop)
//! and `status` read it instead of keeping their own copies.

use crate::spec::Role;

/// When `up` configures a role, relative to the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Phase {
    /// Databases first: the apps need them.
    Database,
    /// Then the apps.
    App,
    /// Then what fronts the apps (their health checks need running apps).
    Front,
}

/// One role's facts.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RoleDef {
    pub(crate) role: Role,
    /// As written in the lab file's `roles:`.
    pub(crate) name: &'static str,
    /// The unit whose stopping stops the role (the `service-stopped` fault's choice).
    pub(crate) unit: &'static str,
    /// Fixed ports it listens on, with what to call them in a message.
    pub(crate) ports: &'static [(u16, &'static str)],
    pub(crate) phase: Phase,
}

/// Every role, in the order they are applied on a node.
pub(crate) const TABLE: [&RoleDef; 4] = [
    &super::mysql::DEF,
    &super::postgres::DEF,
    &super::app::DEF,
    &super::haproxy::DEF,
];

/// The facts of `role`.
pub(crate) fn def(role: Role) -> &'static RoleDef {
    TABLE
        .iter()
        .find(|d| d.role == role)
        .copied()
        .expect("every role has a line in roles::TABLE")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_role_has_exactly_one_line_and_names_are_unique() {
        for role in Role::ALL {
            assert_eq!(
                TABLE.iter().filter(|d| d.role == role).count(),
                1,
                "{role:?}"
            );
            assert_eq!(def(role).name, role.name());
        }
        let mut names: Vec<&str> = TABLE.iter().map(|d| d.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), TABLE.len());
    }

    #[test]
    fn the_table_is_in_apply_order() {
        let phases: Vec<Phase> = TABLE.iter().map(|d| d.phase).collect();
        let mut sorted = phases.clone();
        sorted.sort();
        assert_eq!(phases, sorted);
    }
}
