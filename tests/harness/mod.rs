//! A sandbox for tests that boot VMs: a network namespace with its own libvirtd and virtlogd,
//! a temporary FIREDRILL_HOME, and cleanup (down, stop daemons by PID, delete the namespace)
//! in `Drop`, so a failing test leaves nothing behind.

use crate::exe::Exe;
use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Output {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
    pub what: String,
}

impl Output {
    #[track_caller]
    pub fn assert_success(&self, step: &str) {
        assert_eq!(
            self.status, 0,
            "{step} failed: `{}` exited {}\n--- stdout\n{}\n--- stderr\n{}",
            self.what, self.status, self.stdout, self.stderr
        );
    }
}

#[derive(Debug)]
pub struct Http {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Http {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

pub struct Sandbox {
    pub ns: String,
    home: PathBuf,
    images: PathBuf,
    /// Where scripts/libvirtd-ns keeps the daemons' PID files.
    run_dir: PathBuf,
}

fn run(cmd: &mut Command) -> Output {
    let what = format!("{cmd:?}");
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    Output {
        status: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        what,
    }
}

fn root() -> PathBuf {
    crate::exe::repository()
}

fn run_exe(exe: Exe) -> Output {
    let what = exe.describe();
    let out = exe.output();
    Output {
        status: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        what,
    }
}

impl Sandbox {
    /// Creates the namespace and starts the daemons in it.
    pub fn start(tag: &str) -> Sandbox {
        assert!(
            std::env::var("USER").map(|u| u == "root").unwrap_or(false) || is_root(),
            "the end-to-end tests boot VMs and must run as root (scripts/test as root)"
        );
        assert!(
            run(Command::new("virsh").args(["-c", "qemu:///system", "version"])).status != 0,
            "a libvirtd is already running on this host (qemu:///system answers); stop it first: \
             the VM tests start their own, inside a network namespace"
        );
        let ns = format!("fde2e-{tag}");
        let run_dir = PathBuf::from(format!("/run/{ns}"));
        let home = std::env::temp_dir().join(format!("{ns}-home"));
        let _ = std::fs::remove_dir_all(&home);
        std::fs::create_dir_all(&home).expect("create FIREDRILL_HOME");
        let images = std::env::var_os("FIREDRILL_IMAGES")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/var/cache/firedrill/images"));
        // Built before anything is started, so a failure from here on is cleaned up by Drop.
        let sb = Sandbox {
            ns,
            home,
            images,
            run_dir,
        };
        // A previous run that was killed may have left its daemons (stopped by the PIDs it
        // recorded) and its namespace.
        let _ = sb.libvirtd_ns("stop");
        let _ = run(Command::new("ip").args(["netns", "del", &sb.ns]));
        // The tests run under TCG, so the script starts libvirtd where it cannot see /dev/kvm:
        // one that sees an unusable /dev/kvm re-probes QEMU on every define and lookup.
        sb.libvirtd_ns("start")
            .assert_success("scripts/libvirtd-ns start");
        // A run that was killed may have left this lab's objects in libvirt's persistent config.
        let _ = sb.firedrill(&["down", "--lab", tag]);
        sb
    }

    /// Starts or stops this sandbox's libvirtd and virtlogd (stopping is by their PID files).
    fn libvirtd_ns(&self, action: &str) -> Output {
        let run_dir = self.run_dir.to_string_lossy();
        run(Command::new(root().join("scripts/libvirtd-ns"))
            .args([action, &self.ns, &run_dir])
            .env("FIREDRILL_ACCEL", "tcg"))
    }

    pub fn home(&self) -> &Path {
        &self.home
    }

    pub fn lab_file(&self, lab: &str, name: &str) -> String {
        self.home
            .join("labs")
            .join(lab)
            .join(name)
            .to_string_lossy()
            .into_owned()
    }

    /// Builds the golden image if the cache does not hold a current one. This runs outside the
    /// namespace: debootstrap needs the Debian mirror, and no VM traffic is involved.
    pub fn ensure_image(&self) {
        let out = run_exe(self.cli().args(["image", "build", "--name", "debian-12"]));
        out.assert_success("image build");
    }

    /// firedrill outside the namespace, at the sandbox's libvirtd.
    fn cli(&self) -> Exe {
        Exe::new(&self.home).system(&self.images)
    }

    /// Starts firedrill in this process's own network namespace (not the sandbox's), for
    /// commands that bridge the two, such as `forward`. The caller stops it by its handle.
    pub fn spawn_outside(&self, args: &[&str]) -> std::process::Child {
        eprintln!("$ firedrill {} (outside the namespace)", args.join(" "));
        // Its stderr shows in the test's output: it says why a connection was not bridged.
        self.cli()
            .args(args)
            .spawn_to(std::process::Stdio::null(), std::process::Stdio::inherit())
    }

    /// firedrill inside the namespace, as `firedrill` and `spawn` run it.
    pub fn in_ns(&self, args: &[&str]) -> Exe {
        Exe::in_netns(&self.ns, &self.home)
            .system(&self.images)
            .args(args)
    }

    /// Starts firedrill inside the namespace without waiting (its output discarded), for a
    /// command that must run beside another. The caller waits for it by its handle.
    pub fn spawn(&self, args: &[&str]) -> std::process::Child {
        eprintln!("$ firedrill {} (in the background)", args.join(" "));
        self.in_ns(args).spawn_quiet()
    }

    /// Runs firedrill inside the namespace.
    pub fn firedrill(&self, args: &[&str]) -> Output {
        let out = run_exe(self.in_ns(args));
        eprintln!(
            "$ firedrill {}\n{}{}",
            args.join(" "),
            out.stdout,
            out.stderr
        );
        out
    }

    /// One HTTP request from inside the namespace (curl), with a 10 s limit.
    pub fn http(&self, method: &str, url: &str, json: Option<&str>) -> Http {
        let mut args = vec!["curl", "-s", "-i", "-m", "10", "-X", method];
        if let Some(body) = json {
            args.extend([
                "-H",
                "Content-Type: application/json",
                "--data-binary",
                body,
            ]);
        }
        args.push(url);
        let out = self.run_in_ns(&args);
        let text = out.stdout.replace("\r\n", "\n");
        let (head, body) = text.split_once("\n\n").unwrap_or((&text, ""));
        let mut lines = head.lines();
        let status = lines
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect();
        Http {
            status,
            headers,
            body: body.to_string(),
        }
    }

    /// As `run_in_ns`, with stdin read from the file `input`.
    pub fn run_in_ns_with_input(&self, args: &[&str], input: &Path) -> Output {
        let file = std::fs::File::open(input)
            .unwrap_or_else(|e| panic!("cannot open {}: {e}", input.display()));
        run(Command::new("ip")
            .args(["netns", "exec", &self.ns])
            .args(args)
            .stdin(file))
    }

    pub fn run_in_ns(&self, args: &[&str]) -> Output {
        run(Command::new("ip")
            .args(["netns", "exec", &self.ns])
            .args(args))
    }
}

/// QEMU processes whose command line mentions `dir` (their disks live there).
fn qemu_pids_using(dir: &Path) -> Vec<u32> {
    let needle = dir.to_string_lossy().into_owned();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return vec![];
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| {
                    let c = String::from_utf8_lossy(&c);
                    c.contains("qemu-system") && c.contains(&needle)
                })
                .unwrap_or(false)
        })
        .collect()
}

fn is_root() -> bool {
    // /proc/self/status carries the real uid without a libc call.
    std::fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        // Remove every lab left in this sandbox's home, then the daemons, then the namespace.
        if let Ok(entries) = std::fs::read_dir(self.home.join("labs")) {
            for e in entries.flatten() {
                let lab = e.file_name().to_string_lossy().into_owned();
                // --force: a failed fault test may leave faults active, which `down` refuses.
                let _ = self.firedrill(&["down", "--force", "--lab", &lab]);
            }
        }
        // Any QEMU still running from this sandbox (a `down` that failed) is ours: stop it by PID.
        for pid in qemu_pids_using(&self.home) {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        }
        let stop = self.libvirtd_ns("stop");
        if stop.status != 0 {
            eprintln!("{}: {}{}", stop.what, stop.stdout, stop.stderr);
        }
        let _ = run(Command::new("ip").args(["netns", "del", &self.ns]));
        let _ = std::fs::remove_dir_all(&self.run_dir);
        let _ = std::fs::remove_dir_all(&self.home);
    }
}
