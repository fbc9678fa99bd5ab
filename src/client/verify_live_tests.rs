//! `client verify`'s SQL for real: a private MariaDB and a private PostgreSQL on this host (temp
//! data directories, unix sockets only, no network), the todo schema the roles load, rows
//! inserted as the app inserts them (`INSERT ... RETURNING id`), then the dump script as verify
//! runs it (pointed at the private socket), parsed and compared with a ledger.

use super::ledger::Write;
use super::verify::{self, Finding};
use crate::faults::testing::{is_root, sh};
use crate::roles::Engine;
use chrono::Utc;
use serde_json::json;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Names that would shift a column if the dump were not escaped.
const NAMES: [&str; 4] = ["plain", "tab\there", "new\nline", "back\\slash 'quote'"];

struct Stop(Child);
impl Drop for Stop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// runuser stays as postgres's parent: stop postgres itself (pg_ctl, by its pid file), then it.
struct PgStop(String, Child);
impl Drop for PgStop {
    fn drop(&mut self) {
        let _ = sh(&self.0);
        let _ = self.1.kill();
        let _ = self.1.wait();
    }
}

fn wait_for(what: &str, probe: &str) {
    let ready = (0..300).any(|_| {
        std::thread::sleep(Duration::from_millis(200));
        sh(probe).success()
    });
    assert!(ready, "{what} did not start");
}

fn feed(command: &str, stdin: &str) -> String {
    use std::io::Write as _;
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(command)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run sh");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    let out = child.wait_with_output().expect("wait");
    assert!(
        out.status.success(),
        "{command}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// SQL text for a string: quotes doubled, and (for MariaDB) backslashes too.
fn literal(s: &str, engine: Engine) -> String {
    let s = s.replace('\'', "''");
    match engine {
        Engine::Mysql => format!(
            "'{}'",
            s.replace('\\', "\\\\")
                .replace('\t', "\\t")
                .replace('\n', "\\n")
        ),
        Engine::Postgres => format!(
            "E'{}'",
            s.replace('\\', "\\\\")
                .replace('\t', "\\t")
                .replace('\n', "\\n")
        ),
    }
}

/// Inserts the names as the app does, and returns the ledger of those writes.
fn insert_all(client: &str, engine: Engine) -> Vec<Write> {
    NAMES
        .iter()
        .enumerate()
        .map(|(seq, name)| {
            let sql = format!(
                "INSERT INTO todos (name, completed, created_at) VALUES ({}, FALSE, '2024-05-01 14:03:03') RETURNING id;\n",
                literal(name, engine)
            );
            let id: u64 = feed(client, &sql).trim().parse().expect("the new id");
            let content = json!({"id": id, "name": name, "completed": false});
            Write {
                ts: Utc::now(),
                stream: "writer".into(),
                seq: seq as u64,
                method: "POST".into(),
                path: "/todos".into(),
                status: 201,
                id: Some(json!(id)),
                content,
            }
        })
        .collect()
}

/// Everything kept; then one row deleted and one changed, as a learner's mistake would.
fn check(engine: Engine, dump: &str, client: &str, writes: &[Write]) {
    let read = || {
        verify::compare(
            writes,
            &verify::parse_table(engine, &sh(dump).stdout_str()).expect("parses"),
        )
    };
    assert_eq!(read(), vec![Finding::Intact; NAMES.len()], "{engine:?}");
    let ids: Vec<String> = writes.iter().filter_map(|w| w.id_text()).collect();
    feed(
        client,
        &format!(
            "DELETE FROM todos WHERE id = {};\nUPDATE todos SET completed = TRUE WHERE id = {};\n",
            ids[1], ids[2]
        ),
    );
    let found = if engine == Engine::Mysql {
        "\"1\""
    } else {
        "\"t\""
    };
    assert_eq!(
        read(),
        vec![
            Finding::Intact,
            Finding::Missing,
            Finding::Changed {
                field: "completed".into(),
                expected: "false".into(),
                found: found.into()
            },
            Finding::Intact
        ],
        "{engine:?}"
    );
}

#[test]
#[ignore = "needs root and mariadb-server: scripts/test"]
fn verify_reads_a_real_mariadb() {
    assert!(is_root(), "needs root and mariadb-server: run scripts/test");
    let tmp = tempfile::tempdir().expect("tempdir");
    let t = tmp.path().display().to_string();
    let install = sh(&format!(
        "timeout 120 mariadb-install-db --no-defaults --user=root --datadir={t}/data --auth-root-authentication-method=socket >/dev/null 2>&1"
    ));
    assert!(install.success(), "{install:?}");
    let _server = Stop(
        Command::new("mariadbd")
            .args([
                "--no-defaults",
                "--user=root",
                &format!("--datadir={t}/data"),
                &format!("--socket={t}/sock"),
                &format!("--pid-file={t}/pid"),
                "--skip-networking",
                "--innodb-buffer-pool-size=16M",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start mariadbd"),
    );
    let mysql = format!("mysql --no-defaults -uroot --socket={t}/sock");
    wait_for(
        "mariadbd",
        &format!("{mysql} -e 'SELECT 1' >/dev/null 2>&1"),
    );
    feed(
        &format!("{mysql} -e 'CREATE DATABASE todo' && {mysql} todo"),
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/templates/mysql/schema.sql"
        )),
    );
    let client = format!("{mysql} -N todo");
    let writes = insert_all(&client, Engine::Mysql);
    let dump = verify::dump_script(Engine::Mysql, "todo", None).replacen(
        "mysql ",
        &format!("{mysql} "),
        1,
    );
    check(Engine::Mysql, &dump, &client, &writes);
}

#[test]
#[ignore = "needs root and postgresql: scripts/test"]
fn verify_reads_a_real_postgresql() {
    assert!(is_root(), "needs root and postgresql: run scripts/test");
    let tmp = tempfile::tempdir().expect("tempdir");
    let t = tmp.path().display().to_string();
    // The server runs as postgres, which must reach its data and socket directories.
    assert!(sh(&format!("chmod 755 {t} && install -d -o postgres {t}/pg")).success());
    let bin = "/usr/lib/postgresql/15/bin";
    let init = sh(&format!(
        "cd / && timeout 120 runuser -u postgres -- {bin}/initdb -D {t}/pg/data -A trust >/dev/null 2>&1"
    ));
    assert!(init.success(), "{init:?}");
    let _server = PgStop(
        format!("cd / && runuser -u postgres -- {bin}/pg_ctl -D {t}/pg/data -m immediate -s stop"),
        Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(format!("{bin}/postgres"))
            .args(["-D", &format!("{t}/pg/data"), "-k", &format!("{t}/pg")])
            .args(["-c", "listen_addresses=", "-c", "shared_buffers=16MB"])
            .current_dir("/")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start postgres"),
    );
    let psql = format!("cd / && runuser -u postgres -- psql -X -q -h {t}/pg");
    wait_for(
        "postgres",
        &format!("{psql} -d postgres -c 'SELECT 1' >/dev/null 2>&1"),
    );
    feed(
        &format!(
            "{psql} -d postgres -c 'CREATE DATABASE todo' && {psql} -v ON_ERROR_STOP=1 -d todo"
        ),
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/templates/postgres/schema.sql"
        )),
    );
    let client = format!("{psql} -v ON_ERROR_STOP=1 -At -d todo");
    let writes = insert_all(&client, Engine::Postgres);
    let dump = verify::dump_script(Engine::Postgres, "todo", None).replacen(
        "psql -X -q -d",
        &format!("psql -X -q -h {t}/pg -d"),
        1,
    );
    check(Engine::Postgres, &dump, &client, &writes);
}
