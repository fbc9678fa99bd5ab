//! Test helpers shared by the fault kinds' tests: a lab directory, nodes, a fake host, and a
//! way to run a node script on this machine.

use super::engine::{Engine, Host};
use super::record::{FaultRecord, Store};
use super::{Fault, FaultError, Kind};
use crate::paths::{Home, LabDir};
use crate::plan::NodePlan;
use crate::remote::Output;
use crate::remote::fake::FakeRemote;
use crate::spec::Role;
use std::sync::Mutex;

pub(crate) fn lab_dir() -> (tempfile::TempDir, LabDir) {
    let tmp = tempfile::tempdir().expect("temp dir");
    let lab = Home::at(tmp.path()).lab(&"three-tier".into());
    std::fs::create_dir_all(lab.dir()).expect("lab dir");
    (tmp, lab)
}

/// A node of lab three-tier as planned, with `roles`, at 10.78.0.11.
pub(crate) fn node(name: &str, roles: &[Role]) -> NodePlan {
    let mut n = crate::plan::testing::node(name, roles);
    n.domain.name = format!("fd-three-tier-{name}");
    n.domain.network = "fd-three-tier-lan".into();
    n.domain.memory_mib = 448;
    n.domain.cpus = 1;
    n.ip = "10.78.0.11".parse().expect("ip");
    n.fqdn = format!("{name}.three-tier.lab");
    n.mac = "52:54:00:00:00:02".into();
    n
}

/// gw, the dns node of a split-horizon lab, with a view of each name for dmz's nodes.
pub(crate) fn gw_with_views(names: &[&str]) -> NodePlan {
    let mut gw = node("gw", &[Role::Router, Role::Dns]);
    gw.options
        .push(crate::roles::RoleOptions::Dns(crate::roles::DnsOptions {
            clients: vec!["app1".into()],
            ttl: 300,
            views: names
                .iter()
                .map(|n| crate::roles::DnsView {
                    name: n.to_string(),
                    networks: vec!["dmz".into()],
                    cidrs: vec!["10.85.0.0/24".parse().expect("cidr")],
                    records: vec![("www".into(), "10.85.0.10".parse().expect("ip"))],
                })
                .collect(),
        }));
    gw
}

pub(crate) fn app1() -> NodePlan {
    node("app1", &[Role::App])
}

/// `kind` built for `node` with these `--param`s.
pub(crate) fn build(
    kind: &str,
    node: &NodePlan,
    params: &[(&str, &str)],
) -> Result<Fault, FaultError> {
    let given: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Kind::find(kind)?.fault(node, &given)
}

pub(crate) fn disk_full_fault() -> Fault {
    build("disk-full", &app1(), &[]).expect("disk-full builds")
}

/// The command `as_root` makes of `script` for the lab user.
pub(crate) fn sudo(script: &str) -> String {
    format!("sudo -n sh -c {}", crate::ssh::quote(script))
}

/// Records resets instead of calling libvirt; host scripts go to a scripted fake shell.
pub(crate) struct FakeHost {
    pub(crate) resets: Mutex<Vec<(String, String)>>,
    pub(crate) fail: bool,
    pub(crate) shell: FakeRemote,
}

impl Default for FakeHost {
    fn default() -> Self {
        FakeHost {
            resets: Mutex::new(Vec::new()),
            fail: false,
            shell: FakeRemote::new("host").logged_in_as_root(),
        }
    }
}

impl Host for FakeHost {
    async fn reset(&self, node: &str, domain: &str) -> Result<(), FaultError> {
        self.resets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((node.to_string(), domain.to_string()));
        if self.fail {
            return Err(FaultError::Reset {
                node: node.to_string(),
                source: crate::hypervisor::HvError::Call {
                    action: "reset domain",
                    object: domain.to_string(),
                    message: "domain is not running".to_string(),
                },
            });
        }
        Ok(())
    }

    async fn run(&self, script: &str, stdin: Option<&[u8]>) -> Result<Output, FaultError> {
        use crate::remote::Remote;
        Ok(self.shell.run(script, stdin).await?)
    }
}

/// A lab, its store, a fake node and a fake host, wired into an engine by `engine()`.
pub(crate) struct Bench {
    pub(crate) _tmp: tempfile::TempDir,
    pub(crate) lab: LabDir,
    pub(crate) store: Store,
    pub(crate) host: FakeHost,
}

impl Bench {
    pub(crate) fn new() -> Bench {
        let (tmp, lab) = lab_dir();
        let store = Store::new(&lab);
        Bench {
            _tmp: tmp,
            lab,
            store,
            host: FakeHost::default(),
        }
    }

    pub(crate) fn engine<'a>(
        &'a self,
        remote: &'a FakeRemote,
        domain: &'a str,
    ) -> Engine<'a, FakeRemote, FakeHost> {
        Engine {
            lab: &self.lab,
            store: &self.store,
            remote,
            host: &self.host,
            domain,
        }
    }

    /// The event log's (kind, message) pairs.
    pub(crate) fn events(&self) -> Vec<(String, String)> {
        std::fs::read_to_string(self.lab.events_file())
            .unwrap_or_default()
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).expect("event JSON");
                (
                    v["kind"].as_str().unwrap_or_default().to_string(),
                    v["message"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect()
    }

    /// The record as stored, as a fresh process would read it after a crash.
    pub(crate) fn stored(&self, id: &str) -> FaultRecord {
        self.store.load(id).expect("load").expect("record exists")
    }
}

/// A script's `key=value` output as the fault kinds read it (for tests outside `faults`).
pub(crate) fn fields(text: &str) -> super::text::Fields {
    super::text::Fields::parse(text)
}

/// Runs `script` with `sh` on this machine (as the node would, without sudo).
pub(crate) fn sh(script: &str) -> Output {
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(script)
        .output()
        .expect("run sh");
    Output {
        status: out.status.code().map_or(255, |c| c as u32),
        stdout: out.stdout,
        stderr: out.stderr,
    }
}

/// Whether this test process is root (the scripts that chown or mount need it).
pub(crate) fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// A Python program started as systemd would start a hog (bash `exec -a`, program on stdin),
/// in its own process group so the test can stop it and its children by that group alone.
pub(crate) struct Spawned {
    child: std::process::Child,
}

impl Spawned {
    pub(crate) fn python(title: &str, source: &str) -> Spawned {
        use std::io::Write;
        use std::os::unix::process::CommandExt;
        let mut child = std::process::Command::new("/bin/bash")
            .arg("-c")
            .arg(format!(
                "exec -a {} /usr/bin/python3",
                crate::ssh::quote(title)
            ))
            .stdin(std::process::Stdio::piped())
            .process_group(0)
            .spawn()
            .expect("start bash");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(source.as_bytes())
            .expect("write the program");
        Spawned { child }
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// PIDs in the group whose /proc/PID/comm is `comm`.
    pub(crate) fn group_members(&self, comm: &str) -> Vec<u32> {
        let pgid = self.pid().to_string();
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return vec![];
        };
        entries
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
            .filter(|pid| {
                let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
                // Fields after the `(comm)`: state ppid pgrp ...
                let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
                let in_group = after.split_whitespace().nth(2) == Some(pgid.as_str());
                let name = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
                in_group && name.trim() == comm
            })
            .collect()
    }

    /// Waits up to `secs` for `check` to hold.
    pub(crate) fn wait_for(&self, secs: u64, mut check: impl FnMut(&Spawned) -> bool) -> bool {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        while std::time::Instant::now() < deadline {
            if check(self) {
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        false
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let pgid = i32::try_from(self.child.id()).unwrap_or(0);
        if pgid > 0 {
            // SAFETY: kill(2) with a negative pid signals only the group this test created.
            unsafe {
                libc::kill(-pgid, libc::SIGKILL);
            }
        }
        let _ = self.child.wait();
    }
}

/// An active fault on `node` of the lab at `dir`; returns its id.
pub(crate) fn active_on(dir: &LabDir, node: &str) -> String {
    let mut rec = FaultRecord::new(node, disk_full_fault());
    rec.state = super::record::FaultState::Active;
    Store::new(dir).create(&mut rec).expect("create record");
    rec.id
}

pub(crate) fn mark_reverted(dir: &LabDir, id: &str) {
    let store = Store::new(dir);
    let mut rec = store.load(id).expect("load").expect("exists");
    rec.state = super::record::FaultState::Reverted;
    store.save(&rec).expect("save");
}

/// Whether this kernel's nftables accepts `rules` (`nft -c`: checked, never loaded), in a
/// throwaway network namespace. Needs root and nft.
pub(crate) fn nft_check(rules: &str) -> Result<(), String> {
    use std::io::Write;
    let out = std::process::Command::new("unshare")
        .args(["--net", "nft", "-c", "-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            c.stdin.take().expect("stdin").write_all(rules.as_bytes())?;
            c.wait_with_output()
        })
        .map_err(|e| format!("cannot run nft: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("{rules}\n{}", String::from_utf8_lossy(&out.stderr)))
    }
}
