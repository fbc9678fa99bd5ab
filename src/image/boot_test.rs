//! Proof that the cached golden image boots with a seed from `seed::render`: a real VM under
//! TCG inside a network namespace this test creates, with dnsmasq standing in for libvirt's
//! network (DNS with a search domain), booted with a lab node's kernel command line. Checks the
//! serial log for the end of the node's setup (the image's first-boot unit, or cloud-init on an
//! image from before it), then logs in over SSH with the pinned host key and checks what the
//! image promises.
//!
//! Needs root, a built image (`sudo firedrill image build`), and the host packages qemu-system-x86,
//! qemu-utils, genisoimage, dnsmasq-base, openssh-client, iproute2. Run:
//! `cargo test image_boots -- --ignored --nocapture` (about 3-4 minutes under TCG).

use crate::image::find;
use crate::paths::Home;
use crate::seed::{SeedInput, render, write_iso};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const NETNS: &str = "fdimg";
const MAC: &str = "52:54:00:12:34:56";
const BOOT_TIMEOUT: Duration = Duration::from_secs(900);

/// Everything the test started, undone in reverse on drop, also when an assertion fails.
struct Lab {
    dir: PathBuf,
    netns: bool,
    children: Vec<(&'static str, Child)>,
}

impl Drop for Lab {
    fn drop(&mut self) {
        for (what, child) in self.children.iter_mut().rev() {
            // By PID: only the processes this test spawned.
            let _ = child.kill();
            let _ = child.wait();
            eprintln!("stopped {what} (pid {})", child.id());
        }
        if self.netns {
            let _ = sh(&["ip", "netns", "del", NETNS]);
        }
        // Keep the serial log for a post-mortem; everything else goes.
        let kept = std::env::temp_dir().join("fd-boot-last-console.log");
        if std::fs::copy(self.dir.join("console.log"), &kept).is_ok() {
            eprintln!("serial console log kept in {}", kept.display());
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn sh(argv: &[&str]) -> String {
    let out = Command::new(argv[0])
        .args(&argv[1..])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {argv:?}: {e}"));
    assert!(
        out.status.success(),
        "{argv:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn in_ns(argv: &[&str]) -> String {
    let mut full = vec!["ip", "netns", "exec", NETNS];
    full.extend_from_slice(argv);
    sh(&full)
}

fn keygen(path: &Path, comment: &str) -> (String, String) {
    let p = path.to_string_lossy();
    sh(&[
        "ssh-keygen",
        "-q",
        "-t",
        "ed25519",
        "-N",
        "",
        "-C",
        comment,
        "-f",
        &p,
    ]);
    let private = std::fs::read_to_string(path).expect("private key");
    let public = std::fs::read_to_string(path.with_extension("pub")).expect("public key");
    (private, public.trim().to_string())
}

#[test]
#[ignore = "boots a real VM: needs root, a built image and qemu; see the module comment"]
fn image_boots_with_its_seed() {
    let image = find(&Home::from_env(), "debian-12")
        .expect("image cache readable")
        .expect("image debian-12 is built (run `sudo firedrill image build` first)");
    let dir = std::env::temp_dir().join(format!("fd-boot-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let mut lab = Lab {
        dir: dir.clone(),
        netns: false,
        children: Vec::new(),
    };

    // The network: a bridge in our own namespace; dnsmasq answers for the lab domain like
    // libvirt's does, and knows a peer, so short-name resolution can be checked.
    sh(&["ip", "netns", "add", NETNS]);
    lab.netns = true;
    in_ns(&["ip", "link", "set", "lo", "up"]);
    in_ns(&["ip", "link", "add", "br0", "type", "bridge"]);
    in_ns(&["ip", "addr", "add", "10.99.0.1/24", "dev", "br0"]);
    in_ns(&["ip", "link", "set", "br0", "up"]);
    in_ns(&["ip", "tuntap", "add", "dev", "tap0", "mode", "tap"]);
    in_ns(&["ip", "link", "set", "tap0", "master", "br0", "up"]);
    let dnsmasq = Command::new("ip")
        .args([
            "netns",
            "exec",
            NETNS,
            "dnsmasq",
            "--keep-in-foreground",
            "--conf-file=/dev/null",
        ])
        .args([
            "--bind-interfaces",
            "--interface=br0",
            "--listen-address=10.99.0.1",
        ])
        .args([
            "--no-resolv",
            "--no-hosts",
            "--domain=bootcheck.lab",
            "--local=/bootcheck.lab/",
        ])
        .args([
            "--host-record=peer.bootcheck.lab,10.99.0.20",
            "--host-record=node.bootcheck.lab,10.99.0.10",
        ])
        .args(["--pid-file="])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("dnsmasq (package dnsmasq-base)");
    lab.children.push(("dnsmasq", dnsmasq));

    let (host_private, host_public) = keygen(&dir.join("host_key"), "node.bootcheck.lab");
    let (_, user_public) = keygen(&dir.join("user_key"), "firedrill boot test");
    let files = render(&SeedInput {
        instance_id: format!("bootcheck-{}", std::process::id()),
        hostname: "node".into(),
        fqdn: "node.bootcheck.lab".into(),
        user: "lab".into(),
        authorized_key: user_public,
        host_key_private: host_private,
        host_key_public: host_public.clone(),
        mac: MAC.into(),
        ip: Ipv4Addr::new(10, 99, 0, 10),
        prefix: 24,
        more_nics: Vec::new(),
        routes: Vec::new(),
        gateway: Ipv4Addr::new(10, 99, 0, 1),
        dns: Ipv4Addr::new(10, 99, 0, 1),
        domain: "bootcheck.lab".into(),
        time: crate::seed::TimeSource::Unset,
    })
    .expect("render seed");
    let seed = dir.join("seed.iso");
    write_iso(&files, &seed).expect("write seed");
    let overlay = dir.join("node.qcow2");
    let disk = image.disk.to_string_lossy().into_owned();
    sh(&[
        "qemu-img",
        "create",
        "-q",
        "-f",
        "qcow2",
        "-F",
        "qcow2",
        "-b",
        &disk,
        &overlay.to_string_lossy(),
        "8G",
    ]);

    let console = dir.join("console.log");
    // As a lab node boots: with cloud-init off when the image sets the node up itself.
    let first_boot = image.manifest.first_boot;
    let cmdline = crate::plan::kernel_cmdline(crate::hypervisor::xml::Accel::Tcg, first_boot);
    let started = Instant::now();
    let qemu = Command::new("ip")
        .args([
            "netns",
            "exec",
            NETNS,
            "qemu-system-x86_64",
            "-accel",
            "tcg",
            "-m",
            "1024",
            "-smp",
            "1",
        ])
        // Like libvirt: no default devices (a floppy the guest would probe, a VGA card).
        .args([
            "-machine",
            "q35",
            "-nodefaults",
            "-display",
            "none",
            "-monitor",
            "none",
        ])
        .arg("-no-reboot")
        .arg("-serial")
        .arg(format!("file:{}", console.display()))
        .arg("-kernel")
        .arg(&image.kernel)
        .arg("-initrd")
        .arg(&image.initrd)
        .args(["-append", &cmdline])
        .arg("-drive")
        .arg(format!("file={},if=virtio,format=qcow2", overlay.display()))
        .arg("-drive")
        // A virtio disk, as a lab node's seed is (`xml::domain_xml`): the initrd has its
        // driver, so the first-boot unit finds it before udev has loaded a CD-ROM's.
        .arg(format!(
            "file={},if=virtio,format=raw,readonly=on",
            seed.display()
        ))
        .args([
            "-nic",
            &format!("tap,ifname=tap0,script=no,downscript=no,model=virtio-net-pci,mac={MAC}"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("qemu-system-x86_64 (package qemu-system-x86)");
    eprintln!("qemu pid {}", qemu.id());
    lab.children.push(("qemu", qemu));

    let boot = if first_boot {
        // The image's own setup prints its steps on the console; the address is checked below.
        // The unit's output goes to the console as it is, without the journal's prefix.
        wait_for(&console, started, "node node", " is set up");
        let setup = started.elapsed();
        // The setup ends before the network and sshd start: the login waits for sshd.
        wait_for(&console, started, "Started", "ssh.service");
        setup
    } else {
        let log = wait_for(&console, started, "Cloud-init v. ", " finished at ");
        assert!(
            log.lines()
                .any(|l| l.contains("ci-info: |  eth0  | True |") && l.contains(" 10.99.0.10 ")),
            "cloud-init's network table on the console does not show eth0 with 10.99.0.10"
        );
        started.elapsed()
    };
    eprintln!(
        "the node's setup finished {:.1}s after qemu started",
        boot.as_secs_f64()
    );

    // Strict host key checking against the key we generated: no trust on first use.
    let known_hosts = dir.join("known_hosts");
    std::fs::write(&known_hosts, format!("10.99.0.10 {host_public}\n")).expect("known_hosts");
    let report = in_ns(&[
        "ssh",
        "-i",
        &dir.join("user_key").to_string_lossy(),
        "-o",
        "BatchMode=yes",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        &format!("UserKnownHostsFile={}", known_hosts.display()),
        "-o",
        "ConnectTimeout=20",
        "lab@10.99.0.10",
        CHECKS,
    ]);
    eprintln!("guest report:\n{report}");
    let value = |key: &str| {
        report
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{key}=")))
            .unwrap_or_else(|| panic!("{key} missing from the guest report"))
            .to_string()
    };
    assert_eq!(value("hostname"), "node");
    assert_eq!(value("fqdn"), "node.bootcheck.lab");
    assert_eq!(value("addr"), "10.99.0.10/24");
    assert_eq!(value("peer"), "10.99.0.20");
    assert_eq!(
        value("hostkeys"),
        "/etc/ssh/ssh_host_ed25519_key /etc/ssh/ssh_host_ed25519_key.pub"
    );
    assert_eq!(
        value("disabled"),
        "disabled disabled disabled disabled disabled"
    );
    assert_eq!(value("inactive"), "inactive inactive inactive inactive");
    assert_eq!(value("sudo"), "ok");
    assert_eq!(value("python"), "ok");
    assert_eq!(value("pwauth"), "passwordauthentication no");
    // Only the static motd at a login: no scripts run for it.
    assert_eq!(value("motd"), "session optional pam_motd.so noupdate;");
    // Lab nodes boot with cloud-init off when the image sets them up itself.
    let cloud_init = if first_boot { "disabled" } else { "done" };
    assert_eq!(value("cloudinit"), format!("status: {cloud_init}"));
    if first_boot {
        assert_eq!(value("firstboot"), r#"{"errors": []}"#);
    }
    assert_eq!(value("running"), "running");
    assert_eq!(value("ping"), "ok");
    assert_eq!(value("tools"), "ok");
    assert_eq!(value("timezone"), "Etc/UTC");
    assert_eq!(value("haproxycheck"), "ok");
    assert_eq!(value("mariadb"), "1");
    assert_eq!(value("postgres"), "1");
    assert_eq!(value("machineid").len(), 32);
    let root_kib: u64 = value("rootkib").parse().expect("root size");
    assert!(
        root_kib > 7 * 1024 * 1024,
        "root fs not grown to the 8G disk: {root_kib} KiB"
    );
    let overlay_bytes = std::fs::metadata(&overlay).map(|m| m.len()).unwrap_or(0);
    eprintln!(
        "image {}: {} bytes qcow2; boot to the node's setup finished {:.1}s; node overlay after first boot {} bytes",
        image.name,
        image.manifest.disk_bytes,
        boot.as_secs_f64(),
        overlay_bytes
    );
}

/// Runs in the guest as the lab user; prints `key=value` lines.
const CHECKS: &str = r#"
echo hostname=$(hostname)
echo fqdn=$(hostname -f)
echo addr=$(ip -4 -o addr show dev eth0 | awk '{print $4}')
echo peer=$(getent hosts peer | awk '{print $1}')
echo hostkeys=$(ls /etc/ssh/ssh_host_* | tr '\n' ' ' | sed 's/ $//')
echo disabled=$(systemctl is-enabled mariadb.service mariadb.socket postgresql.service haproxy.service systemd-networkd.service | tr '\n' ' ' | sed 's/ $//')
echo inactive=$(systemctl is-active mariadb postgresql@15-main haproxy systemd-networkd | tr '\n' ' ' | sed 's/ $//')
echo sudo=$(sudo -n true && echo ok)
echo python=$(python3 -c 'import pymysql, psycopg2' && echo ok)
echo pwauth=$(sudo sshd -T | grep -i '^passwordauthentication')
echo motd=$(grep -E '^session.*pam_motd' /etc/pam.d/sshd | tr -s ' \t' ' ' | tr '\n' ';')
echo cloudinit=$(cloud-init status)
echo firstboot=$(cat /run/firedrill/first-boot.json 2>/dev/null)
echo machineid=$(cat /etc/machine-id)
echo rootkib=$(df -k --output=size / | tail -1 | tr -d ' ')
echo resolv=$(grep -v '^#' /etc/resolv.conf | tr '\n' ';')
echo running=$(systemctl is-system-running)
echo failed=$(systemctl --failed --no-legend --plain | awk '{print $1}' | tr '\n' ' ')
echo ping=$(ping -c1 -W5 10.99.0.1 >/dev/null && echo ok)
echo tools=$(PATH=$PATH:/usr/sbin:/sbin; for t in stress-ng chronyc timedatectl nft tcpdump strace socat nc dig curl haproxy; do command -v $t >/dev/null || echo missing:$t; done; echo ok)
echo timezone=$(timedatectl show -p Timezone --value)
echo haproxycheck=$(sudo haproxy -c -f /etc/haproxy/haproxy.cfg >/dev/null 2>&1 && echo ok)
echo mariadb=$(sudo systemctl start mariadb && sudo mariadb -N -e 'select 1' && sudo systemctl stop mariadb)
echo postgres=$(sudo systemctl start postgresql && cd / && sudo -u postgres psql -tAc 'select 1' && sudo systemctl stop postgresql)
echo uptime=$(cut -d' ' -f1 /proc/uptime)
echo memory=$(free -m | awk '/^Mem/ {print $3 "MiB used of " $2}')
"#;

/// Polls the console log until a line contains both markers; panics with the log's tail on
/// timeout.
fn wait_for(console: &Path, started: Instant, a: &str, b: &str) -> String {
    loop {
        let text =
            String::from_utf8_lossy(&std::fs::read(console).unwrap_or_default()).into_owned();
        if text.lines().any(|l| l.contains(a) && l.contains(b)) {
            return text;
        }
        if started.elapsed() > BOOT_TIMEOUT {
            let lines: Vec<&str> = text.lines().collect();
            panic!(
                "no `{a}...{b}` on the console after {}s; last lines:\n{}",
                BOOT_TIMEOUT.as_secs(),
                lines[lines.len().saturating_sub(40)..].join("\n")
            );
        }
        std::thread::sleep(Duration::from_secs(2));
    }
}
