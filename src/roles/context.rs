//! What a role needs to know about one node, built by the integrator from the lab plan, and the
//! lab's secrets. Plain data: rendering and applying read it, nothing here talks to a node.

use ipnetwork::Ipv4Network;
use rand::distr::{Alphanumeric, SampleString};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::Ipv4Addr;

pub(crate) use super::RoleConfig;
pub(crate) use super::release::Release;
use crate::plan::NodePlan;
pub(crate) use crate::spec::Role;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Engine {
    Mysql,
    Postgres,
}

impl Engine {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Engine::Mysql => "mysql",
            Engine::Postgres => "postgres",
        }
    }

    pub(crate) fn default_port(self) -> u16 {
        match self {
            Engine::Mysql => 3306,
            Engine::Postgres => 5432,
        }
    }
}

/// Everything `roles::apply` needs for one node.
#[derive(Debug, Clone)]
pub(crate) struct NodeContext {
    pub(crate) lab: String,
    pub(crate) node: String,
    /// The node's address on the lab network.
    pub(crate) ip: Ipv4Addr,
    /// The lab network; database access is limited to it (host bits are ignored).
    pub(crate) subnet: Ipv4Network,
    /// The other networks the node's clients connect from (an app on another network reaches
    /// its database through a router): a database admits them too.
    pub(crate) clients: Vec<Ipv4Network>,
    /// Its roles in apply order, each with the settings it needs.
    pub(crate) roles: Vec<RoleConfig>,
    /// Every node of the lab, for roles that point at others by name.
    pub(crate) peers: Vec<Peer>,
}

/// Another node (or this one) as a role that names it needs to see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Peer {
    pub(crate) name: String,
    pub(crate) ip: Ipv4Addr,
    /// Its roles, in apply order.
    pub(crate) roles: Vec<Role>,
    /// Each of its roles that serves the todo service, with the port (`roles::serving_ports`).
    pub(crate) serves: Vec<(Role, u16)>,
}

impl NodeContext {
    #[cfg(test)]
    pub(crate) fn peer(&self, name: &str) -> Option<&Peer> {
        self.peers.iter().find(|p| p.name == name)
    }

    pub(crate) fn has(&self, role: Role) -> bool {
        self.roles.iter().any(|c| c.role() == role)
    }

    /// The first of its roles in apply order, which decides when `up` configures it.
    pub(crate) fn first_role(&self) -> Option<Role> {
        self.roles.first().map(RoleConfig::role)
    }

    /// The app's settings, when the node is an app node.
    pub(crate) fn app(&self) -> Option<&AppConfig> {
        self.roles.iter().find_map(|c| match c {
            RoleConfig::App(a) => Some(a),
            _ => None,
        })
    }

    /// Haproxy's settings, when the node runs one.
    pub(crate) fn haproxy(&self) -> Option<&HaproxyConfig> {
        self.roles.iter().find_map(|c| match c {
            RoleConfig::Haproxy(h) => Some(h),
            _ => None,
        })
    }

    /// The database and user of the node's database roles, when it has one.
    #[cfg(test)]
    pub(crate) fn db(&self) -> Option<&DbConfig> {
        self.roles.iter().find_map(|c| match c {
            RoleConfig::Mysql(d) | RoleConfig::Postgres(d) => Some(d),
            _ => None,
        })
    }

    /// Gives the node `config`'s role with these settings (tests build contexts by hand).
    #[cfg(test)]
    pub(crate) fn set(&mut self, config: RoleConfig) {
        self.roles.retain(|c| c.role() != config.role());
        self.roles.push(config);
        self.roles.sort_by_key(RoleConfig::role);
    }
}

/// The address `from`'s roles reach `to` by: the one validation picked (on a network they
/// share, else the one the routes lead to), else `to`'s first address.
pub(crate) fn address(from: &NodePlan, to: &NodePlan) -> Ipv4Addr {
    from.reaches
        .iter()
        .find(|r| r.peer == to.name)
        .map_or(to.ip, |r| r.ip)
}

#[derive(Debug, Clone)]
pub(crate) struct AppConfig {
    /// The port the app listens on (8080 in the shipped labs).
    pub(crate) port: u16,
    /// The release `todo.service` runs (every release is installed).
    pub(crate) release: Release,
    /// The database the app writes to and reads from.
    pub(crate) database: AppDatabase,
    /// The lab's other databases, which config.ini names too, for a move between databases by
    /// hand.
    pub(crate) others: Vec<AppDatabase>,
    /// Set on one app node per database: run this release's migration on the app's database
    /// before the app restarts (the newest release of the apps that share that database).
    pub(crate) migrate: Option<Release>,
}

impl AppConfig {
    /// Every database config.ini names, the app's own first.
    pub(crate) fn databases(&self) -> impl Iterator<Item = &AppDatabase> {
        std::iter::once(&self.database).chain(&self.others)
    }
}

/// One database as the app sees it: a `[database NAME]` section of config.ini.
#[derive(Debug, Clone)]
pub(crate) struct AppDatabase {
    /// The database node's name; the section's name.
    pub(crate) name: String,
    /// The database node's address as the app reaches it (on a network they share, else the
    /// one its routes lead to). For an app on the database node itself the node's lab IP, not
    /// 127.0.0.1: the database user is admitted from the lab's networks only.
    pub(crate) host: String,
    pub(crate) engine: Engine,
    /// Normally `engine.default_port()`.
    pub(crate) port: u16,
    pub(crate) db_name: String,
    pub(crate) db_user: String,
}

#[derive(Debug, Clone)]
pub(crate) struct HaproxyConfig {
    pub(crate) backends: Vec<Backend>,
    /// The port the app nodes listen on.
    pub(crate) app_port: u16,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Backend {
    /// The server's name in haproxy, on the stats page and in the runtime API: the node's
    /// name, or the `dns:` name it is reached by.
    pub(crate) name: String,
    /// The node behind it now.
    pub(crate) node: String,
    pub(crate) ip: Ipv4Addr,
    /// The FQDN haproxy resolves while it runs, when the lab file gave a `dns:` name.
    pub(crate) host: Option<String>,
}

/// The database and user a database role creates. The engine comes from the role itself.
#[derive(Debug, Clone)]
pub(crate) struct DbConfig {
    pub(crate) name: String,
    pub(crate) user: String,
}

/// The database every app uses, on every database node.
pub(crate) const DB_NAME: &str = "todo";
const DB_USER: &str = "todo";

impl DbConfig {
    /// The same on every database node: `todo`, owned by `todo`.
    pub(crate) fn todo() -> DbConfig {
        DbConfig {
            name: DB_NAME.into(),
            user: DB_USER.into(),
        }
    }
}

/// Generated once per lab and stored by the integrator with mode 0600. `Debug` hides the
/// values so a secret never reaches a log by accident.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Secrets {
    pub(crate) db_password: String,
}

impl Secrets {
    /// Letters and digits only: the password is written into SQL, an ini file and a pgpass
    /// line, and none of those then needs quoting rules.
    pub(crate) fn generate() -> Secrets {
        Secrets {
            db_password: Alphanumeric.sample_string(&mut rand::rng(), 32),
        }
    }
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Secrets")
            .field("db_password", &"<hidden>")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_passwords_are_long_alphanumeric_and_differ() {
        let a = Secrets::generate();
        let b = Secrets::generate();
        assert_eq!(a.db_password.len(), 32);
        assert!(a.db_password.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, b);
    }

    #[test]
    fn debug_hides_the_password() {
        let s = Secrets {
            db_password: "hunter2hunter2".into(),
        };
        assert_eq!(format!("{s:?}"), "Secrets { db_password: \"<hidden>\" }");
    }

    #[test]
    fn roles_sort_into_apply_order() {
        let mut roles = vec![Role::Haproxy, Role::App, Role::Postgres, Role::Mysql];
        roles.sort();
        assert_eq!(
            roles,
            [Role::Mysql, Role::Postgres, Role::App, Role::Haproxy]
        );
    }
}
