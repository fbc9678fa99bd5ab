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
    /// Web pages it serves, which `status` lists as URLs.
    pub(crate) pages: &'static [Page],
    pub(crate) phase: Phase,
}

/// A web page a role serves.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Page {
    /// `None`: the port the lab gave the app (`app: {port: ...}`).
    pub(crate) port: Option<u16>,
    pub(crate) path: &'static str,
    pub(crate) what: &'static str,
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

/// The URLs of the pages a node with `roles` serves at `ip`, with what each is.
pub(crate) fn page_urls(
    ip: std::net::Ipv4Addr,
    roles: &[Role],
    app_port: Option<u16>,
) -> Vec<(&'static str, String)> {
    roles
        .iter()
        .flat_map(|r| def(*r).pages.iter())
        .filter_map(|p| {
            let port = p.port.or(app_port)?;
            let host = if port == 80 {
                ip.to_string()
            } else {
                format!("{ip}:{port}")
            };
            Some((p.what, format!("http://{host}{}", p.path)))
        })
        .collect()
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
    fn pages_of_a_node_are_urls_on_its_address() {
        let ip = std::net::Ipv4Addr::new(10, 78, 0, 10);
        assert_eq!(
            page_urls(ip, &[Role::Haproxy], None),
            vec![
                ("the service", "http://10.78.0.10/todos".to_string()),
                ("haproxy stats", "http://10.78.0.10:8404/".to_string()),
            ]
        );
        assert_eq!(
            page_urls(ip, &[Role::App, Role::Mysql], Some(8080)),
            vec![("todo app", "http://10.78.0.10:8080/todos".to_string())]
        );
        assert!(page_urls(ip, &[Role::Postgres], None).is_empty());
    }

    #[test]
    fn the_table_is_in_apply_order() {
        let phases: Vec<Phase> = TABLE.iter().map(|d| d.phase).collect();
        let mut sorted = phases.clone();
        sorted.sort();
        assert_eq!(phases, sorted);
    }
}
