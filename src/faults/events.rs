//! Appending to the lab's event log (`events.jsonl`), which the mock client shows beside its
//! per-second report.
//!
//! INTEGRATOR: this is a stand-in with the same line format as `crate::events` on branch
//! `client`. Once that is merged, replace `append_event` with
//! `events::append(dir, &Event::now(kind, Some(node), message))` and delete this file.

use super::FaultError;
use crate::paths::LabDir;
use std::io::Write;

/// The event kinds faults write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EventKind {
    FaultInjected,
    FaultReverted,
    NodeRebooted,
}

impl EventKind {
    fn as_str(self) -> &'static str {
        match self {
            EventKind::FaultInjected => "fault-injected",
            EventKind::FaultReverted => "fault-reverted",
            EventKind::NodeRebooted => "node-rebooted",
        }
    }
}

/// Appends one JSON line. O_APPEND with a single write, so concurrent writers never interleave
/// within a line.
pub(crate) fn append_event(
    dir: &LabDir,
    kind: EventKind,
    node: &str,
    message: &str,
) -> Result<(), FaultError> {
    let path = dir.events_file();
    let line = serde_json::json!({
        "ts": super::text::rfc3339_now(),
        "kind": kind.as_str(),
        "node": node,
        "message": message,
    });
    let mut text = line.to_string();
    text.push('\n');
    let err = |source| FaultError::Event {
        path: path.clone(),
        source,
    };
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(err)?;
    file.write_all(text.as_bytes()).map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::testing::lab_dir;

    #[test]
    fn appends_one_json_line_per_event() {
        let (_tmp, lab) = lab_dir();
        std::fs::create_dir_all(lab.dir()).unwrap();
        append_event(
            &lab,
            EventKind::FaultInjected,
            "app1",
            "fault disk-full injected on app1",
        )
        .unwrap();
        append_event(&lab, EventKind::NodeRebooted, "app1", "app1 reset").unwrap();
        let text = std::fs::read_to_string(lab.events_file()).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["kind"], "fault-injected");
        assert_eq!(lines[0]["node"], "app1");
        assert_eq!(lines[0]["message"], "fault disk-full injected on app1");
        assert_eq!(lines[1]["kind"], "node-rebooted");
        let ts = lines[0]["ts"].as_str().unwrap();
        // 2024-05-01T12:00:00.250Z
        assert_eq!(ts.len(), 24, "{ts}");
        assert!(ts.ends_with('Z') && ts.as_bytes()[19] == b'.', "{ts}");
    }
}
