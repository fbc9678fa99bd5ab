//! `client verify` against the one fake node, for both engines: the exact command, the table
//! as each engine prints it (escapes, NULLs, booleans), and the verdict.

use super::ledger::Write;
use super::verify::{self, Finding, Table};
use super::verify_run::check_node;
use crate::remote::fake::{FakeRemote, exact, exit, ok};
use crate::roles::Engine;
use chrono::{TimeZone, Utc};
use serde_json::{Value, json};

fn write(seq: u64, content: Value) -> Write {
    Write {
        ts: Utc
            .with_ymd_and_hms(2024, 5, 1, 14, 3, 3)
            .single()
            .expect("valid"),
        stream: "writer".into(),
        seq,
        method: "POST".into(),
        path: "/todos".into(),
        status: 201,
        id: content.get("id").cloned(),
        content,
    }
}

/// Five writes: kept, kept (a name with a tab and a newline), lost, changed, and one without an
/// id that is found by its fields.
fn ledger() -> Vec<Write> {
    vec![
        write(
            0,
            json!({"id": 4, "name": "task 0 lamp", "completed": false}),
        ),
        write(
            1,
            json!({"id": 5, "name": "tab\there\nnewline", "completed": true}),
        ),
        write(
            2,
            json!({"id": 6, "name": "task 2 river", "completed": false}),
        ),
        write(
            3,
            json!({"id": 7, "name": "task 3 stone", "completed": false}),
        ),
        write(4, json!({"name": "no id", "completed": false})),
    ]
}

const MYSQL_DUMP: &str = "id\tname\tcompleted\tcreated_at\n\
    1\tGet Milk\t0\t2024-05-01 14:00:00\n\
    4\ttask 0 lamp\t0\t2024-05-01 14:03:03\n\
    5\ttab\\there\\nnewline\t1\t2024-05-01 14:03:03\n\
    7\ttask 3 stone\t1\t2024-05-01 14:03:03\n\
    9\tno id\t0\tNULL\n";

const PG_DUMP: &str = "id\tname\tcompleted\tcreated_at\n\
    1\tGet Milk\tf\t2024-05-01 14:00:00\n\
    4\ttask 0 lamp\tf\t2024-05-01 14:03:03\n\
    5\ttab\\there\\nnewline\tt\t2024-05-01 14:03:03\n\
    7\ttask 3 stone\tt\t2024-05-01 14:03:03\n\
    9\tno id\tf\t\\N\n";

const MYSQL_CMD: &str =
    "sudo -n sh -c 'mysql -B todo -e '\\''SELECT * FROM todos ORDER BY id'\\'''";
const PG_CMD: &str = "sudo -n sh -c 'cd / && runuser -u postgres -- psql -X -q -d todo -c '\\''COPY (SELECT * FROM todos ORDER BY id) TO STDOUT WITH (FORMAT text, HEADER true)'\\'''";

fn expected() -> Vec<Finding> {
    vec![
        Finding::Intact,
        Finding::Intact,
        Finding::Missing,
        Finding::Changed {
            field: "completed".into(),
            expected: "false".into(),
            found: "\"1\"".into(),
        },
        Finding::Intact,
    ]
}

#[tokio::test]
async fn mariadb_and_postgresql_tables_are_read_and_compared() {
    for (engine, command, dump, found) in [
        (Engine::Mysql, MYSQL_CMD, MYSQL_DUMP, "\"1\""),
        (Engine::Postgres, PG_CMD, PG_DUMP, "\"t\""),
    ] {
        let node = FakeRemote::new("db").on(exact(command), ok(dump));
        let findings = check_node(&node, engine, &ledger()).await.expect("checked");
        let mut want = expected();
        want[3] = Finding::Changed {
            field: "completed".into(),
            expected: "false".into(),
            found: found.into(),
        };
        assert_eq!(findings, want, "{engine:?}");
        assert_eq!(node.commands(), [command]);
    }
}

#[tokio::test]
async fn a_failing_dump_says_where_and_why() {
    let node = FakeRemote::new("db").on(
        exact(MYSQL_CMD),
        exit(1, "ERROR 1146 (42S02): Table 'todo.todos' doesn't exist"),
    );
    let err = check_node(&node, Engine::Mysql, &ledger())
        .await
        .expect_err("fails");
    assert_eq!(
        err.to_string(),
        "db: reading the todo table (mysql) failed (exit 1): ERROR 1146 (42S02): Table 'todo.todos' doesn't exist; check that the database runs (`firedrill status`)"
    );
    let node = FakeRemote::new("db").on(exact(PG_CMD), ok("title\tdone\n"));
    let err = check_node(&node, Engine::Postgres, &ledger())
        .await
        .expect_err("fails");
    assert_eq!(
        err.to_string(),
        "db: cannot read the todo table: the todo table has no `id` column (columns: title, done)"
    );
}

#[test]
fn the_verdict_names_the_lost_writes() {
    let writes = ledger();
    let (text, none_lost) = verify::render(
        &writes,
        &[
            ("db (mysql)".to_string(), expected()),
            (
                "pg (postgres)".to_string(),
                vec![
                    Finding::Intact,
                    Finding::Missing,
                    Finding::Missing,
                    Finding::Missing,
                    Finding::Missing,
                ],
            ),
        ],
    );
    assert!(!none_lost);
    assert_eq!(
        text,
        "db (mysql): 3 intact, 1 missing, 1 changed, 0 not checkable\n\
         pg (postgres): 1 intact, 4 missing, 0 changed, 0 not checkable\n\
         2 of 5 acknowledged writes lost\n\
         \x20 POST 2 of stream writer (id 6, acknowledged 2024-05-01T14:03:03.000Z): missing on db (mysql); missing on pg (postgres)\n\
         \x20 POST 3 of stream writer (id 7, acknowledged 2024-05-01T14:03:03.000Z): on db (mysql) completed is \"1\", expected false; missing on pg (postgres)\n"
    );
    let all_kept = vec![Finding::Intact; 5];
    let (text, none_lost) = verify::render(&writes, &[("db (mysql)".to_string(), all_kept)]);
    assert!(none_lost);
    assert!(
        text.ends_with("\n0 of 5 acknowledged writes lost\n"),
        "{text}"
    );
}

#[test]
fn a_later_write_of_the_same_id_wins_and_big_counts_have_separators() {
    let table = verify::parse_table(Engine::Mysql, "id\tname\n4\tafter\n").expect("parses");
    let writes = vec![
        write(0, json!({"id": 4, "name": "before"})),
        write(1, json!({"id": 4, "name": "after"})),
        write(2, json!({"list": [1]})),
    ];
    assert_eq!(
        verify::compare(&writes, &table),
        [Finding::Intact, Finding::Intact, Finding::Uncheckable]
    );
    assert_eq!(
        table,
        Table {
            columns: vec!["id".into(), "name".into()],
            rows: vec![vec![Some("4".into()), Some("after".into())]],
        }
    );
    assert_eq!(verify::thousands(0), "0");
    assert_eq!(verify::thousands(999), "999");
    assert_eq!(verify::thousands(1234), "1,234");
    assert_eq!(verify::thousands(1_234_567), "1,234,567");
    assert!(verify::parse_table(Engine::Mysql, "id\tname\n4\n").is_err());
    assert!(verify::parse_table(Engine::Mysql, "").is_err());
}

#[tokio::test]
async fn a_ledger_of_numbered_writes_reads_only_the_rows_from_its_first_id() {
    let writes: Vec<Write> = ledger().into_iter().filter(|w| w.id.is_some()).collect();
    assert_eq!(verify::first_id(&writes), Some(4));
    assert_eq!(
        verify::first_id(&ledger()),
        None,
        "a write without an id needs every row"
    );
    let command =
        "sudo -n sh -c 'mysql -B todo -e '\\''SELECT * FROM todos WHERE id >= 4 ORDER BY id'\\'''";
    let node = FakeRemote::new("db").on(exact(command), ok(MYSQL_DUMP));
    let findings = check_node(&node, Engine::Mysql, &writes)
        .await
        .expect("checked");
    assert_eq!(findings.len(), 4);
    assert_eq!(node.commands(), [command]);
}
