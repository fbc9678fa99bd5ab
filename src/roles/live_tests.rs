//! The todo app run for real on this host, against a real MariaDB and a real PostgreSQL on
//! 127.0.0.1, by `tests/app/test_app.py`. This side renders config.ini, the provisioning SQL
//! and pg_hba.conf with the roles' own code, so the templates are proven against real servers.
//!
//! NEEDS ROOT (postgres runs as user postgres, the app as nobody in its own mount namespace).
//! Host packages: mariadb-server postgresql-15 python3-pymysql python3-psycopg2 tzdata
//! util-linux. Each run is bounded by `timeout` (300 s) and takes about 10-20 s.

use super::app::{self, AppEnv};
use super::context::{AppConfig, DbConfig, Engine, NodeContext, Role, Secrets};
use super::{mysql, postgres};
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

fn context(engine: Engine, app_port: u16, db_port: u16) -> NodeContext {
    let db_role = match engine {
        Engine::Mysql => Role::Mysql,
        Engine::Postgres => Role::Postgres,
    };
    NodeContext {
        lab: "live".into(),
        node: "live-app".into(),
        ip: Ipv4Addr::LOCALHOST,
        // The "lab network" is loopback here: the todo user is admitted from 127.0.0.0/8.
        subnet: Ipv4Network::new(Ipv4Addr::new(127, 0, 0, 0), 8).expect("valid prefix"),
        roles: vec![Role::App, db_role],
        app: Some(AppConfig {
            port: app_port,
            db_host: "127.0.0.1".into(),
            db_engine: engine,
            db_port,
            db_name: "todo".into(),
            db_user: "todo".into(),
        }),
        haproxy: None,
        db: Some(DbConfig {
            name: "todo".into(),
            user: "todo".into(),
        }),
        options: Vec::new(),
        peers: Vec::new(),
    }
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).expect("write into the test dir");
}

fn run_live(engine: Engine) {
    let dir = std::env::temp_dir().join(format!(
        "firedrill-live-{}-{}",
        engine.as_str(),
        std::process::id()
    ));
    if dir.exists() {
        std::fs::remove_dir_all(&dir).expect("remove a stale test dir");
    }
    std::fs::create_dir_all(&dir).expect("create the test dir");
    // postgres and nobody must be able to enter it.
    let chmod = Command::new("chmod").arg("0755").arg(&dir).status();
    assert!(chmod.is_ok_and(|s| s.success()), "chmod the test dir");

    let db_port = free_port();
    let ctx = context(engine, free_port(), db_port);
    let app_cfg = ctx.app.clone().expect("app settings");
    let secrets = Secrets::generate();
    let env = AppEnv {
        listen: "127.0.0.1".into(),
        upload_dir: dir.join("data/uploads").display().to_string(),
        localtime: dir.join("localtime").display().to_string(),
    };
    let config = app::render_config(&ctx, &app_cfg, &secrets, &env).expect("renders");
    write(&dir, "config.ini", &config);
    let sql = match engine {
        Engine::Mysql => mysql::provision_sql(&ctx, &secrets),
        Engine::Postgres => postgres::provision_sql(&ctx, &secrets),
    };
    write(&dir, "provision.sql", &sql.expect("renders"));
    write(
        &dir,
        "pg_hba.conf",
        &postgres::render_hba(&ctx).expect("renders"),
    );

    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("timeout")
        .args(["--kill-after=10", "300", "/usr/bin/python3"])
        .arg(root.join("tests/app/test_app.py"))
        .args([
            "--engine",
            engine.as_str(),
            "--db-port",
            &db_port.to_string(),
        ])
        .arg("--dir")
        .arg(&dir)
        .arg("--app")
        .arg(root.join("templates/app/app.py"))
        .output()
        .expect("run tests/app/test_app.py");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "test_app.py --engine {} failed ({}); its files are kept in {}\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        engine.as_str(),
        out.status,
        dir.display()
    );
    println!("{stdout}");
    std::fs::remove_dir_all(&dir).expect("remove the test dir");
}

#[test]
#[ignore = "needs root and mariadb-server: scripts/test"]
fn app_py_against_a_real_mariadb_needs_root() {
    run_live(Engine::Mysql);
}

#[test]
#[ignore = "needs root and postgresql: scripts/test"]
fn app_py_against_a_real_postgres_needs_root() {
    run_live(Engine::Postgres);
}
