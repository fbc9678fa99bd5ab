//! The app role against the scripted fake: a fresh node, a configured one, a changed config,
//! and a switch of release (the migration runs before the new release starts, and only on the
//! node that migrates its database).

use super::app;
use super::context::{AppConfig, NodeContext, Release};
use super::files::{ManagedFile, state_script};
use super::fixtures;
use super::role_tests::{
    as_root, assert_no_secret_leaks, commands, in_place, run_apply, service_cmd, state_of,
    uploads_of,
};
use crate::remote::fake::{FakeRemote, answer, contains};

fn ctx_with(release: Release, migrate: Option<Release>) -> NodeContext {
    let mut ctx = fixtures::app1();
    let mut app = ctx.app().cloned().expect("app settings");
    app.release = release;
    app.migrate = migrate;
    ctx.set(super::RoleConfig::App(app));
    ctx
}

fn files_of(ctx: &NodeContext) -> Vec<ManagedFile> {
    let app: &AppConfig = ctx.app().expect("app settings");
    app::files(ctx, app, &fixtures::secrets()).expect("renders")
}

fn paths(files: &[ManagedFile]) -> Vec<&str> {
    files.iter().map(|f| f.path.as_str()).collect()
}

fn fake(setup: &str, files: &str, migrated: &str, links: &str, service: &str) -> FakeRemote {
    FakeRemote::new("app1")
        .answers(contains("useradd"), vec![answer(0, setup)])
        .answers(contains("sha256sum"), vec![answer(0, files)])
        .answers(contains("chown"), vec![answer(0, "")])
        .answers(contains("daemon-reload"), vec![answer(0, "")])
        .answers(contains("migrate --quiet"), vec![answer(0, migrated)])
        .answers(contains("readlink"), vec![answer(0, links)])
        .answers(contains("systemctl is-enabled"), vec![answer(3, service)])
        .answers(contains("systemctl enable"), vec![answer(0, "")])
        .answers(contains("systemctl start"), vec![answer(0, "")])
        .answers(contains("systemctl restart"), vec![answer(0, "")])
}

const LINKED: &str = "/opt/todo/current -> releases/v1\n/opt/todo/app.py -> current/app.py\n";

#[tokio::test]
async fn a_fresh_node_gets_every_release_the_schema_the_links_and_a_started_service() {
    let ctx = fixtures::app1();
    let files = files_of(&ctx);
    let setup = "user todo created\ndirectory /opt/todo set up\n";
    let missing = "missing\n".repeat(files.len());
    let migrated =
        "db (mysql database todo at 10.20.0.20:3306): v1: recorded v1 in todo_migrations\n";
    let fake = fake(setup, &missing, migrated, LINKED, "disabled\ninactive\n");
    let (result, said) = run_apply(&fake, &ctx).await;
    let report = result.expect("apply succeeds");

    let calls = fake.calls();
    let mut expected = vec![
        as_root(&app::setup_script()),
        as_root(&state_script(&paths(&files))),
    ];
    expected.push(uploads_of(&files));
    expected.extend([
        as_root("systemctl daemon-reload"),
        as_root(&app::migrate_script(Release::V1, "db")),
        as_root(&app::links_script(Release::V1)),
        state_of(app::SERVICE),
        service_cmd("enable --no-reload", "todo.service"),
        service_cmd("start", "todo.service"),
    ]);
    assert_eq!(commands(&calls), expected);
    let every_file: String = files
        .iter()
        .map(|f| crate::ssh::uploaded(&f.contents))
        .collect();
    assert_eq!(calls[2].stdin_str(), Some(every_file));
    let config = files
        .iter()
        .find(|f| f.path == app::CONFIG_PATH)
        .expect("config.ini is managed");
    assert_eq!(
        (config.mode, config.owner.as_str()),
        (0o640, "root:todo"),
        "config.ini holds the password: not world-readable"
    );
    let mut changed = vec!["user todo created", "directory /opt/todo set up"];
    let updated: Vec<String> = files
        .iter()
        .map(|f| format!("{} updated", f.path))
        .collect();
    changed.extend(updated.iter().map(String::as_str));
    changed.extend([
        migrated.trim(),
        "/opt/todo/current -> releases/v1",
        "/opt/todo/app.py -> current/app.py",
        "todo.service enabled",
        "todo.service started",
    ]);
    assert_eq!(report.changed, changed);
    assert_no_secret_leaks(&calls, &said);
}

#[tokio::test]
async fn a_configured_node_only_checks() {
    let ctx = fixtures::app1();
    let files = files_of(&ctx);
    let fake = fake("", &in_place(&files), "", "", "enabled\nactive\n");
    let (result, said) = run_apply(&fake, &ctx).await;
    assert_eq!(
        result.expect("apply succeeds").changed,
        Vec::<String>::new()
    );
    assert_eq!(
        commands(&fake.calls()),
        vec![
            as_root(&app::setup_script()),
            as_root(&state_script(&paths(&files))),
            as_root(&app::migrate_script(Release::V1, "db")),
            as_root(&app::links_script(Release::V1)),
            state_of(app::SERVICE),
        ]
    );
    assert_no_secret_leaks(&fake.calls(), &said);
}

/// The state line of each file, with the one at `path` replaced by a stale one.
fn state_with_stale(files: &[ManagedFile], path: &str) -> String {
    files
        .iter()
        .map(|f| {
            if f.path == path {
                format!("0000 {:o} {}\n", f.mode, f.owner)
            } else {
                f.state_line() + "\n"
            }
        })
        .collect()
}

#[tokio::test]
async fn a_changed_config_restarts_without_a_daemon_reload() {
    let ctx = fixtures::app1();
    let files = files_of(&ctx);
    let state = state_with_stale(&files, app::CONFIG_PATH);
    let fake = fake("", &state, "", "", "enabled\nactive\n");
    let (result, _) = run_apply(&fake, &ctx).await;
    assert_eq!(
        result.expect("apply succeeds").changed,
        vec!["/etc/todo/config.ini updated", "todo.service restarted"]
    );
    assert!(!commands(&fake.calls()).contains(&as_root("systemctl daemon-reload")));
}

#[tokio::test]
async fn a_changed_release_that_does_not_run_needs_no_restart() {
    let ctx = fixtures::app1();
    let files = files_of(&ctx);
    let state = state_with_stale(&files, "/opt/todo/releases/v3/app.py");
    let fake = fake("", &state, "", "", "enabled\nactive\n");
    let (result, _) = run_apply(&fake, &ctx).await;
    assert_eq!(
        result.expect("apply succeeds").changed,
        vec!["/opt/todo/releases/v3/app.py updated"]
    );
}

#[tokio::test]
async fn switching_release_migrates_then_relinks_then_restarts() {
    let ctx = ctx_with(Release::V3, Some(Release::V3));
    let files = files_of(&ctx);
    // The node runs v1: its README still says so.
    let state = state_with_stale(&files, app::README_PATH);
    let migrated = "db (mysql database todo at 10.20.0.20:3306): v3: added column todos.author\n";
    let links = "/opt/todo/current -> releases/v3\n";
    let fake = fake("", &state, migrated, links, "enabled\nactive\n");
    let (result, _) = run_apply(&fake, &ctx).await;
    assert_eq!(
        result.expect("apply succeeds").changed,
        vec![
            "/opt/todo/README updated",
            migrated.trim(),
            "/opt/todo/current -> releases/v3",
            "todo.service restarted"
        ]
    );
    let cmds = commands(&fake.calls());
    let at = |c: String| cmds.iter().position(|x| *x == c).expect("was run");
    assert!(
        at(as_root(&app::migrate_script(Release::V3, "db")))
            < at(as_root(&app::links_script(Release::V3)))
    );
    assert!(
        at(as_root(&app::links_script(Release::V3))) < at(service_cmd("restart", "todo.service"))
    );
}

#[tokio::test]
async fn an_app_node_that_does_not_migrate_its_database_only_relinks() {
    let ctx = ctx_with(Release::V2, None);
    let files = files_of(&ctx);
    let fake = fake(
        "",
        &in_place(&files),
        "",
        "/opt/todo/current -> releases/v2\n",
        "enabled\nactive\n",
    );
    let (result, _) = run_apply(&fake, &ctx).await;
    assert_eq!(
        result.expect("apply succeeds").changed,
        vec!["/opt/todo/current -> releases/v2", "todo.service restarted"]
    );
    assert!(
        !commands(&fake.calls())
            .iter()
            .any(|c| c.contains("migrate --quiet")),
        "no migration from this node"
    );
}

/// The scripts the role runs, run for real by `sh` on this host in a temp dir: the links are
/// made, replaced atomically, and reported only when they change.
#[test]
fn the_links_script_works_in_a_real_shell() {
    let dir = std::env::temp_dir().join(format!("firedrill-links-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("opt/todo/releases/v1")).expect("temp dir");
    std::fs::create_dir_all(dir.join("opt/todo/releases/v2")).expect("temp dir");
    // An install from before releases: app.py is a plain file.
    std::fs::write(dir.join("opt/todo/app.py"), "old").expect("write");
    let root = dir.display().to_string();
    let script =
        |r: Release| app::links_script(r).replace("/opt/todo", &format!("{root}/opt/todo"));
    let run = |s: String| {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(s)
            .output()
            .expect("sh runs");
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).expect("utf-8")
    };
    let current = format!("{root}/opt/todo/current");
    let app_py = format!("{root}/opt/todo/app.py");
    assert_eq!(
        run(script(Release::V1)),
        format!("{current} -> releases/v1\n{app_py} -> current/app.py\n")
    );
    assert_eq!(run(script(Release::V1)), "");
    assert_eq!(
        run(script(Release::V2)),
        format!("{current} -> releases/v2\n")
    );
    let link = std::fs::read_link(&current).expect("a link");
    assert_eq!(link.display().to_string(), "releases/v2");
    let left: Vec<_> = std::fs::read_dir(dir.join("opt/todo"))
        .expect("dir")
        .map(|e| e.expect("entry").file_name().into_string().expect("utf-8"))
        .filter(|n| n.ends_with(".new"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    std::fs::remove_dir_all(&dir).expect("cleanup");
}
