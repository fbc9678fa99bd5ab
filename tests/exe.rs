//! `Exe`: the one way the integration tests run the firedrill executable. It starts from the
//! repository (so `labs/` resolves) with the test's own FIREDRILL_HOME; a test adds which
//! libvirt it talks to (`test_driver`, or `system` in a sandbox's network namespace through
//! `in_netns`) and its arguments, then takes the output or the running child.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

pub struct Exe(Command);

pub fn repository() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

impl Exe {
    /// firedrill in this process's network namespace, with `home` as FIREDRILL_HOME.
    pub fn new(home: &Path) -> Exe {
        Exe::start(Command::new(env!("CARGO_BIN_EXE_firedrill")), home)
    }

    /// firedrill inside network namespace `ns` (as root), with `home` as FIREDRILL_HOME.
    pub fn in_netns(ns: &str, home: &Path) -> Exe {
        let mut ip = Command::new("ip");
        ip.args(["netns", "exec", ns, env!("CARGO_BIN_EXE_firedrill")]);
        Exe::start(ip, home)
    }

    fn start(mut cmd: Command, home: &Path) -> Exe {
        cmd.current_dir(repository()).env("FIREDRILL_HOME", home);
        Exe(cmd)
    }

    /// libvirt's test driver (no daemon, no VM), TCG, the image cache inside the home, and
    /// only the shipped levels (no FIREDRILL_LEVELS or FIREDRILL_EXERCISES from the caller).
    pub fn test_driver(mut self) -> Exe {
        self.0
            .env_remove("FIREDRILL_IMAGES")
            .env_remove("FIREDRILL_LEVELS")
            .env_remove("FIREDRILL_EXERCISES")
            .env("LIBVIRT_DEFAULT_URI", "test:///default")
            .env("FIREDRILL_ACCEL", "tcg");
        self
    }

    /// The system libvirtd (in a sandbox: its own, in its namespace) and the golden images
    /// in `images`.
    pub fn system(mut self, images: &Path) -> Exe {
        self.0
            .env("FIREDRILL_IMAGES", images)
            .env("LIBVIRT_DEFAULT_URI", "qemu:///system");
        self
    }

    pub fn args<S: AsRef<OsStr>>(mut self, args: impl IntoIterator<Item = S>) -> Exe {
        self.0.args(args);
        self
    }

    pub fn env(mut self, key: &str, value: impl AsRef<OsStr>) -> Exe {
        self.0.env(key, value);
        self
    }

    pub fn env_remove(mut self, key: &str) -> Exe {
        self.0.env_remove(key);
        self
    }

    pub fn current_dir(mut self, dir: &Path) -> Exe {
        self.0.current_dir(dir);
        self
    }

    /// Runs it to the end, stdin empty.
    pub fn output(mut self) -> Output {
        self.0
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run firedrill: {e}"))
    }

    /// Starts it with stdin empty and stdout and stderr piped.
    pub fn spawn(self) -> Child {
        self.spawn_to(Stdio::piped(), Stdio::piped())
    }

    /// Starts it with stdin empty and its output discarded.
    pub fn spawn_quiet(self) -> Child {
        self.spawn_to(Stdio::null(), Stdio::null())
    }

    /// Starts it with stdin empty and its output where the caller says.
    pub fn spawn_to(mut self, stdout: Stdio, stderr: Stdio) -> Child {
        self.0
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start firedrill: {e}"))
    }

    /// The command as it would run, for a message.
    pub fn describe(&self) -> String {
        format!("{:?}", self.0)
    }
}
