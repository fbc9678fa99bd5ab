//! The per-lab event log, `labs/NAME/events.jsonl`: one JSON object per line, appended by the
//! fault and lifecycle commands and read, tail -f style, by the mock client so that a learner sees
//! "fault disk-full injected on app1" right beside the second in which the errors started.

use crate::paths::LabDir;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::io::{Read, Seek, SeekFrom};
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
    #[error("event log {0}")]
    Malformed(crate::jsonl::BadLine),
}

/// What happened. Kinds this build does not know survive a round trip as `Other`, so an older
/// client can read a log written by a newer fault command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EventKind {
    FaultInjected,
    FaultReverted,
    NodeRebooted,
    NodeStarted,
    NodeRemoved,
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
            EventKind::NodeRemoved => "node-removed",
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
            "node-removed" => EventKind::NodeRemoved,
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

impl From<&str> for EventKind {
    fn from(s: &str) -> EventKind {
        EventKind::parse(s)
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
pub(crate) fn ser_ts<S: Serializer>(ts: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&ts.to_rfc3339_opts(SecondsFormat::Millis, true))
}

/// Any RFC 3339 time, in any zone, so that a line written by hand (`date -Is`) is read too.
pub(crate) fn de_ts<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
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

    /// The JSON line, without its newline.
    pub(crate) fn to_line(&self) -> Result<String, EventError> {
        serde_json::to_string(self).map_err(|source| EventError::Encode {
            message: self.message.clone(),
            source,
        })
    }
}

/// Appends one event (see `jsonl::append`: one `write`, after a newline if a crash tore the
/// last line), so lines from concurrent writers (a fault command and a reboot) do not mix.
pub(crate) fn append(lab: &LabDir, event: &Event) -> Result<(), EventError> {
    append_to(&lab.events_file(), event)
}

pub(crate) fn append_to(path: &Path, event: &Event) -> Result<(), EventError> {
    let line = event.to_line()?;
    crate::jsonl::append_to(path, &line).map_err(|source| EventError::Append {
        path: path.to_path_buf(),
        source,
    })
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
    /// Complete lines before `pos`, so a bad line is named by its number.
    lines: usize,
}

impl EventTail {
    /// Starts at the current end of the log: events from before the client started are history.
    /// A torn last line counts as a line: the next append starts after it.
    pub(crate) fn from_end(path: PathBuf) -> EventTail {
        let (pos, lines) = std::fs::File::open(&path)
            .map(|f| count_lines(std::io::BufReader::new(f)))
            .unwrap_or((0, 0));
        EventTail {
            path,
            pos,
            partial: Vec::new(),
            lines,
        }
    }

    #[cfg(test)]
    pub(crate) fn from_start(path: PathBuf) -> EventTail {
        EventTail {
            path,
            pos: 0,
            partial: Vec::new(),
            lines: 0,
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
            self.lines = 0;
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
        let text = String::from_utf8_lossy(&complete);
        let lines: Vec<&str> = text.lines().collect();
        let first = self.lines + 1;
        self.lines += lines.len();
        Ok(lines
            .iter()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| {
                crate::jsonl::parse_line(&self.path, first + i, l, false)
                    .map_err(EventError::Malformed)
            })
            .collect())
    }
}

/// The length of a log and the newlines in it: the number of the line after them, minus one.
fn count_lines(mut r: impl std::io::BufRead) -> (u64, usize) {
    let (mut len, mut lines) = (0u64, 0usize);
    while let Ok(buf) = r.fill_buf() {
        if buf.is_empty() {
            break;
        }
        let n = buf.len();
        lines += buf.iter().filter(|&&b| b == b'\n').count();
        r.consume(n);
        len += n as u64;
    }
    (len, lines)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::paths::Home;
    use chrono::TimeZone;
    use std::fs::OpenOptions;
    use std::io::Write;

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
            "{\"ts\":\"2023-11-14T22:13:20.123Z\",\"kind\":\"fault-injected\",\"node\":\"app1\",\"message\":\"fault disk-full injected on app1\"}"
        );
    }

    #[test]
    fn unknown_kind_and_missing_node_round_trip() {
        let line = r#"{"ts":"2024-01-02T03:04:05.006Z","kind":"level-solved","message":"solved"}"#;
        let e: Event = serde_json::from_str(line).expect("parses");
        assert_eq!(e.kind, EventKind::Other("level-solved".into()));
        assert_eq!(e.node, None);
        assert_eq!(e.to_line().expect("encodes"), line);
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
        let line = reverted.to_line().expect("encodes") + "\n";
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
        let bad = got[1].as_ref().expect_err("not json");
        assert_eq!(
            bad.to_string(),
            format!(
                "event log {}:4: not a whole record (expected ident at line 1 column 2): a crash cut it off mid-write, or it was edited; the line is left out",
                path.display()
            )
        );
        assert!(tail.poll().expect("poll").is_empty());
    }

    /// A writer killed mid-line: the next event starts on a line of its own, and a tail that
    /// started after the torn piece names it by its line number.
    #[test]
    fn an_event_after_a_torn_line_is_read_and_the_torn_line_reported() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("events.jsonl");
        let first = event(1_000, EventKind::LabUp, "lab demo up");
        append_to(&path, &first).expect("append");
        let torn = event(2_000, EventKind::FaultInjected, "fault injected")
            .to_line()
            .expect("encodes");
        let mut f = OpenOptions::new().append(true).open(&path).expect("open");
        f.write_all(&torn.as_bytes()[..20]).expect("write");
        let mut tail = EventTail::from_end(path.clone());
        let next = event(3_000, EventKind::FaultReverted, "fault reverted");
        append_to(&path, &next).expect("append");
        let got = tail.poll().expect("poll");
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(got[0].as_ref().ok(), Some(&next));
        let mut from_start = EventTail::from_start(path.clone());
        let got = from_start.poll().expect("poll");
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].as_ref().ok(), Some(&first));
        assert_eq!(
            got[1].as_ref().expect_err("torn").to_string(),
            format!(
                "event log {}:2: not a whole record (EOF while parsing a string at line 1 column 20): a crash cut it off mid-write, or it was edited; the line is left out",
                path.display()
            )
        );
        assert_eq!(got[2].as_ref().ok(), Some(&next));
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
