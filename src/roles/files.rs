//! Files a role owns on a node. A file is written only when its content, mode or owner differ
//! from what is there, and the check for all files of a role is one round-trip.

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
        format!(
            "{} {:o} {}",
            hex::encode(Sha256::digest(self.contents.as_bytes())),
            self.mode,
            self.owner
        )
    }
}

/// Prints one line per path: `SHA256 MODE USER:GROUP`, or `missing`.
pub(super) fn state_script(paths: &[&str]) -> String {
    let quoted: Vec<String> = paths.iter().map(|p| quote(p)).collect();
    format!(
        "for f in {}; do if [ -f \"$f\" ]; then h=$(sha256sum < \"$f\") && \
         echo \"${{h%% *}} $(stat -c '%a %U:%G' \"$f\")\"; else echo missing; fi; done",
        quoted.join(" ")
    )
}

/// Writes `path` on the node atomically, content on stdin (`ssh::upload`: the one way files
/// reach a node).
pub(super) async fn upload<R: Remote>(
    session: &Session<'_, R>,
    step: &str,
    path: &str,
    contents: &str,
    mode: u32,
    owner: &str,
) -> Result<(), RoleError> {
    crate::ssh::upload(session.remote(), path, contents.as_bytes(), mode, owner)
        .await
        .map_err(|source| RoleError::Remote {
            node: session.node().to_string(),
            step: step.to_string(),
            source,
        })
}

/// For each file, whether the node's copy differs from it (missing counts as differing).
pub(super) async fn differing<R: Remote>(
    session: &Session<'_, R>,
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
    Ok(files
        .iter()
        .zip(lines)
        .map(|(file, line)| line.trim() != file.state_line())
        .collect())
}

/// Brings every file up to date and returns, for each, whether it was written.
pub(super) async fn sync<R: Remote>(
    session: &mut Session<'_, R>,
    step: &str,
    files: &[ManagedFile],
) -> Result<Vec<bool>, RoleError> {
    let differ = differing(session, step, files).await?;
    for (file, differs) in files.iter().zip(&differ) {
        if *differs {
            upload(
                session,
                step,
                &file.path,
                &file.contents,
                file.mode,
                &file.owner,
            )
            .await?;
            session.changed(format!("{} updated", file.path));
        }
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
    fn the_state_script_checks_every_path_in_one_loop() {
        assert_eq!(
            state_script(&["/etc/a", "/etc/b c"]),
            "for f in /etc/a '/etc/b c'; do if [ -f \"$f\" ]; then h=$(sha256sum < \"$f\") && \
             echo \"${h%% *} $(stat -c '%a %U:%G' \"$f\")\"; else echo missing; fi; done"
        );
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
        sh(
            &crate::ssh::upload_script(&file.path, file.mode, &file.owner),
            Some(file.contents.as_bytes()),
        );
        assert_eq!(
            std::fs::read_to_string(&path).expect("uploaded"),
            file.contents
        );
        assert_eq!(
            sh(&state_script(&[&file.path]), None),
            format!("{}\n", file.state_line())
        );
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
