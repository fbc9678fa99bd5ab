//! Files a role owns on a node. A file is written only when its content, mode or owner differ
//! from what is there, and the check for all files of a role is one round-trip.
//!
//! Each write leaves the content's sha256 in `RECORDS` on the node, so a later `up` can tell a
//! file firedrill wrote (it updates it) from one the learner edited since (it leaves that one
//! alone and says so, unless `up --force`).

use super::error::RoleError;
use super::session::{Session, quote};
use crate::remote::Remote;
use sha2::{Digest, Sha256};

/// A file as it should be on the node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ManagedFile {
    pub(super) path: String,
    pub(super) contents: String,
    pub(super) mode: u32,
    /// `user:group`.
    pub(super) owner: String,
}

impl ManagedFile {
    /// The line `state_script` prints for this file when the node already has it right.
    pub(super) fn state_line(&self) -> String {
        format!("{} {:o} {}", self.sha256(), self.mode, self.owner)
    }

    pub(super) fn sha256(&self) -> String {
        hex::encode(Sha256::digest(self.contents.as_bytes()))
    }
}

/// Where the node keeps the sha256 of what firedrill last wrote to each managed file: one file
/// per path, named by the path with `/` as `%`.
pub(super) const RECORDS: &str = "/var/lib/firedrill/written";

pub(super) fn record_path(path: &str) -> String {
    format!("{RECORDS}/{}", path.replace('/', "%"))
}

/// Prints one line per path: `SHA256 MODE USER:GROUP WRITTEN` (WRITTEN: the sha256 firedrill
/// last wrote there, or `none`), or `missing`. One `sha256sum` and one `stat` for all the paths
/// and an `awk` to line them up: under emulation each process a node starts costs tens of
/// milliseconds, and a loop that started several per file cost seconds per node.
pub(super) fn state_script(paths: &[&str]) -> String {
    let quoted: Vec<String> = paths.iter().map(|p| quote(p)).collect();
    let records: Vec<String> = paths.iter().map(|p| quote(&record_path(p))).collect();
    let files = quoted.join(" ");
    format!(
        "{{ printf '%s\\n' {files}; echo @; sha256sum -- {files} 2>/dev/null; echo @; \
         stat -c '%a %U:%G %n' -- {files} 2>/dev/null; echo @; \
         for r in {records}; do w=none; [ -f \"$r\" ] && read -r w < \"$r\"; echo \"${{w:-none}}\"; done; }} | \
         awk {STATE_AWK}",
        records = records.join(" "),
    )
}

/// Found in `state_script`'s command and in no other (`fresh`).
pub(super) const STATE_MARK: &str = "; sha256sum -- ";

/// What a node fresh from the golden image answers to a `state_script` command: every file
/// `missing`. A file the image's packages put there (haproxy.cfg) has no record of firedrill's,
/// so `judge` finds it `Stale` as it finds a missing one, and the role writes it all the same.
/// The paths are counted by their records in the command.
pub(super) fn fresh_state(command: &str) -> crate::remote::Output {
    let paths = command.matches(&format!("{RECORDS}/%")).count();
    crate::remote::Output {
        status: 0,
        stdout: "missing\n".repeat(paths).into_bytes(),
        stderr: Vec::new(),
    }
}

/// Reads the paths, `sha256sum`'s lines, `stat`'s lines and the records, each part ended by
/// `@`, and prints a line per path in order.
const STATE_AWK: &str = "'$0 == \"@\" { part++; i = 0; next }
part == 0 { path[++n] = $0; next }
part == 1 { sha[substr($0, 67)] = $1; next }
part == 2 { st[substr($0, length($1) + length($2) + 3)] = $1 \" \" $2; next }
part == 3 { written[++i] = $0 }
END { for (i = 1; i <= n; i++) { p = path[i]
  if ((p in sha) && (p in st)) print sha[p] \" \" st[p] \" \" written[i]; else print \"missing\" } }'";

/// What the node has at a managed file's path, from its `state_script` line.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum OnNode {
    /// As it should be.
    Current,
    /// Missing, or as firedrill wrote it some time (an older plan), or of unknown origin.
    Stale,
    /// Its content is neither what it should be nor what firedrill last wrote: edited there.
    Edited,
}

pub(super) fn judge(file: &ManagedFile, line: &str) -> OnNode {
    let line = line.trim();
    if line == "missing" {
        return OnNode::Stale;
    }
    // SHA256 MODE USER:GROUP [WRITTEN]
    let fields: Vec<&str> = line.split_whitespace().collect();
    let state = fields.get(..3).map(|f| f.join(" ")).unwrap_or_default();
    if state == file.state_line() {
        return OnNode::Current;
    }
    let content = fields.first().copied().unwrap_or_default();
    let written = fields.get(3).copied().unwrap_or("none");
    if written != "none" && content != written && content != file.sha256() {
        OnNode::Edited
    } else {
        OnNode::Stale
    }
}

/// The script that records that firedrill just wrote `file` (see `RECORDS`).
pub(super) fn record_script(file: &ManagedFile) -> String {
    format!(
        "mkdir -p {RECORDS} && printf %s {} > {}",
        file.sha256(),
        quote(&record_path(&file.path))
    )
}

/// Writes `path` on the node atomically, content on stdin (`ssh::upload`: the one way files
/// reach a node), then runs `then` (as root) if given.
pub(super) async fn upload<R: Remote>(
    session: &Session<'_, R>,
    step: &str,
    path: &str,
    contents: &str,
    mode: u32,
    owner: &str,
    then: Option<&str>,
) -> Result<(), RoleError> {
    crate::ssh::upload(
        session.remote(),
        path,
        contents.as_bytes(),
        mode,
        owner,
        then,
    )
    .await
    .map_err(|source| RoleError::Remote {
        node: session.node().to_string(),
        step: step.to_string(),
        source,
    })
}

/// Brings one config file up to date through a staged copy: the file goes to `staged`, then
/// `install` (which checks it with the service's own checker, moves it in place and records the
/// write, or puts the old one back) runs as root. Returns whether it changed. The haproxy and
/// nginx roles use it.
pub(super) async fn sync_checked<R: Remote>(
    session: &mut Session<'_, R>,
    role: &str,
    file: &ManagedFile,
    staged: &str,
    install: &str,
) -> Result<bool, RoleError> {
    let step = format!("{role}: files");
    let differ = differing(session, &step, std::slice::from_ref(file)).await?;
    let changed = differ.first().copied().unwrap_or(true);
    if changed {
        upload(
            session,
            &step,
            staged,
            &file.contents,
            file.mode,
            &file.owner,
            None,
        )
        .await?;
        session
            .ok(
                &format!("{role}: check the new configuration"),
                install,
                None,
            )
            .await?;
        session.changed(format!("{} updated", file.path));
    }
    Ok(changed)
}

/// For each file, whether to write it: the node's copy differs from it (missing counts as
/// differing) and was not edited there. Edited files are left (and reported in the session)
/// unless the session overwrites edits.
pub(super) async fn differing<R: Remote>(
    session: &mut Session<'_, R>,
    step: &str,
    files: &[ManagedFile],
) -> Result<Vec<bool>, RoleError> {
    let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
    let script = state_script(&paths);
    let out = session.ok(step, &script, None).await?;
    let text = out.stdout_str();
    let lines: Vec<&str> = text.lines().collect();
    if lines.len() != files.len() {
        return Err(session.unexpected(
            step,
            &script,
            format!(
                "expected {} lines (one per file), got {}",
                files.len(),
                lines.len()
            ),
        ));
    }
    let mut out = Vec::new();
    for (file, line) in files.iter().zip(lines) {
        out.push(match judge(file, line) {
            OnNode::Current => false,
            OnNode::Stale => true,
            OnNode::Edited if session.overwrites_edits() => {
                session.say(&format!(
                    "{} was edited on the node: overwriting it (--force)",
                    file.path
                ));
                true
            }
            OnNode::Edited => {
                session.left_edited(&file.path);
                false
            }
        });
    }
    Ok(out)
}

/// Brings every file up to date and returns, for each, whether it was written.
pub(super) async fn sync<R: Remote>(
    session: &mut Session<'_, R>,
    step: &str,
    files: &[ManagedFile],
) -> Result<Vec<bool>, RoleError> {
    let differ = differing(session, step, files).await?;
    let stale: Vec<&ManagedFile> = files
        .iter()
        .zip(&differ)
        .filter(|(_, differs)| **differs)
        .map(|(f, _)| f)
        .collect();
    // Every file that differs in one command; each records what the node got.
    let records: Vec<String> = stale.iter().map(|f| record_path(&f.path)).collect();
    let uploads: Vec<crate::ssh::Upload> = stale
        .iter()
        .zip(&records)
        .map(|(f, record)| crate::ssh::Upload {
            path: &f.path,
            contents: f.contents.as_bytes(),
            mode: f.mode,
            owner: &f.owner,
            checksum_to: Some(record),
        })
        .collect();
    crate::ssh::upload_all(session.remote(), &uploads, None)
        .await
        .map_err(|source| RoleError::Remote {
            node: session.node().to_string(),
            step: step.to_string(),
            source,
        })?;
    for f in stale {
        session.changed(format!("{} updated", f.path));
    }
    Ok(differ)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_line_matches_what_sha256sum_and_stat_print() {
        let f = ManagedFile {
            path: "/etc/x".into(),
            contents: "hello\n".into(),
            mode: 0o640,
            owner: "root:todo".into(),
        };
        // sha256 of "hello\n", as `sha256sum` prints it.
        assert_eq!(
            f.state_line(),
            "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03 640 root:todo"
        );
    }

    #[test]
    fn the_state_script_starts_one_hash_and_one_stat_for_every_path() {
        let script = state_script(&["/etc/a", "/etc/b c"]);
        assert!(
            script.starts_with(
                "{ printf '%s\\n' /etc/a '/etc/b c'; echo @; sha256sum -- /etc/a '/etc/b c' 2>/dev/null; echo @; \
                 stat -c '%a %U:%G %n' -- /etc/a '/etc/b c' 2>/dev/null; echo @; \
                 for r in /var/lib/firedrill/written/%etc%a '/var/lib/firedrill/written/%etc%b c'; do"
            ),
            "{script}"
        );
        assert_eq!(script.matches("sha256sum").count(), 1);
        assert_eq!(script.matches("stat -c").count(), 1);
    }

    #[test]
    fn a_fresh_node_has_none_of_the_files_of_a_state_script() {
        for paths in [vec!["/etc/a"], vec!["/etc/a", "/etc/b c", "/opt/x/it's"]] {
            let command = format!("sh -c {}", quote(&state_script(&paths)));
            assert!(command.contains(STATE_MARK));
            assert_eq!(
                fresh_state(&command).stdout_str(),
                "missing\n".repeat(paths.len())
            );
        }
    }

    #[test]
    fn a_file_is_edited_only_when_it_is_neither_wanted_nor_what_firedrill_wrote() {
        let f = ManagedFile {
            path: "/etc/x".into(),
            contents: "hello\n".into(),
            mode: 0o640,
            owner: "root:todo".into(),
        };
        let want = f.sha256();
        let old = "1".repeat(64);
        let other = "2".repeat(64);
        let line =
            |sha: &str, mode: &str, written: &str| format!("{sha} {mode} root:todo {written}");
        assert_eq!(judge(&f, &line(&want, "640", &want)), OnNode::Current);
        assert_eq!(judge(&f, &line(&want, "640", "none")), OnNode::Current);
        assert_eq!(judge(&f, "missing"), OnNode::Stale);
        // firedrill's own older content: a plan change, updated.
        assert_eq!(judge(&f, &line(&old, "640", &old)), OnNode::Stale);
        // Right content, wrong mode: fixed, not an edit.
        assert_eq!(judge(&f, &line(&want, "600", &old)), OnNode::Stale);
        // No record (written by an older firedrill): firedrill's.
        assert_eq!(judge(&f, &line(&other, "640", "none")), OnNode::Stale);
        assert_eq!(judge(&f, &line(&other, "640", &old)), OnNode::Edited);
    }

    /// Runs both scripts with a real `sh` on this host (as the current user, in a temp dir) so
    /// the quoting and the printed format are proven, not assumed.
    #[test]
    fn state_and_upload_scripts_work_in_a_real_shell() {
        let dir = std::env::temp_dir().join(format!("firedrill-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("conf file");
        let owner = format!(
            "{}:{}",
            sh("id -un", None).trim(),
            sh("id -gn", None).trim()
        );
        let file = ManagedFile {
            path: path.to_str().expect("utf-8 temp path").to_string(),
            contents: "it's\ncontent\n".into(),
            mode: 0o640,
            owner,
        };

        assert_eq!(sh(&state_script(&[&file.path]), None), "missing\n");
        let absent = dir.join("absent");
        let absent = absent.to_str().expect("utf-8");
        // As `sync` sends them: two files in one command, each recording what it got (here
        // in the temp dir), then a `then` (here: a marker file).
        let marker = dir.join("then ran");
        let record = dir.join("records/conf file");
        let second_path = dir.join("second");
        let second = ManagedFile {
            path: second_path.to_str().expect("utf-8").to_string(),
            contents: "no final newline".into(),
            ..file.clone()
        };
        let uploads: Vec<crate::ssh::Upload> = [(&file, record.to_str()), (&second, None)]
            .into_iter()
            .map(|(f, checksum_to)| crate::ssh::Upload {
                path: &f.path,
                contents: f.contents.as_bytes(),
                mode: f.mode,
                owner: &f.owner,
                checksum_to,
            })
            .collect();
        let then = format!("touch {}", quote(marker.to_str().expect("utf-8")));
        sh(
            &crate::ssh::upload_script(&uploads, Some(&then)),
            Some(&crate::ssh::upload_stdin(&uploads)),
        );
        assert!(marker.exists(), "`then` runs after good writes");
        std::fs::remove_file(&marker).expect("remove marker");
        assert_eq!(
            std::fs::read_to_string(&path).expect("uploaded"),
            file.contents
        );
        assert_eq!(
            std::fs::read_to_string(&second_path).expect("uploaded"),
            second.contents
        );
        assert_eq!(
            sh(&state_script(&[&second.path]), None),
            format!("{} none\n", second.state_line())
        );
        std::fs::remove_file(&second_path).expect("remove second");
        // Missing paths keep their place in the lines.
        assert_eq!(
            sh(&state_script(&[absent, &file.path, absent]), None),
            format!("missing\n{} none\nmissing\n", file.state_line())
        );
        // The record the node wrote is the sha256 of what it got: read where `state_script`
        // looks (here in the temp dir), the file is firedrill's and current.
        assert_eq!(
            std::fs::read_to_string(&record).expect("recorded"),
            file.sha256()
        );
        let script = state_script(&[&file.path]).replace(
            &quote(&record_path(&file.path)),
            &quote(record.to_str().expect("utf-8")),
        );
        assert_eq!(
            sh(&script, None),
            format!("{} {}\n", file.state_line(), file.sha256())
        );
        std::fs::remove_dir_all(dir.join("records")).expect("remove records");
        // No temp file is left behind next to the target.
        let left: Vec<_> = std::fs::read_dir(&dir).expect("dir").collect();
        assert_eq!(left.len(), 1);
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }

    fn sh(script: &str, stdin: Option<&[u8]>) -> String {
        use std::io::Write;
        use std::process::{Command, Stdio};
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("sh runs");
        if let Some(input) = stdin {
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(input)
                .expect("write stdin");
        }
        drop(child.stdin.take());
        let out = child.wait_with_output().expect("sh finishes");
        assert!(out.status.success(), "script failed: {script}");
        String::from_utf8(out.stdout).expect("utf-8")
    }
}
