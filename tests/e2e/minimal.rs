//! The minimal lab (one node): the lifecycle and access commands.

use super::lab::{assert_gone_from_libvirt, clock_ahead, wait_until};
use crate::harness::Sandbox;

pub(super) fn minimal_lab_up_status_resolve_snapshot_converge_down() {
    let sb = Sandbox::start("minimal");
    sb.ensure_image();

    let up = sb.firedrill(&["up", "labs/minimal.yaml", "--accel", "tcg"]);
    up.assert_success("first up");
    assert!(up.stdout.contains("web"), "{}", up.stdout);

    // status shows both nodes running, with their addresses and uptime (read over SSH).
    let status = sb.firedrill(&["status", "--json"]);
    status.assert_success("status");
    let json: serde_json::Value =
        serde_json::from_str(&status.stdout).expect("status --json is JSON");
    let nodes = json["nodes"].as_array().expect("nodes");
    assert_eq!(nodes.len(), 2, "{json}");
    for n in nodes {
        assert_eq!(n["state"], "running", "{json}");
        assert!(n["uptime_s"].as_u64().is_some(), "{json}");
    }
    let table = sb.firedrill(&["status"]);
    assert!(table.stdout.contains("web.minimal.lab"), "{}", table.stdout);
    assert!(table.stdout.contains("10.77.0.10"), "{}", table.stdout);

    // Each node resolves and pings the other, by short name and by FQDN.
    for (from, to) in [("web", "db"), ("db", "web")] {
        for name in [to.to_string(), format!("{to}.minimal.lab")] {
            let out = sb.firedrill(&["ssh", from, "--", "ping", "-c", "1", "-W", "5", &name]);
            out.assert_success(&format!("{from} pings {name}"));
            assert!(out.stdout.contains("1 received"), "{}", out.stdout);
        }
    }

    // The ssh-config works with plain OpenSSH.
    let cfg = sb.firedrill(&["ssh-config"]);
    cfg.assert_success("ssh-config");
    let ssh = sb.run_in_ns(&[
        "ssh",
        "-F",
        &sb.lab_file("minimal", "ssh_config"),
        "-o",
        "BatchMode=yes",
        "db",
        "hostname",
    ]);
    ssh.assert_success("openssh with the generated config");
    assert_eq!(ssh.stdout.trim(), "db");

    // `capture` on web while db pings it: a pcap file that tcpdump reads, with the pings and
    // without firedrill's own SSH session.
    let pcap = sb.home().join("web.pcap");
    // The pings start while the capture connects, and run for 8 s of its 15.
    let mut pinger = sb.spawn(&["ssh", "db", "--", "sleep 3; ping -c 8 -i 1 web"]);
    let cap = sb.firedrill(&[
        "capture",
        "web",
        "--filter",
        "icmp",
        "--for",
        "15s",
        "-o",
        pcap.to_str().expect("utf-8 path"),
    ]);
    cap.assert_success("capture");
    let _ = pinger.wait();
    let read = sb.run_in_ns(&["tcpdump", "-nr", pcap.to_str().expect("utf-8 path")]);
    read.assert_success("tcpdump -r of the capture");
    let echoes = read
        .stdout
        .lines()
        .filter(|l| l.contains("ICMP echo request"))
        .count();
    assert!(echoes >= 3, "db's pings in the capture:\n{}", read.stdout);
    assert!(
        !read.stdout.contains(".22:"),
        "no SSH in an icmp capture:\n{}",
        read.stdout
    );
    let again = sb.firedrill(&[
        "capture",
        "web",
        "--for",
        "10s",
        "-o",
        pcap.to_str().unwrap(),
    ]);
    assert_eq!(
        again.status, 2,
        "an existing file is never overwritten: {}",
        again.stderr
    );

    // partition: web's traffic with db's port 3306 is dropped, so the app cannot reach its
    // database (its requests fail or hang); revert gives it back.
    let todos = "http://10.77.0.10:8080/todos";
    assert_eq!(
        sb.http("GET", todos, None).status,
        200,
        "before the partition"
    );
    let applied = sb.firedrill(&[
        "fault",
        "apply",
        "partition",
        "web",
        "--param",
        "peer=db",
        "--param",
        "port=3306",
    ]);
    applied.assert_success("fault apply partition");
    let cut = sb.http("GET", todos, None);
    assert_ne!(
        cut.status, 200,
        "the app still reached its database: {cut:?}"
    );
    let ping = sb.firedrill(&["ssh", "web", "--", "ping", "-c", "1", "-W", "5", "db"]);
    ping.assert_success("only port 3306 is cut: web still pings db");
    sb.firedrill(&["fault", "revert", "--all"])
        .assert_success("revert the partition");
    wait_until("the app reaches its database again", 60, || {
        sb.http("GET", todos, None).status == 200
    });

    // dns-broken: names fail on web (addresses still work); revert brings resolvconf's back.
    sb.firedrill(&["fault", "apply", "dns-broken", "web"])
        .assert_success("fault apply dns-broken");
    let lookup = sb.firedrill(&["ssh", "web", "--", "getent", "hosts", "db"]);
    assert_ne!(lookup.status, 0, "db still resolves: {}", lookup.stdout);
    sb.firedrill(&[
        "ssh",
        "web",
        "--",
        "ping",
        "-c",
        "1",
        "-W",
        "5",
        "10.77.0.10",
    ])
    .assert_success("addresses still work");
    sb.firedrill(&["fault", "revert", "--all"])
        .assert_success("revert dns-broken");
    sb.firedrill(&["ssh", "web", "--", "getent", "hosts", "db"])
        .assert_success("db resolves again");

    // mtu-blackhole: a small request works, a large upload hangs; revert and it goes through.
    let big = format!("{{\"name\": \"{}\"}}", "x".repeat(3000));
    sb.firedrill(&[
        "fault",
        "apply",
        "mtu-blackhole",
        "web",
        "--param",
        "mtu=1000",
    ])
    .assert_success("fault apply mtu-blackhole");
    assert_eq!(
        sb.http("GET", todos, None).status,
        200,
        "a small request works"
    );
    let hung = sb.http("POST", todos, Some(&big));
    assert_eq!(hung.status, 0, "a 3 KB upload should hang: {hung:?}");
    sb.firedrill(&["fault", "revert", "--all"])
        .assert_success("revert mtu-blackhole");
    let through = sb.http("POST", todos, Some(&big));
    assert_ne!(
        through.status, 0,
        "the upload gets an answer again: {through:?}"
    );

    // `forward` listens in this (the host's) namespace and connects from the lab's: web's sshd
    // greets through it on 127.0.0.1.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free local port")
        .port();
    let mut fwd = sb.spawn_outside(&["forward", &format!("{port}:web:22")]);
    let banner = forward_banner(port);
    let _ = fwd.kill();
    let _ = fwd.wait();
    assert!(
        banner.starts_with("SSH-2.0-"),
        "through the forward: {banner:?}"
    );

    // A snapshot of the whole lab; a file written after it is gone once it is restored, and
    // the guests' clocks are the host's again (a revert wakes them at the snapshot's moment).
    let started = std::time::Instant::now();
    sb.firedrill(&["snapshot", "save", "before"])
        .assert_success("snapshot save");
    let saved = started.elapsed();
    let marker = "/var/lib/firedrill-e2e-after-save";
    sb.firedrill(&["ssh", "db", "--", "sudo", "touch", marker])
        .assert_success("write a file after the snapshot");
    let list = sb.firedrill(&["snapshot", "list"]);
    list.assert_success("snapshot list");
    let row = list
        .stdout
        .lines()
        .find(|l| l.starts_with("before "))
        .unwrap_or_else(|| panic!("no `before` in:\n{}", list.stdout));
    assert!(row.contains(" 2 ") && row.contains("MiB"), "{row}");
    // Let the guests' clocks fall behind the host's if the restore did not set them.
    std::thread::sleep(std::time::Duration::from_secs(20));
    let started = std::time::Instant::now();
    let restore = sb.firedrill(&["snapshot", "restore", "before"]);
    restore.assert_success("snapshot restore");
    eprintln!(
        "snapshot save took {:.1} s, restore {:.1} s",
        saved.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    let gone = sb.firedrill(&["ssh", "db", "--", "test", "-e", marker]);
    assert_eq!(
        gone.status, 1,
        "the file is still there after the restore: {}",
        gone.stderr
    );
    for node in ["web", "db"] {
        let ahead = clock_ahead(&sb, node);
        assert!(ahead.abs() <= 5, "{node}: {ahead} s off the host's clock");
    }

    // A second up changes nothing.
    let again = sb.firedrill(&["up", "labs/minimal.yaml", "--accel", "tcg"]);
    again.assert_success("second up");
    assert!(again.stdout.contains("nothing changed"), "{}", again.stdout);

    // down leaves no domain, network, disk or file of the lab.
    let down = sb.firedrill(&["down"]);
    down.assert_success("down");
    assert!(
        down.stdout
            .contains("snapshots before: removed with the nodes' disks"),
        "{}",
        down.stdout
    );
    assert_gone_from_libvirt(&sb, "minimal");
    assert!(!sb.home().join("labs/minimal").exists());
    let list = sb.firedrill(&["list"]);
    assert!(!list.stdout.contains("minimal"), "{}", list.stdout);
}

/// The first line a server sends through 127.0.0.1:`port`, retried for up to 20 s while the
/// forward starts.
fn forward_banner(port: u16) -> String {
    use std::io::BufRead;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let line = std::net::TcpStream::connect(("127.0.0.1", port)).and_then(|s| {
            s.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
            let mut line = String::new();
            std::io::BufReader::new(s).read_line(&mut line)?;
            Ok(line)
        });
        match line {
            Ok(l) if !l.is_empty() => return l,
            _ if std::time::Instant::now() > deadline => return format!("{line:?}"),
            _ => std::thread::sleep(std::time::Duration::from_millis(300)),
        }
    }
}
