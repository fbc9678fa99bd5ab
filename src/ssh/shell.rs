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

/// One file for `upload_all`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Upload<'a> {
    /// Absolute; its directory must exist.
    pub(crate) path: &'a str,
    pub(crate) contents: &'a [u8],
    pub(crate) mode: u32,
    /// `user:group` (or `user`: its own group); names or numbers.
    pub(crate) owner: &'a str,
    /// Where the node also writes the sha256 (hex, no newline) of what it wrote, if anywhere:
    /// computed there, so it is that of the bytes the node got.
    pub(crate) checksum_to: Option<&'a str>,
}

/// Ends each file on `upload_all`'s stdin. A file that contains it is refused.
const END_OF_FILE: &str = "\n--firedrill-end-of-file--\n";

/// The writer `upload_all` runs as root: one process for every file, however many (under
/// emulation each process a node starts costs a tenth of a second or more, and a shell upload
/// started seven per file). Python is on every node: cloud-init runs on it. Each file goes to a
/// new temp file (0600, in the target's directory), gets its owner and mode, and is renamed
/// over the target: readers see the old file or the new one, and a failed write leaves no temp
/// file behind. Its arguments are PATH MODE OWNER CHECKSUM-PATH (`-` for none) per file; the
/// contents come on stdin, each ended by `END_OF_FILE`.
const WRITER: &str = r#"import grp, hashlib, os, pwd, sys
END = b"\n--firedrill-end-of-file--\n"
def ids(owner):
    u, _, g = owner.partition(":")
    uid = int(u) if u.isdigit() else pwd.getpwnam(u).pw_uid
    if not g:
        return uid, pwd.getpwuid(uid).pw_gid
    return uid, int(g) if g.isdigit() else grp.getgrnam(g).gr_gid
args = sys.argv[1:]
files = [args[i:i + 4] for i in range(0, len(args), 4)]
parts = sys.stdin.buffer.read().split(END)
if len(parts) != len(files) + 1 or parts[-1]:
    sys.exit("the files arrived cut short: %d of %d" % (len(parts) - 1, len(files)))
for (path, mode, owner, checksum), data in zip(files, parts):
    tmp = None
    try:
        uid, gid = ids(owner)
        d, name = os.path.split(path)
        new = os.path.join(d or "/", "." + name + ".firedrill-" + os.urandom(6).hex())
        fd = os.open(new, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        tmp = new
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chown(tmp, uid, gid)
        os.chmod(tmp, int(mode, 8))
        os.rename(tmp, path)
        tmp = None
        if checksum != "-":
            os.makedirs(os.path.dirname(checksum), exist_ok=True)
            with open(checksum, "w") as f:
                f.write(hashlib.sha256(data).hexdigest())
    except (OSError, KeyError) as e:
        sys.exit("%s: %s" % (path, e.strerror if isinstance(e, OSError) and e.strerror else e))
    finally:
        if tmp:
            os.unlink(tmp)
"#;

/// The script `upload_all` runs as root (under `set -e`: `then` runs only if every write
/// succeeded). The data arrives on stdin, never in the command: it may be a secret, and
/// command lines are visible to every user of the node (`ps`).
pub(crate) fn upload_script(files: &[Upload], then: Option<&str>) -> String {
    let mut script = format!("set -e\npython3 -I -S -c {}", quote(WRITER));
    for f in files {
        script.push_str(&format!(
            " {} {:o} {} {}",
            quote(f.path),
            f.mode,
            quote(f.owner),
            quote(f.checksum_to.unwrap_or("-"))
        ));
    }
    script.push('\n');
    if let Some(then) = then {
        script.push_str(then);
        script.push('\n');
    }
    script
}

/// What `upload_all` sends on stdin: each file's contents, then `END_OF_FILE`.
pub(crate) fn upload_stdin(files: &[Upload]) -> Vec<u8> {
    let mut data = Vec::new();
    for f in files {
        data.extend_from_slice(f.contents);
        data.extend_from_slice(END_OF_FILE.as_bytes());
    }
    data
}

/// Fails the test, showing the script, unless dash (the nodes' /bin/sh) parses `script`.
#[cfg(test)]
pub(crate) fn assert_sh_parses(script: &str) {
    let out = std::process::Command::new("dash")
        .args(["-n", "-c", script])
        .output()
        .expect("dash is installed");
    assert!(
        out.status.success(),
        "dash cannot parse:\n{script}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// What `upload_all` sends on stdin for one file with `contents`.
#[cfg(test)]
pub(crate) fn uploaded(contents: &str) -> String {
    format!("{contents}{END_OF_FILE}")
}

/// Uploads `files` as root in one command, each atomically (temp file + rename) with its mode
/// and owner, then runs `then` (as root, in the same command, only if every write succeeded).
/// Nothing runs when one of them cannot be uploaded (a relative path, a bad mode).
pub(crate) async fn upload_all(
    remote: &impl Remote,
    files: &[Upload<'_>],
    then: Option<&str>,
) -> Result<(), RemoteError> {
    let refuse = |message: String| RemoteError {
        node: remote.node().to_string(),
        message,
    };
    for f in files {
        let path = f.path;
        if !path.starts_with('/') || path.ends_with('/') {
            return Err(refuse(format!(
                "cannot upload to {path:?}: the destination must be an absolute file path"
            )));
        }
        if f.mode > 0o7777 {
            return Err(refuse(format!(
                "cannot upload {path}: {:o} is not a file mode (at most 7777 octal)",
                f.mode
            )));
        }
        let end = END_OF_FILE.as_bytes();
        if f.contents.windows(end.len()).any(|w| w == end) {
            return Err(refuse(format!(
                "cannot upload {path}: it contains the line {:?}, which ends a file in an upload",
                END_OF_FILE.trim()
            )));
        }
    }
    if files.is_empty() {
        return Ok(());
    }
    let command = as_root(remote, &upload_script(files, then));
    let output = remote.run(&command, Some(&upload_stdin(files))).await?;
    if output.success() {
        return Ok(());
    }
    let paths: Vec<&str> = files.iter().map(|f| f.path).collect();
    let mut owners: Vec<&str> = files.iter().map(|f| f.owner).collect();
    owners.dedup();
    let (its, owner) = if files.len() == 1 {
        (
            "its directory exists",
            format!("owner {:?} exists", owners[0]),
        )
    } else {
        (
            "their directories exist",
            format!("owners {owners:?} exist"),
        )
    };
    Err(refuse(format!(
        "uploading {} failed (exit {}): {}; check that {its}, that {owner} on the node and \
         that the login user has passwordless sudo",
        paths.join(", "),
        output.status,
        output.stderr_tail(5)
    )))
}

/// Uploads `contents` to `path` on the node as root with `mode` and `owner` (`root:root`),
/// atomically (temp file + rename): `upload_all` with one file. The parent directory must
/// exist. Then runs `then` (as root, in the same command, only if the write succeeded).
pub(crate) async fn upload(
    remote: &impl Remote,
    path: &str,
    contents: &[u8],
    mode: u32,
    owner: &str,
    then: Option<&str>,
) -> Result<(), RemoteError> {
    let file = Upload {
        path,
        contents,
        mode,
        owner,
        checksum_to: None,
    };
    upload_all(remote, &[file], then).await
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
        let file = Upload {
            path: "/etc/mysql/secret.cnf",
            contents: b"",
            mode: 0o640,
            owner: "root:mysql",
            checksum_to: None,
        };
        let script = upload_script(&[file], None);
        assert!(
            script.ends_with(" /etc/mysql/secret.cnf 640 root:mysql -\n"),
            "{script}"
        );
        assert_eq!(
            calls[0].command,
            format!("sudo -n sh -c {}", quote(&script))
        );
        assert_eq!(
            calls[0].stdin_str().as_deref(),
            Some(uploaded("password=hunter2\n").as_str())
        );
        assert!(!calls[0].command.contains("hunter2"));
    }

    /// Runs the writer with a real `sh` and `python3` on this host, in a temp dir: several files
    /// in one go, each with its mode and checksum; a failure names the file, leaves no temp
    /// file and stops before `then`.
    #[test]
    fn the_writer_writes_each_file_atomically_and_stops_at_the_first_failure() {
        let dir = std::env::temp_dir().join(format!("firedrill-writer-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = |n: &str| dir.join(n).to_str().unwrap().to_string();
        let owner = String::from_utf8(
            std::process::Command::new("id")
                .arg("-u")
                .output()
                .unwrap()
                .stdout,
        )
        .unwrap()
        .trim()
        .to_string();
        let (a, b, sum, missing, marker) = (p("a b"), p("it's"), p("sums/a"), p("no/c"), p("then"));
        let run = |files: &[Upload]| {
            use std::io::Write;
            let then = format!("touch {}", quote(&marker));
            let mut child = std::process::Command::new("sh")
                .arg("-c")
                .arg(upload_script(files, Some(&then)))
                .stdin(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            child
                .stdin
                .take()
                .unwrap()
                .write_all(&upload_stdin(files))
                .unwrap();
            let out = child.wait_with_output().unwrap();
            (
                out.status.code(),
                String::from_utf8_lossy(&out.stderr).to_string(),
            )
        };
        let file = |path, contents: &'static [u8], mode, checksum_to| Upload {
            path,
            contents,
            mode,
            owner: &owner,
            checksum_to,
        };
        let good = [
            file(&a, b"first\n--firedrill-end\n", 0o640, Some(sum.as_str())),
            file(&b, b"no final newline", 0o600, None),
        ];
        assert_eq!(run(&good), (Some(0), String::new()));
        assert_eq!(std::fs::read(&a).unwrap(), b"first\n--firedrill-end\n");
        assert_eq!(std::fs::read(&b).unwrap(), b"no final newline");
        use std::os::unix::fs::PermissionsExt;
        let mode = |f: &str| std::fs::metadata(f).unwrap().permissions().mode() & 0o7777;
        assert_eq!((mode(&a), mode(&b)), (0o640, 0o600));
        let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(
            b"first\n--firedrill-end\n",
        ));
        assert_eq!(std::fs::read_to_string(&sum).unwrap(), sha);
        assert!(std::path::Path::new(&marker).exists());
        std::fs::remove_file(&marker).unwrap();

        let bad = [
            file(&a, b"second\n", 0o644, None),
            file(&missing, b"x", 0o644, None),
        ];
        let (code, stderr) = run(&bad);
        assert_eq!(code, Some(1));
        assert_eq!(
            stderr.trim(),
            format!("{missing}: No such file or directory")
        );
        assert_eq!(std::fs::read(&a).unwrap(), b"second\n");
        assert!(!std::path::Path::new(&marker).exists(), "`then` ran");
        // Nothing but the files: every temp file was renamed or removed.
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .collect();
        names.sort();
        assert_eq!(names, ["a b", "it's", "sums"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn a_file_holding_the_end_of_file_line_is_refused_before_anything_runs() {
        let node = FakeRemote::new("db");
        let contents = format!("a{END_OF_FILE}b");
        let err = upload(
            &node,
            "/etc/x",
            contents.as_bytes(),
            0o644,
            "root:root",
            None,
        )
        .await
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "db: cannot upload /etc/x: it contains the line \"--firedrill-end-of-file--\", \
             which ends a file in an upload"
        );
        assert!(node.calls().is_empty());
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
