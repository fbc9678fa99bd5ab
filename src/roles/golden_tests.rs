//! Every template rendered with the fixed lab of `fixtures.rs`, compared byte for byte with
//! `tests/golden/roles/`. After an intended template change, rewrite the golden files with
//! `UPDATE_GOLDEN=1 cargo test roles::golden` and review the diff.

use super::app::{self, AppEnv};
use super::context::{DbConfig, Engine, Release};
use super::fixtures::{self, PASSWORD};
use super::{haproxy, mysql, postgres};
use std::path::PathBuf;

fn golden_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden/roles")
        .join(name)
}

pub(super) fn check_golden(name: &str, rendered: &str) {
    let path = golden_path(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, rendered).expect("write golden file");
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; create it with UPDATE_GOLDEN=1 cargo test",
            path.display()
        )
    });
    assert_eq!(
        rendered,
        expected,
        "{name} differs from {}; if the change is intended, run UPDATE_GOLDEN=1 cargo test",
        path.display()
    );
}

#[test]
fn app_config_ini() {
    let ctx = fixtures::app1();
    let app = ctx.app().cloned().expect("app settings");
    let text =
        app::render_config(&ctx, &app, &fixtures::secrets(), &AppEnv::node()).expect("renders");
    check_golden("config.ini", &text);
}

#[test]
fn app_config_ini_for_postgres() {
    let mut ctx = fixtures::app1();
    ctx.set(super::RoleConfig::App(fixtures::app_config(
        Engine::Postgres,
    )));
    let app = ctx.app().cloned().expect("app settings");
    let text =
        app::render_config(&ctx, &app, &fixtures::secrets(), &AppEnv::node()).expect("renders");
    check_golden("config-postgres.ini", &text);
}

/// A lab with both engines: the app's own database first (write and read), the other one
/// listed for a move by hand.
#[test]
fn app_config_ini_with_two_databases() {
    let mut ctx = fixtures::app1();
    let mut app = fixtures::app_config(Engine::Mysql);
    app.others.push(fixtures::app_database(Engine::Postgres));
    ctx.set(super::RoleConfig::App(app.clone()));
    let text =
        app::render_config(&ctx, &app, &fixtures::secrets(), &AppEnv::node()).expect("renders");
    check_golden("config-two-databases.ini", &text);
}

#[test]
fn app_instance_unit_and_readme() {
    let ctx = fixtures::app1();
    let mut app = ctx.app().cloned().expect("app settings");
    check_golden(
        "todo@.service",
        &app::render_instance_unit(&ctx).expect("renders"),
    );
    app.release = Release::V2;
    check_golden(
        "todo-README",
        &app::render_readme(&ctx, &app).expect("renders"),
    );
}

#[test]
fn app_unit() {
    let ctx = fixtures::app1();
    let app = ctx.app().cloned().expect("app settings");
    check_golden(
        "todo.service",
        &app::render_unit(&ctx, &app).expect("renders"),
    );
}

#[test]
fn app_unit_on_port_80_may_bind_it() {
    let ctx = fixtures::app1();
    let mut app = ctx.app().cloned().expect("app settings");
    app.port = 80;
    check_golden(
        "todo-port80.service",
        &app::render_unit(&ctx, &app).expect("renders"),
    );
}

#[test]
fn haproxy_cfg() {
    let ctx = fixtures::lb();
    let hp = ctx.haproxy().cloned().expect("haproxy settings");
    check_golden(
        "haproxy.cfg",
        &haproxy::render_config(&ctx, &hp).expect("renders"),
    );
}

#[test]
fn mysql_files() {
    let ctx = fixtures::mysql_db();
    check_golden(
        "60-firedrill.cnf",
        &mysql::render_cnf(&ctx).expect("renders"),
    );
    check_golden(
        "mysql-provision.sql",
        &mysql::provision_sql(&ctx, &DbConfig::todo(), &fixtures::secrets()).expect("renders"),
    );
}

#[test]
fn postgres_files() {
    let ctx = fixtures::postgres_db();
    check_golden(
        "postgres-firedrill.conf",
        &postgres::render_conf(&ctx).expect("renders"),
    );
    check_golden(
        "pg_hba.conf",
        &postgres::render_hba(&ctx, &super::DbConfig::todo()).expect("renders"),
    );
    check_golden(
        "postgres-provision.sql",
        &postgres::provision_sql(&ctx, &DbConfig::todo(), &fixtures::secrets()).expect("renders"),
    );
}

/// A database whose apps connect from another network too (through a router) admits both:
/// MariaDB an account per network with one password, pg_hba a line per network.
#[test]
fn a_database_admits_every_network_its_apps_come_from() {
    let lan: ipnetwork::Ipv4Network = "10.30.0.0/24".parse().expect("cidr");
    let mut db = fixtures::mysql_db();
    db.clients = vec![lan];
    let sql = mysql::provision_sql(&db, &DbConfig::todo(), &fixtures::secrets()).expect("renders");
    for host in ["10.20.0.0/255.255.255.0", "10.30.0.0/255.255.255.0"] {
        assert!(
            sql.contains(&format!(
                "GRANT ALL PRIVILEGES ON `todo`.* TO 'todo'@'{host}';\n"
            )),
            "{sql}"
        );
    }
    let cnf = mysql::render_cnf(&db).expect("renders");
    assert!(
        cnf.contains("(10.20.0.0/24, 10.30.0.0/24)")
            && cnf.contains("'todo'@'10.20.0.0/255.255.255.0', 'todo'@'10.30.0.0/255.255.255.0'."),
        "{cnf}"
    );
    let db_config = db.db().cloned().expect("db");
    assert!(
        mysql::probe_script(&db, &db_config).ends_with(
            "Host IN (\"10.20.0.0/255.255.255.0\", \"10.30.0.0/255.255.255.0\")')\" = 2 ]"
        ),
        "{}",
        mysql::probe_script(&db, &db_config)
    );
    let mut pg = fixtures::postgres_db();
    pg.clients = vec![lan];
    let hba = postgres::render_hba(&pg, &super::DbConfig::todo()).expect("renders");
    assert!(
        hba.ends_with(
            "host    todo    todo    10.20.0.0/24    scram-sha-256\n\
             host    todo    todo    10.30.0.0/24    scram-sha-256\n"
        ),
        "{hba}"
    );
}

/// The password reaches the files that need it and no other.
#[test]
fn only_config_ini_and_provisioning_sql_hold_the_password() {
    let ctx = fixtures::app1();
    let app = ctx.app().cloned().expect("app settings");
    let s = fixtures::secrets();
    assert!(
        app::render_config(&ctx, &app, &s, &AppEnv::node())
            .expect("renders")
            .contains(&format!("password = {PASSWORD}\n"))
    );
    assert!(
        !app::render_unit(&ctx, &app)
            .expect("renders")
            .contains(PASSWORD)
    );
    let db = fixtures::mysql_db();
    assert!(!mysql::render_cnf(&db).expect("renders").contains(PASSWORD));
    let pg = fixtures::postgres_db();
    assert!(
        !postgres::render_hba(&pg, &super::DbConfig::todo())
            .expect("renders")
            .contains(PASSWORD)
    );
}

/// The rendered haproxy.cfg is checked by a real haproxy (host package `haproxy`), as the
/// role checks it on the node before every reload.
#[test]
#[ignore = "needs haproxy: scripts/test (scripts/install-deps installs it)"]
fn haproxy_accepts_the_rendered_config() {
    let ctx = fixtures::lb();
    let hp = ctx.haproxy().cloned().expect("haproxy settings");
    // With the certificate the role makes on the node (its own script, in a temp dir).
    let dir = std::env::temp_dir().join(format!("firedrill-haproxy-c-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create the temp dir");
    let text = super::live_haproxy_tests::render_with_tls(&dir, &ctx, &hp);
    let path = dir.join("haproxy.cfg");
    std::fs::write(&path, text).expect("write temp config");
    let out = std::process::Command::new("haproxy")
        .arg("-c")
        .arg("-f")
        .arg(&path)
        .output()
        .expect("haproxy is installed on this host (apt-get install haproxy)");
    std::fs::remove_dir_all(&dir).expect("remove the temp dir");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "haproxy -c rejected the config:\n{said}"
    );
    assert!(!said.contains("[WARNING]"), "haproxy -c warns:\n{said}");
}

/// A backend reached by a `dns:` name renders the same whichever node the name leads to, so
/// repointing the name never rewrites haproxy.cfg (and never reloads haproxy: found on a VM).
#[test]
fn a_backend_by_name_does_not_depend_on_where_the_name_leads() {
    let ctx = fixtures::lb();
    let mut hp = ctx.haproxy().cloned().expect("haproxy settings");
    let by_name = |node: &str, last: u8| super::Backend {
        name: "front".into(),
        node: node.into(),
        ip: std::net::Ipv4Addr::new(10, 20, 0, last),
        host: Some("front.t.lab".into()),
    };
    hp.backends = vec![by_name("app1", 11)];
    let before = haproxy::render_config(&ctx, &hp).expect("renders");
    hp.backends = vec![by_name("app2", 12)];
    let after = haproxy::render_config(&ctx, &hp).expect("renders");
    assert_eq!(before, after);
    assert!(
        before.contains("server front front.t.lab:8080 check resolvers lab"),
        "{before}"
    );
}
