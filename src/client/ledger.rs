//! `--ledger FILE`: every write the service acknowledged (a 2xx answer to a POST or PUT), one
//! JSON object per line, appended as it comes, so runs add up and a crash loses at most the line
//! being written. `firedrill client verify` reads it back and looks for each write in the lab's
//! database(s): this is how "no data lost" is measured.
//!
//! ```json
//! {"ts":"2024-05-01T14:03:03.120Z","stream":"writer","seq":17,"method":"POST","path":"/todos",
//!  "status":201,"id":42,"content":{"id":42,"name":"task 17 lamp","completed":false}}
//! ```
//!
//! `id` is the answer's `id` field, when it has one (a number or a string); `content` is the
//! whole answer (`null` when it was not JSON).

use super::ClientError;
use super::request::Ack;
use crate::jsonl::BadLine;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fs::File;
use std::path::{Path, PathBuf};

/// One acknowledged write: what the client writes and what `verify` reads, one type for both.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Write {
    #[serde(
        serialize_with = "crate::events::ser_ts",
        deserialize_with = "crate::events::de_ts"
    )]
    pub(crate) ts: DateTime<Utc>,
    pub(crate) stream: String,
    pub(crate) seq: u64,
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) status: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) id: Option<Value>,
    pub(crate) content: Value,
}

impl Write {
    pub(crate) fn new(ack: &Ack, stream: &str, ts: DateTime<Utc>) -> Write {
        let id = ack
            .content
            .get("id")
            .filter(|v| v.is_number() || v.is_string())
            .cloned();
        Write {
            ts,
            stream: stream.to_string(),
            seq: ack.seq,
            method: ack.method.to_string(),
            path: ack.path.clone(),
            status: ack.status,
            id,
            content: ack.content.clone(),
        }
    }

    /// The id as the database prints it: `42` or `abc`.
    pub(crate) fn id_text(&self) -> Option<String> {
        match self.id.as_ref()? {
            Value::String(s) => Some(s.clone()),
            other => Some(other.to_string()),
        }
    }
}

/// The open ledger.
#[derive(Debug)]
pub(crate) struct LedgerFile {
    path: PathBuf,
    file: File,
}

impl LedgerFile {
    /// Opens the ledger for appending, creating it if need be: a ledger spans runs.
    pub(crate) fn open(path: &Path) -> Result<LedgerFile, ClientError> {
        Ok(LedgerFile {
            path: path.to_path_buf(),
            file: crate::jsonl::open(path).map_err(|source| ClientError::LedgerOpen {
                path: path.to_path_buf(),
                source,
            })?,
        })
    }

    pub(crate) fn append(&self, write: &Write) -> Result<(), ClientError> {
        let line = serde_json::to_string(write).unwrap_or_default();
        crate::jsonl::append(&self.file, &line).map_err(|source| ClientError::LedgerWrite {
            path: self.path.clone(),
            source,
        })
    }
}

/// The writes of the ledger at `path`, and the lines that are not one.
pub(crate) fn read(path: &Path) -> std::io::Result<(Vec<Write>, Vec<BadLine>)> {
    let text = std::fs::read_to_string(path)?;
    Ok(crate::jsonl::parse(path, &text, 1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use hyper::Method;
    use serde_json::json;

    fn ts() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 5, 1, 14, 3, 3)
            .single()
            .expect("valid")
            + chrono::Duration::milliseconds(120)
    }

    fn ack(content: Value) -> Ack {
        Ack {
            seq: 17,
            method: Method::POST,
            path: "/todos".into(),
            status: 201,
            content,
        }
    }

    #[test]
    fn the_line_format() {
        let w = Write::new(
            &ack(json!({"id": 42, "name": "task 17 lamp", "completed": false})),
            "writer",
            ts(),
        );
        let line = serde_json::to_string(&w).expect("serializes");
        assert_eq!(
            line,
            r#"{"ts":"2024-05-01T14:03:03.120Z","stream":"writer","seq":17,"method":"POST","path":"/todos","status":201,"id":42,"content":{"completed":false,"id":42,"name":"task 17 lamp"}}"#
        );
        assert_eq!(serde_json::from_str::<Write>(&line).expect("parses"), w);
        assert_eq!(w.id_text().as_deref(), Some("42"));
        // Without an id (an app that does not return one), or with a text id.
        let w = Write::new(&ack(json!({"name": "x"})), "default", ts());
        assert_eq!(w.id, None);
        assert!(!serde_json::to_string(&w).expect("ser").contains("\"id\""));
        let w = Write::new(&ack(json!({"id": "a-1"})), "default", ts());
        assert_eq!(w.id_text().as_deref(), Some("a-1"));
        let w = Write::new(&ack(Value::Null), "default", ts());
        assert_eq!((w.id, w.content), (None, Value::Null));
    }

    #[test]
    fn runs_append_and_a_torn_line_is_named() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let path = tmp.path().join("ledger.jsonl");
        let w = Write::new(&ack(json!({"id": 1, "name": "a"})), "writer", ts());
        LedgerFile::open(&path)
            .expect("open")
            .append(&w)
            .expect("append");
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .and_then(|mut f| std::io::Write::write_all(&mut f, b"{\"ts\":"))
            .expect("tear");
        LedgerFile::open(&path)
            .expect("reopen")
            .append(&w)
            .expect("append");
        let (writes, bad) = read(&path).expect("read");
        assert_eq!(writes, vec![w.clone(), w]);
        assert_eq!(bad.len(), 1);
        assert_eq!(bad[0].line, 2);
    }
}
