//! Fixed inputs for the role tests: a small lab on 10.20.0.0/24. Nothing here is contacted;
//! the addresses only end up in rendered text.

use super::context::{
    AppConfig, AppDatabase, Backend, DbConfig, Engine, HaproxyConfig, NodeContext, Release, Role,
    RoleConfig, Secrets,
};
use ipnetwork::Ipv4Network;
use std::net::Ipv4Addr;

pub(super) const PASSWORD: &str = "GoldenPassw0rdGoldenPassw0rd1234";

pub(super) fn secrets() -> Secrets {
    Secrets {
        db_password: PASSWORD.into(),
    }
}

/// A node of the fixed lab. The subnet is given with host bits set (10.20.0.7/24) to prove
/// they are dropped wherever it is rendered.
pub(super) fn node(name: &str, last_octet: u8, roles: &[Role]) -> NodeContext {
    NodeContext {
        lab: "golden".into(),
        node: name.into(),
        ip: Ipv4Addr::new(10, 20, 0, last_octet),
        subnet: Ipv4Network::new(Ipv4Addr::new(10, 20, 0, 7), 24).expect("valid prefix"),
        clients: Vec::new(),
        roles: roles.iter().map(|r| config(*r)).collect(),
        peers: Vec::new(),
    }
}

/// The settings the fixed lab gives `role`: an app of release v1 on `db`, haproxy in front of
/// app1 and app2, the todo database. Roles with options of their own get theirs in their
/// tests (`NodeContext::set`).
fn config(role: Role) -> RoleConfig {
    match role {
        Role::App => RoleConfig::App(app_config(Engine::Mysql)),
        Role::Haproxy => RoleConfig::Haproxy(haproxy_config()),
        Role::Mysql => RoleConfig::Mysql(DbConfig::todo()),
        Role::Postgres => RoleConfig::Postgres(DbConfig::todo()),
        Role::Monitor => RoleConfig::Monitor(()),
        other => panic!("the {other} role's settings are its test's to give"),
    }
}

pub(super) fn lb() -> NodeContext {
    node("lb", 10, &[Role::Haproxy])
}

fn haproxy_config() -> HaproxyConfig {
    HaproxyConfig {
        backends: vec![
            Backend {
                name: "app1".into(),
                node: "app1".into(),
                host: None,
                ip: Ipv4Addr::new(10, 20, 0, 11),
            },
            Backend {
                name: "app2".into(),
                node: "app2".into(),
                host: None,
                ip: Ipv4Addr::new(10, 20, 0, 12),
            },
        ],
        app_port: 8080,
    }
}

/// The app's own database: `db` (MariaDB, 10.20.0.20) or `pg` (PostgreSQL, 10.20.0.21).
pub(super) fn app_database(engine: Engine) -> AppDatabase {
    let (name, host) = match engine {
        Engine::Mysql => ("db", "10.20.0.20"),
        Engine::Postgres => ("pg", "10.20.0.21"),
    };
    AppDatabase {
        name: name.into(),
        host: host.into(),
        engine,
        port: engine.default_port(),
        db_name: "todo".into(),
        db_user: "todo".into(),
    }
}

/// An app of release v1 that migrates its database.
pub(super) fn app_config(engine: Engine) -> AppConfig {
    AppConfig {
        port: 8080,
        release: Release::V1,
        database: app_database(engine),
        others: Vec::new(),
        migrate: Some(Release::V1),
    }
}

pub(super) fn app1() -> NodeContext {
    node("app1", 11, &[Role::App])
}

pub(super) fn mysql_db() -> NodeContext {
    node("db", 20, &[Role::Mysql])
}

pub(super) fn postgres_db() -> NodeContext {
    node("pg", 21, &[Role::Postgres])
}
