use super::*;
use crate::faults::engine::Reverted;
use crate::faults::record::FaultRecord;
use crate::faults::testing::{Bench, build, is_root, node, sh, sudo};
use crate::remote::fake::{FakeRemote, exact, ok};

const Q: &str = "q() { mysql -NB todo -e \"$1\"; }\n";

#[tokio::test]
async fn mysql_inject_verify_revert_run_exactly_these_commands() {
    let bench = Bench::new();
    let prepare = format!(
        r#"if [ "$(systemctl show -p LoadState --value todo-report-export.service)" = loaded ]; then echo "a unit todo-report-export.service already exists on this node; firedrill will not replace it" >&2; exit 3; fi
if [ "$(systemctl show -p LoadState --value todo-migrate.service)" = loaded ]; then echo "a unit todo-migrate.service already exists on this node; firedrill will not replace it" >&2; exit 3; fi
{Q}echo "pending=$(q 'SELECT COUNT(*) FROM information_schema.processlist WHERE info LIKE '\''ALTER TABLE todos ENGINE=InnoDB%'\''')"
echo "rows=$(q 'SELECT COUNT(*) FROM todos')"
"#
    );
    let inject = format!(
        r#"set -e
{Q}systemd-run --quiet --collect --unit=todo-report-export.service --description='Export the todo report' -p StandardInput=data -p StandardInputData={holder} /usr/bin/mysql todo
i=0
until [ "$(q 'SELECT COUNT(*) FROM information_schema.processlist WHERE info LIKE '\''SELECT SLEEP(86400000)%'\''')" -gt 0 ] 2>/dev/null; do
  i=$((i + 1)); if [ $i -gt 50 ]; then echo 'the transaction did not start' >&2; exit 1; fi; sleep 0.2
done
systemd-run --quiet --collect --unit=todo-migrate.service --description='todo schema migration' -p StandardInput=data -p StandardInputData={alter} /usr/bin/mysql todo
i=0
until [ "$(q 'SELECT COUNT(*) FROM information_schema.processlist WHERE info LIKE '\''ALTER TABLE todos ENGINE=InnoDB%'\'' AND state LIKE '\''Waiting for table metadata lock%'\''')" -gt 0 ] 2>/dev/null; do
  i=$((i + 1)); if [ $i -gt 50 ]; then echo 'the ALTER TABLE is not waiting for the lock' >&2; exit 1; fi; sleep 0.2
done
echo "holder=$(q 'SELECT id FROM information_schema.processlist WHERE info LIKE '\''SELECT SLEEP(86400000)%'\''')"
echo "alter=$(q 'SELECT id FROM information_schema.processlist WHERE info LIKE '\''ALTER TABLE todos ENGINE=InnoDB%'\''')"
"#,
        holder = crate::faults::text::base64(MYSQL.holder.as_bytes()),
        alter = crate::faults::text::base64(MYSQL.alter.as_bytes()),
    );
    let verify = format!(
        r#"{Q}echo "waiting=$(q 'SELECT COUNT(*) FROM information_schema.processlist WHERE info LIKE '\''ALTER TABLE todos ENGINE=InnoDB%'\'' AND state LIKE '\''Waiting for table metadata lock%'\''')"
echo "holding=$(q 'SELECT COUNT(*) FROM information_schema.processlist WHERE info LIKE '\''SELECT SLEEP(86400000)%'\''')"
"#
    );
    let revert = format!(
        r#"{Q}for id in $(q 'SELECT id FROM information_schema.processlist WHERE info LIKE '\''ALTER TABLE todos ENGINE=InnoDB%'\'''); do q "KILL $id" >/dev/null && echo "ended the waiting ALTER TABLE (session $id)" || true; done
for id in $(q 'SELECT id FROM information_schema.processlist WHERE info LIKE '\''SELECT SLEEP(86400000)%'\'''); do q "KILL $id" >/dev/null && echo "ended the transaction holding the lock (session $id)" || true; done
case "$(systemctl is-active todo-migrate.service 2>/dev/null)" in
  active|activating|reloading) systemctl stop todo-migrate.service; echo "stopped todo-migrate.service" ;;
esac
systemctl reset-failed todo-migrate.service 2>/dev/null || true
case "$(systemctl is-active todo-report-export.service 2>/dev/null)" in
  active|activating|reloading) systemctl stop todo-report-export.service; echo "stopped todo-report-export.service" ;;
esac
systemctl reset-failed todo-report-export.service 2>/dev/null || true
"#
    );
    let db = FakeRemote::new("db")
        .once(exact(&sudo(&prepare)), ok("pending=0\nrows=3\n"))
        .once(exact(&sudo(&inject)), ok("holder=31\nalter=32\n"))
        .once(exact(&sudo(&verify)), ok("waiting=1\nholding=1\n"))
        .once(
            exact(&sudo(&revert)),
            ok("ended the waiting ALTER TABLE (session 32)\nended the transaction holding the lock (session 31)\n"),
        );
    let engine = bench.engine(&db, "d");
    let fault = build("db-lock", &node("db", &[crate::spec::Role::Mysql]), &[]).unwrap();
    let mut rec = FaultRecord::new("db", fault);
    engine.inject(&mut rec, None).await.unwrap();
    let Fault::DbLock(f) = &rec.fault else {
        panic!()
    };
    assert_eq!((f.holder, f.alter), (Some(31), Some(32)));
    assert_eq!(
        engine.verify(&mut rec).await.unwrap(),
        Verdict {
            active: true,
            detail: "1 ALTER TABLE waiting for the lock; 1 transaction holding it".into()
        }
    );
    assert_eq!(
        engine.revert(&mut rec).await.unwrap(),
        Reverted::Done(vec![
            "ended the waiting ALTER TABLE (session 32)".into(),
            "ended the transaction holding the lock (session 31)".into()
        ])
    );
    db.assert_all_used();
}

#[test]
fn postgres_runs_as_postgres_and_the_kind_needs_a_database() {
    let Fault::DbLock(f) =
        build("db-lock", &node("pg", &[crate::spec::Role::Postgres]), &[]).unwrap()
    else {
        panic!()
    };
    let inject = f.inject_script();
    assert!(
        inject.contains("q() { runuser -u postgres -- psql -X -A -t -q -d todo -c \"$1\"; }\n"),
        "{inject}"
    );
    assert!(
        inject.contains("--uid=postgres -p StandardInput=data -p StandardInputData="),
        "{inject}"
    );
    assert!(inject.contains(" /usr/bin/psql -X -d todo\n"), "{inject}");
    assert!(
        f.revert_script(None)
            .contains("q \"SELECT pg_terminate_backend($id)\"")
    );
    let err = build("db-lock", &crate::faults::testing::app1(), &[]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "db-lock does not fit node app1: it locks the todo table, and the node has no database role"
    );
}

/// The SQL for real against a private MariaDB on this host (a temp data dir, a unix socket,
/// no network): the ALTER waits, a read of the table hangs, verify sees it, revert ends both
/// sessions and reads work again. The two sessions are started as the units would start them.
#[test]
#[ignore = "needs root: scripts/test"]
fn mariadb_locks_and_unlocks_for_real() {
    assert!(is_root(), "needs root and mariadb-server: run scripts/test");
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path().to_str().unwrap().to_string();
    let install = sh(&format!(
        "timeout 120 mariadb-install-db --no-defaults --user=root --datadir={t}/data --auth-root-authentication-method=socket >/dev/null 2>&1"
    ));
    assert!(install.success(), "{install:?}");
    let server = std::process::Command::new("mariadbd")
        .args([
            "--no-defaults",
            "--user=root",
            &format!("--datadir={t}/data"),
            &format!("--socket={t}/sock"),
            &format!("--pid-file={t}/pid"),
            "--skip-networking",
            "--innodb-buffer-pool-size=16M",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    struct Stop(std::process::Child);
    impl Drop for Stop {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mysql = format!("mysql --no-defaults -uroot --socket={t}/sock");
    let ready = (0..150).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(200));
        sh(&format!("{mysql} -e 'SELECT 1' >/dev/null 2>&1")).success()
    });
    let guard = Stop(server);
    assert!(ready, "mariadbd did not start");
    let schema = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/templates/mysql/schema.sql"
    ));
    let setup = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{mysql} -e 'CREATE DATABASE todo' && {mysql} todo"))
        .stdin(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(schema.as_bytes())?;
            c.wait()
        })
        .unwrap();
    assert!(setup.success());

    let f = DbLock {
        engine: Engine::Mysql,
        holder: None,
        alter: None,
        client: Some(format!("{mysql} -NB todo")),
    };
    let session = |sql: &str| {
        use std::io::Write;
        let mut c = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("exec {mysql} todo"))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        c.stdin.take().unwrap().write_all(sql.as_bytes()).unwrap();
        c
    };
    let fields = |script: &str| crate::faults::text::Fields::parse(&sh(script).stdout_str());
    let mut ff = f.clone();
    ff.prepared(&fields(
        &f.prepare_script().replace("systemctl", ": systemctl"),
    ))
    .unwrap();
    let mut holder = session(MYSQL.holder);
    let waited = |what: &str| {
        (0..50).any(|_| {
            std::thread::sleep(std::time::Duration::from_millis(200));
            let v = f.verdict(&fields(&f.verify_script()), 0);
            match what {
                "holding" => v.detail.ends_with("1 transaction holding it"),
                _ => v.active,
            }
        })
    };
    assert!(waited("holding"));
    let mut alter = session(MYSQL.alter);
    assert!(
        waited("waiting"),
        "{:?}",
        f.verdict(&fields(&f.verify_script()), 0)
    );
    // A read now waits behind the ALTER.
    let read = sh(&format!(
        "timeout 3 {mysql} -NB todo -e 'SELECT COUNT(*) FROM todos'"
    ));
    assert_eq!(read.status, 124, "the read did not hang: {read:?}");

    let out = sh(&format!("systemctl() {{ :; }}\n{}", f.revert_script(None)));
    let lines: Vec<String> = out.stdout_str().lines().map(str::to_string).collect();
    assert_eq!(lines.len(), 2, "{out:?}");
    assert!(
        lines[0].starts_with("ended the waiting ALTER TABLE (session "),
        "{lines:?}"
    );
    assert!(
        lines[1].starts_with("ended the transaction holding the lock (session "),
        "{lines:?}"
    );
    assert!(!f.verdict(&fields(&f.verify_script()), 0).active);
    let read = sh(&format!(
        "timeout 10 {mysql} -NB todo -e 'SELECT COUNT(*) FROM todos'"
    ));
    assert_eq!(read.stdout_str(), "3\n", "{read:?}");
    // Both client sessions end once the server has killed them.
    assert!(!alter.wait().unwrap().success());
    assert!(!holder.wait().unwrap().success());
    drop(guard);
}
