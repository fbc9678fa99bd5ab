//! The per-lab event log, `labs/NAME/events.jsonl`: one JSON object per line, appended by the
//! fault and lifecycle commands and read, tail -f style, by the mock client so that a learner sees
//! "fault disk-full injected on app1" right beside the second in which the errors started.

use crate::paths::LabDir;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::fs::OpenOptions;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use thiserror::Error;

#[derive(Debug, Error)]
pub(crate) enum EventError {
    #[error(
        "cannot append to the event log {path}: {source}; check that the lab directory exists and is writable"
    )]
    Append {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read the event log {path}: {source}; check its permissions")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot encode event {message:?}: {source}")]
    Encode {
        message: String,
        source: serde_json::Error,
    },
    #[error(
        "line {line:?} in the event log {path} is not an event ({source}); the line is skipped"
    )]
    Malformed {
        path: PathBuf,
        line: String,
        source: serde_json::Error,
    },
}

/// What happened. Kinds this build does not know survive a round trip as `Other`, so an older
/// client can read a log written by a newer fault command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EventKind {
    FaultInjected,
    FaultReverted,
    NodeRebooted,
    NodeStarted,
    LabUp,
    LabDown,
    Other(String),
}

impl EventKind {
    pub(crate) fn as_str(&self) -> &str {
        match self {
            EventKind::FaultInjected => "fault-injected",
            EventKind::FaultReverted => "fault-reverted",
            EventKind::NodeRebooted => "node-rebooted",
            EventKind::NodeStarted => "node-started",
            EventKind::LabUp => "lab-up",
            EventKind::LabDown => "lab-down",
            EventKind::Other(s) => s,
        }
    }

    fn parse(s: &str) -> EventKind {
        match s {
            "fault-injected" => EventKind::FaultInjected,
            "fault-reverted" => EventKind::FaultReverted,
            "node-rebooted" => EventKind::NodeRebooted,
            "node-started" => EventKind::NodeStarted,
            "lab-up" => EventKind::LabUp,
            "lab-down" => EventKind::LabDown,
            other => EventKind::Other(other.to_string()),
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for EventKind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for EventKind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(EventKind::parse(&s))
    }
}

/// One line of the event log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Event {
    #[serde(serialize_with = "ser_ts", deserialize_with = "de_ts")]
    pub(crate) ts: DateTime<Utc>,
    pub(crate) kind: EventKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) node: Option<String>,
    pub(crate) message: String,
}

/// Millisecond precision: enough to line events up with per-second client output, and short
/// enough to read.
fn ser_ts<S: Serializer>(ts: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&ts.to_rfc3339_opts(SecondsFormat::Millis, true))
}

/// Any RFC 3339 time, in any zone, so that a line written by hand (`date -Is`) is read too.
fn de_ts<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
    let s = String::deserialize(d)?;
    DateTime::parse_from_rfc3339(&s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(serde::de::Error::custom)
}

impl Event {
    /// An event that happens now.
    pub(crate) fn now(kind: EventKind, node: Option<&str>, message: impl Into<String>) -> Event {
        Event {
            ts: Utc::now(),
            kind,
            node: node.map(str::to_string),
            message: message.into(),
        }
    }

    /// The JSON line, newline included.
    pub(crate) fn to_line(&self) -> Result<String, EventError> {
        let mut line = serde_json::to_string(self).map_err(|source| EventError::Encode {
            message: self.message.clone(),
            source,
        })?;
        line.push('\n');
        Ok(line)
    }
}

/// Appends one event. The file is opened with O_APPEND and the line goes out in one `write`, so
/// lines from concurrent writers (a fault command and a reboot) do not interleave.
pub(crate) fn append(lab: &LabDir, event: &Event) -> Result<(), EventError> {
    append_to(&lab.events_file(), event)
}

pub(crate) fn append_to(path: &Path, event: &Event) -> Result<(), EventError> {
    let line = event.to_line()?;
    let err = |source| EventError::Append {
        path: path.to_path_buf(),
        source,
    };
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(err)?;
    file.write_all(line.as_bytes()).map_err(err)
}

/// Reads the events appended after a position, like `tail -f`. Only complete lines are
/// returned; a line being written is kept for the next poll. A log that does not exist yet is
/// read from its start once it appears; a log that shrank (rotated by hand) is read again from
/// its start.
#[derive(Debug)]
pub(crate) struct EventTail {
    path: PathBuf,
    pos: u64,
    partial: Vec<u8>,
}

impl EventTail {
    /// Starts at the current end of the log: events from before the client started are history.
    pub(crate) fn from_end(path: PathBuf) -> EventTail {
        let pos = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        EventTail {
            path,
            pos,
            partial: Vec::new(),
        }
    }

    #[cfg(test)]
    pub(crate) fn from_start(path: PathBuf) -> EventTail {
        EventTail {
            path,
            pos: 0,
            partial: Vec::new(),
        }
    }

    /// The events (or unreadable lines) appended since the last poll, in file order.
    pub(crate) fn poll(&mut self) -> Result<Vec<Result<Event, EventError>>, EventError> {
        let read_err = |source| EventError::Read {
            path: self.path.clone(),
            source,
        };
        let mut file = match std::fs::File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(read_err(e)),
        };
        let len = file.metadata().map_err(read_err)?.len();
        if len < self.pos {
            self.pos = 0;
            self.partial.clear();
        }
        if len == self.pos {
            return Ok(Vec::new());
        }
        file.seek(SeekFrom::Start(self.pos)).map_err(read_err)?;
        let mut buf = Vec::new();
        file.read_to_end(&mut buf).map_err(read_err)?;
        self.pos += buf.len() as u64;
        self.partial.extend_from_slice(&buf);
        let Some(last_newline) = self.partial.iter().rposition(|&b| b == b'\n') else {
            return Ok(Vec::new());
        };
        let complete: Vec<u8> = self.partial.drain(..=last_newline).collect();
        Ok(String::from_utf8_lossy(&complete)
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                serde_json::from_str::<Event>(l).map_err(|source| EventError::Malformed {
                    path: self.path.clone(),
                    line: l.to_string(),
                    source,
                })
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::paths::Home;
    use chrono::TimeZone;

    fn event(ms: i64, kind: EventKind, msg: &str) -> Event {
        Event {
            ts: Utc.timestamp_millis_opt(ms).single().expect("valid ts"),
            kind,
            node: Some("app1".into()),
            message: msg.into(),
        }
    }

    #[test]
    fn line_format_is_stable() {
        let e = event(
            1_700_000_000_123,
            EventKind::FaultInjected,
            "fault disk-full injected on app1",
        );
        assert_eq!(
            e.to_line().expect("encodes"),
            "{\"ts\":\"2023-11-14T22:13:20.123Z\",\"kind\":\"fault-injected\",\"node\":\"app1\",\"message\":\"fault disk-full injected on app1\"}\n"
        );
    }

    #[test]
    fn unknown_kind_and_missing_node_round_trip() {
        let line = r#"{"ts":"2024-01-02T03:04:05.006Z","kind":"level-solved","message":"solved"}"#;
        let e: Event = serde_json::from_str(line).expect("parses");
        assert_eq!(e.kind, EventKind::Other("level-solved".into()));
        assert_eq!(e.node, None);
        assert_eq!(e.to_line().expect("encodes"), format!("{line}\n"));
    }

    #[test]
    fn append_then_tail_reads_only_new_complete_lines() {
        let dir = tempfile::tempdir().expect("tempdir");
        let home = Home::at(dir.path());
        let lab = home.lab(&"demo".into());
        std::fs::create_dir_all(lab.dir()).expect("mkdir");
        let before = event(1_000, EventKind::LabUp, "lab demo up");
        append(&lab, &before).expect("append");

        let mut tail = EventTail::from_end(lab.events_file());
        assert!(tail.poll().expect("poll").is_empty());

        let injected = event(2_000, EventKind::FaultInjected, "fault injected");
        append(&lab, &injected).expect("append");
        // Half a line: a writer caught mid-write must not produce a parse error.
        let reverted = event(3_000, EventKind::FaultReverted, "fault reverted");
        let line = reverted.to_line().expect("encodes");
        let (head, rest) = line.split_at(10);
        let path = lab.events_file();
        let mut f = OpenOptions::new().append(true).open(&path).expect("open");
        f.write_all(head.as_bytes()).expect("write");
        let got: Vec<Event> = tail.poll().expect("poll").into_iter().flatten().collect();
        assert_eq!(got, vec![injected]);

        f.write_all(rest.as_bytes()).expect("write");
        f.write_all(b"not json\n").expect("write");
        let got = tail.poll().expect("poll");
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].as_ref().ok(), Some(&reverted));
        assert!(matches!(&got[1], Err(EventError::Malformed { line, .. }) if line == "not json"));
        assert!(tail.poll().expect("poll").is_empty());
    }

    #[test]
    fn tail_waits_for_a_missing_log_and_rereads_a_truncated_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("events.jsonl");
        let mut tail = EventTail::from_end(path.clone());
        assert!(tail.poll().expect("poll").is_empty());
        let first = event(1_000, EventKind::NodeRebooted, "node app1 rebooted");
        append_to(&path, &first).expect("append");
        append_to(&path, &first).expect("append");
        assert_eq!(tail.poll().expect("poll").len(), 2);

        std::fs::write(&path, "").expect("truncate");
        let second = event(2_000, EventKind::LabDown, "down");
        append_to(&path, &second).expect("append");
        let got: Vec<Event> = tail.poll().expect("poll").into_iter().flatten().collect();
        assert_eq!(got, vec![second.clone()]);

        let mut from_start = EventTail::from_start(path);
        let got: Vec<Event> = from_start
            .poll()
            .expect("poll")
            .into_iter()
            .flatten()
            .collect();
        assert_eq!(got, vec![second]);
    }
}
