//! Role logic against the scripted fake for haproxy, a node with two roles, and the health
//! checks. The app alone: `app_tests.rs`.

use super::app;
use super::context::{Release, Role};
use super::files::{ManagedFile, state_script};
use super::fixtures;
use super::haproxy;
use super::role_tests::as_root;
use super::role_tests::{commands, in_place, run_apply, service_cmd, state_of};
use super::{RoleHealth, health, mysql};
use crate::remote::Output;
use crate::remote::fake::{FakeRemote, answer, contains};
use crate::ssh::{Upload, upload_script};

fn haproxy_file() -> ManagedFile {
    let ctx = fixtures::lb();
    let hp = ctx.haproxy().cloned().expect("haproxy settings");
    ManagedFile {
        path: haproxy::CONFIG_PATH.into(),
        contents: haproxy::render_config(&ctx, &hp).expect("renders"),
        mode: 0o644,
        owner: "root:root".into(),
    }
}

fn haproxy_fake(files: &str, check: Output, service: &str) -> FakeRemote {
    FakeRemote::new("lb")
        .answers(contains("openssl req"), vec![answer(0, "")])
        .answers(contains("sha256sum"), vec![answer(0, files)])
        .answers(contains("chown"), vec![answer(0, "")])
        .answers(contains("haproxy -c"), vec![check])
        .answers(contains("systemctl is-enabled"), vec![answer(3, service)])
        .answers(contains("systemctl enable"), vec![answer(0, "")])
        .answers(contains("systemctl start"), vec![answer(0, "")])
        .answers(contains("systemctl reload"), vec![answer(0, "")])
}

#[tokio::test]
async fn haproxy_on_a_fresh_node_stages_checks_installs_and_starts() {
    let ctx = fixtures::lb();
    let file = haproxy_file();
    // A fresh node: the lab CA and the certificate are made first (`haproxy -c` loads them).
    let fake = FakeRemote::new("lb")
        .answers(contains("openssl req"), vec![answer(0, "made\n")])
        .answers(contains("sha256sum"), vec![answer(0, "missing\n")])
        .answers(contains("chown"), vec![answer(0, "")])
        .answers(contains("haproxy -c"), vec![answer(0, "")])
        .answers(
            contains("systemctl is-enabled"),
            vec![answer(3, "disabled\ninactive\n")],
        )
        .answers(contains("systemctl enable"), vec![answer(0, "")])
        .answers(contains("systemctl start"), vec![answer(0, "")]);
    let (result, _) = run_apply(&fake, &ctx).await;
    let report = result.expect("apply succeeds");
    let calls = fake.calls();
    let tls = as_root(&haproxy::tls_script(&ctx.lab, &ctx.node, ctx.ip));
    assert_eq!(
        commands(&calls),
        vec![
            tls.clone(),
            as_root(&state_script(&[haproxy::CONFIG_PATH])),
            as_root(&upload_script(
                &[Upload {
                    path: haproxy::STAGED_PATH,
                    contents: b"",
                    mode: 0o644,
                    owner: "root:root",
                    checksum_to: None,
                }],
                None,
            )),
            as_root(&haproxy::install_script(&file)),
            state_of(haproxy::SERVICE),
            service_cmd("enable --no-reload", "haproxy.service"),
            service_cmd("start", "haproxy.service"),
        ]
    );
    assert_eq!(
        calls[2].stdin_str().as_deref(),
        Some(crate::ssh::uploaded(&file.contents).as_str())
    );
    assert_eq!(
        report.changed,
        vec![
            "/etc/haproxy/tls/site.pem made (lab CA: /etc/haproxy/tls/ca.pem)",
            "/etc/haproxy/haproxy.cfg updated",
            "haproxy.service enabled",
            "haproxy.service started"
        ]
    );
}

#[tokio::test]
async fn haproxy_with_a_new_config_reloads_a_running_proxy() {
    let ctx = fixtures::lb();
    let fake = haproxy_fake("0000 644 root:root\n", answer(0, ""), "enabled\nactive\n");
    let (result, _) = run_apply(&fake, &ctx).await;
    assert_eq!(
        result.expect("apply succeeds").changed,
        vec![
            "/etc/haproxy/haproxy.cfg updated",
            "haproxy.service reloaded"
        ]
    );
}

#[tokio::test]
async fn haproxy_on_a_configured_node_only_checks() {
    let ctx = fixtures::lb();
    let state = in_place(&[haproxy_file()]);
    let fake = haproxy_fake(&state, answer(0, ""), "enabled\nactive\n");
    let (result, _) = run_apply(&fake, &ctx).await;
    assert_eq!(
        result.expect("apply succeeds").changed,
        Vec::<String>::new()
    );
    assert_eq!(
        commands(&fake.calls()),
        vec![
            as_root(&haproxy::tls_script(&ctx.lab, &ctx.node, ctx.ip)),
            as_root(&state_script(&[haproxy::CONFIG_PATH])),
            state_of(haproxy::SERVICE),
        ]
    );
}

#[tokio::test]
async fn a_config_haproxy_rejects_is_not_installed_nor_reloaded() {
    let ctx = fixtures::lb();
    let rejected = Output {
        status: 1,
        stdout: Vec::new(),
        stderr: b"[ALERT]    (1) : config : parsing [/etc/haproxy/haproxy.cfg.new:40] : unknown keyword 'bogus'".to_vec(),
    };
    let fake = haproxy_fake("0000 644 root:root\n", rejected, "enabled\nactive\n");
    let (result, _) = run_apply(&fake, &ctx).await;
    let msg = result.expect_err("check fails").to_string();
    assert_eq!(
        msg,
        "lb: haproxy: check the new configuration failed (exit 1): [ALERT]    (1) : config : \
         parsing [/etc/haproxy/haproxy.cfg.new:40] : unknown keyword 'bogus'\n  \
         ran: `if haproxy -c -q -f /etc/haproxy/haproxy.cfg.new; then mv -f \
         /etc/haproxy/haproxy.cfg.new /etc/haproxy/haproxy.cfg; else rm -f \
         /etc/haproxy/haproxy.cfg.new; exit 1; fi && mkdir -p /var/lib/firedrill/written && \
         printf %s 196307390983d9006039 ...`\n  \
         hint: look on the node with `firedrill ssh lb`, fix the cause, then run `firedrill up` again"
    );
    let cmds = commands(&fake.calls());
    assert_eq!(cmds.len(), 4, "stops after the failed check: {cmds:?}");
}

#[tokio::test]
async fn a_single_server_node_checks_the_database_before_the_app() {
    let mut ctx = fixtures::mysql_db();
    ctx.set(super::RoleConfig::App(fixtures::app_config(
        super::Engine::Mysql,
    )));
    let app = ctx.app().cloned().expect("app settings");
    let app_files = app::files(&ctx, &app, &fixtures::secrets()).expect("renders");
    let cnf = ManagedFile {
        path: mysql::CNF_PATH.into(),
        contents: mysql::render_cnf(&ctx).expect("renders"),
        mode: 0o644,
        owner: "root:root".into(),
    };
    let fake = FakeRemote::new("db")
        .answers(contains("useradd"), vec![answer(0, "")])
        .answers(
            contains("sha256sum"),
            vec![
                answer(0, &in_place(&[cnf])),
                answer(0, &in_place(&app_files)),
            ],
        )
        .answers(
            contains("systemctl is-enabled"),
            vec![answer(0, "enabled\nactive\n")],
        )
        .answers(contains("mysqladmin ping"), vec![answer(0, "")])
        .answers(contains("--defaults-extra-file"), vec![answer(0, "3\n")])
        .answers(contains("migrate --quiet"), vec![answer(0, "")])
        .answers(contains("readlink"), vec![answer(0, "")]);
    let (result, _) = run_apply(&fake, &ctx).await;
    assert_eq!(
        result.expect("apply succeeds").changed,
        Vec::<String>::new()
    );
    let db = ctx.db().cloned().expect("db settings");
    assert_eq!(
        commands(&fake.calls()),
        vec![
            as_root(&state_script(&[mysql::CNF_PATH])),
            state_of(mysql::SERVICE),
            as_root(mysql::WAIT_SCRIPT),
            as_root(&mysql::probe_script(&ctx, &db)),
            as_root(&app::setup_script()),
            as_root(&state_script(&paths(&app_files))),
            as_root(&app::migrate_script(Release::V1, "db")),
            as_root(&app::links_script(Release::V1)),
            state_of(app::SERVICE),
        ]
    );
}

fn paths(files: &[ManagedFile]) -> Vec<&str> {
    files.iter().map(|f| f.path.as_str()).collect()
}

#[tokio::test]
async fn health_reports_every_role_of_the_node() {
    let mut ctx = fixtures::mysql_db();
    ctx.set(super::RoleConfig::App(fixtures::app_config(
        super::Engine::Mysql,
    )));
    let fake = FakeRemote::new("db")
        .answers(contains("mysqladmin"),
            vec![answer(0, "LISTEN 0      80     0.0.0.0:3306 0.0.0.0:*\n")],
        )
        .answers(contains("curl"),
            vec![answer(
                0,
                "current=releases/v1\n{\"status\": \"unavailable\", \"error\": \"mysql database todo at 10.20.0.20:3306: (1040, 'Too many connections')\"}\n\n503",
            )],
        );
    let report = health(&fake, &ctx).await;
    assert_eq!(
        report,
        vec![
            RoleHealth {
                role: Role::Mysql,
                ok: true,
                detail: "accepting connections on 10.20.0.20:3306".into(),
                release: None,
            },
            RoleHealth {
                role: Role::App,
                ok: false,
                detail: "healthz 503: mysql database todo at 10.20.0.20:3306: (1040, 'Too many connections')".into(),
                release: Some("v1".into()),
            },
        ]
    );
    assert_eq!(
        commands(&fake.calls()),
        vec![
            as_root(&mysql::health_script()),
            as_root(&app::health_script(8080))
        ]
    );
}

#[test]
fn mysql_listening_on_loopback_only_is_unhealthy() {
    let ctx = fixtures::mysql_db();
    let local = answer(0, "LISTEN 0      80     127.0.0.1:3306 0.0.0.0:*\n");
    assert_eq!(
        mysql::judge_health(&ctx, &local).detail,
        "running, but listening only on 127.0.0.1:3306 (not the lab network)"
    );
    let on_ip = answer(0, "LISTEN 0      80     10.20.0.20:3306 0.0.0.0:*\n");
    assert!(mysql::judge_health(&ctx, &on_ip).ok);
    let down = Output {
        status: 1,
        stdout: Vec::new(),
        stderr: b"mysqladmin: connect to server at 'localhost' failed".to_vec(),
    };
    let h = mysql::judge_health(&ctx, &down);
    assert_eq!(
        (h.ok, h.detail.as_str()),
        (
            false,
            "not answering: mysqladmin: connect to server at 'localhost' failed"
        )
    );
}

#[test]
fn app_health_reads_curl_output() {
    let h = app::judge_health(
        8080,
        &answer(0, "current=releases/v2\n{\"status\": \"ok\"}\n\n200"),
    );
    assert_eq!(
        (h.ok, h.detail.as_str(), h.release.as_deref()),
        (true, "healthz 200", Some("v2"))
    );
    let h = app::judge_health(8080, &answer(7, "current=\n\n000"));
    assert_eq!(
        (h.ok, h.detail.as_str(), h.release),
        (false, "no answer on port 8080 (curl exit 7)", None)
    );
}

#[test]
fn haproxy_health_counts_app_servers_up() {
    let csv = "# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight\n\
               web,FRONTEND,,,0,1,262132,3,0,0,0,0,0,,,,,OPEN,\n\
               app,app1,0,0,0,1,,2,0,0,,0,,0,0,0,0,UP,1\n\
               app,app2,0,0,0,1,,1,0,0,,0,,0,0,0,0,DOWN,1\n\
               app,app3,0,0,0,1,,1,0,0,,0,,0,0,0,0,UP 1/2,1\n\
               app,BACKEND,0,0,0,1,,3,0,0,0,0,,0,0,0,0,UP,2\n\
               stats,FRONTEND,,,1,1,262132,2,0,0,0,0,0,,,,,OPEN,\n";
    let h = haproxy::judge_stat(csv);
    assert_eq!(
        h,
        RoleHealth {
            role: Role::Haproxy,
            ok: false,
            detail: "2/3 backends UP (app2 DOWN)".into(),
            release: None,
        }
    );
    let all_up = csv.replace("DOWN", "UP");
    assert_eq!(haproxy::judge_stat(&all_up).detail, "3/3 backends UP");
    assert!(haproxy::judge_stat(&all_up).ok);
}

/// `up` may run nodes concurrently on a multi-threaded runtime: `apply` must be `Send`.
#[test]
fn the_apply_future_is_send() {
    fn assert_send<T: Send>(_: &T) {}
    let fake = FakeRemote::new("lb");
    let ctx = fixtures::lb();
    let secrets = fixtures::secrets();
    let mut progress = |_: &str| {};
    let future = super::apply(&fake, &ctx, &secrets, false, &mut progress);
    assert_send(&future);
    let future = health(&fake, &ctx);
    assert_send(&future);
}
