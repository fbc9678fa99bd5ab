//! A no-change `up` in one round-trip per node. Each role describes, read-only, what `apply`
//! would find when nothing is to change (every managed file `Current`, its service enabled and
//! active, its links, its schema...); the node runs all its roles' checks in one script. Only
//! when one of them finds anything else does `apply` run, and it checks and reports as always:
//! an edited file, a missing one or a stopped service take exactly the path they took before.

use super::files::{self, ManagedFile, OnNode};
use super::service::{self, Service};
use super::session::Session;
use crate::remote::Remote;

/// Ends each part's output in the node's script.
pub(super) const MARK: &str = "--firedrill-probe-part--";

type Judge = Box<dyn Fn(&[&str]) -> bool + Send + Sync>;

/// One check: a read-only script and whether its output says "in place".
struct Part {
    script: String,
    /// Whether it reads the probe's stdin (at most one part of a node may).
    reads_stdin: bool,
    judge: Judge,
}

/// A role's checks. Built by the role's `probe`.
#[derive(Default)]
pub(super) struct Probe {
    parts: Vec<Part>,
    /// Secrets one part reads on stdin, never on its command line.
    stdin: Option<String>,
}

impl Probe {
    pub(super) fn new() -> Probe {
        Probe::default()
    }

    /// Every file as it should be (`files::judge` says `Current`).
    pub(super) fn files(mut self, files: &[ManagedFile]) -> Probe {
        let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
        let files = files.to_vec();
        self.parts.push(Part {
            script: files::state_script(&paths),
            reads_stdin: false,
            judge: Box::new(move |lines| {
                lines.len() == files.len()
                    && files
                        .iter()
                        .zip(lines)
                        .all(|(f, l)| files::judge(f, l) == OnNode::Current)
            }),
        });
        self
    }

    /// The service enabled for boot and running.
    pub(super) fn service(mut self, s: Service) -> Probe {
        self.parts.push(Part {
            script: service::state_script(s),
            reads_stdin: false,
            judge: Box::new(|lines| lines == ["enabled", "active"]),
        });
        self
    }

    /// `script` prints exactly `expected` (one line per item; nothing for an empty list).
    pub(super) fn prints(mut self, script: String, expected: Vec<String>) -> Probe {
        self.parts.push(Part {
            script,
            reads_stdin: false,
            judge: Box::new(move |lines| lines == expected),
        });
        self
    }

    /// `script` exits 0, reading `stdin` (a login's secret).
    pub(super) fn succeeds(mut self, script: &str, stdin: String) -> Probe {
        self.parts.push(Part {
            script: format!("if ( {script} ) >/dev/null 2>&1; then echo yes; fi"),
            reads_stdin: true,
            judge: Box::new(|lines| lines == ["yes"]),
        });
        self.stdin = Some(stdin);
        self
    }

    /// The roles' checks as one: `None` when two of them need stdin (then `apply` runs).
    pub(super) fn join(probes: Vec<Probe>) -> Option<Probe> {
        let mut all = Probe::new();
        for p in probes {
            if p.stdin.is_some() && all.stdin.is_some() {
                return None;
            }
            all.stdin = all.stdin.or(p.stdin);
            all.parts.extend(p.parts);
        }
        Some(all)
    }

    /// The node's script, at a lower priority than the node's services: each part in a
    /// subshell of its own (a failing part is an answer, not the end), its errors discarded,
    /// then the mark.
    pub(super) fn script(&self) -> String {
        // The node serves while it is checked (a one-vCPU guest under emulation spends seconds
        // on it): the check yields to its services.
        let mut script = String::from("renice -n 10 $$ >/dev/null 2>&1\n");
        for p in &self.parts {
            let input = if p.reads_stdin { "" } else { " </dev/null" };
            script.push_str(&format!(
                "( {} ) 2>/dev/null{input}\necho {MARK}\n",
                p.script
            ));
        }
        script
    }

    /// What the script reads on stdin (a login's secret), if anything.
    pub(super) fn stdin(&self) -> Option<&[u8]> {
        self.stdin.as_deref().map(str::as_bytes)
    }

    /// Whether the script's output says every part is in place.
    pub(super) fn in_place(&self, stdout: &str) -> bool {
        let mut lines = stdout.lines().map(str::trim);
        for p in &self.parts {
            let part: Vec<&str> = lines.by_ref().take_while(|l| *l != MARK).collect();
            if !(p.judge)(&part) {
                return false;
            }
        }
        lines.next().is_none()
    }

    /// Runs the checks on the node: one round-trip. `false` whenever anything is not as it
    /// should be, or the answer cannot be read.
    pub(super) async fn run<R: Remote>(
        &self,
        session: &Session<'_, R>,
    ) -> Result<bool, super::RoleError> {
        let out = session
            .run("check every role in one pass", &self.script(), self.stdin())
            .await?;
        Ok(out.success() && self.in_place(&out.stdout_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, contents: &str) -> ManagedFile {
        ManagedFile {
            path: path.into(),
            contents: contents.into(),
            mode: 0o644,
            owner: "root:root".into(),
        }
    }

    #[test]
    fn every_part_must_be_in_place() {
        let f = file("/etc/a", "a\n");
        let probe = Probe::new()
            .files(std::slice::from_ref(&f))
            .service(Service::single("x.service"))
            .prints("readlink /l".into(), vec!["releases/v1".into()])
            .prints("check-nothing".into(), vec![]);
        let good = format!(
            "{} {}\n{MARK}\nenabled\nactive\n{MARK}\nreleases/v1\n{MARK}\n{MARK}\n",
            f.state_line(),
            f.sha256()
        );
        assert!(probe.in_place(&good));
        for bad in [
            good.replace("enabled", "disabled"),
            good.replace("releases/v1", "releases/v2"),
            good.replace(&f.sha256(), &"1".repeat(64)).replace(
                &f.state_line(),
                &format!("{} 644 root:root", "2".repeat(64)),
            ),
            good.replace(
                &format!("{MARK}\n{MARK}\n"),
                &format!("{MARK}\nuser todo missing\n{MARK}\n"),
            ),
            format!("missing\n{MARK}\nenabled\nactive\n{MARK}\nreleases/v1\n{MARK}\n{MARK}\n"),
            // Cut short: a part that never ended.
            format!("{} none\n{MARK}\nenabled\n", f.state_line()),
            String::new(),
        ] {
            assert!(!probe.in_place(&bad), "{bad}");
        }
    }

    #[test]
    fn at_most_one_part_of_a_node_reads_stdin() {
        let one = Probe::new().succeeds("true", "secret".into());
        let two = Probe::new().succeeds("true", "other".into());
        assert!(Probe::join(vec![one, Probe::new().service(Service::single("a"))]).is_some());
        let one = Probe::new().succeeds("true", "secret".into());
        assert!(Probe::join(vec![one, two]).is_none());
    }

    /// The joined script, run by a real `sh`: each part's output ends at its mark, a failing
    /// part does not stop the others, and only the stdin part reads stdin.
    #[test]
    fn the_script_works_in_a_real_shell() {
        let probe = Probe::join(vec![
            Probe::new().prints("echo one; false".into(), vec!["one".into()]),
            Probe::new().succeeds("read -r pw && [ \"$pw\" = s3cret ]", "s3cret\n".into()),
            Probe::new().prints("cat; echo two".into(), vec!["two".into()]),
        ])
        .expect("one stdin");
        let mut child = std::process::Command::new("sh")
            .arg("-c")
            .arg(probe.script())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("sh runs");
        use std::io::Write;
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(probe.stdin.as_deref().expect("stdin").as_bytes())
            .expect("write");
        let out = child.wait_with_output().expect("sh ends");
        let text = String::from_utf8(out.stdout).expect("utf-8");
        assert_eq!(text, format!("one\n{MARK}\nyes\n{MARK}\ntwo\n{MARK}\n"));
        assert!(probe.in_place(&text));
    }
}
