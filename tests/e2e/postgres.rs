//! The app's releases on PostgreSQL (one node).

use super::lab::{add_todo, ssh_stdout, wait_until};
use crate::harness::Sandbox;

pub(super) fn app_releases_on_postgres() {
    let sb = Sandbox::start("pg-release");
    sb.ensure_image();
    let file = sb.home().join("pg-release.yaml");
    let file = file.to_str().expect("utf-8 path").to_string();
    let write_lab = |release: &str| {
        let yaml = format!(
            "name: pg-release\nnetworks:\n  - name: lan\n    cidr: 10.82.0.0/24\n\
             nodes:\n  - name: pg\n    roles: [app, postgres]\n    memory: 768\n\
             \x20   app: {{release: {release}}}\n"
        );
        std::fs::write(&file, yaml).expect("write the lab file");
    };
    let up = |what: &str| {
        let out = sb.firedrill(&["up", &file, "--accel", "tcg"]);
        out.assert_success(what);
        out
    };
    let base = "http://10.82.0.10:8080";
    let get = || {
        let mut last = None;
        wait_until("the app answers GET /todos", 60, || {
            let r = sb.http("GET", &format!("{base}/todos"), None);
            let ok = r.status == 200;
            last = Some(r);
            ok
        });
        let r = last.expect("an answer");
        let body: serde_json::Value = serde_json::from_str(&r.body).expect("JSON body");
        (r.header("x-release").unwrap_or_default().to_string(), body)
    };
    let psql = |sql: &str| {
        ssh_stdout(
            &sb,
            "pg",
            &format!("cd / && sudo -u postgres psql -X -At -d todo -c \"{sql}\""),
        )
    };

    write_lab("v1");
    let started = std::time::Instant::now();
    up("up with release v1");
    eprintln!("# up (boot + configure) took {:?}", started.elapsed());
    let (release, body) = get();
    assert_eq!(release, "v1", "{body}");
    assert_eq!(
        body["todos"][0],
        serde_json::json!({"name": "Get Milk", "completed": false})
    );
    let item = format!("e2e-{}", std::process::id());
    let r = add_todo(&sb, base, &item);
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(
        psql("SELECT version FROM todo_migrations ORDER BY version"),
        "v1"
    );
    assert_eq!(
        ssh_stdout(&sb, "pg", "readlink /opt/todo/current"),
        "releases/v1"
    );

    write_lab("v2");
    let started = std::time::Instant::now();
    let out = up("up with release v2");
    eprintln!("# up switching to v2 took {:?}", started.elapsed());
    assert!(!out.stdout.contains("nothing changed"), "{}", out.stdout);
    let (release, body) = get();
    assert_eq!(release, "v2", "{body}");
    let items = body.as_array().expect("v2 answers a bare list");
    assert_eq!(
        items[0],
        serde_json::json!({"title": "Get Milk", "done": false})
    );
    assert!(
        items.iter().any(|i| i["title"] == item.as_str()),
        "the item written under v1 is there: {body}"
    );
    assert_eq!(
        psql("SELECT version FROM todo_migrations ORDER BY version"),
        "v1\nv2",
        "v2's migration ran"
    );
    assert_eq!(
        ssh_stdout(&sb, "pg", "readlink /opt/todo/current"),
        "releases/v2"
    );
    // v1 beside it, on its own port, as /opt/todo/README says.
    ssh_stdout(&sb, "pg", "sudo systemctl start todo@v1");
    wait_until("todo@v1 answers on port 9001", 60, || {
        let r = sb.http("GET", "http://10.82.0.10:9001/todos", None);
        r.status == 200 && r.header("x-release") == Some("v1") && r.body.contains("\"todos\"")
    });
    ssh_stdout(&sb, "pg", "sudo systemctl stop todo@v1");

    write_lab("v3");
    up("up with release v3");
    let (release, body) = get();
    assert_eq!(release, "v3", "{body}");
    assert_eq!(
        body[0],
        serde_json::json!({"title": "Get Milk", "done": false, "author": "Jane Doe"})
    );
    assert_eq!(
        psql(
            "SELECT column_default FROM information_schema.columns WHERE table_name = 'todos' AND column_name = 'author'"
        ),
        "'Jane Doe'::character varying",
        "v3's migration added the column"
    );

    let started = std::time::Instant::now();
    let again = up("up again with release v3");
    eprintln!("# up with nothing to change took {:?}", started.elapsed());
    assert!(again.stdout.contains("nothing changed"), "{}", again.stdout);
    sb.firedrill(&["down"]).assert_success("down");
}
