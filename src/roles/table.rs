//! What each role is, in one place. Each role's file defines its `DEF` (name, unit, ports,
//! packages, phase), its lab-file options (`Options`, `check_options`), what it needs from the
//! plan (`Config`, resolved by `config`), and its `apply`, `probe` and `health`, which take that
//! `Config`; its one line in the `roles!` table (in `roles/mod.rs`) declares the module and
//! generates the `Role` enum, the options and config enums and the dispatch, so adding a role is
//! one new file and one line. `probe` is what `apply` would find on a node where nothing is to
//! change (`probe.rs`).
//! The lab file's checks, the image's packages, the configure phases, the faults (which service
//! to stop), `status` and the client's front door read the table instead of keeping copies.

use super::Role;
use crate::plan::NodePlan;

/// When `up` configures a role, relative to the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Phase {
    /// Routers first: the others may talk across them.
    Network,
    /// Databases next: the apps need them.
    Database,
    /// Then the apps.
    App,
    /// Then what fronts the apps (their health checks need running apps).
    Front,
}

/// One role's facts.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RoleDef {
    /// As written in the lab file's `roles:`, and the key of its options block.
    pub(crate) name: &'static str,
    /// The unit whose stopping stops the role (the `service-stopped` fault's choice).
    pub(crate) unit: &'static str,
    /// Fixed ports it listens on, with what to call them in a message.
    pub(crate) ports: &'static [(u16, &'static str)],
    /// What the golden image must hold for it (the nodes have no internet).
    pub(crate) packages: &'static [&'static str],
    /// Units its packages enable at install; the image disables them (the role enables them).
    pub(crate) boot_units: &'static [&'static str],
    /// Files its packages install that the image must not keep, as (directory, name prefix).
    pub(crate) package_leftovers: &'static [(&'static str, &'static str)],
    /// Web pages it serves, which `status` lists as URLs.
    pub(crate) pages: &'static [Page],
    pub(crate) phase: Phase,
    /// Whether the node's `NAME: {...}` options block is read by `check_options` (false: the
    /// role takes none, or the lab file's own types still carry them).
    pub(crate) has_options: bool,
    /// The port a node with this role serves the todo service on, if it does. Of a lab's
    /// roles, the last in the table that serves is the front door (the outermost proxy).
    pub(crate) serves: fn(&NodePlan) -> Option<u16>,
}

/// For `RoleDef::serves` of roles that do not serve the todo service.
pub(crate) fn serves_nothing(_: &NodePlan) -> Option<u16> {
    None
}

/// The role table: `roles! { Variant => module, ... }` in `roles/mod.rs`, one line per role in
/// apply order. It declares each module and generates `Role`, `TABLE`, `RoleOptions`,
/// `check_options`, `OptionsByRole`, `RoleConfig`, `config` and the apply, probe and health
/// dispatch from the module's `DEF`, `Options`, `check_options`, `Config`, `config`,
/// `apply`, `probe` and `health`.
macro_rules! roles {
    ($($variant:ident => $module:ident),+ $(,)?) => {
        $(mod $module;)+

        /// Declared in table order, which is apply order: `Ord` follows it.
        #[derive(
            Clone,
            Copy,
            Debug,
            PartialEq,
            Eq,
            Hash,
            PartialOrd,
            Ord,
            serde::Serialize,
            serde::Deserialize,
        )]
        #[serde(rename_all = "lowercase")]
        pub(crate) enum Role {
            $($variant),+
        }

        /// Every role, in the order they are applied on a node.
        pub(crate) const TABLE: &[&$crate::roles::table::RoleDef] = &[$(&$module::DEF),+];

        impl Role {
            pub(crate) const ALL: &'static [Role] = &[$(Role::$variant),+];

            pub(crate) fn def(self) -> &'static $crate::roles::table::RoleDef {
                match self {
                    $(Role::$variant => &$module::DEF),+
                }
            }
        }

        /// One role's options from the lab file, as its file parsed and checked them.
        #[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
        #[serde(rename_all = "lowercase")]
        pub(crate) enum RoleOptions {
            $($variant($module::Options)),+
        }

        impl RoleOptions {
            pub(crate) fn role(&self) -> Role {
                match self {
                    $(RoleOptions::$variant(_) => Role::$variant),+
                }
            }

            /// Which nodes these options make the role talk to.
            pub(crate) fn peers(&self) -> &dyn $crate::roles::options::Peers {
                match self {
                    $(RoleOptions::$variant(o) => o),+
                }
            }
        }

        /// The options of `role` on one node; `None` after reporting why they are unusable.
        pub(crate) fn check_options(
            role: Role,
            input: &$crate::roles::OptionsInput<'_>,
            r: &mut $crate::spec::problem::Report,
        ) -> Option<RoleOptions> {
            match role {
                $(Role::$variant => $module::check_options(input, r).map(RoleOptions::$variant)),+
            }
        }

        /// What one role of a node needs to be configured, resolved from the lab's plan by
        /// the role's own `config`: a node's roles are these, so a role is never without its
        /// settings.
        #[derive(Debug, Clone)]
        pub(crate) enum RoleConfig {
            $($variant($module::Config)),+
        }

        impl RoleConfig {
            pub(crate) fn role(&self) -> Role {
                match self {
                    $(RoleConfig::$variant(_) => Role::$variant),+
                }
            }
        }

        /// A node's options by role: `node.options.nginx()` is its `nginx:` block as checked.
        pub(crate) trait OptionsByRole {
            $(fn $module(&self) -> Option<&$module::Options>;)+
        }

        impl OptionsByRole for [RoleOptions] {
            $(fn $module(&self) -> Option<&$module::Options> {
                self.iter().find_map(|o| match o {
                    RoleOptions::$variant(o) => Some(o),
                    _ => None,
                })
            })+
        }

        /// `role`'s settings on `node`, from the plan in `state` and the node's options for
        /// the role (`None` for the app's and haproxy's, which the planner resolved into fields
        /// of `NodePlan`); `Err` names what the plan lacks (a state file changed by hand).
        pub(crate) fn config(
            role: Role,
            state: &$crate::state::LabState,
            node: &$crate::plan::NodePlan,
        ) -> Result<RoleConfig, &'static str> {
            match role {
                $(Role::$variant => {
                    $module::config(state, node, node.options.$module()).map(RoleConfig::$variant)
                }),+
            }
        }

        async fn apply_role<R: $crate::remote::Remote>(
            config: &RoleConfig,
            session: &mut $crate::roles::session::Session<'_, R>,
            ctx: &$crate::roles::NodeContext,
            secrets: &$crate::roles::Secrets,
        ) -> Result<(), $crate::roles::RoleError> {
            match config {
                $(RoleConfig::$variant(c) => $module::apply(session, ctx, c, secrets).await),+
            }
        }

        fn probe_role(
            config: &RoleConfig,
            ctx: &$crate::roles::NodeContext,
            secrets: &$crate::roles::Secrets,
        ) -> Result<$crate::roles::probe::Probe, $crate::roles::RoleError> {
            match config {
                $(RoleConfig::$variant(c) => $module::probe(ctx, c, secrets)),+
            }
        }

        async fn health_role<R: $crate::remote::Remote>(
            config: &RoleConfig,
            session: &$crate::roles::session::Session<'_, R>,
            ctx: &$crate::roles::NodeContext,
        ) -> Result<$crate::roles::RoleHealth, $crate::roles::RoleError> {
            match config {
                $(RoleConfig::$variant(c) => $module::health(session, ctx, c).await),+
            }
        }
    };
}
pub(super) use roles;

impl Role {
    /// As written in the lab file.
    pub(crate) fn name(self) -> &'static str {
        self.def().name
    }

    pub(crate) fn is_database(self) -> bool {
        self.def().phase == Phase::Database
    }

    pub(crate) fn from_name(name: &str) -> Option<Role> {
        Role::ALL.iter().copied().find(|r| r.name() == name)
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A web page a role serves.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Page {
    /// `None`: the port the lab gave the app (`app: {port: ...}`).
    pub(crate) port: Option<u16>,
    pub(crate) path: &'static str,
    pub(crate) what: &'static str,
}

/// The facts of `role`.
pub(crate) fn def(role: Role) -> &'static RoleDef {
    role.def()
}

/// Each role of `node` that serves the todo service, with its port, in table order.
pub(crate) fn serving_ports(node: &NodePlan) -> Vec<(Role, u16)> {
    Role::ALL
        .iter()
        .filter(|r| node.roles.contains(r))
        .filter_map(|r| (r.def().serves)(node).map(|port| (*r, port)))
        .collect()
}

/// Where clients reach the lab's service: the node whose serving role comes last in the table
/// (nginx before haproxy before an app), and its port.
pub(crate) fn front_door<'a>(
    nodes: impl IntoIterator<Item = &'a NodePlan>,
) -> Option<(&'a NodePlan, u16)> {
    let nodes: Vec<&NodePlan> = nodes.into_iter().collect();
    front_door_by(&nodes, |n, role| {
        n.roles
            .contains(&role)
            .then(|| (role.def().serves)(n))
            .flatten()
    })
    .map(|(n, port)| (*n, port))
}

/// `front_door` of anything that knows the port each of its roles serves on (a role's view of
/// its peers: `Peer::serves`).
pub(crate) fn front_door_by<T>(
    items: &[T],
    serves: impl Fn(&T, Role) -> Option<u16>,
) -> Option<(&T, u16)> {
    Role::ALL.iter().rev().find_map(|&role| {
        items
            .iter()
            .find_map(|n| serves(n, role).map(|port| (n, port)))
    })
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
    use crate::roles::TABLE;

    #[test]
    fn every_role_has_exactly_one_line_and_names_are_unique() {
        for &role in Role::ALL {
            assert_eq!(
                TABLE.iter().filter(|d| d.name == role.def().name).count(),
                1,
                "{role:?}"
            );
            assert_eq!(Role::from_name(role.name()), Some(role));
            // The serde name (state files) and the lab file's name agree.
            let json = serde_json::to_string(&role).expect("role serialises");
            assert_eq!(json, format!("\"{}\"", role.def().name));
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
