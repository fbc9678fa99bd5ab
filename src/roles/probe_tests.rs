//! `configure` against the scripted fake: a node where nothing is to change costs one command,
//! whatever its roles; anything out of place (a stopped service, an edited file, a database
//! migrated to another release) takes the full `apply`, which reports as it always did.

use super::app;
use super::context::{NodeContext, Release};
use super::files::ManagedFile;
use super::fixtures::{self, PASSWORD};
use super::probe::MARK;
use super::role_tests::{as_root, assert_no_secret_leaks, in_place, service_cmd};
use super::{Check, NodeReport, RoleError, configure, haproxy, mysql, postgres};
use crate::remote::fake::{Call, FakeRemote, answer, contains};

async fn run_configure(
    fake: &FakeRemote,
    ctx: &NodeContext,
) -> (Result<NodeReport, RoleError>, Vec<String>) {
    let mut said = Vec::new();
    let result = {
        let mut progress = |m: &str| said.push(m.to_string());
        configure(fake, ctx, &fixtures::secrets(), false, &mut progress).await
    };
    (result, said)
}

/// The probe's answer: each part's lines, then the mark.
fn answer_of(parts: &[String]) -> String {
    parts.iter().map(|p| format!("{p}{MARK}\n")).collect()
}

fn app_files(ctx: &NodeContext) -> Vec<ManagedFile> {
    let app = ctx.app().expect("app settings");
    app::files(ctx, app, &fixtures::secrets()).expect("renders")
}

const RUNNING: &str = "enabled\nactive\n";

/// A configured app1 (v1, migrates its database db), with the parts given replaced.
fn app1_probe(files: String, migrated: &str, service: &str) -> String {
    answer_of(&[
        app::setup_in_place().join("\n") + "\n",
        files,
        "releases/v1\ncurrent/app.py\n".into(),
        migrated.into(),
        service.into(),
    ])
}

fn root_file(path: &str, contents: String) -> ManagedFile {
    ManagedFile {
        path: path.into(),
        contents,
        mode: 0o644,
        owner: "root:root".into(),
    }
}

/// Only the probe is answered: any other command panics in the fake.
async fn one_round_trip(ctx: &NodeContext, probe: String) -> Vec<Call> {
    let fake = FakeRemote::new(&ctx.node).answers(contains(MARK), vec![answer(0, &probe)]);
    let (result, said) = run_configure(&fake, ctx).await;
    assert_eq!(
        result.expect("configure succeeds"),
        NodeReport::default(),
        "{}",
        ctx.node
    );
    let calls = fake.calls();
    assert_eq!(calls.len(), 1, "{}: {calls:?}", ctx.node);
    assert_no_secret_leaks(&calls, &said);
    calls
}

/// app1, db (MariaDB), pg and lb, each with what its one-pass check prints when every role is
/// in place.
fn configured_nodes() -> Vec<(NodeContext, String)> {
    let app1 = fixtures::app1();
    let app1_answer = app1_probe(in_place(&app_files(&app1)), "v1\n", RUNNING);
    let db = fixtures::mysql_db();
    let cnf = root_file(mysql::CNF_PATH, mysql::render_cnf(&db).expect("renders"));
    let db_answer = answer_of(&[in_place(&[cnf]), RUNNING.into(), "yes\n".into()]);
    let pg = fixtures::postgres_db();
    let pg_files = postgres::files(&pg, &super::DbConfig::todo()).expect("renders");
    let pg_answer = answer_of(&[
        String::new(),
        in_place(&pg_files),
        RUNNING.into(),
        "yes\n".into(),
    ]);
    let lb = fixtures::lb();
    let hp = lb.haproxy().cloned().expect("haproxy settings");
    let cfg = root_file(
        haproxy::CONFIG_PATH,
        haproxy::render_config(&lb, &hp).expect("renders"),
    );
    let lb_answer = answer_of(&[in_place(&[cfg]), "tls\n".into(), RUNNING.into()]);
    vec![
        (app1, app1_answer),
        (db, db_answer),
        (pg, pg_answer),
        (lb, lb_answer),
    ]
}

#[tokio::test]
async fn a_no_change_pass_is_one_round_trip_per_node_whatever_its_roles() {
    let nodes = configured_nodes();
    let (app1, answer) = &nodes[0];
    let calls = one_round_trip(app1, answer.clone()).await;
    // Every managed file is hashed in that one command; the migration is asked, not run.
    for f in app_files(app1) {
        assert!(calls[0].command.contains(&f.path), "{} not checked", f.path);
    }
    assert!(calls[0].command.contains("todo_migrations"));
    assert!(!calls[0].command.contains("migrate --quiet"));
    assert_eq!(calls[0].stdin, None);

    let (db, answer) = &nodes[1];
    let calls = one_round_trip(db, answer.clone()).await;
    // The todo login's password travels on stdin only.
    let login = format!("[client]\npassword={PASSWORD}\n");
    assert_eq!(calls[0].stdin_str().as_deref(), Some(login.as_str()));

    for (ctx, answer) in &nodes[2..] {
        one_round_trip(ctx, answer.clone()).await;
    }
}

/// `up` on a lab that was up runs each running node's check in the command that finds the node
/// ready: with nothing to change, that is the node's only command. A node whose cloud-init
/// result is not there yet says "not ready" in the same command, and its check counts for
/// nothing.
#[tokio::test]
async fn a_no_change_up_is_one_command_per_node_readiness_included() {
    let done = r#"{"v1": {"datasource": "DataSourceNoCloud [seed=/dev/vdb]", "errors": []}}"#;
    for (ctx, probe) in configured_nodes() {
        let check = Check::of(&ctx, &fixtures::secrets())
            .expect("renders")
            .expect("one pass");
        let extra = crate::ssh::Piggyback {
            script: check.script(),
            stdin: check.stdin().map(<[u8]>::to_vec),
        };
        let ready = format!("{done}\n--firedrill-ready--\n{probe}");
        let fake = FakeRemote::new(&ctx.node).answers(contains(MARK), vec![answer(0, &ready)]);
        let checked = crate::ssh::ready_now(&fake, Some(&extra))
            .await
            .expect("ready")
            .expect("the check ran");
        assert!(
            check.in_place(&checked),
            "{}: {}",
            ctx.node,
            checked.stdout_str()
        );
        let calls = fake.calls();
        assert_eq!(calls.len(), 1, "{}: {calls:#?}", ctx.node);
        assert!(calls[0].command.starts_with("sudo -n sh -c "));
        assert!(calls[0].command.contains("cat /run/cloud-init/result.json"));
        assert_eq!(calls[0].stdin.as_deref(), check.stdin(), "{}", ctx.node);
        assert_no_secret_leaks(&calls, &[]);

        // Still booting: the result file is missing, the script stops there.
        let booting = FakeRemote::new(&ctx.node).answers(contains(MARK), vec![answer(1, "")]);
        assert!(
            crate::ssh::ready_now(&booting, Some(&extra))
                .await
                .is_none()
        );
        assert_eq!(booting.calls().len(), 1);
    }
}

/// app1 answering the probe with `probe`, and the full apply's checks as a configured node
/// would, except `service` and `migrated`.
fn app1_fake(probe: &str, files: &str, migrated: &str, service: &str) -> FakeRemote {
    FakeRemote::new("app1")
        .answers(contains(MARK), vec![answer(0, probe)])
        .answers(contains("useradd"), vec![answer(0, "")])
        .answers(contains("sha256sum"), vec![answer(0, files)])
        .answers(contains("migrate --quiet"), vec![answer(0, migrated)])
        .answers(contains("readlink"), vec![answer(0, "")])
        .answers(contains("systemctl is-enabled"), vec![answer(3, service)])
        .answers(contains("systemctl start"), vec![answer(0, "")])
}

#[tokio::test]
async fn a_stopped_service_takes_the_full_apply() {
    let ctx = fixtures::app1();
    let files = in_place(&app_files(&ctx));
    let stopped = "enabled\ninactive\n";
    let fake = app1_fake(
        &app1_probe(files.clone(), "v1\n", stopped),
        &files,
        "",
        stopped,
    );
    let (result, _) = run_configure(&fake, &ctx).await;
    assert_eq!(
        result.expect("configure succeeds").changed,
        ["todo.service started"]
    );
    let cmds: Vec<String> = fake.calls().into_iter().map(|c| c.command).collect();
    assert_eq!(cmds.len(), 7, "the probe, then apply's six: {cmds:#?}");
    assert_eq!(cmds[1], as_root(&app::setup_script()));
    assert_eq!(cmds[6], service_cmd("start", "todo.service"));
    fake.assert_all_used();
}

#[tokio::test]
async fn an_edited_file_is_reported_and_left_as_before() {
    let ctx = fixtures::app1();
    let files = app_files(&ctx);
    // config.ini edited on the node: neither what it should be nor what firedrill wrote.
    let edited: String = files
        .iter()
        .map(|f| {
            if f.path == app::CONFIG_PATH {
                format!("{} 640 root:todo {}\n", "e".repeat(64), "1".repeat(64))
            } else {
                format!("{} {}\n", f.state_line(), f.sha256())
            }
        })
        .collect();
    let fake = app1_fake(
        &app1_probe(edited.clone(), "v1\n", RUNNING),
        &edited,
        "",
        RUNNING,
    );
    let (result, said) = run_configure(&fake, &ctx).await;
    let report = result.expect("configure succeeds");
    assert_eq!(report.edited, [app::CONFIG_PATH]);
    assert!(report.changed.is_empty(), "{:?}", report.changed);
    assert!(
        said.iter()
            .any(|l| l == "/etc/todo/config.ini was edited on the node: left as it is")
    );
    assert!(
        !fake.commands().iter().any(|c| c.contains("chown")),
        "nothing uploaded"
    );
}

#[tokio::test]
async fn a_database_migrated_to_another_release_is_migrated_again() {
    // Back from v3: the newest record is v3's, though v1's is there from before.
    let ctx = fixtures::app1();
    let files = in_place(&app_files(&ctx));
    let migrated = "db (mysql database todo at 10.20.0.20:3306): v1: added column todos.author\n";
    let fake = app1_fake(
        &app1_probe(files.clone(), "v3\n", RUNNING),
        &files,
        migrated,
        RUNNING,
    );
    let (result, _) = run_configure(&fake, &ctx).await;
    assert_eq!(
        result.expect("configure succeeds").changed,
        [migrated.trim()]
    );
    assert!(
        fake.commands()
            .contains(&as_root(&app::migrate_script(Release::V1, "db")))
    );
}

/// The migration query and the setup check, run by a real `sh` with stand-ins for the database
/// clients: the password comes from config.ini into a 0600 file, never onto a command line,
/// and the check changes nothing.
#[test]
fn the_app_probe_scripts_work_in_a_real_shell() {
    let dir = std::env::temp_dir().join(format!("firedrill-probe-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let ini = dir.join("config.ini");
    std::fs::write(
        &ini,
        "[server]\npassword = not-this-one\n\n[database db]\nengine = mysql\npassword = s3cret\n\n[database pg]\npassword = other\n",
    )
    .expect("write");
    let ctx = fixtures::app1();
    let db = &ctx.app().expect("app settings").database;
    let script = app::migrated_script(db).replace(app::CONFIG_PATH, ini.to_str().expect("utf-8"));
    // In place of the client: show the option file, its mode and the arguments.
    let stand_in = "mysql() { stat -c %a \"${1#*=}\"; cat \"${1#*=}\"; shift; echo \"$@\"; }\n";
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{stand_in}{script}"))
        .output()
        .expect("sh runs");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8(out.stdout).expect("utf-8"),
        "600\n[client]\npassword=s3cret\n--protocol=tcp -h 10.20.0.20 -P 3306 -u todo -D todo -N -B -e \
         SELECT version FROM todo_migrations ORDER BY applied_at DESC, version DESC LIMIT 1\n"
    );
    assert!(!script.contains("s3cret"));

    // The setup check on this host, against directories made as the node has them (owned
    // by whoever runs the test; no todo user here).
    let root = dir.join("root");
    let me = |flag: &str| {
        let out = std::process::Command::new("id")
            .arg(flag)
            .output()
            .expect("id");
        String::from_utf8(out.stdout)
            .expect("utf-8")
            .trim()
            .to_string()
    };
    let (user, group) = (me("-un"), me("-gn"));
    let local = |s: String| {
        s.replace("/opt/todo", &format!("{}/opt/todo", root.display()))
            .replace("/etc/todo", &format!("{}/etc/todo", root.display()))
            .replace("/var/lib/todo", &format!("{}/var/lib/todo", root.display()))
            .replace("root:root", &format!("{user}:{group}"))
            .replace("root:todo", &format!("{user}:{group}"))
            .replace("todo:todo", &format!("{user}:{group}"))
    };
    let expected: Vec<String> = app::setup_in_place().into_iter().map(local).collect();
    for line in &expected[1..] {
        let (_, rest) = line.split_once(' ').expect("owner mode path");
        let (mode, path) = rest.split_once(' ').expect("mode path");
        std::fs::create_dir_all(path).expect("mkdir");
        let mode = u32::from_str_radix(mode, 8).expect("octal");
        std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(mode))
            .expect("chmod");
    }
    let check = std::process::Command::new("sh")
        .arg("-c")
        .arg(local(app::setup_state_script()))
        .output()
        .expect("sh runs");
    let said = String::from_utf8(check.stdout).expect("utf-8");
    let has_todo_user = said.starts_with("user todo\n");
    let lines: Vec<&str> = said.lines().skip(usize::from(has_todo_user)).collect();
    assert_eq!(lines, expected[1..], "{said}");
    std::fs::remove_dir_all(&dir).expect("cleanup");
}

/// The MariaDB login probe, run by a real shell with a stand-in client: the todo login, then
/// root's count of the todo accounts, one per network the database admits; a missing account
/// makes it fail, so `up` provisions it.
#[test]
fn the_mysql_probe_counts_an_account_per_network_in_a_real_shell() {
    let mut ctx = fixtures::mysql_db();
    ctx.clients = vec!["10.30.0.0/24".parse().expect("cidr")];
    let db = ctx.db().cloned().expect("db");
    let script = mysql::probe_script(&ctx, &db);
    // The stand-in answers the login with a row count and root's count with $ACCOUNTS, and
    // shows root's SQL on stderr.
    let stand_in = "mysql() { case \"$1\" in --defaults-extra-file=*) echo 1 ;; \
                    *) echo \"$4\" >&2; echo \"$ACCOUNTS\" ;; esac; }\n";
    let run = |accounts: &str| {
        std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("{stand_in}{script}"))
            .env("ACCOUNTS", accounts)
            .stdin(std::process::Stdio::null())
            .output()
            .expect("sh runs")
    };
    let both = run("2");
    assert!(both.status.success(), "{both:?}");
    assert_eq!(
        String::from_utf8_lossy(&both.stderr).trim(),
        "SELECT COUNT(*) FROM mysql.user WHERE User = \"todo\" AND Host IN \
         (\"10.20.0.0/255.255.255.0\", \"10.30.0.0/255.255.255.0\")"
    );
    assert!(!run("1").status.success());
}
