//! Role logic against the scripted fake: the exact commands, uploads and changes for a fresh
//! node and for one that is already configured. Database roles here; app and haproxy in
//! `role_tests_web.rs`.

use super::files::{ManagedFile, state_script};
use super::fixtures::{self, PASSWORD};
use super::service::{Service, state_script as service_state};
use super::{DbConfig, NodeContext, NodeReport, RoleError, apply, mysql, postgres};
use crate::remote::fake::{Call, FakeRemote, answer, contains};
use crate::ssh::{Upload, upload_script};

/// Runs `apply` and returns its result with the progress lines it printed.
pub(super) async fn run_apply(
    fake: &FakeRemote,
    ctx: &NodeContext,
) -> (Result<NodeReport, RoleError>, Vec<String>) {
    let mut said = Vec::new();
    let result = {
        let mut progress = |m: &str| said.push(m.to_string());
        apply(fake, ctx, &fixtures::secrets(), false, &mut progress).await
    };
    (result, said)
}

/// The password never shows in a command line or progress output, only on stdin.
pub(super) fn assert_no_secret_leaks(calls: &[Call], said: &[String]) {
    for call in calls {
        assert!(
            !call.command.contains(PASSWORD),
            "password on a command line: {}",
            call.command
        );
    }
    for line in said {
        assert!(!line.contains(PASSWORD), "password in progress: {line}");
    }
}

/// A root script as a role sends it to a lab node (through sudo).
pub(super) fn as_root(script: &str) -> String {
    crate::ssh::as_root(&FakeRemote::new("node"), script)
}

pub(super) fn commands(calls: &[Call]) -> Vec<String> {
    calls.iter().map(|c| c.command.clone()).collect()
}

/// What `state_script` prints for files already in place, as firedrill wrote them.
pub(super) fn in_place(files: &[ManagedFile]) -> String {
    files
        .iter()
        .map(|f| format!("{} {}\n", f.state_line(), f.sha256()))
        .collect()
}

/// The one upload of every managed file in `files`, each recording what the node got.
pub(super) fn uploads_of(files: &[ManagedFile]) -> String {
    let records: Vec<String> = files
        .iter()
        .map(|f| super::files::record_path(&f.path))
        .collect();
    let uploads: Vec<Upload> = files
        .iter()
        .zip(&records)
        .map(|(f, r)| Upload {
            path: &f.path,
            contents: f.contents.as_bytes(),
            mode: f.mode,
            owner: &f.owner,
            checksum_to: Some(r),
        })
        .collect();
    as_root(&upload_script(&uploads, None))
}

pub(super) fn enable_cmd(unit: &str) -> String {
    as_root(&format!(
        "SYSTEMCTL_SKIP_SYSV=1 systemctl enable --no-reload {unit}"
    ))
}

pub(super) fn service_cmd(verb: &str, unit: &str) -> String {
    as_root(&format!("systemctl {verb} {unit}"))
}

pub(super) fn state_of(service: Service) -> String {
    as_root(&service_state(service))
}

fn mysql_files() -> Vec<ManagedFile> {
    vec![ManagedFile {
        path: mysql::CNF_PATH.into(),
        contents: mysql::render_cnf(&fixtures::mysql_db()).expect("renders"),
        mode: 0o644,
        owner: "root:root".into(),
    }]
}

fn mysql_fake(files: &str, service: &str, probes: Vec<u32>) -> FakeRemote {
    FakeRemote::new("db")
        .answers(contains("sha256sum"), vec![answer(0, files)])
        .answers(contains("chown"), vec![answer(0, "")])
        .answers(contains("systemctl is-enabled"), vec![answer(3, service)])
        .answers(contains("systemctl enable"), vec![answer(0, "")])
        .answers(contains("systemctl start"), vec![answer(0, "")])
        .answers(contains("systemctl restart"), vec![answer(0, "")])
        .answers(contains("mysqladmin ping"), vec![answer(0, "")])
        .answers(
            contains("--defaults-extra-file"),
            probes.into_iter().map(|s| answer(s, "3\n")).collect(),
        )
        .answers(contains("mysql --batch"), vec![answer(0, "")])
}

#[tokio::test]
async fn mysql_on_a_fresh_node_writes_config_starts_and_provisions() {
    let ctx = fixtures::mysql_db();
    let db = ctx.db().cloned().expect("db settings");
    let files = mysql_files();
    let fake = mysql_fake("missing\n", "disabled\ninactive\n", vec![1, 0]);
    let (result, said) = run_apply(&fake, &ctx).await;
    let report = result.expect("apply succeeds");

    let calls = fake.calls();
    let probe = as_root(&mysql::probe_script(&ctx, &db));
    assert_eq!(
        commands(&calls),
        vec![
            as_root(&state_script(&[mysql::CNF_PATH])),
            uploads_of(&files[0..=0]),
            state_of(mysql::SERVICE),
            enable_cmd("mariadb.service"),
            service_cmd("start", "mariadb.service"),
            as_root(mysql::WAIT_SCRIPT),
            probe.clone(),
            as_root(mysql::PROVISION_SCRIPT),
            probe,
        ]
    );
    assert_eq!(
        calls[1].stdin_str().as_deref(),
        Some(crate::ssh::uploaded(&files[0].contents).as_str())
    );
    let login = format!("[client]\npassword={PASSWORD}\n");
    assert_eq!(calls[6].stdin_str().as_deref(), Some(login.as_str()));
    let sql = mysql::provision_sql(&ctx, &DbConfig::todo(), &fixtures::secrets()).expect("renders");
    assert_eq!(calls[7].stdin_str().as_deref(), Some(sql.as_str()));
    assert_eq!(calls[8].stdin_str().as_deref(), Some(login.as_str()));
    assert_eq!(
        report.changed,
        vec![
            "/etc/mysql/mariadb.conf.d/60-firedrill.cnf updated",
            "mariadb.service enabled",
            "mariadb.service started",
            "database todo and user todo@10.20.0.0/255.255.255.0 provisioned",
        ]
    );
    assert_no_secret_leaks(&calls, &said);
}

#[tokio::test]
async fn mysql_on_a_configured_node_only_checks() {
    let ctx = fixtures::mysql_db();
    let db = ctx.db().cloned().expect("db settings");
    let fake = mysql_fake(&in_place(&mysql_files()), "enabled\nactive\n", vec![0]);
    let (result, said) = run_apply(&fake, &ctx).await;
    let report = result.expect("apply succeeds");
    assert_eq!(report.changed, Vec::<String>::new());
    assert_eq!(report.summary(), "no changes");
    assert_eq!(
        commands(&fake.calls()),
        vec![
            as_root(&state_script(&[mysql::CNF_PATH])),
            state_of(mysql::SERVICE),
            as_root(mysql::WAIT_SCRIPT),
            as_root(&mysql::probe_script(&ctx, &db)),
        ]
    );
    assert_no_secret_leaks(&fake.calls(), &said);
}

#[tokio::test]
async fn mysql_with_a_changed_config_restarts_but_does_not_reprovision() {
    let ctx = fixtures::mysql_db();
    let stale = "0000 644 root:root\n";
    let fake = mysql_fake(stale, "enabled\nactive\n", vec![0]);
    let (result, _) = run_apply(&fake, &ctx).await;
    assert_eq!(
        result.expect("apply succeeds").changed,
        vec![
            "/etc/mysql/mariadb.conf.d/60-firedrill.cnf updated",
            "mariadb.service restarted"
        ]
    );
    assert!(
        !commands(&fake.calls()).contains(&as_root(mysql::PROVISION_SCRIPT)),
        "the todo login worked, so nothing is provisioned"
    );
}

#[tokio::test]
async fn mysql_provisioning_that_still_cannot_log_in_is_an_error() {
    let ctx = fixtures::mysql_db();
    let fake = mysql_fake(&in_place(&mysql_files()), "enabled\nactive\n", vec![1, 1]);
    let (result, _) = run_apply(&fake, &ctx).await;
    let err = result.expect_err("the second login fails");
    let msg = err.to_string();
    assert!(
        msg.starts_with(
            "db: mysql: log in as the todo user failed (exit 1): 3\n  ran: `f=$(mktemp); trap 'rm -f \"$f\"' EXIT;"
        ),
        "{msg}"
    );
    assert!(!msg.contains(PASSWORD));
}

fn postgres_files() -> Vec<ManagedFile> {
    postgres::files(&fixtures::postgres_db(), &super::DbConfig::todo()).expect("renders")
}

fn postgres_fake(cluster: &str, files: &str, service: &str, probes: Vec<u32>) -> FakeRemote {
    FakeRemote::new("pg")
        .answers(contains("pg_createcluster"), vec![answer(0, cluster)])
        .answers(contains("sha256sum"), vec![answer(0, files)])
        .answers(contains("chown"), vec![answer(0, "")])
        .answers(contains("systemctl is-enabled"), vec![answer(3, service)])
        .answers(contains("systemctl enable"), vec![answer(0, "")])
        .answers(contains("systemctl start"), vec![answer(0, "")])
        .answers(contains("systemctl restart"), vec![answer(0, "")])
        .answers(contains("systemctl reload"), vec![answer(0, "")])
        .answers(contains("pg_isready"), vec![answer(0, "")])
        .answers(
            contains("PGPASSFILE"),
            probes.into_iter().map(|s| answer(s, "3\n")).collect(),
        )
        .answers(contains("runuser -u postgres"), vec![answer(0, "")])
}

#[tokio::test]
async fn postgres_on_a_fresh_node_creates_cluster_config_and_database() {
    let ctx = fixtures::postgres_db();
    let db = ctx.db().cloned().expect("db settings");
    let files = postgres_files();
    let fake = postgres_fake(
        "cluster 15/main created\n",
        "missing\nmissing\nmissing\n",
        "disabled\ninactive\n",
        vec![2, 0],
    );
    let (result, said) = run_apply(&fake, &ctx).await;
    let report = result.expect("apply succeeds");

    let calls = fake.calls();
    let probe = as_root(&postgres::probe_script(&ctx, &db));
    assert_eq!(
        commands(&calls),
        vec![
            as_root(postgres::CLUSTER_SCRIPT),
            as_root(&state_script(&[
                postgres::CONF_PATH,
                postgres::HBA_PATH,
                postgres::START_PATH
            ])),
            uploads_of(&files[0..=2]),
            state_of(postgres::SERVICE),
            enable_cmd("postgresql.service"),
            service_cmd("start", "postgresql@15-main.service"),
            as_root(postgres::WAIT_SCRIPT),
            probe.clone(),
            as_root(postgres::PROVISION_SCRIPT),
            probe,
        ]
    );
    let login = format!("*:*:*:todo:{PASSWORD}\n");
    assert_eq!(calls[7].stdin_str().as_deref(), Some(login.as_str()));
    let sql =
        postgres::provision_sql(&ctx, &DbConfig::todo(), &fixtures::secrets()).expect("renders");
    assert_eq!(calls[8].stdin_str().as_deref(), Some(sql.as_str()));
    assert_eq!(
        report.changed,
        vec![
            "cluster 15/main created",
            "/etc/postgresql/15/main/conf.d/firedrill.conf updated",
            "/etc/postgresql/15/main/pg_hba.conf updated",
            "/etc/postgresql/15/main/start.conf updated",
            "postgresql.service enabled",
            "postgresql@15-main.service started",
            "database todo and role todo provisioned",
        ]
    );
    assert_no_secret_leaks(&calls, &said);
}

#[tokio::test]
async fn postgres_on_a_configured_node_only_checks() {
    let ctx = fixtures::postgres_db();
    let db = ctx.db().cloned().expect("db settings");
    let fake = postgres_fake(
        "",
        &in_place(&postgres_files()),
        "enabled\nactive\n",
        vec![0],
    );
    let (result, said) = run_apply(&fake, &ctx).await;
    assert_eq!(
        result.expect("apply succeeds").changed,
        Vec::<String>::new()
    );
    assert_eq!(
        commands(&fake.calls()),
        vec![
            as_root(postgres::CLUSTER_SCRIPT),
            as_root(&state_script(&[
                postgres::CONF_PATH,
                postgres::HBA_PATH,
                postgres::START_PATH
            ])),
            state_of(postgres::SERVICE),
            as_root(postgres::WAIT_SCRIPT),
            as_root(&postgres::probe_script(&ctx, &db)),
        ]
    );
    assert_no_secret_leaks(&fake.calls(), &said);
}

#[tokio::test]
async fn postgres_with_only_pg_hba_changed_reloads() {
    let ctx = fixtures::postgres_db();
    let files = postgres_files();
    let state = format!(
        "{}\n0000 640 postgres:postgres\n{}\n",
        files[0].state_line(),
        files[2].state_line()
    );
    let fake = postgres_fake("", &state, "enabled\nactive\n", vec![0]);
    let (result, _) = run_apply(&fake, &ctx).await;
    assert_eq!(
        result.expect("apply succeeds").changed,
        vec![
            "/etc/postgresql/15/main/pg_hba.conf updated",
            "postgresql@15-main.service reloaded",
        ]
    );
}

/// Every script a role sends parses in dash, Debian's /bin/sh (`sh -n` reads without running).
#[test]
fn every_script_parses_in_the_nodes_shell() {
    use super::{app, haproxy};
    let mysql_ctx = fixtures::mysql_db();
    let pg_ctx = fixtures::postgres_db();
    let db = mysql_ctx.db().cloned().expect("db settings");
    let mut scripts = vec![
        app::setup_script(),
        app::setup_state_script(),
        app::migrated_script(&fixtures::app_database(super::context::Engine::Mysql)),
        app::migrated_script(&fixtures::app_database(super::context::Engine::Postgres)),
        app::health_script(8080),
        state_script(&[app::APP_PY_PATH, app::CONFIG_PATH]),
        upload_script(
            &[Upload {
                path: "/etc/todo/config.ini",
                contents: b"",
                mode: 0o640,
                owner: "root:todo",
                checksum_to: None,
            }],
            None,
        ),
        service_state(app::SERVICE),
        haproxy::install_script(&ManagedFile {
            path: haproxy::CONFIG_PATH.into(),
            contents: "x".into(),
            mode: 0o644,
            owner: "root:root".into(),
        }),
        mysql::WAIT_SCRIPT.to_string(),
        mysql::probe_script(&mysql_ctx, &db),
        mysql::health_script(),
        postgres::CLUSTER_SCRIPT.to_string(),
        postgres::WAIT_SCRIPT.to_string(),
        postgres::PROVISION_SCRIPT.to_string(),
        postgres::probe_script(&pg_ctx, &db),
        postgres::health_script(&pg_ctx),
    ];
    // Each node's one-pass check, all its roles joined.
    for ctx in [
        fixtures::app1(),
        fixtures::mysql_db(),
        fixtures::postgres_db(),
        fixtures::lb(),
    ] {
        let probes = ctx
            .roles
            .iter()
            .map(|c| super::probe_role(c, &ctx, &fixtures::secrets()).expect("renders"))
            .collect();
        scripts.push(
            super::probe::Probe::join(probes)
                .expect("one stdin")
                .script(),
        );
    }
    for script in scripts {
        crate::ssh::assert_sh_parses(&script);
        // The quoting of `sudo -n sh -c '...'` hands sh exactly the script: print the
        // argument instead of running it and compare.
        let wrapped = as_root(&script).replacen("sudo -n sh -c ", "printf %s ", 1);
        let out = std::process::Command::new("dash")
            .args(["-c", &wrapped])
            .output()
            .expect("dash is installed");
        assert_eq!(String::from_utf8_lossy(&out.stdout), script);
    }
}
