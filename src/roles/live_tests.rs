//! The todo app run for real on this host, against a real MariaDB and a real PostgreSQL on
//! 127.0.0.1, by `tests/app/test_app.py`: every release and its migration on each engine, and a
//! move from one engine to the other with dual writes and todo-copy. This side renders
//! config.ini, the provisioning SQL, pg_hba.conf and the releases with the roles' own code, so
//! the templates are proven against real servers.
//!
//! NEEDS ROOT (postgres runs as user postgres, the app as nobody in its own mount namespace).
//! Host packages: mariadb-server postgresql-15 python3-pymysql python3-psycopg2 prometheus (for
//! promtool, which checks the app's /metrics) tzdata
//! util-linux. Each run is bounded by `timeout` (300 s) and takes about 10-20 s.

use super::app::{self, AppEnv};
use super::context::{
    AppConfig, AppDatabase, DbConfig, Engine, NodeContext, Release, RoleConfig, Secrets,
};
use super::{mysql, postgres, release};
use ipnetwork::Ipv4Network;
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Command;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port on 127.0.0.1")
        .port()
}

fn app_database(engine: Engine, port: u16) -> AppDatabase {
    AppDatabase {
        name: engine.as_str().into(),
        host: "127.0.0.1".into(),
        engine,
        port,
        db_name: "todo".into(),
        db_user: "todo".into(),
    }
}

/// A node with the app and the given databases (engine, port), the first the app's own.
fn context(databases: &[(Engine, u16)], app_port: u16) -> NodeContext {
    let mut all = databases.iter().map(|(e, port)| app_database(*e, *port));
    let mut roles = vec![RoleConfig::App(AppConfig {
        port: app_port,
        release: Release::V1,
        database: all.next().expect("the app's own database"),
        others: all.collect(),
        migrate: Some(Release::V1),
    })];
    roles.extend(databases.iter().map(|(e, _)| match e {
        Engine::Mysql => RoleConfig::Mysql(DbConfig::todo()),
        Engine::Postgres => RoleConfig::Postgres(DbConfig::todo()),
    }));
    roles.sort_by_key(RoleConfig::role);
    NodeContext {
        lab: "live".into(),
        node: "live-app".into(),
        ip: Ipv4Addr::LOCALHOST,
        // The "lab network" is loopback here: the todo user is admitted from 127.0.0.0/8.
        subnet: Ipv4Network::new(Ipv4Addr::new(127, 0, 0, 0), 8).expect("valid prefix"),
        clients: Vec::new(),
        roles,
        peers: Vec::new(),
    }
}

fn write(dir: &Path, name: &str, text: &str) {
    if let Some(parent) = dir.join(name).parent() {
        std::fs::create_dir_all(parent).expect("create a dir in the test dir");
    }
    std::fs::write(dir.join(name), text).expect("write into the test dir");
}

fn make_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

/// `mode` is an engine, or "both" (MariaDB the app's own, PostgreSQL beside it).
fn run_live(mode: &str) {
    let dir = std::env::temp_dir().join(format!("firedrill-live-{mode}-{}", std::process::id()));
    if dir.exists() {
        std::fs::remove_dir_all(&dir).expect("remove a stale test dir");
    }
    std::fs::create_dir_all(&dir).expect("create the test dir");
    // postgres and nobody must be able to enter it.
    let chmod = Command::new("chmod").arg("0755").arg(&dir).status();
    assert!(chmod.is_ok_and(|s| s.success()), "chmod the test dir");

    let databases: Vec<(Engine, u16)> = match mode {
        "mysql" => vec![(Engine::Mysql, free_port())],
        "postgres" => vec![(Engine::Postgres, free_port())],
        _ => vec![
            (Engine::Mysql, free_port()),
            (Engine::Postgres, free_port()),
        ],
    };
    let ctx = context(&databases, free_port());
    let app_cfg = ctx.app().cloned().expect("app settings");
    let secrets = Secrets::generate();
    let env = AppEnv {
        listen: "127.0.0.1".into(),
        upload_dir: dir.join("data/uploads").display().to_string(),
        localtime: dir.join("localtime").display().to_string(),
    };
    let config = app::render_config(&ctx, &app_cfg, &secrets, &env).expect("renders");
    write(&dir, "config.ini", &config);
    for (engine, _) in &databases {
        let sql = match engine {
            Engine::Mysql => mysql::provision_sql(&ctx, &DbConfig::todo(), &secrets),
            Engine::Postgres => postgres::provision_sql(&ctx, &DbConfig::todo(), &secrets),
        };
        write(
            &dir,
            &format!("provision-{}.sql", engine.as_str()),
            &sql.expect("renders"),
        );
    }
    write(
        &dir,
        "pg_hba.conf",
        &postgres::render_hba(&ctx, &super::DbConfig::todo()).expect("renders"),
    );
    for r in Release::ALL {
        write(
            &dir,
            &format!("releases/{r}/app.py"),
            &release::render_app(r).expect("renders"),
        );
        let migrate = format!("releases/{r}/migrate");
        write(
            &dir,
            &migrate,
            &release::render_migrate(r).expect("renders"),
        );
        make_executable(&dir.join(migrate));
    }
    write(&dir, "todo-copy", app::TODO_COPY);
    make_executable(&dir.join("todo-copy"));

    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut cmd = Command::new("timeout");
    cmd.args(["--kill-after=10", "300", "/usr/bin/python3"])
        .arg(root.join("tests/app/test_app.py"))
        .args(["--engine", mode, "--db-port", &databases[0].1.to_string()])
        .arg("--dir")
        .arg(&dir)
        .arg("--releases")
        .arg(dir.join("releases"))
        .arg("--todo-copy")
        .arg(dir.join("todo-copy"))
        // todo-copy imports the app from the current release; here that is v1's.
        .env("TODO_APP_DIR", dir.join("releases/v1"));
    if let Some((_, port)) = databases.get(1) {
        cmd.args(["--db-port2", &port.to_string()]);
    }
    let out = cmd.output().expect("run tests/app/test_app.py");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "test_app.py --engine {mode} failed ({}); its files are kept in {}\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status,
        dir.display()
    );
    println!("{stdout}");
    std::fs::remove_dir_all(&dir).expect("remove the test dir");
}

#[test]
#[ignore = "needs root and mariadb-server: scripts/test"]
fn app_py_against_a_real_mariadb_needs_root() {
    run_live("mysql");
}

#[test]
#[ignore = "needs root and postgresql: scripts/test"]
fn app_py_against_a_real_postgres_needs_root() {
    run_live("postgres");
}

#[test]
#[ignore = "needs root, mariadb-server and postgresql: scripts/test"]
fn moving_the_app_from_mariadb_to_postgres_live_needs_root() {
    run_live("both");
}
