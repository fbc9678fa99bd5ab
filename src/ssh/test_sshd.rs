//! Test harness: a throwaway OpenSSH server on 127.0.0.1, run as our own child process with a
//! host key from `generate_keypair`, and killed by its handle when the test ends, also when it
//! fails. Needs the `openssh-server` package (`/usr/sbin/sshd`); its service is never started.

use super::{KeyPair, Target, ensure_keypair};
use std::fs;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A directory removed on drop.
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    pub(crate) fn new(tag: &str) -> TempDir {
        let path = std::env::temp_dir().join(format!(
            "firedrill-{tag}-{}-{:08x}",
            std::process::id(),
            rand::random::<u32>()
        ));
        fs::create_dir_all(&path).expect("create temp dir");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o700)).expect("chmod temp dir");
        TempDir(path)
    }
    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A port nothing listens on right now.
pub(crate) fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr").port()
}

/// Keys, config and a fake `cloud-init` for one test server.
pub(crate) struct Fixture {
    pub(crate) dir: TempDir,
    pub(crate) host: KeyPair,
    pub(crate) client_key: PathBuf,
    pub(crate) port: u16,
}

impl Fixture {
    pub(crate) fn new() -> Fixture {
        let dir = TempDir::new("sshd");
        let host = ensure_keypair(&dir.path().join("host_key"), "host").expect("host key");
        let client_key = dir.path().join("id_ed25519");
        let client = ensure_keypair(&client_key, "client").expect("client key");
        fs::write(
            dir.path().join("authorized_keys"),
            format!("{}\n", client.public_openssh),
        )
        .expect("write authorized_keys");
        let bin = dir.path().join("bin");
        fs::create_dir(&bin).expect("mkdir bin");
        // Answers like cloud-init does; `set_cloud_init` chooses how long it runs and how it ends.
        let script = format!(
            "#!/bin/sh\n\
             d={dir}\n\
             echo \"$*\" >> $d/cloud-init-calls\n\
             if [ \"$2\" = --long ]; then\n\
             printf 'status: error\\ndetail:\\n(scripts_user) failed\\n'; exit 1\n\
             fi\n\
             sleep \"$(cat $d/cloud-init-delay)\"\n\
             cat $d/cloud-init-line\n\
             exit \"$(cat $d/cloud-init-exit)\"\n",
            dir = dir.path().display()
        );
        fs::write(bin.join("cloud-init"), script).expect("write fake cloud-init");
        fs::set_permissions(bin.join("cloud-init"), fs::Permissions::from_mode(0o755))
            .expect("chmod fake cloud-init");
        // This host writes no /run/cloud-init/result.json, and may not run systemd: a systemctl
        // that says the boot is over sends the wait for cloud-init (`ssh::ready`) to the fake
        // cloud-init above at its first check, 2 s in.
        fs::write(bin.join("systemctl"), "#!/bin/sh\necho running\n")
            .expect("write fake systemctl");
        fs::set_permissions(bin.join("systemctl"), fs::Permissions::from_mode(0o755))
            .expect("chmod fake systemctl");
        let fixture = Fixture {
            dir,
            host,
            client_key,
            port: free_port(),
        };
        fixture.set_cloud_init("0", "status: done", 0);
        fixture
    }

    pub(crate) fn set_cloud_init(&self, delay: &str, line: &str, exit: u32) {
        let d = self.dir.path();
        fs::write(d.join("cloud-init-delay"), delay).expect("write delay");
        fs::write(d.join("cloud-init-line"), format!("{line}\n")).expect("write line");
        fs::write(d.join("cloud-init-exit"), exit.to_string()).expect("write exit");
    }

    /// Gives the server a second host key, as cloud-init's default `ssh_genkeytypes` does.
    pub(crate) fn add_host_key(&self, private_openssh: &str) {
        let path = self.dir.path().join("host_key_extra");
        fs::write(&path, private_openssh).expect("write extra host key");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).expect("chmod host key");
    }

    fn extra_host_key_line(&self) -> String {
        let path = self.dir.path().join("host_key_extra");
        if path.exists() {
            format!("HostKey {}\n", path.display())
        } else {
            String::new()
        }
    }

    /// The arguments the fake cloud-init was called with, one call a line.
    pub(crate) fn cloud_init_calls(&self) -> String {
        fs::read_to_string(self.dir.path().join("cloud-init-calls")).unwrap_or_default()
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Logged in as the user the tests run as (an sshd that is not root can only let its own
    /// user in): root under scripts/test, anyone under a plain `cargo test`.
    pub(crate) fn target(&self) -> Target {
        let user = std::process::Command::new("id")
            .arg("-un")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .expect("id -un");
        Target {
            node: "t1".to_string(),
            addr: self.addr(),
            user,
            key_path: self.client_key.clone(),
            host_key: self.host.public_openssh.clone(),
        }
    }

    /// Starts sshd and waits until it accepts connections.
    pub(crate) fn start_sshd(&self) -> Sshd {
        let d = self.dir.path();
        let config = d.join("sshd_config");
        fs::write(
            &config,
            format!(
                "ListenAddress 127.0.0.1\n\
                 HostKey {d}/host_key\n\
                 {extra}\
                 AuthorizedKeysFile {d}/authorized_keys\n\
                 PidFile none\n\
                 StrictModes no\n\
                 UsePAM no\n\
                 PasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\n\
                 PubkeyAuthentication yes\n\
                 PermitRootLogin prohibit-password\n\
                 SetEnv PATH={d}/bin:/usr/sbin:/usr/bin:/sbin:/bin\n\
                 LogLevel VERBOSE\n",
                d = d.display(),
                extra = self.extra_host_key_line(),
            ),
        )
        .expect("write sshd_config");
        // sshd's privilege separation directory; normally made by its service unit.
        fs::create_dir_all("/run/sshd").expect("mkdir /run/sshd");
        let log = d.join("sshd.log");
        let child = Command::new("/usr/sbin/sshd")
            .args(["-D", "-e", "-f"])
            .arg(&config)
            .args(["-p", &self.port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(&log).expect("create sshd.log"))
            .spawn()
            .expect("start /usr/sbin/sshd (apt-get install openssh-server)");
        let mut sshd = Sshd { child, log };
        let start = Instant::now();
        while TcpStream::connect(self.addr()).is_err() {
            if let Ok(Some(status)) = sshd.child.try_wait() {
                panic!("sshd exited with {status}:\n{}", sshd.log());
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "sshd not listening after 10 s:\n{}",
                sshd.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        sshd
    }
}

/// The running sshd; killed (by its own PID) and reaped on drop.
pub(crate) struct Sshd {
    child: Child,
    log: PathBuf,
}

impl Sshd {
    pub(crate) fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- sshd log ---\n{}", self.log());
        }
    }
}
