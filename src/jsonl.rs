//! Append-only JSON-lines logs: a lab's `events.jsonl`, `scores.jsonl` and the mock client's
//! report. A crash can cut a line off mid-write, leaving a file that does not end in '\n'. The
//! next append then starts on a new line, so the torn piece spoils only itself; readers name
//! every line they cannot use, with its file and line number, instead of dropping it silently.

use serde::de::DeserializeOwned;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Opens (creating) a log for `append`.
pub(crate) fn open(path: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(path)
}

/// Appends `line` (one JSON value, no newline) to the log at `path`.
pub(crate) fn append_to(path: &Path, line: &str) -> std::io::Result<()> {
    append(&open(path)?, line)
}

/// Appends `line` to a log opened by `open`, in one `write` (O_APPEND), so concurrent writers
/// never interleave. If the file does not end in '\n' (a writer died mid-line), a newline goes
/// first. An exclusive `flock` on the file makes that check and the write one step for every
/// writer of the log; readers do not take it.
pub(crate) fn append(file: &File, line: &str) -> std::io::Result<()> {
    let _lock = Flock::exclusive(file)?;
    let len = file.metadata()?.len();
    let mut out = Vec::with_capacity(line.len() + 2);
    if len > 0 {
        let mut last = [0u8; 1];
        file.read_exact_at(&mut last, len - 1)?;
        if last[0] != b'\n' {
            out.push(b'\n');
        }
    }
    out.extend_from_slice(line.as_bytes());
    out.push(b'\n');
    let mut writer = file;
    writer.write_all(&out)
}

/// An exclusive advisory lock on an open file, released when dropped (or when the process dies).
struct Flock<'a>(&'a File);

impl<'a> Flock<'a> {
    fn exclusive(file: &'a File) -> std::io::Result<Flock<'a>> {
        // SAFETY: flock on a descriptor this `File` owns for the guard's whole life.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Flock(file))
    }
}

impl Drop for Flock<'_> {
    fn drop(&mut self) {
        // SAFETY: as above; closing the descriptor would release it too.
        unsafe { libc::flock(self.0.as_raw_fd(), libc::LOCK_UN) };
    }
}

/// A line of a log that is not a record: torn by a crash, unfinished, or edited by hand.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}:{line}: {what}; the line is left out", file.display())]
pub(crate) struct BadLine {
    pub file: PathBuf,
    /// 1-based.
    pub line: usize,
    pub what: String,
}

/// The records of `text`, the contents of the log `file` from line `first_line` on, and every
/// line that is not one. Blank lines are no records and no problem.
pub(crate) fn parse<T: DeserializeOwned>(
    file: &Path,
    text: &str,
    first_line: usize,
) -> (Vec<T>, Vec<BadLine>) {
    let mut records = Vec::new();
    let mut bad = Vec::new();
    let unfinished = !text.is_empty() && !text.ends_with('\n');
    let count = text.lines().count();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let last_unfinished = unfinished && i + 1 == count;
        match parse_line(file, first_line + i, line, last_unfinished) {
            Ok(record) => records.push(record),
            Err(b) => bad.push(b),
        }
    }
    (records, bad)
}

/// Line `number` of the log `file`; `unfinished` when no newline ends it (yet).
pub(crate) fn parse_line<T: DeserializeOwned>(
    file: &Path,
    number: usize,
    line: &str,
    unfinished: bool,
) -> Result<T, BadLine> {
    serde_json::from_str::<T>(line).map_err(|e| BadLine {
        file: file.to_path_buf(),
        line: number,
        what: if unfinished {
            "the last line is unfinished (cut off by a crash, or still being written)".to_string()
        } else {
            format!("not a whole record ({e}): a crash cut it off mid-write, or it was edited")
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_append_after_a_torn_line_starts_on_a_new_line() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("log.jsonl");
        append_to(&path, r#"{"n":1}"#).unwrap();
        // A writer killed mid-line.
        let file = open(&path).unwrap();
        (&file).write_all(br#"{"n":"#).unwrap();
        append(&file, r#"{"n":3}"#).unwrap();
        append_to(&path, r#"{"n":4}"#).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, "{\"n\":1}\n{\"n\":\n{\"n\":3}\n{\"n\":4}\n");
        let (records, bad) = parse::<serde_json::Value>(&path, &text, 1);
        let ns: Vec<i64> = records.iter().filter_map(|r| r["n"].as_i64()).collect();
        assert_eq!(ns, [1, 3, 4]);
        assert_eq!(
            bad.iter().map(ToString::to_string).collect::<Vec<_>>(),
            [format!(
                "{}:2: not a whole record (EOF while parsing a value at line 1 column 5): a crash cut it off mid-write, or it was edited; the line is left out",
                path.display()
            )]
        );
    }

    #[test]
    fn an_unfinished_last_line_is_named_as_such() {
        let (records, bad) =
            parse::<serde_json::Value>(Path::new("log.jsonl"), "{}\n\n{}\n{\"a\":", 10);
        assert_eq!(records.len(), 2);
        assert_eq!(
            bad.iter().map(ToString::to_string).collect::<Vec<_>>(),
            [
                "log.jsonl:13: the last line is unfinished (cut off by a crash, or still being written); the line is left out"
            ]
        );
    }
}
