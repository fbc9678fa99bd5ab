//! monitor: the scrape targets a lab yields, the rendered prometheus.yml (golden, and accepted
//! by a real `promtool`), the alert rules (`promtool check rules` and `promtool test rules`
//! with tests/monitor/alerts_test.yml), and apply against the scripted fake.
//!
//! The promtool tests need Debian's `prometheus` package on this host (scripts/install-deps
//! installs it); without it they fail and say so.

use super::*;
use crate::remote::fake::{FakeRemote, answer, contains};
use crate::roles::context::Peer;
use crate::roles::files::state_script;
use crate::roles::fixtures;
use crate::roles::golden_tests::check_golden;
use crate::roles::role_tests::{as_root, commands, in_place, run_apply, service_cmd, state_of};
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Command;

fn peer(name: &str, last_octet: u8, roles: &[Role], app_port: Option<u16>) -> Peer {
    Peer {
        name: name.into(),
        ip: Ipv4Addr::new(10, 20, 0, last_octet),
        roles: roles.to_vec(),
        // As `roles::serving_ports` says: the app on its port, haproxy on 80.
        serves: roles
            .iter()
            .filter_map(|r| match r {
                Role::App => app_port.map(|p| (Role::App, p)),
                Role::Haproxy => Some((Role::Haproxy, 80)),
                _ => None,
            })
            .collect(),
    }
}

/// A three-tier lab on both engines with a monitor node; the context of the node `name`.
fn monitored(name: &str, last_octet: u8, roles: &[Role]) -> NodeContext {
    let mut ctx = fixtures::node(name, last_octet, roles);
    ctx.peers = vec![
        peer("lb", 10, &[Role::Haproxy], None),
        peer("app1", 11, &[Role::App], Some(8080)),
        peer("app2", 12, &[Role::App], Some(8081)),
        peer("db", 20, &[Role::Mysql], None),
        peer("pg", 21, &[Role::Postgres], None),
        peer("mon", 30, &[Role::Monitor], None),
    ];
    ctx
}

fn mon() -> NodeContext {
    monitored("mon", 30, &[Role::Monitor])
}

fn targets(job: &Job) -> Vec<(&str, &str)> {
    job.targets
        .iter()
        .map(|t| (t.address.as_str(), t.node.as_str()))
        .collect()
}

#[test]
fn every_node_and_every_role_of_the_lab_is_a_target() {
    let jobs = scrape_jobs(&mon());
    let names: Vec<&str> = jobs.iter().map(|j| j.name).collect();
    assert_eq!(
        names,
        [
            "prometheus",
            "alertmanager",
            "node",
            "haproxy",
            "mysql",
            "postgres",
            "todo"
        ]
    );
    let job = |name: &str| jobs.iter().find(|j| j.name == name).expect("job");
    assert_eq!(targets(job("prometheus")), [("10.20.0.30:9090", "mon")]);
    assert_eq!(targets(job("alertmanager")), [("10.20.0.30:9093", "mon")]);
    assert_eq!(
        targets(job("node")),
        [
            ("10.20.0.10:9100", "lb"),
            ("10.20.0.11:9100", "app1"),
            ("10.20.0.12:9100", "app2"),
            ("10.20.0.20:9100", "db"),
            ("10.20.0.21:9100", "pg"),
            ("10.20.0.30:9100", "mon"),
        ]
    );
    assert_eq!(targets(job("haproxy")), [("10.20.0.10:8404", "lb")]);
    assert_eq!(targets(job("mysql")), [("10.20.0.20:9104", "db")]);
    assert_eq!(targets(job("postgres")), [("10.20.0.21:9187", "pg")]);
    // Each app on the port the lab gave it.
    assert_eq!(
        targets(job("todo")),
        [("10.20.0.11:8080", "app1"), ("10.20.0.12:8081", "app2")]
    );
    assert!(jobs.iter().all(|j| j.path == "/metrics"));
}

#[test]
fn a_small_lab_has_only_the_jobs_it_has_targets_for() {
    let mut ctx = fixtures::node("mon", 30, &[Role::Monitor]);
    ctx.peers = vec![
        peer("web", 10, &[Role::App, Role::Mysql], Some(8080)),
        peer("mon", 30, &[Role::Monitor], None),
    ];
    let jobs = scrape_jobs(&ctx);
    let names: Vec<&str> = jobs.iter().map(|j| j.name).collect();
    assert_eq!(
        names,
        ["prometheus", "alertmanager", "node", "mysql", "todo"]
    );
    assert_eq!(targets(&jobs[4]), [("10.20.0.10:8080", "web")]);
    // Without a proxy, the app is the front door.
    assert_eq!(
        alerting::front_door(&ctx).map(|f| (f.url, f.node)),
        Some(("http://10.20.0.10:8080/todos".into(), "web".into()))
    );
}

#[test]
fn the_blackbox_probe_goes_to_the_outermost_proxy() {
    assert_eq!(
        alerting::front_door(&mon()),
        Some(alerting::FrontDoor {
            url: "http://10.20.0.10/todos".into(),
            node: "lb".into(),
            prober: "127.0.0.1:9115".into(),
        })
    );
    let mut ctx = fixtures::node("mon", 30, &[Role::Monitor]);
    ctx.peers = vec![peer("mon", 30, &[Role::Monitor], None)];
    assert_eq!(alerting::front_door(&ctx), None);
    assert!(!render_config(&ctx).expect("renders").contains("frontdoor"));
}

#[test]
fn only_a_lab_with_a_monitor_node_runs_exporters() {
    assert!(watched(&monitored("db", 20, &[Role::Mysql])));
    let mut ctx = fixtures::node("db", 20, &[Role::Mysql]);
    ctx.peers = vec![peer("db", 20, &[Role::Mysql], None)];
    assert!(!watched(&ctx));
}

#[test]
fn prometheus_yml_matches_the_golden_file() {
    check_golden("prometheus.yml", &render_config(&mon()).expect("renders"));
}

fn promtool(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("promtool")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run promtool: {e}; install Debian's prometheus package (scripts/install-deps)"
            )
        });
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool {args:?} failed:\n{text}");
    text
}

#[test]
fn promtool_accepts_the_configuration_and_its_rules() {
    let dir = tempfile::tempdir().expect("temp dir");
    let rules = dir.path().join("firedrill-alerts.yml");
    std::fs::write(&rules, RULES).expect("write rules");
    let config = render_config(&mon())
        .expect("renders")
        .replace(RULES_PATH, &rules.display().to_string());
    std::fs::write(dir.path().join("prometheus.yml"), config).expect("write config");
    let said = promtool(dir.path(), &["check", "config", "prometheus.yml"]);
    assert!(said.contains("SUCCESS: 25 rules found"), "{said}");
    let said = promtool(dir.path(), &["check", "rules", "firedrill-alerts.yml"]);
    assert!(said.contains("SUCCESS"), "{said}");
}

#[test]
fn the_alerts_fire_and_resolve_as_their_unit_tests_say() {
    let dir = tempfile::tempdir().expect("temp dir");
    // The test file names the rules by a path next to it.
    std::fs::write(dir.path().join("alerts.yml"), RULES).expect("write rules");
    let tests = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/monitor/alerts_test.yml"
    ));
    std::fs::write(dir.path().join("alerts_test.yml"), tests).expect("write tests");
    let said = promtool(dir.path(), &["test", "rules", "alerts_test.yml"]);
    assert!(said.contains("SUCCESS"), "{said}");
}

#[test]
fn every_alert_says_how_bad_it_is_and_what_to_look_at() {
    let alerts: Vec<&str> = RULES
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- alert: "))
        .collect();
    for want in [
        "TodoErrorBudgetBurn",
        "TodoLatencyHigh",
        "HaproxyBackendDown",
        "FrontDoorDown",
        "NodeDiskFull",
        "NodeDiskFillingUp",
        "NodeMemoryLow",
        "NodeCpuSaturated",
        "NodeClockSkew",
        "NodeDown",
    ] {
        assert!(alerts.contains(&want), "{want} missing: {alerts:?}");
    }
    assert_eq!(
        RULES
            .matches("\n        labels:\n          severity: ")
            .count(),
        alerts.len()
    );
    assert_eq!(
        RULES.matches("\n          description: ").count(),
        alerts.len()
    );
}

// --- apply against the fake ------------------------------------------------------------------

/// A monitor node whose prometheus files, alerting files, prometheus service and other
/// services (node exporter, Alertmanager, blackbox exporter, firedrill-pages) are as given.
fn server_fake(files: &str, alerting: &str, prometheus: &str, others: &str) -> FakeRemote {
    let mut fake = FakeRemote::new("mon")
        .answers(
            contains("sha256sum"),
            vec![answer(0, files), answer(0, alerting)],
        )
        .answers(contains("chown"), vec![answer(0, "")])
        .answers(contains("promtool check config"), vec![answer(0, "")])
        .answers(contains("amtool check-config"), vec![answer(0, "")])
        .answers(contains("daemon-reload"), vec![answer(0, "")])
        .answers(
            contains("systemctl is-active prometheus.service"),
            vec![answer(1, prometheus)],
        );
    for unit in [
        "prometheus-node-exporter.service",
        "prometheus-alertmanager.service",
        "prometheus-blackbox-exporter.service",
        "firedrill-pages.service",
    ] {
        let state = format!("systemctl is-active {unit}");
        fake = fake.answers(contains(&state), vec![answer(1, others)]);
    }
    fake.answers(contains("systemctl enable"), vec![answer(0, "")])
        .answers(contains("systemctl start"), vec![answer(0, "")])
        .answers(contains("systemctl reload"), vec![answer(0, "")])
        .answers(contains("systemctl restart"), vec![answer(0, "")])
}

fn started(unit: &'static str) -> [String; 3] {
    [
        state_of(Service::single(unit)),
        service_cmd("enable --no-reload", unit),
        service_cmd("start", unit),
    ]
}

#[tokio::test]
async fn on_a_fresh_monitor_node_it_writes_checks_and_starts_prometheus_alertmanager_and_the_exporters()
 {
    let fake = server_fake(
        "missing\nmissing\n",
        "missing\nmissing\nmissing\nmissing\n",
        "disabled\ninactive\n",
        "disabled\ninactive\n",
    );
    let (result, _) = run_apply(&fake, &mon()).await;
    let report = result.expect("apply succeeds");
    let cmds = commands(&fake.calls());
    assert_eq!(cmds[0], as_root(&state_script(&[RULES_PATH, CONFIG_PATH])));
    assert_eq!(cmds[2], as_root(CHECK_SCRIPT));
    assert_eq!(cmds[3..6], started("prometheus.service"));
    let alerting_files = alerting::files();
    let paths: Vec<&str> = alerting_files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(cmds[6], as_root(&state_script(&paths)));
    // Four files written in one command, then checked and loaded.
    assert_eq!(cmds[8], as_root(alerting::CHECK_SCRIPT));
    assert_eq!(cmds[9], as_root("systemctl daemon-reload"));
    let mut rest = Vec::new();
    for unit in [
        "prometheus-alertmanager.service",
        "prometheus-blackbox-exporter.service",
        "firedrill-pages.service",
        "prometheus-node-exporter.service",
    ] {
        rest.extend(started(unit));
    }
    assert_eq!(cmds[10..], rest);
    let calls = fake.calls();
    let server_files = format!(
        "{}{}",
        crate::ssh::uploaded(RULES),
        crate::ssh::uploaded(&render_config(&mon()).expect("renders"))
    );
    assert_eq!(calls[1].stdin_str(), Some(server_files));
    let alerting_stdin: String = alerting_files
        .iter()
        .map(|f| crate::ssh::uploaded(&f.contents))
        .collect();
    assert_eq!(calls[7].stdin_str(), Some(alerting_stdin));
    assert_eq!(
        report.changed,
        [
            "/etc/prometheus/firedrill-alerts.yml updated",
            "/etc/prometheus/prometheus.yml updated",
            "prometheus.service enabled",
            "prometheus.service started",
            "/etc/prometheus/alertmanager.yml updated",
            "/etc/default/prometheus-alertmanager updated",
            "/usr/local/bin/firedrill-pages updated",
            "/etc/systemd/system/firedrill-pages.service updated",
            "prometheus-alertmanager.service enabled",
            "prometheus-alertmanager.service started",
            "prometheus-blackbox-exporter.service enabled",
            "prometheus-blackbox-exporter.service started",
            "firedrill-pages.service enabled",
            "firedrill-pages.service started",
            "prometheus-node-exporter.service enabled",
            "prometheus-node-exporter.service started",
        ]
    );
}

#[tokio::test]
async fn a_configured_monitor_node_is_only_checked_and_a_new_lab_reloads() {
    let files = server_files(&mon()).expect("renders");
    let alerting = in_place(&alerting::files());
    let running = "enabled\nactive\n";
    let fake = server_fake(&in_place(&files), &alerting, running, running);
    let (result, _) = run_apply(&fake, &mon()).await;
    assert!(result.expect("apply succeeds").changed.is_empty());
    // The two file checks and one state check per service.
    assert_eq!(commands(&fake.calls()).len(), 7);

    // A node more in the lab: a new prometheus.yml, checked, then a reload (no restart).
    let mut bigger = mon();
    bigger
        .peers
        .push(peer("app3", 13, &[Role::App], Some(8080)));
    let fake = server_fake(&in_place(&files), &alerting, running, running);
    let (result, _) = run_apply(&fake, &bigger).await;
    assert_eq!(
        result.expect("apply succeeds").changed,
        [
            "/etc/prometheus/prometheus.yml updated",
            "prometheus.service reloaded"
        ]
    );
    let cmds = commands(&fake.calls());
    assert!(cmds.contains(&as_root(CHECK_SCRIPT)));
    assert!(!cmds.contains(&as_root(alerting::CHECK_SCRIPT)));
}

#[tokio::test]
async fn a_new_alertmanager_yml_is_checked_then_reloaded() {
    let files = server_files(&mon()).expect("renders");
    let mut alerting = alerting::files();
    alerting[0].contents = "route: {receiver: old}\n".into();
    let running = "enabled\nactive\n";
    let fake = server_fake(&in_place(&files), &in_place(&alerting), running, running);
    let (result, _) = run_apply(&fake, &mon()).await;
    assert_eq!(
        result.expect("apply succeeds").changed,
        [
            "/etc/prometheus/alertmanager.yml updated",
            "prometheus-alertmanager.service reloaded"
        ]
    );
    let cmds = commands(&fake.calls());
    let at = |c: &str| cmds.iter().position(|x| *x == as_root(c)).expect(c);
    assert!(at(alerting::CHECK_SCRIPT) < at("systemctl reload prometheus-alertmanager.service"));
}

#[tokio::test]
async fn a_database_node_of_a_monitored_lab_gets_its_exporter_and_a_socket_login() {
    let ctx = monitored("db", 20, &[Role::Mysql]);
    let exporter = &DB_EXPORTERS[0];
    let fake = FakeRemote::new("db")
        // The mysql role itself: configured already.
        .answers(
            contains("60-firedrill.cnf"),
            vec![answer(
                0,
                &in_place(&[ManagedFile {
                    path: super::super::mysql::CNF_PATH.into(),
                    contents: super::super::mysql::render_cnf(&ctx).expect("renders"),
                    mode: 0o644,
                    owner: "root:root".into(),
                }]),
            )],
        )
        .answers(contains("mysqladmin"), vec![answer(0, "")])
        .answers(
            contains("SELECT COUNT(*) FROM todos"),
            vec![answer(0, "3\n")],
        )
        .answers(
            contains("systemctl is-active mariadb"),
            vec![answer(0, "enabled\nactive\n")],
        )
        .answers(
            contains("systemctl is-active prometheus-node-exporter"),
            vec![answer(0, "enabled\nactive\n")],
        )
        // No prometheus login yet: created, then checked again.
        .answers(
            contains("runuser -u prometheus"),
            vec![answer(1, ""), answer(0, "1\n")],
        )
        .answers(contains("mysql --batch"), vec![answer(0, "")])
        .answers(contains(MYSQLD_DEFAULTS), vec![answer(0, "missing\n")])
        .answers(contains("chown"), vec![answer(0, "")])
        .answers(
            contains("systemctl is-active prometheus-mysqld-exporter"),
            vec![answer(1, "disabled\ninactive\n")],
        )
        .answers(contains("systemctl enable"), vec![answer(0, "")])
        .answers(contains("systemctl start"), vec![answer(0, "")]);
    let (result, _) = run_apply(&fake, &ctx).await;
    let report = result.expect("apply succeeds");
    assert_eq!(
        report.changed,
        [
            "mysql login prometheus created",
            "/etc/default/prometheus-mysqld-exporter updated",
            "prometheus-mysqld-exporter.service enabled",
            "prometheus-mysqld-exporter.service started",
        ]
    );
    let calls = fake.calls();
    let sql = calls
        .iter()
        .find(|c| c.command == as_root(exporter.provision))
        .expect("the login is created");
    assert_eq!(sql.stdin_str().as_deref(), Some(exporter.sql));
    let file = calls
        .iter()
        .find(|c| c.command.contains("chown") && c.command.contains(MYSQLD_DEFAULTS))
        .expect("the settings are written");
    assert!(
        file.stdin_str().is_some_and(
            |s| s.contains("DATA_SOURCE_NAME='prometheus@unix(/run/mysqld/mysqld.sock)/'")
        ),
        "{file:?}"
    );
}

#[test]
fn health_counts_the_targets_that_are_up_and_names_the_others() {
    let out = answer(
        0,
        r#"{"status":"success","data":{"activeTargets":[
            {"labels":{"job":"node","node":"web"},"health":"up"},
            {"labels":{"job":"todo","node":"web"},"health":"down"},
            {"labels":{"job":"prometheus","node":"mon"},"health":"up"}]}}"#,
    );
    let h = judge_health(&out);
    assert!(!h.ok);
    assert_eq!(h.detail, "2/3 targets up (not: todo@web)");
    let h = judge_health(&answer(7, ""));
    assert_eq!(
        (h.ok, h.detail.as_str()),
        (false, "prometheus not answering on :9090")
    );
}

#[test]
fn an_app_on_an_exporter_port_is_refused_once_in_a_monitored_lab() {
    use crate::spec::testutil::{HEAD, problems, valid};
    let lab = |nodes: &[&str]| -> String {
        let nodes: String = nodes.iter().map(|n| format!("  - {n}\n")).collect();
        format!("{HEAD}{nodes}")
    };
    let yaml = lab(&[
        "{name: web, roles: [app, mysql], app: {port: 9100}}",
        "{name: mon, roles: [monitor]}",
        "{name: mon2, roles: [monitor]}",
    ]);
    let found = problems(&yaml);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].contains(
            "nodes[0].app.port: the app on `web` cannot listen on port 9100: the lab has a monitor \
             node, and prometheus-node-exporter.service listens there"
        ),
        "{found:?}"
    );
    let block = problems(&lab(&["{name: mon, roles: [monitor], monitor: {port: 1}}"]));
    assert!(
        block.len() == 1 && block[0].contains("nodes[0].monitor: `monitor:` takes no options"),
        "{block:?}"
    );
    // Without a monitor node nothing runs there.
    valid(&lab(&[
        "{name: web, roles: [app, mysql], app: {port: 9100}}",
    ]));
    valid(&lab(&[
        "{name: web, roles: [app, mysql]}",
        "{name: mon, roles: [monitor]}",
    ]));
}
