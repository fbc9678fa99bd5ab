//! Shell helpers built on `Remote::run`, so they work the same over SSH and against the
//! scripted fake: quoting, running as root, uploading a file.

use crate::remote::{Remote, RemoteError};

/// Shell-quotes one argument for POSIX `sh`. Plain words are left alone so commands stay
/// readable in logs; anything else is single-quoted, with `'` written as `'\''`.
pub(crate) fn quote(arg: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_-+=.,/:@%".contains(c);
    if !arg.is_empty() && arg.chars().all(plain) {
        return arg.to_string();
    }
    format!("'{}'", arg.replace('\'', r"'\''"))
}

/// `command` as a `sh -c` script run by root: through `sudo -n` (never prompting: the lab user
/// has passwordless sudo, and a prompt would hang) unless the login user already is root.
/// stdin passes through to the script.
pub(crate) fn as_root(remote: &impl Remote, command: &str) -> String {
    if remote.needs_sudo() {
        format!("sudo -n sh -c {}", quote(command))
    } else {
        format!("sh -c {}", quote(command))
    }
}

/// The script `upload` runs as root. The data arrives on stdin, never in the command: it may
/// be a secret, and command lines are visible to every user of the node (`ps`). The temp file
/// is made by mktemp (mode 0600) in the target's directory, so nobody else can read it, and
/// `mv` is a rename on the same file system: readers see the old file or the new one.
pub(crate) fn upload_script(path: &str, mode: u32, owner: &str) -> String {
    // `path` is absolute (checked by `upload`), so `dir` is "" for a file directly under /.
    let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
    let template = format!("{dir}/.{name}.firedrill-XXXXXX");
    format!(
        "set -e\n\
         tmp=$(mktemp {template})\n\
         trap 'rm -f \"$tmp\"' EXIT\n\
         cat > \"$tmp\"\n\
         chown {owner} \"$tmp\"\n\
         chmod {mode:o} \"$tmp\"\n\
         mv -f \"$tmp\" {path}\n\
         trap - EXIT\n",
        template = quote(&template),
        owner = quote(owner),
        path = quote(path),
    )
}

/// Uploads `contents` to `path` on the node as root with `mode` and `owner` (`root:root`),
/// atomically (temp file + mv). The parent directory must exist.
/// Then runs `then` (as root, in the same command, only if the write succeeded).
pub(crate) async fn upload(
    remote: &impl Remote,
    path: &str,
    contents: &[u8],
    mode: u32,
    owner: &str,
    then: Option<&str>,
) -> Result<(), RemoteError> {
    let refuse = |message: String| RemoteError {
        node: remote.node().to_string(),
        message,
    };
    if !path.starts_with('/') || path.ends_with('/') {
        return Err(refuse(format!(
            "cannot upload to {path:?}: the destination must be an absolute file path"
        )));
    }
    if mode > 0o7777 {
        return Err(refuse(format!(
            "cannot upload {path}: {mode:o} is not a file mode (at most 7777 octal)"
        )));
    }
    let script = match then {
        // The upload script runs under `set -e`: `then` runs only if the write succeeded.
        Some(then) => format!("{}{then}\n", upload_script(path, mode, owner)),
        None => upload_script(path, mode, owner),
    };
    let command = as_root(remote, &script);
    let output = remote.run(&command, Some(contents)).await?;
    if output.success() {
        return Ok(());
    }
    Err(refuse(format!(
        "uploading {path} failed (exit {}): {}; check that its directory exists, that owner \
         {owner:?} exists on the node and that the login user has passwordless sudo",
        output.status,
        output.stderr_tail(5)
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remote::fake::{FakeRemote, exit, ok, prefix};

    #[test]
    fn quote_leaves_plain_words_and_quotes_the_rest() {
        assert_eq!(
            quote("/etc/haproxy/haproxy.cfg"),
            "/etc/haproxy/haproxy.cfg"
        );
        assert_eq!(quote("root:root"), "root:root");
        assert_eq!(quote(""), "''");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), r"'it'\''s'");
        assert_eq!(quote("$(reboot)"), "'$(reboot)'");
        assert_eq!(quote("*"), "'*'");
        assert_eq!(quote("a\nb"), "'a\nb'");
    }

    #[test]
    fn quote_round_trips_through_sh() {
        let nasty = "it's \"$HOME\" `id` \\ * ? ; | & > < ~ \n\t end ''";
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("printf %s {}", quote(nasty)))
            .output()
            .unwrap();
        assert_eq!(String::from_utf8(out.stdout).unwrap(), nasty);
    }

    #[test]
    fn as_root_uses_sudo_only_when_needed() {
        let lab = FakeRemote::new("web");
        assert_eq!(as_root(&lab, "id -u"), "sudo -n sh -c 'id -u'");
        let root = FakeRemote::new("web").logged_in_as_root();
        assert_eq!(as_root(&root, "id -u"), "sh -c 'id -u'");
    }

    const SCRIPT: &str = "set -e\n\
        tmp=$(mktemp /etc/mysql/.secret.cnf.firedrill-XXXXXX)\n\
        trap 'rm -f \"$tmp\"' EXIT\n\
        cat > \"$tmp\"\n\
        chown root:mysql \"$tmp\"\n\
        chmod 640 \"$tmp\"\n\
        mv -f \"$tmp\" /etc/mysql/secret.cnf\n\
        trap - EXIT\n";

    #[tokio::test]
    async fn upload_sends_data_on_stdin_never_in_the_command() {
        let node = FakeRemote::new("db").on(prefix("sudo -n sh -c "), ok(""));
        upload(
            &node,
            "/etc/mysql/secret.cnf",
            b"password=hunter2\n",
            0o640,
            "root:mysql",
            None,
        )
        .await
        .unwrap();
        let calls = node.calls();
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].command, format!("sudo -n sh -c {}", quote(SCRIPT)));
        assert_eq!(calls[0].stdin.as_deref(), Some(&b"password=hunter2\n"[..]));
        assert!(!calls[0].command.contains("hunter2"));
    }

    #[tokio::test]
    async fn upload_failure_names_path_status_and_stderr() {
        let node = FakeRemote::new("db").on(
            prefix("sudo -n sh -c "),
            exit(
                1,
                "mktemp: failed to create file via template: No such file or directory\n",
            ),
        );
        let err = upload(&node, "/nope/x.cfg", b"", 0o644, "root:root", None)
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "db: uploading /nope/x.cfg failed (exit 1): mktemp: failed to create file via \
             template: No such file or directory; check that its directory exists, that owner \
             \"root:root\" exists on the node and that the login user has passwordless sudo"
        );
    }

    #[tokio::test]
    async fn upload_refuses_relative_paths_and_bad_modes_without_running_anything() {
        let node = FakeRemote::new("db");
        let err = upload(&node, "etc/x", b"", 0o644, "root:root", None)
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "db: cannot upload to \"etc/x\": the destination must be an absolute file path"
        );
        let err = upload(&node, "/etc/x", b"", 0o17777, "root:root", None)
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "db: cannot upload /etc/x: 17777 is not a file mode (at most 7777 octal)"
        );
        assert!(node.calls().is_empty());
    }
}
