//! nginx: its rendered config (golden), apply against the scripted fake (fresh, configured,
//! changed, rejected) and the install script run for real in dash. The lab file's checks are
//! in `spec_tests.rs`.

use super::*;
use crate::remote::fake::{FakeRemote, answer, contains};
use crate::roles::files::state_script;
use crate::roles::fixtures;
use crate::roles::golden_tests::check_golden;
use crate::roles::role_tests::{as_root, commands, in_place, run_apply, service_cmd, state_of};
use crate::roles::{RoleConfig, RoleOptions};
use crate::ssh::{Upload, upload_script};
use std::net::Ipv4Addr;

/// nginx on `edge` in front of haproxy on `lb` (10.20.0.10), with a 1m body limit.
fn edge() -> NodeContext {
    let mut ctx = fixtures::node("edge", 9, &[]);
    ctx.set(RoleConfig::Nginx(Config {
        options: Options {
            upstreams: vec!["lb".into()],
            port: 80,
            client_max_body_size: "1m".into(),
        },
        upstreams: vec!["10.20.0.10:80".into()],
    }));
    ctx
}

/// The nginx role's settings in `ctx`.
fn nginx(ctx: &NodeContext) -> &Config {
    ctx.roles
        .iter()
        .find_map(|c| match c {
            RoleConfig::Nginx(c) => Some(c),
            _ => None,
        })
        .expect("an nginx node")
}

/// A plan with `edge` (nginx in front of `upstreams`), `lb` (haproxy, and an app when
/// `lb_app`) and app1 and app2 on port 8080.
fn plan(upstreams: &[&str], lb_app: bool) -> crate::state::LabState {
    use crate::faults::testing::node;
    let mut state = crate::state::sample();
    let at = |mut n: crate::plan::NodePlan, last: u8| {
        n.ip = Ipv4Addr::new(10, 20, 0, last);
        n
    };
    let mut edge = at(node("edge", &[Role::Nginx]), 9);
    edge.options = vec![RoleOptions::Nginx(Options {
        upstreams: upstreams.iter().map(|u| u.to_string()).collect(),
        port: 80,
        client_max_body_size: "1m".into(),
    })];
    let lb_roles: &[Role] = if lb_app {
        &[Role::App, Role::Haproxy]
    } else {
        &[Role::Haproxy]
    };
    let mut lb = at(node("lb", lb_roles), 10);
    lb.app_port = lb_app.then_some(8080);
    let app = |name: &str, last: u8| {
        let mut n = at(node(name, &[Role::App]), last);
        n.app_port = Some(8080);
        n
    };
    state.plan.nodes = vec![edge, lb, app("app1", 11), app("app2", 12)];
    state
}

fn upstreams_of(state: &crate::state::LabState) -> Result<Vec<String>, &'static str> {
    let node = &state.plan.nodes[0];
    config(state, node, node.options.nginx()).map(|c| c.upstreams)
}

#[test]
fn config_in_front_of_haproxy_matches_the_golden_file() {
    let ctx = edge();
    check_golden(
        "nginx-firedrill.conf",
        &render_config(&ctx, nginx(&ctx)).expect("renders"),
    );
    assert_eq!(
        upstreams_of(&plan(&["lb"], false)),
        Ok(vec!["10.20.0.10:80".to_string()])
    );
}

#[test]
fn in_place_of_haproxy_it_balances_the_app_nodes_on_their_port() {
    let state = plan(&["app1", "app2"], false);
    assert_eq!(
        upstreams_of(&state),
        Ok(vec![
            "10.20.0.11:8080".to_string(),
            "10.20.0.12:8080".to_string()
        ])
    );
    let mut ctx = edge();
    ctx.set(RoleConfig::Nginx(Config {
        options: Options {
            upstreams: vec!["app1".into(), "app2".into()],
            port: 8000,
            client_max_body_size: "64k".into(),
        },
        upstreams: upstreams_of(&state).expect("resolves"),
    }));
    let text = render_config(&ctx, nginx(&ctx)).expect("renders");
    assert!(
        text.contains("    server 10.20.0.11:8080;\n    server 10.20.0.12:8080;\n"),
        "{text}"
    );
    assert!(text.contains("listen 8000 default_server;"), "{text}");
    assert!(text.contains("client_max_body_size 64k;"), "{text}");
}

#[test]
fn an_upstream_with_haproxy_and_app_is_reached_through_haproxy() {
    assert_eq!(
        upstreams_of(&plan(&["lb"], true)),
        Ok(vec!["10.20.0.10:80".to_string()])
    );
}

#[test]
fn without_its_options_or_an_upstream_the_plan_does_not_resolve() {
    let mut state = plan(&["lb"], false);
    state.plan.nodes.retain(|n| n.name != "lb");
    assert_eq!(
        upstreams_of(&state),
        Err("the address and port of each of its upstreams")
    );
    state.plan.nodes[0].options.clear();
    assert_eq!(upstreams_of(&state), Err("its `nginx:` options"));
    // Where every command starts, the same plan is an error that names node, role and what
    // is missing, with what to do.
    let err = crate::lab::contexts(&state).expect_err("edge has no options");
    assert!(
        err.to_string().starts_with(
            "lab `minimal`: its state gives node `edge` the nginx role but not its `nginx:` options\n  hint:"
        ),
        "{err}"
    );
}

fn nginx_file() -> ManagedFile {
    ManagedFile {
        path: CONFIG_PATH.into(),
        contents: render_config(&edge(), nginx(&edge())).expect("renders"),
        mode: 0o644,
        owner: "root:root".into(),
    }
}

fn fake(files: &str, check: Output, service: &str) -> FakeRemote {
    FakeRemote::new("edge")
        .answers(contains("sha256sum"), vec![answer(0, files)])
        .answers(contains("chown"), vec![answer(0, "")])
        .answers(contains("nginx -t"), vec![check])
        .answers(contains("systemctl is-enabled"), vec![answer(1, service)])
        .answers(contains("systemctl enable"), vec![answer(0, "")])
        .answers(contains("systemctl start"), vec![answer(0, "")])
        .answers(contains("systemctl reload"), vec![answer(0, "")])
}

#[tokio::test]
async fn on_a_fresh_node_it_stages_checks_installs_enables_and_starts() {
    let file = nginx_file();
    let fake = fake("missing\n", answer(0, ""), "disabled\ninactive\n");
    let (result, _) = run_apply(&fake, &edge()).await;
    let report = result.expect("apply succeeds");
    let calls = fake.calls();
    assert_eq!(
        commands(&calls),
        vec![
            as_root(&state_script(&[CONFIG_PATH])),
            as_root(&upload_script(
                &[Upload {
                    path: STAGED_PATH,
                    contents: b"",
                    mode: 0o644,
                    owner: "root:root",
                    checksum_to: None,
                }],
                None,
            )),
            as_root(&install_script(&file)),
            state_of(SERVICE),
            service_cmd("enable --no-reload", "nginx.service"),
            service_cmd("start", "nginx.service"),
        ]
    );
    assert_eq!(
        calls[1].stdin_str().as_deref(),
        Some(crate::ssh::uploaded(&file.contents).as_str())
    );
    assert_eq!(
        report.changed,
        vec![
            "/etc/nginx/conf.d/firedrill.conf updated",
            "nginx.service enabled",
            "nginx.service started"
        ]
    );
}

#[tokio::test]
async fn a_second_apply_only_checks() {
    let state = in_place(&[nginx_file()]);
    let fake = fake(&state, answer(0, ""), "enabled\nactive\n");
    let (result, _) = run_apply(&fake, &edge()).await;
    assert!(result.expect("apply succeeds").changed.is_empty());
    assert_eq!(
        commands(&fake.calls()),
        vec![as_root(&state_script(&[CONFIG_PATH])), state_of(SERVICE)]
    );
}

#[tokio::test]
async fn a_changed_config_is_reloaded_not_restarted() {
    let fake = fake("0000 644 root:root\n", answer(0, ""), "enabled\nactive\n");
    let (result, _) = run_apply(&fake, &edge()).await;
    assert_eq!(
        result.expect("apply succeeds").changed,
        vec![
            "/etc/nginx/conf.d/firedrill.conf updated",
            "nginx.service reloaded"
        ]
    );
}

#[tokio::test]
async fn a_config_nginx_rejects_fails_the_step_and_is_never_reloaded() {
    let rejected = Output {
        status: 1,
        stdout: Vec::new(),
        stderr: b"nginx: [emerg] unknown directive \"bogus\" in /etc/nginx/conf.d/firedrill.conf:12\nnginx: configuration file /etc/nginx/nginx.conf test failed".to_vec(),
    };
    let fake = fake("0000 644 root:root\n", rejected, "enabled\nactive\n");
    let (result, _) = run_apply(&fake, &edge()).await;
    let msg = result.expect_err("the check fails").to_string();
    assert!(
        msg.starts_with("edge: nginx: check the new configuration failed (exit 1): "),
        "{msg}"
    );
    assert!(msg.contains("test failed"), "{msg}");
    assert!(
        msg.contains("hint: look on the node with `firedrill ssh edge`"),
        "{msg}"
    );
    let cmds = commands(&fake.calls());
    assert_eq!(cmds.len(), 3, "stops after the failed check: {cmds:?}");
}

/// The install script in dash with a stand-in `nginx` that rejects any file containing
/// "bogus": a rejected file leaves the previous one (or none) in place, an accepted one stays.
#[test]
fn the_install_script_puts_the_previous_file_back_when_nginx_rejects_the_new_one() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).expect("bin dir");
    let live = dir.path().join("firedrill.conf");
    let staged = dir.path().join("firedrill.conf.new");
    let backup = dir.path().join("firedrill.conf.old");
    let fake_nginx = format!(
        "#!/bin/sh\n! grep -q bogus {} 2>/dev/null\n",
        live.display()
    );
    std::fs::write(bin.join("nginx"), fake_nginx).expect("fake nginx");
    std::process::Command::new("chmod")
        .args(["755", &bin.join("nginx").display().to_string()])
        .status()
        .expect("chmod");
    let script = install_script_at(
        &live.display().to_string(),
        &staged.display().to_string(),
        &backup.display().to_string(),
    );
    let run = || {
        std::process::Command::new("dash")
            .args(["-c", &script])
            .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
            .status()
            .expect("dash runs")
            .success()
    };
    let read = |p: &std::path::Path| std::fs::read_to_string(p).ok();

    // No live file yet, and a rejected one: nothing is left behind.
    std::fs::write(&staged, "bogus\n").expect("staged");
    assert!(!run());
    assert_eq!(
        (read(&live), read(&staged), read(&backup)),
        (None, None, None)
    );

    // An accepted file goes live.
    std::fs::write(&staged, "good 1\n").expect("staged");
    assert!(run());
    assert_eq!(read(&live).as_deref(), Some("good 1\n"));
    assert_eq!(read(&backup), None);

    // A rejected change puts the accepted file back.
    std::fs::write(&staged, "bogus 2\n").expect("staged");
    assert!(!run());
    assert_eq!(read(&live).as_deref(), Some("good 1\n"));
    assert_eq!((read(&staged), read(&backup)), (None, None));
}

#[test]
fn health_reads_the_status_code_through_nginx() {
    let ok = judge_health(80, &answer(0, "200"));
    assert!(ok.ok);
    assert_eq!(ok.detail, ":80 /healthz 200 through its upstreams");
    let bad = judge_health(80, &answer(0, "502"));
    assert_eq!(
        (bad.ok, bad.detail.as_str()),
        (false, ":80 /healthz answered 502")
    );
    let down = judge_health(8000, &answer(7, "000"));
    assert_eq!(
        (down.ok, down.detail.as_str()),
        (false, "not answering on :8000")
    );
}
