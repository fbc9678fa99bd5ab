//! `firedrill client verify`, the pure part: the script that dumps the todo table on a database
//! node, the parser of its output, and the comparison with the ledger.
//!
//! Both engines print the table as tab-separated text with a header line and backslash escapes
//! (`mysql --batch`; PostgreSQL's `COPY ... TO STDOUT` in text format), so names with tabs or
//! newlines cannot shift a column. Every column is dumped, whatever the app's release: a write
//! is compared on each field of its answer that is a column of the table (`name`, `completed`;
//! `author` once a release adds it), and found by its `id` (by those fields when the answer had
//! no id).

use super::ledger::Write;
use crate::roles::Engine;
use serde_json::Value;
use std::collections::HashMap;
use std::fmt::Write as _;

/// The script, run as root on a database node, that prints the whole todo table.
pub(crate) fn dump_script(engine: Engine, database: &str) -> String {
    let db = crate::ssh::quote(database);
    match engine {
        // root logs in through the socket; -B: tab-separated, escaped, with a header line.
        Engine::Mysql => format!("mysql -B {db} -e 'SELECT * FROM todos ORDER BY id'"),
        // `cd /` spares psql a warning about the login user's home directory.
        Engine::Postgres => format!(
            "cd / && runuser -u postgres -- psql -X -q -d {db} -c \
             'COPY (SELECT * FROM todos ORDER BY id) TO STDOUT WITH (FORMAT text, HEADER true)'"
        ),
    }
}

/// The todo table as the database printed it. `None` is SQL NULL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Table {
    pub(crate) columns: Vec<String>,
    pub(crate) rows: Vec<Vec<Option<String>>>,
}

/// Reads the dump of `engine`.
pub(crate) fn parse_table(engine: Engine, text: &str) -> Result<Table, String> {
    let mut lines = text.lines();
    let Some(header) = lines.next() else {
        return Err("the database printed nothing, not even the column names".into());
    };
    let columns: Vec<String> = header.split('\t').map(str::to_string).collect();
    if !columns.iter().any(|c| c == "id") {
        return Err(format!(
            "the todo table has no `id` column (columns: {})",
            columns.join(", ")
        ));
    }
    let mut rows = Vec::new();
    for (n, line) in lines.enumerate() {
        let fields: Vec<Option<String>> = line.split('\t').map(|f| field(engine, f)).collect();
        if fields.len() != columns.len() {
            return Err(format!(
                "row {} has {} fields, the header {}",
                n + 1,
                fields.len(),
                columns.len()
            ));
        }
        rows.push(fields);
    }
    Ok(Table { columns, rows })
}

/// One field: NULL, or the text with its backslash escapes undone.
fn field(engine: Engine, raw: &str) -> Option<String> {
    match (engine, raw) {
        (Engine::Mysql, "NULL") | (Engine::Postgres, "\\N") => return None,
        _ => {}
    }
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('0') => out.push('\0'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    Some(out)
}

/// Whether the database's `text` holds the JSON `value`; `None` when such a value is not
/// compared (arrays and objects are no column values).
fn same(value: &Value, text: Option<&str>) -> Option<bool> {
    Some(match (value, text) {
        (Value::Null, t) => t.is_none(),
        (_, None) => false,
        (Value::String(s), Some(t)) => s == t,
        // MariaDB prints a BOOLEAN as 0/1, PostgreSQL as f/t.
        (Value::Bool(b), Some(t)) => match t {
            "1" | "t" | "true" => *b,
            "0" | "f" | "false" => !*b,
            _ => false,
        },
        (Value::Number(n), Some(t)) => match (n.as_f64(), t.parse::<f64>()) {
            (Some(a), Ok(b)) => a == b,
            _ => n.to_string() == t,
        },
        (Value::Array(_) | Value::Object(_), _) => return None,
    })
}

/// What became of one acknowledged write on one database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Finding {
    Intact,
    Missing,
    /// The row is there, but this field holds something else.
    Changed {
        field: String,
        expected: String,
        found: String,
    },
    /// Neither an id nor a field that is a column: nothing to look for.
    Uncheckable,
}

/// Compares every write of the ledger with the table, in ledger order. When several writes
/// name the same id (a PUT after a POST), only the last one's content must still be there.
pub(crate) fn compare(writes: &[Write], table: &Table) -> Vec<Finding> {
    let col = |name: &str| table.columns.iter().position(|c| c == name);
    let id_col = col("id");
    let by_id: HashMap<&str, usize> = match id_col {
        Some(i) => table
            .rows
            .iter()
            .enumerate()
            .filter_map(|(r, row)| Some((row[i].as_deref()?, r)))
            .collect(),
        None => HashMap::new(),
    };
    let last_of_id: HashMap<String, usize> = writes
        .iter()
        .enumerate()
        .filter_map(|(n, w)| Some((w.id_text()?, n)))
        .collect();
    writes
        .iter()
        .enumerate()
        .map(|(n, w)| {
            let fields: Vec<(usize, &str, &Value)> = match &w.content {
                Value::Object(map) => map
                    .iter()
                    .filter(|(k, _)| k.as_str() != "id")
                    .filter_map(|(k, v)| Some((col(k)?, k.as_str(), v)))
                    .filter(|(_, _, v)| !v.is_array() && !v.is_object())
                    .collect(),
                _ => Vec::new(),
            };
            match w.id_text() {
                Some(id) => {
                    let Some(&r) = by_id.get(id.as_str()) else {
                        return Finding::Missing;
                    };
                    if last_of_id.get(&id) != Some(&n) {
                        return Finding::Intact;
                    }
                    for (c, name, value) in fields {
                        let found = table.rows[r][c].as_deref();
                        if same(value, found) == Some(false) {
                            return Finding::Changed {
                                field: name.to_string(),
                                expected: value.to_string(),
                                found: found.map_or("NULL".into(), |f| format!("{f:?}")),
                            };
                        }
                    }
                    Finding::Intact
                }
                None if fields.is_empty() => Finding::Uncheckable,
                // Without an id (an app that returns none), a row with the same fields will do.
                // A scan per write: the fallback, for ledgers of a few thousand writes.
                None => {
                    let matches = |row: &Vec<Option<String>>| {
                        fields
                            .iter()
                            .all(|(c, _, v)| same(v, row[*c].as_deref()) != Some(false))
                    };
                    if table.rows.iter().any(matches) {
                        Finding::Intact
                    } else {
                        Finding::Missing
                    }
                }
            }
        })
        .collect()
}

/// `1234567` as `1,234,567`.
pub(crate) fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The writes no database holds intact, each with every node's finding, and how many writes
/// could not be checked anywhere.
pub(crate) struct Tally<'a> {
    pub(crate) lost: Vec<(&'a Write, Vec<(String, Finding)>)>,
    pub(crate) uncheckable: usize,
}

/// A write is kept when one database holds it intact (see `render`).
pub(crate) fn tally<'a>(writes: &'a [Write], nodes: &[(String, Vec<Finding>)]) -> Tally<'a> {
    let mut t = Tally {
        lost: Vec::new(),
        uncheckable: 0,
    };
    for (n, w) in writes.iter().enumerate() {
        let of = |node: &(String, Vec<Finding>)| node.1.get(n).cloned();
        let all: Vec<(String, Finding)> = nodes
            .iter()
            .filter_map(|node| Some((node.0.clone(), of(node)?)))
            .collect();
        if all.iter().any(|(_, f)| *f == Finding::Intact) {
            continue;
        }
        if all.iter().all(|(_, f)| *f == Finding::Uncheckable) {
            t.uncheckable += 1;
            continue;
        }
        t.lost.push((w, all));
    }
    t
}

/// How many writes to name when some are lost.
const SHOWN: usize = 10;

/// The verdict for the whole ledger, given each node's findings (a write is kept when one
/// database holds it intact); `true` when none is lost.
pub(crate) fn render(writes: &[Write], nodes: &[(String, Vec<Finding>)]) -> (String, bool) {
    let mut out = String::new();
    for (node, findings) in nodes {
        let count = |f: fn(&Finding) -> bool| findings.iter().filter(|x| f(x)).count();
        let _ = writeln!(
            out,
            "{node}: {} intact, {} missing, {} changed, {} not checkable",
            thousands(count(|f| *f == Finding::Intact)),
            thousands(count(|f| *f == Finding::Missing)),
            thousands(count(|f| matches!(f, Finding::Changed { .. }))),
            thousands(count(|f| *f == Finding::Uncheckable)),
        );
    }
    let Tally { lost, uncheckable } = tally(writes, nodes);
    let checkable = writes.len() - uncheckable;
    let _ = writeln!(
        out,
        "{} of {} acknowledged writes lost",
        thousands(lost.len()),
        thousands(checkable)
    );
    if uncheckable > 0 {
        let _ = writeln!(
            out,
            "{} more could not be checked: the answer had no id and no field that is a column",
            thousands(uncheckable)
        );
    }
    for (w, all) in lost.iter().take(SHOWN) {
        let id = w
            .id_text()
            .map_or("no id".to_string(), |i| format!("id {i}"));
        let what: Vec<String> = all
            .iter()
            .map(|(node, f)| match f {
                Finding::Changed {
                    field,
                    expected,
                    found,
                } => format!("on {node} {field} is {found}, expected {expected}"),
                _ => format!("missing on {node}"),
            })
            .collect();
        let _ = writeln!(
            out,
            "  {} {} of stream {} ({id}, acknowledged {}): {}",
            w.method,
            w.seq,
            w.stream,
            w.ts.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            what.join("; ")
        );
    }
    if lost.len() > SHOWN {
        let _ = writeln!(out, "  ... and {} more", thousands(lost.len() - SHOWN));
    }
    (out, lost.is_empty())
}
