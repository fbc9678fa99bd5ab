//! End-to-end: boots real VMs. Runs as root; creates its own network namespace, starts its own
//! libvirtd and virtlogd inside it (so every bridge, dnsmasq, NAT rule, SSH session and request
//! stays inside), forces TCG, and tears all of it down on success and on failure.
//!
//! The golden image is built once outside the namespace (debootstrap needs the Debian mirror)
//! into `FIREDRILL_IMAGES` (default /var/cache/firedrill/images), and reused while its recipe
//! is unchanged.

use crate::harness::Sandbox;

#[test]
#[ignore = "boots VMs as root: scripts/test"]
fn e2e_minimal_lab_up_status_resolve_snapshot_converge_down() {
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
        let out = sb.firedrill(&["ssh", node, "--", "date", "+%s"]);
        out.assert_success("date");
        let guest: i64 = out.stdout.trim().parse().expect("date +%s");
        let host = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        assert!(
            (host - guest).abs() <= 5,
            "{node}: guest {guest}, host {host}"
        );
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
    let doms = sb.run_in_ns(&["virsh", "-c", "qemu:///system", "list", "--all", "--name"]);
    assert!(!doms.stdout.contains("fd-minimal-"), "{}", doms.stdout);
    let nets = sb.run_in_ns(&[
        "virsh",
        "-c",
        "qemu:///system",
        "net-list",
        "--all",
        "--name",
    ]);
    assert!(!nets.stdout.contains("fd-minimal-"), "{}", nets.stdout);
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

/// The three-tier lab ends as a working service: lb balances over app1 and app2, which share the
/// database on db; losing one app server is invisible through lb.
#[test]
#[ignore = "boots VMs as root: scripts/test"]
fn e2e_three_tier_serves_todos_through_the_load_balancer() {
    let sb = Sandbox::start("three-tier");
    sb.ensure_image();
    sb.firedrill(&["up", "labs/three-tier.yaml", "--accel", "tcg"])
        .assert_success("up three-tier");

    let status = sb.firedrill(&["status", "--json"]);
    status.assert_success("status");
    let json: serde_json::Value = serde_json::from_str(&status.stdout).expect("status --json");
    let ip = |name: &str| node_ip(&json, name);
    for n in json["nodes"].as_array().expect("nodes") {
        for h in n["health"].as_array().expect("health") {
            assert_eq!(h["ok"], true, "unhealthy role in {json}");
        }
    }
    let lb = format!("http://{}", ip("lb"));

    // GET /todos through lb has the documented shape, and both app servers answer.
    let mut served_by = std::collections::BTreeSet::new();
    for _ in 0..8 {
        let r = sb.http("GET", &format!("{lb}/todos"), None);
        assert_eq!(r.status, 200, "{r:?}");
        let body: serde_json::Value = serde_json::from_str(&r.body).expect("JSON body");
        let todos = body["todos"].as_array().expect("todos array");
        assert!(
            todos
                .iter()
                .all(|t| t["name"].is_string() && t["completed"].is_boolean()),
            "{body}"
        );
        served_by.insert(r.header("x-served-by").expect("X-Served-By").to_string());
    }
    assert_eq!(
        served_by,
        ["app1", "app2"].iter().map(|s| s.to_string()).collect()
    );

    // A write through one app server is visible through the other.
    let item = format!("e2e-{}", std::process::id());
    let r = sb.http(
        "POST",
        &format!("{lb}/todos"),
        Some(&format!(r#"{{"name":"{item}","completed":false}}"#)),
    );
    assert_eq!(r.status, 201, "{r:?}");
    let writer = r.header("x-served-by").expect("X-Served-By").to_string();
    let other = if writer == "app1" { "app2" } else { "app1" };
    let r = sb.http("GET", &format!("http://{}:8080/todos", ip(other)), None);
    assert!(r.body.contains(&item), "{other} does not see {item}: {r:?}");

    // Every write the mock client saw acknowledged is in the database; a row deleted by hand is
    // reported lost, by id, and `verify` exits 1.
    let ledger = sb.home().join("writes.jsonl").display().to_string();
    sb.firedrill(&[
        "client",
        "--rate",
        "4",
        "--duration",
        "5s",
        "--write-ratio",
        "0.5",
        "--slo",
        "50",
        "--ledger",
        &ledger,
    ])
    .assert_success("client --ledger");
    let writes: Vec<serde_json::Value> = std::fs::read_to_string(&ledger)
        .expect("the ledger")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a ledger line"))
        .collect();
    assert!(writes.len() >= 5, "few acknowledged writes: {writes:?}");
    let verified = sb.firedrill(&["client", "verify", "--ledger", &ledger]);
    verified.assert_success("client verify");
    let n = writes.len();
    assert!(
        verified
            .stdout
            .contains(&format!("\n0 of {n} acknowledged writes lost\n")),
        "{}",
        verified.stdout
    );
    let id = writes[0]["id"]
        .as_u64()
        .expect("the app returns the new row's id");
    let sql = format!("'DELETE FROM todos WHERE id = {id}'");
    sb.firedrill(&["ssh", "db", "--", "sudo", "mysql", "todo", "-e", &sql])
        .assert_success("delete one acknowledged row");
    let verified = sb.firedrill(&["client", "verify", "--ledger", &ledger]);
    assert_eq!(verified.status, 1, "{}", verified.stdout);
    assert!(
        verified
            .stdout
            .contains(&format!("\n1 of {n} acknowledged writes lost\n"))
            && verified
                .stdout
                .contains(&format!("(id {id}, acknowledged "))
            && verified.stdout.contains("missing on db (mysql)"),
        "{}",
        verified.stdout
    );

    // With the app stopped on app1, every request through lb still succeeds.
    sb.firedrill(&["ssh", "app1", "--", "sudo", "systemctl", "stop", "todo"])
        .assert_success("stop todo on app1");
    std::thread::sleep(std::time::Duration::from_secs(6));
    for _ in 0..10 {
        let r = sb.http("GET", &format!("{lb}/todos"), None);
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(r.header("x-served-by"), Some("app2"), "{r:?}");
    }
    sb.firedrill(&["ssh", "app1", "--", "sudo", "systemctl", "start", "todo"])
        .assert_success("start todo on app1");

    // A second up changes nothing, per node.
    let again = sb.firedrill(&["up", "labs/three-tier.yaml", "--accel", "tcg"]);
    again.assert_success("second up");
    assert!(again.stdout.contains("nothing changed"), "{}", again.stdout);
}

/// nginx in front of the app on one node (labs/nginx.yaml): requests pass through it, a body
/// over its client_max_body_size gets 413 from nginx itself, and the app's port receives the
/// proxy headers (X-Forwarded-For with the client appended, X-Real-IP, X-Forwarded-Proto).
#[test]
#[ignore = "boots VMs as root: scripts/test"]
fn e2e_nginx_proxies_limits_bodies_and_forwards_headers() {
    let sb = Sandbox::start("nginx");
    sb.ensure_image();
    sb.firedrill(&["up", "labs/nginx.yaml", "--accel", "tcg"])
        .assert_success("up nginx");
    let status = lab_status(&sb);
    assert!(all_healthy(&status), "{status}");
    let nginx_health = status["nodes"][0]["health"]
        .as_array()
        .and_then(|hs| hs.iter().find(|h| h["role"] == "nginx"))
        .map(|h| h["detail"].to_string());
    assert_eq!(
        nginx_health.as_deref(),
        Some("\":80 /healthz 200 through its upstreams\""),
        "{status}"
    );
    let base = "http://10.80.0.10";

    // Through nginx: the app answers, nginx signs the response.
    let r = sb.http("GET", &format!("{base}/todos"), None);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("x-served-by"), Some("web"), "{r:?}");
    assert!(
        r.header("server").is_some_and(|s| s.starts_with("nginx")),
        "{r:?}"
    );

    // A body under the limit reaches the app; one over it gets 413 from nginx.
    let small = sb.http("POST", &format!("{base}/upload"), Some(&"x".repeat(10_000)));
    assert!(small.status == 200 || small.status == 201, "{small:?}");
    let big = sb.http(
        "POST",
        &format!("{base}/upload"),
        Some(&"x".repeat(100_000)),
    );
    assert_eq!(big.status, 413, "{big:?}");
    assert!(
        big.header("server").is_some_and(|s| s.starts_with("nginx")),
        "{big:?}"
    );

    // The headers as they arrive at the app's port: capture one request on the node's loopback
    // (nginx reaches the app on the same node) while sending it with a client-supplied
    // X-Forwarded-For.
    let tcpdump = "sudo timeout 90 tcpdump -i lo -l -A -c 1 -s 0 \
                   'tcp dst port 8080 and tcp[((tcp[12:1] & 0xf0) >> 2):4] = 0x47455420'";
    let seen = std::thread::scope(|scope| {
        let capture = scope.spawn(|| sb.firedrill(&["ssh", "web", "--", tcpdump]));
        // Until tcpdump is listening (seconds under TCG), the requests go by unseen.
        wait_until("tcpdump sees a proxied request", 90, || {
            let url = format!("{base}/todos?xff-check");
            sb.run_in_ns(&[
                "curl",
                "-s",
                "-o",
                "/dev/null",
                "-m",
                "10",
                "-H",
                "X-Forwarded-For: 203.0.113.7",
                &url,
            ])
            .assert_success("curl with X-Forwarded-For");
            capture.is_finished()
        });
        let out = capture.join().expect("capture thread");
        out.assert_success("tcpdump on web");
        out.stdout
    });
    assert!(seen.contains("GET /todos?xff-check"), "{seen}");
    assert!(
        seen.contains("X-Forwarded-For: 203.0.113.7, 10.80.0.1"),
        "{seen}"
    );
    assert!(seen.contains("X-Real-IP: 10.80.0.1"), "{seen}");
    assert!(seen.contains("X-Forwarded-Proto: http"), "{seen}");
    assert!(seen.contains("Host: 10.80.0.10"), "{seen}");

    // nginx's own log: the 413 never went upstream.
    let log = ssh_stdout(&sb, "web", "sudo cat /var/log/nginx/firedrill-access.log");
    assert!(
        log.lines()
            .any(|l| l.contains("POST /upload") && l.contains(" 413 ") && l.contains("upstream=-")),
        "{log}"
    );

    // The image's spare services stay off at boot, and Debian's default site is gone.
    let boot = ssh_stdout(
        &sb,
        "web",
        "systemctl is-enabled named prometheus prometheus-node-exporter \
         prometheus-mysqld-exporter prometheus-postgres-exporter; ls /etc/nginx/sites-enabled | wc -l",
    );
    assert_eq!(
        boot.lines().collect::<Vec<_>>(),
        [
            "disabled", "disabled", "disabled", "disabled", "disabled", "0"
        ],
        "{boot}"
    );

    // A second up changes nothing.
    let again = sb.firedrill(&["up", "labs/nginx.yaml", "--accel", "tcg"]);
    again.assert_success("second up");
    assert!(again.stdout.contains("nothing changed"), "{}", again.stdout);
}

/// `fault status --json`, parsed.
fn fault_status(sb: &Sandbox) -> serde_json::Value {
    let out = sb.firedrill(&["fault", "status", "--json"]);
    out.assert_success("fault status");
    serde_json::from_str(&out.stdout).expect("fault status --json is JSON")
}

/// One fault's entry in `fault status --json`.
fn fault(sb: &Sandbox, id: &str) -> serde_json::Value {
    let status = fault_status(sb);
    status["faults"]
        .as_array()
        .and_then(|fs| fs.iter().find(|f| f["id"] == id).cloned())
        .unwrap_or_else(|| panic!("no fault {id} in {status}"))
}

/// Applies a fault and returns its id (the first line of stdout).
fn apply_fault(sb: &Sandbox, args: &[&str]) -> String {
    let mut all = vec!["fault", "apply"];
    all.extend_from_slice(args);
    let out = sb.firedrill(&all);
    out.assert_success(&format!("fault apply {}", args.join(" ")));
    let id = out
        .stdout
        .lines()
        .next()
        .unwrap_or_default()
        .trim()
        .to_string();
    assert!(id.starts_with('f'), "no fault id in {:?}", out.stdout);
    id
}

/// The fault is recorded active and its check on the node says it holds.
#[track_caller]
fn assert_fault_holds(sb: &Sandbox, id: &str) {
    let f = fault(sb, id);
    assert_eq!(f["state"], "active", "{f}");
    assert_eq!(f["on_node"]["check"], "checked", "{f}");
    assert_eq!(f["on_node"]["active"], true, "{f}");
}

fn revert_fault(sb: &Sandbox, id: &str) {
    sb.firedrill(&["fault", "revert", id])
        .assert_success(&format!("fault revert {id}"));
    assert_eq!(fault(sb, id)["state"], "reverted");
}

/// The smallest PostgreSQL lab (one node: postgres and the app) deploys release v1, then the
/// lab file asks for v2 and `up` migrates the schema and switches; then v3, whose migration
/// adds a column; a last `up` changes nothing.
#[test]
#[ignore = "boots VMs as root: scripts/test"]
fn e2e_app_releases_on_postgres() {
    let sb = Sandbox::start("pg-release");
    sb.ensure_image();
    let file = sb.home().join("pg-release.yaml");
    let file = file.to_str().expect("utf-8 path").to_string();
    let write_lab = |release: &str| {
        let yaml = format!(
            "name: pg-release\nnetworks:\n  - name: lan\n    cidr: 10.82.0.0/24\n\
             nodes:\n  - name: pg\n    roles: [app, postgres]\n    memory: 768\n\
             \x20   app: {{release: {release}}}\n"
        );
        std::fs::write(&file, yaml).expect("write the lab file");
    };
    let up = |what: &str| {
        let out = sb.firedrill(&["up", &file, "--accel", "tcg"]);
        out.assert_success(what);
        out
    };
    let base = "http://10.82.0.10:8080";
    let get = || {
        let mut last = None;
        wait_until("the app answers GET /todos", 60, || {
            let r = sb.http("GET", &format!("{base}/todos"), None);
            let ok = r.status == 200;
            last = Some(r);
            ok
        });
        let r = last.expect("an answer");
        let body: serde_json::Value = serde_json::from_str(&r.body).expect("JSON body");
        (r.header("x-release").unwrap_or_default().to_string(), body)
    };
    let psql = |sql: &str| {
        ssh_stdout(
            &sb,
            "pg",
            &format!("cd / && sudo -u postgres psql -X -At -d todo -c \"{sql}\""),
        )
    };

    write_lab("v1");
    let started = std::time::Instant::now();
    up("up with release v1");
    eprintln!("# up (boot + configure) took {:?}", started.elapsed());
    let (release, body) = get();
    assert_eq!(release, "v1", "{body}");
    assert_eq!(
        body["todos"][0],
        serde_json::json!({"name": "Get Milk", "completed": false})
    );
    let item = format!("e2e-{}", std::process::id());
    let r = sb.http(
        "POST",
        &format!("{base}/todos"),
        Some(&format!(r#"{{"name":"{item}","completed":false}}"#)),
    );
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(
        psql("SELECT version FROM todo_migrations ORDER BY version"),
        "v1"
    );
    assert_eq!(
        ssh_stdout(&sb, "pg", "readlink /opt/todo/current"),
        "releases/v1"
    );

    write_lab("v2");
    let started = std::time::Instant::now();
    let out = up("up with release v2");
    eprintln!("# up switching to v2 took {:?}", started.elapsed());
    assert!(!out.stdout.contains("nothing changed"), "{}", out.stdout);
    let (release, body) = get();
    assert_eq!(release, "v2", "{body}");
    let items = body.as_array().expect("v2 answers a bare list");
    assert_eq!(
        items[0],
        serde_json::json!({"title": "Get Milk", "done": false})
    );
    assert!(
        items.iter().any(|i| i["title"] == item.as_str()),
        "the item written under v1 is there: {body}"
    );
    assert_eq!(
        psql("SELECT version FROM todo_migrations ORDER BY version"),
        "v1\nv2",
        "v2's migration ran"
    );
    assert_eq!(
        ssh_stdout(&sb, "pg", "readlink /opt/todo/current"),
        "releases/v2"
    );
    // v1 beside it, on its own port, as /opt/todo/README says.
    ssh_stdout(&sb, "pg", "sudo systemctl start todo@v1");
    wait_until("todo@v1 answers on port 9001", 60, || {
        let r = sb.http("GET", "http://10.82.0.10:9001/todos", None);
        r.status == 200 && r.header("x-release") == Some("v1") && r.body.contains("\"todos\"")
    });
    ssh_stdout(&sb, "pg", "sudo systemctl stop todo@v1");

    write_lab("v3");
    up("up with release v3");
    let (release, body) = get();
    assert_eq!(release, "v3", "{body}");
    assert_eq!(
        body[0],
        serde_json::json!({"title": "Get Milk", "done": false, "author": "Jane Doe"})
    );
    assert_eq!(
        psql(
            "SELECT column_default FROM information_schema.columns WHERE table_name = 'todos' AND column_name = 'author'"
        ),
        "'Jane Doe'::character varying",
        "v3's migration added the column"
    );

    let started = std::time::Instant::now();
    let again = up("up again with release v3");
    eprintln!("# up with nothing to change took {:?}", started.elapsed());
    assert!(again.stdout.contains("nothing changed"), "{}", again.stdout);
    sb.firedrill(&["down"]).assert_success("down");
}

fn wait_until(what: &str, secs: u64, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: not within {secs}s"
        );
        std::thread::sleep(std::time::Duration::from_secs(3));
    }
}

fn lab_status(sb: &Sandbox) -> serde_json::Value {
    let out = sb.firedrill(&["status", "--json"]);
    out.assert_success("status");
    serde_json::from_str(&out.stdout).expect("status --json is JSON")
}

fn all_healthy(status: &serde_json::Value) -> bool {
    status["nodes"].as_array().is_some_and(|ns| {
        ns.iter().all(|n| {
            n["health"]
                .as_array()
                .is_some_and(|hs| hs.iter().all(|h| h["ok"] == true))
        })
    })
}

/// The haproxy health line of lb, e.g. "1/2 backends UP (app1 DOWN)".
/// Node `name` as `status --json` shows it.
fn node_status(sb: &Sandbox, name: &str) -> serde_json::Value {
    lab_status(sb)["nodes"]
        .as_array()
        .and_then(|ns| ns.iter().find(|n| n["name"] == name))
        .cloned()
        .unwrap_or_else(|| panic!("no node {name} in status"))
}

fn lb_backends(sb: &Sandbox) -> String {
    let status = lab_status(sb);
    status["nodes"]
        .as_array()
        .and_then(|ns| ns.iter().find(|n| n["name"] == "lb"))
        .and_then(|n| n["health"].as_array())
        .and_then(|hs| hs.iter().find(|h| h["role"] == "haproxy"))
        .and_then(|h| h["detail"].as_str())
        .unwrap_or_default()
        .to_string()
}

fn todo_count(sb: &Sandbox, base: &str) -> usize {
    let r = sb.http("GET", &format!("{base}/todos"), None);
    assert_eq!(r.status, 200, "{r:?}");
    let body: serde_json::Value = serde_json::from_str(&r.body).expect("JSON body");
    body["todos"].as_array().expect("todos").len()
}

fn upload(sb: &Sandbox, base: &str) -> crate::harness::Http {
    sb.http(
        "POST",
        &format!("{base}/upload"),
        Some(r#"{"e2e": "upload"}"#),
    )
}

/// The last lines of the app's journal on `node`.
fn app_journal(sb: &Sandbox, node: &str) -> String {
    let out = sb.firedrill(&[
        "ssh",
        node,
        "--",
        "sudo journalctl -u todo --no-pager -n 100",
    ]);
    out.assert_success("journalctl");
    out.stdout
}

fn ssh_stdout(sb: &Sandbox, node: &str, command: &str) -> String {
    let out = sb.firedrill(&["ssh", node, "--", command]);
    out.assert_success(command);
    out.stdout.trim().to_string()
}

/// The faults on the three-tier lab, each with its symptom seen from outside and a clean
/// revert: disk-full and bad-permissions (uploads answer 500), cpu-hog (verified on the node,
/// and reverted by its own --for timer), time-drift (`since=today` changes), reboot-no-unit
/// (app1 comes back DOWN), payload-limit (413 at lb), db-lock (reads hang), net-delay (slow
/// answers), then several at once undone by `revert --all`. No todo row is lost.
#[test]
#[ignore = "boots VMs as root: scripts/test"]
fn e2e_faults_on_three_tier() {
    let sb = Sandbox::start("three-tier");
    sb.ensure_image();
    sb.firedrill(&["up", "labs/three-tier.yaml", "--accel", "tcg"])
        .assert_success("up three-tier");
    let status = lab_status(&sb);
    let ip = |name: &str| node_ip(&status, name);
    let lb = format!("http://{}", ip("lb"));
    let app1 = format!("http://{}:8080", ip("app1"));
    let app2 = format!("http://{}:8080", ip("app2"));

    let list = sb.firedrill(&["fault", "list"]);
    list.assert_success("fault list");
    for kind in [
        "disk-full",
        "memory-hog",
        "cpu-hog",
        "reboot-no-unit",
        "time-drift",
        "bad-permissions",
    ] {
        assert!(list.stdout.contains(kind), "{}", list.stdout);
    }
    // Bad input is refused with exit 2 and leaves no record.
    let bad = sb.firedrill(&["fault", "apply", "disk-full", "db"]);
    assert_eq!(bad.status, 2, "{}", bad.stderr);
    let bad = sb.firedrill(&["fault", "apply", "disk-full", "app1", "--param", "size=1"]);
    assert_eq!(bad.status, 2, "{}", bad.stderr);
    assert!(fault_status(&sb)["faults"].as_array().unwrap().is_empty());

    // An item made six hours ago, for the time-drift check below; then the baseline count.
    sb.firedrill(&[
        "ssh",
        "db",
        "--",
        "sudo mysql todo -e \"INSERT INTO todos (name, completed, created_at) VALUES ('e2e-earlier-today', 0, UTC_TIMESTAMP() - INTERVAL 6 HOUR)\"",
    ])
    .assert_success("insert an earlier item");
    let rows = todo_count(&sb, &lb);
    assert_eq!(upload(&sb, &app1).status, 201);

    // disk-full: uploads on app1 fail with ENOSPC, in the answer and in the journal.
    let id = apply_fault(&sb, &["disk-full", "app1"]);
    assert_fault_holds(&sb, &id);
    let r = upload(&sb, &app1);
    assert_eq!(r.status, 500, "{r:?}");
    assert!(r.body.contains("No space left on device"), "{r:?}");
    assert!(app_journal(&sb, "app1").contains("No space left on device"));
    let again = sb.firedrill(&["fault", "apply", "disk-full", "app1"]);
    assert_eq!(
        again.status, 2,
        "a second disk-full on app1: {}",
        again.stderr
    );
    revert_fault(&sb, &id);
    assert_eq!(upload(&sb, &app1).status, 201);
    let twice = sb.firedrill(&["fault", "revert", &id]);
    twice.assert_success("second revert");
    assert!(
        twice.stdout.contains("already reverted"),
        "{}",
        twice.stdout
    );

    // bad-permissions: the upload directory is no longer the app user's.
    let id = apply_fault(&sb, &["bad-permissions", "app1"]);
    assert_fault_holds(&sb, &id);
    let r = upload(&sb, &app1);
    assert_eq!(r.status, 500, "{r:?}");
    assert!(r.body.contains("Permission denied"), "{r:?}");
    assert!(app_journal(&sb, "app1").contains("Permission denied"));
    revert_fault(&sb, &id);
    assert_eq!(upload(&sb, &app1).status, 201);

    // cpu-hog with --for: verified on the node under its plausible name, then gone by itself.
    let id = apply_fault(&sb, &["cpu-hog", "app2", "--for", "45s"]);
    assert_fault_holds(&sb, &id);
    let ps = ssh_stdout(&sb, "app2", "ps -eo comm,args");
    assert!(ps.contains("xz -9 -T0 /var/backups/todo-db.sql"), "{ps}");
    wait_until("the node's timer reverts cpu-hog", 240, || {
        fault(&sb, &id)["state"] == "reverted"
    });
    let ps = ssh_stdout(&sb, "app2", "ps -eo args");
    assert!(!ps.contains("xz -9"), "{ps}");

    // time-drift (timezone): app1's "today" moves; app2's does not.
    assert_eq!(
        ssh_stdout(&sb, "app1", "readlink /etc/localtime"),
        "/usr/share/zoneinfo/Etc/UTC"
    );
    let hour: u32 = ssh_stdout(&sb, "app1", "date -u +%H")
        .parse()
        .expect("hour");
    let earlier_today = |base: &str| {
        let r = sb.http("GET", &format!("{base}/todos?since=today"), None);
        assert_eq!(r.status, 200, "{r:?}");
        r.body.contains("e2e-earlier-today")
    };
    // The item is six hours old: "today" in UTC from 06:00; the fault's zone is less than an
    // hour past midnight from 01:00 UTC on. Stay clear of both edges and of the day's end.
    let decisive = (7..=22).contains(&hour);
    if decisive {
        assert!(earlier_today(&app1));
    }
    let id = apply_fault(&sb, &["time-drift", "app1"]);
    assert_fault_holds(&sb, &id);
    assert_ne!(
        ssh_stdout(&sb, "app1", "readlink /etc/localtime"),
        "/usr/share/zoneinfo/Etc/UTC"
    );
    if decisive {
        assert!(
            !earlier_today(&app1),
            "app1 still shows the earlier item as today"
        );
        assert!(earlier_today(&app2));
    }
    revert_fault(&sb, &id);
    assert_eq!(
        ssh_stdout(&sb, "app1", "readlink /etc/localtime"),
        "/usr/share/zoneinfo/Etc/UTC"
    );
    if decisive {
        assert!(earlier_today(&app1));
    }

    // reboot-no-unit: app1 comes back without the app; haproxy marks it DOWN; lb still serves.
    let id = apply_fault(&sb, &["reboot-no-unit", "app1"]);
    wait_until("app1 answers SSH again after the reset", 900, || {
        let f = fault(&sb, &id);
        f["on_node"]["check"] == "checked"
    });
    assert_fault_holds(&sb, &id);
    assert_eq!(sb.http("GET", &format!("{app1}/healthz"), None).status, 0);
    wait_until("haproxy marks app1 DOWN", 90, || {
        lb_backends(&sb).contains("app1 DOWN")
    });
    for _ in 0..6 {
        let r = sb.http("GET", &format!("{lb}/todos"), None);
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(r.header("x-served-by"), Some("app2"), "{r:?}");
    }
    revert_fault(&sb, &id);
    assert_eq!(
        ssh_stdout(&sb, "app1", "systemctl is-enabled todo"),
        "enabled"
    );
    wait_until("app1 answers again", 60, || {
        sb.http("GET", &format!("{app1}/healthz"), None).status == 200
    });

    // payload-limit: lb answers 413 to writes; reads still work; the app never saw them.
    let id = apply_fault(&sb, &["payload-limit", "lb"]);
    assert_fault_holds(&sb, &id);
    let r = sb.http(
        "POST",
        &format!("{lb}/todos"),
        Some(r#"{"name":"e2e-too-big","completed":false}"#),
    );
    assert_eq!(r.status, 413, "{r:?}");
    assert_eq!(sb.http("GET", &format!("{lb}/todos"), None).status, 200);
    revert_fault(&sb, &id);
    let r = sb.http(
        "POST",
        &format!("{lb}/todos"),
        Some(r#"{"name":"e2e-fits-again","completed":false}"#),
    );
    assert_eq!(r.status, 201, "{r:?}");
    let rows = rows + 1;

    // db-lock: reads of the todo table hang, while /healthz (SELECT 1) still answers.
    let id = apply_fault(&sb, &["db-lock", "db"]);
    assert_fault_holds(&sb, &id);
    assert_eq!(
        sb.http("GET", &format!("{app1}/todos"), None).status,
        0,
        "the read did not hang"
    );
    assert_eq!(sb.http("GET", &format!("{app1}/healthz"), None).status, 200);
    revert_fault(&sb, &id);
    assert_eq!(sb.http("GET", &format!("{app1}/todos"), None).status, 200);

    // net-delay: app2 answers later, seen from outside. On a host whose kernel has netem it
    // goes on app2's tap and nothing changes inside app2; on one without (this one) it goes
    // inside app2, with firedrill's SSH exempt, and `fault status` says which.
    let timed = |url: &str| {
        let start = std::time::Instant::now();
        let r = sb.http("GET", url, None);
        assert_eq!(r.status, 200, "{r:?}");
        start.elapsed()
    };
    let before = timed(&format!("{app2}/healthz"));
    let id = apply_fault(
        &sb,
        &[
            "net-delay",
            "app2",
            "--param",
            "delay=400",
            "--param",
            "loss=100",
        ],
    );
    // loss=100: nothing but SSH gets through; the node still answers firedrill.
    assert_fault_holds(&sb, &id);
    assert_eq!(
        sb.http("GET", &format!("{app2}/healthz"), None).status,
        0,
        "a request got through 100% loss"
    );
    revert_fault(&sb, &id);
    let id = apply_fault(&sb, &["net-delay", "app2", "--param", "delay=400"]);
    assert_fault_holds(&sb, &id);
    let f = fault(&sb, &id);
    let summary = f["summary"].as_str().unwrap_or_default().to_string();
    let inside = summary.contains("inside the node");
    assert!(
        inside || summary.contains("on the host side"),
        "the summary says where netem is: {f}"
    );
    let slow = timed(&format!("{app2}/healthz"));
    assert!(
        slow >= before + std::time::Duration::from_millis(400),
        "before {before:?}, with net-delay {slow:?} ({summary})"
    );
    assert_eq!(
        ssh_stdout(
            &sb,
            "app2",
            "sudo tc qdisc show dev eth0 | grep -c netem || true"
        ),
        if inside { "1" } else { "0" },
        "{summary}"
    );
    revert_fault(&sb, &id);
    assert_eq!(
        ssh_stdout(
            &sb,
            "app2",
            "sudo tc qdisc show dev eth0 | grep -c netem || true"
        ),
        "0"
    );
    let after = timed(&format!("{app2}/healthz"));
    assert!(
        after < before + std::time::Duration::from_millis(300),
        "still slow after the revert: before {before:?}, after {after:?}"
    );

    // Several at once, then `revert --all`.
    let missing = apply_fault(&sb, &["missing-dir", "app1"]);
    let memory = apply_fault(&sb, &["memory-hog", "app2"]);
    let clock = apply_fault(
        &sb,
        &[
            "time-drift",
            "app2",
            "--param",
            "mode=clock",
            "--param",
            "offset=-3h",
        ],
    );
    let stopped = apply_fault(&sb, &["service-stopped", "lb"]);
    // The hog needs a moment to fill the memory under TCG.
    wait_until("memory-hog holds", 120, || {
        fault(&sb, &memory)["on_node"]["active"] == true
    });
    for id in [&missing, &memory, &clock, &stopped] {
        assert_fault_holds(&sb, id);
    }
    let r = upload(&sb, &app1);
    assert_eq!(r.status, 500, "{r:?}");
    assert!(r.body.contains("No such file or directory"), "{r:?}");
    let node_now: i64 = ssh_stdout(&sb, "app2", "date +%s").parse().expect("epoch");
    let host_now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!(
        ((node_now - host_now) + 10_800).abs() < 120,
        "app2 is off by {}s",
        node_now - host_now
    );
    assert_eq!(sb.http("GET", &format!("{lb}/todos"), None).status, 0);
    let refused = sb.firedrill(&["down"]);
    assert_ne!(
        refused.status, 0,
        "down must refuse while faults are active"
    );
    assert!(
        refused.stderr.contains("may still be on nodes"),
        "{}",
        refused.stderr
    );

    sb.firedrill(&["fault", "revert", "--all"])
        .assert_success("fault revert --all");
    let status = fault_status(&sb);
    for f in status["faults"].as_array().unwrap() {
        assert_eq!(f["state"], "reverted", "{status}");
    }
    let node_now: i64 = ssh_stdout(&sb, "app2", "date +%s").parse().expect("epoch");
    let host_now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!(
        (node_now - host_now).abs() < 120,
        "app2 is off by {}s",
        node_now - host_now
    );
    wait_until("every role healthy again", 180, || {
        all_healthy(&lab_status(&sb))
    });
    assert_eq!(upload(&sb, &app1).status, 201);
    assert_eq!(
        todo_count(&sb, &lb),
        rows,
        "a fault or revert lost todo rows"
    );
    let nothing = sb.firedrill(&["fault", "revert", "--all"]);
    nothing.assert_success("revert --all with nothing left");
    assert!(
        nothing.stdout.contains("no fault to revert"),
        "{}",
        nothing.stdout
    );
    sb.firedrill(&["down"]).assert_success("down");
}

/// The converge test's lab: lb, the apps named, db. Written into the sandbox's home.
fn converge_lab(sb: &Sandbox, apps: &[(&str, u32)]) -> String {
    converge_lab_at(sb, apps, "v1")
}

fn converge_lab_at(sb: &Sandbox, apps: &[(&str, u32)], release: &str) -> String {
    converge_lab_front(sb, apps, release, None)
}

/// The same lab; with `front: Some(node)`, haproxy's one backend is the `dns:` name `front`,
/// which leads to `node`.
fn converge_lab_front(
    sb: &Sandbox,
    apps: &[(&str, u32)],
    release: &str,
    front: Option<&str>,
) -> String {
    let mut yaml = String::from(
        "name: converge\ndefaults:\n  image: debian-12\n  cpus: 1\n  disk: 8\nnetworks:\n  - name: lan\n    cidr: 10.79.0.0/24\n    mode: nat\n",
    );
    if let Some(node) = front {
        yaml += &format!("    dns:\n      front: {node}\n");
    }
    yaml += "nodes:\n";
    let names: Vec<&str> = apps.iter().map(|(n, _)| *n).collect();
    let backends = match front {
        Some(_) => "front".to_string(),
        None => names.join(", "),
    };
    yaml += &format!(
        "  - name: lb\n    roles: [haproxy]\n    memory: 384\n    haproxy:\n      backends: [{backends}]\n"
    );
    for (name, memory) in apps {
        yaml += &format!(
            "  - name: {name}\n    roles: [app]\n    memory: {memory}\n    app:\n      database: db\n      release: {release}\n"
        );
    }
    yaml += "  - name: db\n    roles: [mysql]\n    memory: 768\n";
    let path = sb.home().join("converge.yaml");
    std::fs::write(&path, yaml).expect("write lab file");
    path.to_string_lossy().into_owned()
}

/// Which app node served each of `n` requests through the load balancer.
fn served_by_n(sb: &Sandbox, n: usize) -> Vec<String> {
    let lb = format!("http://{}", ip_of(sb, "lb"));
    (0..n)
        .map(|_| {
            let r = sb.http("GET", &format!("{lb}/todos"), None);
            r.header("x-served-by").unwrap_or_default().to_string()
        })
        .collect()
}

/// The PIDs of haproxy's processes on lb: a reload replaces the worker.
fn haproxy_pids(sb: &Sandbox) -> String {
    let out = sb.firedrill(&[
        "ssh",
        "lb",
        "--",
        "pgrep -x haproxy | sort -n | tr '\\n' ' '",
    ]);
    out.assert_success("pgrep haproxy");
    out.stdout.trim().to_string()
}

/// A mock client against the lab, in the namespace, until `stop` (or the end of the test: a
/// failing test must not leave it running).
struct Client(Option<std::process::Child>);

impl Client {
    fn start(sb: &Sandbox, report: &std::path::Path, write_ratio: &str) -> Client {
        Client::start_on(sb, "converge", "5", report, write_ratio)
    }

    fn start_on(
        sb: &Sandbox,
        lab: &str,
        rate: &str,
        report: &std::path::Path,
        write_ratio: &str,
    ) -> Client {
        let child = sb
            .in_ns(&["client", "--lab", lab, "--rate", rate])
            .args([
                "--write-ratio",
                write_ratio,
                "--duration",
                "1200s",
                "--timeout",
                "5s",
            ])
            .args([std::ffi::OsStr::new("--report"), report.as_os_str()])
            .args([
                std::ffi::OsStr::new("--ledger"),
                report.with_extension("ledger").as_os_str(),
            ])
            .spawn_quiet();
        Client(Some(child))
    }

    /// Stops the client as Ctrl-C would and returns its summary.
    fn stop(mut self, report: &std::path::Path) -> serde_json::Value {
        self.interrupt();
        let text = std::fs::read_to_string(report).expect("client report");
        text.lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|v| v["type"] == "summary")
            .unwrap_or_else(|| panic!("no summary in the client report:\n{text}"))
    }

    fn interrupt(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = std::process::Command::new("kill")
                .args(["-INT", &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.interrupt();
    }
}

fn ip_of(sb: &Sandbox, node: &str) -> String {
    node_ip(&lab_status(sb), node)
}

/// Node `name`'s address in `status --json`'s output.
fn node_ip(status: &serde_json::Value, name: &str) -> String {
    status["nodes"]
        .as_array()
        .and_then(|ns| ns.iter().find(|n| n["name"] == name))
        .and_then(|n| n["ip"].as_str())
        .unwrap_or_else(|| panic!("no node {name} in {status}"))
        .to_string()
}

fn resolves(sb: &Sandbox, from: &str, name: &str) -> Option<String> {
    let out = sb.firedrill(&["ssh", from, "--", &format!("getent hosts {name}")]);
    (out.status == 0).then(|| {
        out.stdout
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_string()
    })
}

/// Changing a running lab under load: `up --dry-run` shows the change and makes none; `up` adds
/// an app node (its lease and DNS record go into the running network; the load balancer takes
/// it) while a client sees no failed request; a new memory size waits for `--restart` and
/// `status` shows both sizes; removing the node again costs no request either, and leaves
/// nothing of it in libvirt or the DNS.
#[test]
#[ignore = "boots VMs as root: scripts/test"]
fn e2e_converge_a_running_lab() {
    let sb = Sandbox::start("converge");
    sb.ensure_image();
    let file = converge_lab(&sb, &[("app1", 448)]);
    sb.firedrill(&["up", &file, "--accel", "tcg"])
        .assert_success("first up");

    // --dry-run: the plan as a diff, nothing changed.
    let file = converge_lab(&sb, &[("app1", 448), ("app2", 448)]);
    let dry = sb.firedrill(&["up", &file, "--accel", "tcg", "--dry-run"]);
    dry.assert_success("up --dry-run");
    assert!(
        dry.stdout.contains("+ node app2 10.79.0."),
        "{}",
        dry.stdout
    );
    assert!(
        dry.stdout.contains("~ lb haproxy backends +app2"),
        "{}",
        dry.stdout
    );
    assert_eq!(lab_status(&sb)["nodes"].as_array().unwrap().len(), 3);

    // Add app2 under load.
    let report = sb.home().join("client-add.jsonl");
    let client = Client::start(&sb, &report, "0.25");
    std::thread::sleep(std::time::Duration::from_secs(15));
    let add = sb.firedrill(&["up", &file, "--accel", "tcg"]);
    add.assert_success("up with app2");
    assert!(add.stdout.contains("lease app2"), "{}", add.stdout);
    std::thread::sleep(std::time::Duration::from_secs(10));
    let summary = client.stop(&report);
    assert_eq!(
        summary["failed"], 0,
        "requests failed while app2 was added: {summary}"
    );
    assert_eq!(summary["dropped"], 0, "{summary}");
    assert!(summary["ok"].as_u64().unwrap() > 60, "{summary}");
    let app2_ip = node_status(&sb, "app2")["ip"]
        .as_str()
        .expect("app2's address")
        .to_string();
    for node in ["lb", "app1", "db"] {
        assert_eq!(
            resolves(&sb, node, "app2").as_deref(),
            Some(app2_ip.as_str()),
            "app2 resolves from {node}"
        );
    }
    // Every write the app acknowledged while app2 came is in the database.
    let ledger = report.with_extension("ledger");
    let verify = sb.firedrill(&[
        "client",
        "verify",
        "--lab",
        "converge",
        "--ledger",
        ledger.to_str().expect("utf-8 path"),
    ]);
    verify.assert_success("client verify");
    assert!(
        verify.stdout.contains(" acknowledged writes lost") && verify.stdout.contains("\n0 of "),
        "{}",
        verify.stdout
    );
    wait_until("both backends UP", 60, || {
        lb_backends(&sb).starts_with("2/2")
    });

    // A new release on every app node, one node at a time behind haproxy: a reading client sees
    // no failed request (v1 clients' writes are refused by v2 by design, so this one only reads).
    let file = converge_lab_at(&sb, &[("app1", 448), ("app2", 448)], "v2");
    let report = sb.home().join("client-release.jsonl");
    let client = Client::start(&sb, &report, "0");
    std::thread::sleep(std::time::Duration::from_secs(10));
    let rollout = sb.firedrill(&["up", &file, "--accel", "tcg"]);
    rollout.assert_success("up with release v2");
    std::thread::sleep(std::time::Duration::from_secs(5));
    let summary = client.stop(&report);
    assert_eq!(
        summary["failed"], 0,
        "requests failed during the rollout: {summary}"
    );
    let lb = format!("http://{}", ip_of(&sb, "lb"));
    let mut served_by = std::collections::BTreeSet::new();
    for _ in 0..6 {
        let r = sb.http("GET", &format!("{lb}/todos"), None);
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(r.header("x-release"), Some("v2"), "{r:?}");
        let body: serde_json::Value = serde_json::from_str(&r.body).expect("JSON body");
        let items = body.as_array().expect("v2 answers a list");
        assert!(
            items
                .iter()
                .all(|t| t["title"].is_string() && t["done"].is_boolean()),
            "{body}"
        );
        served_by.insert(r.header("x-served-by").unwrap_or_default().to_string());
    }
    assert_eq!(served_by.len(), 2, "both app nodes serve v2: {served_by:?}");

    // Nothing to change on four nodes: one command per node, the migration not run again.
    let started = std::time::Instant::now();
    let same = sb.firedrill(&["up", &file, "--accel", "tcg"]);
    same.assert_success("up with nothing to change");
    eprintln!(
        "no-change up of lb, app1, app2, db: {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert!(same.stdout.contains("nothing changed"), "{}", same.stdout);
    assert!(!same.stdout.contains("migrat"), "{}", same.stdout);
    assert!(
        !same.stdout.contains("something differs"),
        "every node passes its one-pass check: {}",
        same.stdout
    );

    // haproxy reaches its one backend by the `dns:` name `front`: repointing the name from app1
    // to app2 moves the traffic within seconds, without a reload, and no request fails.
    let file = converge_lab_front(&sb, &[("app1", 448), ("app2", 448)], "v2", Some("app1"));
    sb.firedrill(&["up", &file, "--accel", "tcg"])
        .assert_success("up with haproxy's backend by name");
    wait_until("haproxy sends everything to app1 by name", 60, || {
        served_by_n(&sb, 4).iter().all(|s| s == "app1")
    });
    let pids = haproxy_pids(&sb);
    let report = sb.home().join("client-repoint.jsonl");
    let client = Client::start(&sb, &report, "0");
    std::thread::sleep(std::time::Duration::from_secs(10));
    let file = converge_lab_front(&sb, &[("app1", 448), ("app2", 448)], "v2", Some("app2"));
    let repoint = sb.firedrill(&["up", &file, "--accel", "tcg"]);
    repoint.assert_success("up with `front` repointed to app2");
    let moved = std::time::Instant::now();
    wait_until("the traffic follows the name to app2", 60, || {
        served_by_n(&sb, 4).iter().all(|s| s == "app2")
    });
    eprintln!(
        "haproxy followed `front` to app2 {:.1} s after up returned",
        moved.elapsed().as_secs_f64()
    );
    std::thread::sleep(std::time::Duration::from_secs(5));
    let summary = client.stop(&report);
    assert_eq!(
        summary["failed"], 0,
        "requests failed while `front` moved: {summary}"
    );
    assert_eq!(haproxy_pids(&sb), pids, "haproxy was not reloaded");

    // Less memory is given back live, through the balloon; more than a node booted with goes
    // into the definition and waits for --restart.
    let mem_total = || {
        let out = sb.firedrill(&[
            "ssh",
            "app1",
            "--",
            "awk '/MemTotal/ {print $2}' /proc/meminfo",
        ]);
        out.assert_success("MemTotal on app1");
        out.stdout.trim().parse::<u64>().expect("MemTotal in KiB") / 1024
    };
    let app1_before = mem_total();
    let file = converge_lab_at(&sb, &[("app1", 384), ("app2", 512)], "v2");
    let resize = sb.firedrill(&["up", &file, "--accel", "tcg"]);
    let said = format!("{}{}", resize.stdout, resize.stderr);
    assert!(
        said.contains("app1: memory 448 → 384 MiB live, through the balloon"),
        "{said}"
    );
    let app1_after = mem_total();
    eprintln!("app1's MemTotal: {app1_before} MiB → {app1_after} MiB (balloon to 384)");
    assert!(
        app1_after + 48 <= app1_before,
        "the guest sees less memory: {app1_before} → {app1_after} MiB"
    );
    let app1 = node_status(&sb, "app1");
    assert_eq!(app1["memory_mib"], 384, "{app1}");
    assert!(app1["file_memory_mib"].is_null(), "{app1}");
    assert_eq!(
        resize.status, 1,
        "a pending resize is reported: {}",
        resize.stderr
    );
    assert!(
        resize
            .stderr
            .contains("app2 memory 448 → 512 MiB (--restart app2)"),
        "{}",
        resize.stderr
    );
    let app2 = node_status(&sb, "app2");
    assert_eq!(app2["memory_mib"], 448, "{app2}");
    assert_eq!(app2["file_memory_mib"], 512, "{app2}");
    let dominfo = sb.run_in_ns(&[
        "virsh",
        "-c",
        "qemu:///system",
        "dumpxml",
        "--inactive",
        "fd-converge-app2",
    ]);
    assert!(
        dominfo
            .stdout
            .contains("<memory unit='KiB'>524288</memory>"),
        "{}",
        dominfo.stdout
    );

    // Remove app2 under load (v2 clients write v2's shape: this client only reads).
    let file = converge_lab_at(&sb, &[("app1", 448)], "v2");
    let report = sb.home().join("client-remove.jsonl");
    let client = Client::start(&sb, &report, "0");
    std::thread::sleep(std::time::Duration::from_secs(10));
    let remove = sb.firedrill(&["up", &file, "--accel", "tcg"]);
    remove.assert_success("up without app2");
    assert!(
        remove.stdout.contains("node app2: removed"),
        "{}",
        remove.stdout
    );
    // app1 back to 448 MiB, the size it booted with: live again.
    let said = format!("{}{}", remove.stdout, remove.stderr);
    assert!(
        said.contains("app1: memory 384 → 448 MiB live, through the balloon"),
        "{said}"
    );
    std::thread::sleep(std::time::Duration::from_secs(5));
    let summary = client.stop(&report);
    // app2 is drained before haproxy drops it and before it goes, so no request reaches it on
    // its way out; haproxy's old process closing an idle keep-alive connection just as the
    // client reuses it (1 reset in 464 requests before) is a GET the client sends again.
    assert_eq!(
        summary["failed"], 0,
        "requests failed while app2 was removed: {summary}"
    );
    let domains = sb.run_in_ns(&["virsh", "-c", "qemu:///system", "list", "--all", "--name"]);
    assert!(
        !domains.stdout.contains("fd-converge-app2"),
        "{}",
        domains.stdout
    );
    assert_eq!(resolves(&sb, "lb", "app2"), None, "app2 left the DNS");
    assert!(!sb.home().join("labs/converge/nodes/app2").exists());
    let again = sb.firedrill(&["up", &file, "--accel", "tcg", "--dry-run"]);
    assert!(
        again.stdout.contains("nothing to change"),
        "{}",
        again.stdout
    );

    sb.firedrill(&["down"]).assert_success("down");
}

/// The per-second lines the client has written to its report so far.
fn client_seconds(report: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(report)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["type"] == "second")
        .collect()
}

/// Failed requests and the slowest p99 (ms) in the client's seconds from `from` on.
fn client_window(report: &std::path::Path, from: usize) -> (u64, f64) {
    client_seconds(report)
        .iter()
        .skip(from)
        .fold((0, 0.0), |(failed, p99), s| {
            (
                failed + s["failed"].as_u64().unwrap_or(0),
                f64::max(p99, s["p99_ms"].as_f64().unwrap_or(0.0)),
            )
        })
}

/// Waits (at most `secs`) until the client has seen `quiet` seconds in a row without a
/// failed request: the service has recovered for its users.
fn wait_recovered(report: &std::path::Path, quiet: usize, secs: u64) {
    wait_until("the client sees no failure again", secs, || {
        let seconds = client_seconds(report);
        seconds.len() >= quiet
            && seconds[seconds.len() - quiet..]
                .iter()
                .all(|s| s["failed"].as_u64() == Some(0) && s["sent"].as_u64() > Some(0))
    });
}

/// The newer fault kinds on the smallest lab with an app and a database (one node), with the
/// mock client running throughout: each is applied, its symptom is seen (by the client, in
/// the app's journal, on the node), it is reverted and the client sees no failure again.
/// oom-loop (the app is OOM-killed and restarted under load), fd-exhaustion ("Too many open
/// files"), slow-disk (the database's io.max; writes slow), db-password-rotated ("Access
/// denied"). No acknowledged write is lost.
#[test]
#[ignore = "boots VMs as root: scripts/test"]
fn e2e_resource_and_credential_faults_on_single_server() {
    let started = std::time::Instant::now();
    let sb = Sandbox::start("single-server");
    sb.ensure_image();
    sb.firedrill(&["up", "labs/single-server.yaml", "--accel", "tcg"])
        .assert_success("up single-server");
    let base = format!("http://{}", ip_of(&sb, "server"));
    let report = sb.home().join("client-faults.jsonl");
    let client = Client::start_on(&sb, "single-server", "8", &report, "0.3");
    wait_recovered(&report, 10, 90);
    eprintln!("lab up and client steady after {:?}", started.elapsed());
    let show = |prop: &str| {
        ssh_stdout(
            &sb,
            "server",
            &format!("systemctl show -p {prop} --value todo.service"),
        )
    };

    // oom-loop: under the client's load the kernel kills the app, systemd restarts it.
    let from = client_seconds(&report).len();
    let id = apply_fault(&sb, &["oom-loop", "server"]);
    assert_fault_holds(&sb, &id);
    wait_until("the app is OOM-killed and restarted", 240, || {
        show("NRestarts").parse::<u32>().unwrap_or(0) > 0
    });
    let journal = app_journal(&sb, "server");
    assert!(journal.contains("oom-kill"), "{journal}");
    assert!(
        client_window(&report, from).0 > 0,
        "the client saw no failure"
    );
    revert_fault(&sb, &id);
    assert_eq!(show("MemoryMax"), "infinity");
    wait_recovered(&report, 10, 120);
    eprintln!("oom-loop done after {:?}", started.elapsed());

    // fd-exhaustion: the app runs out of descriptors under load.
    let from = client_seconds(&report).len();
    let id = apply_fault(&sb, &["fd-exhaustion", "server"]);
    assert_fault_holds(&sb, &id);
    wait_until("the app logs Too many open files", 180, || {
        app_journal(&sb, "server").contains("Too many open files")
    });
    assert!(
        client_window(&report, from).0 > 0,
        "the client saw no failure"
    );
    revert_fault(&sb, &id);
    let pid = show("MainPID");
    let limits = ssh_stdout(
        &sb,
        "server",
        &format!("grep 'open files' /proc/{pid}/limits"),
    );
    assert!(!limits.contains(" 8 "), "{limits}");
    wait_recovered(&report, 10, 120);
    eprintln!("fd-exhaustion done after {:?}", started.elapsed());

    // slow-disk: the database's cgroup throttles its disk; writes wait.
    let timed_write = || {
        let start = std::time::Instant::now();
        let r = sb.http(
            "POST",
            &format!("{base}/todos"),
            Some(r#"{"name":"e2e-slow-disk","completed":false}"#),
        );
        (r.status, start.elapsed())
    };
    let (status, before) = timed_write();
    assert_eq!(status, 201);
    let id = apply_fault(&sb, &["slow-disk", "server"]);
    assert_fault_holds(&sb, &id);
    let io_max = ssh_stdout(
        &sb,
        "server",
        "cat /sys/fs/cgroup/system.slice/mariadb.service/io.max",
    );
    assert!(io_max.contains("wiops=2"), "{io_max}");
    let (_, slow) = timed_write();
    assert!(
        slow >= before + std::time::Duration::from_millis(300),
        "a write took {before:?} before and {slow:?} with slow-disk"
    );
    revert_fault(&sb, &id);
    // Without limits systemd turns the unit's io controller off: io.max may be gone.
    let io_max = ssh_stdout(
        &sb,
        "server",
        "cat /sys/fs/cgroup/system.slice/mariadb.service/io.max 2>/dev/null || true",
    );
    assert!(!io_max.contains("wiops=2"), "{io_max}");
    wait_recovered(&report, 10, 180);
    let (status, after) = timed_write();
    assert_eq!(status, 201);
    eprintln!(
        "slow-disk: a write {before:?} before, {slow:?} during, {after:?} after; done after {:?}",
        started.elapsed()
    );

    // db-password-rotated: every new connection of the app is refused.
    let from = client_seconds(&report).len();
    let id = apply_fault(&sb, &["db-password-rotated", "server"]);
    assert_fault_holds(&sb, &id);
    let r = sb.http("GET", &format!("{base}/todos"), None);
    assert_eq!(r.status, 500, "{r:?}");
    assert!(r.body.contains("Access denied"), "{r:?}");
    assert!(app_journal(&sb, "server").contains("Access denied"));
    assert!(
        client_window(&report, from).0 > 0,
        "the client saw no failure"
    );
    revert_fault(&sb, &id);
    assert_eq!(sb.http("GET", &format!("{base}/todos"), None).status, 200);
    wait_recovered(&report, 10, 60);
    assert!(
        ssh_stdout(&sb, "server", "sudo ls /var/lib/firedrill")
            .lines()
            .all(|l| !l.contains("db-password")),
        "the saved hash is removed"
    );

    let summary = client.stop(&report);
    eprintln!("client: {summary}");
    let ledger = report.with_extension("ledger");
    let verify = sb.firedrill(&[
        "client",
        "verify",
        "--lab",
        "single-server",
        "--ledger",
        ledger.to_str().expect("utf-8 path"),
    ]);
    verify.assert_success("client verify");
    assert!(verify.stdout.contains("\n0 of "), "{}", verify.stdout);
    sb.firedrill(&["down"]).assert_success("down");
    eprintln!(
        "e2e_resource_and_credential_faults_on_single_server took {:?}",
        started.elapsed()
    );
}

/// Failed requests of `class` (or all failures with "any") in the seconds after the first `from`.
fn client_failures(report: &std::path::Path, from: usize, class: &str) -> u64 {
    client_seconds(report)
        .iter()
        .skip(from)
        .map(|s| {
            if class == "any" {
                s["failed"].as_u64().unwrap_or(0)
            } else {
                s["classes"][class].as_u64().unwrap_or(0)
            }
        })
        .sum()
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
}

/// The fault kinds that stop a process, use up inodes, flood a log and jump the clock, on the
/// smallest lab with the app (one node: app and MariaDB), under a mock client: process-freeze
/// (systemd says active, the client's requests time out), inode-exhaustion (uploads fail with
/// room on the disk), log-flood (the disk fills; uploads fail), clock-jump with `--for`
/// ("today" moves; the node's own timer puts the clock back). Each is reverted and the
/// service recovers, with nothing left behind. Measured under TCG: 703 s in all (the boot 157 s,
/// the log filling 5.9 GiB in 173 s, the clock-jump step 195 s with its 90 s timer).
#[test]
#[ignore = "boots VMs as root: scripts/test"]
fn e2e_process_inode_log_clock_faults_on_single_server() {
    let began = std::time::Instant::now();
    let elapsed = |since: std::time::Instant| format!("{:.0} s", since.elapsed().as_secs_f64());
    let sb = Sandbox::start("single-server");
    sb.ensure_image();
    sb.firedrill(&["up", "labs/single-server.yaml", "--accel", "tcg"])
        .assert_success("up single-server");
    eprintln!("timing: lab up after {}", elapsed(began));
    let base = format!("http://{}", ip_of(&sb, "server"));
    let list = sb.firedrill(&["fault", "list"]);
    list.assert_success("fault list");
    for kind in [
        "process-freeze",
        "inode-exhaustion",
        "log-flood",
        "clock-jump",
    ] {
        assert!(list.stdout.contains(kind), "{}", list.stdout);
    }

    let report = sb.home().join("client-faults.jsonl");
    let client = Client::start_on(&sb, "single-server", "5", &report, "0.1");
    wait_until("the client gets answers", 60, || {
        client_seconds(&report)
            .iter()
            .any(|s| s["ok"].as_u64().unwrap_or(0) > 0)
    });

    // process-freeze: the app is "active" to systemd and answers nothing.
    let step = std::time::Instant::now();
    let mark = client_seconds(&report).len();
    let id = apply_fault(&sb, &["process-freeze", "server"]);
    assert_fault_holds(&sb, &id);
    assert_eq!(
        ssh_stdout(&sb, "server", "systemctl is-active todo"),
        "active"
    );
    let main = ssh_stdout(&sb, "server", "systemctl show -p MainPID --value todo");
    assert_eq!(
        ssh_stdout(&sb, "server", &format!("ps -o stat= -p {main}"))
            .chars()
            .next(),
        Some('T')
    );
    assert_eq!(sb.http("GET", &format!("{base}/healthz"), None).status, 0);
    wait_until("the client's requests time out", 60, || {
        client_failures(&report, mark, "timeout") > 0
    });
    revert_fault(&sb, &id);
    assert_eq!(sb.http("GET", &format!("{base}/todos"), None).status, 200);
    assert_eq!(
        ssh_stdout(&sb, "server", "systemctl show -p MainPID --value todo"),
        main,
        "the same process answers again"
    );
    eprintln!("timing: process-freeze {}", elapsed(step));

    // inode-exhaustion: uploads fail with "No space left on device" and megabytes free.
    let step = std::time::Instant::now();
    assert_eq!(upload(&sb, &base).status, 201);
    let id = apply_fault(&sb, &["inode-exhaustion", "server"]);
    eprintln!("timing: inode-exhaustion applied in {}", elapsed(step));
    assert_fault_holds(&sb, &id);
    let r = upload(&sb, &base);
    assert_eq!(r.status, 500, "{r:?}");
    assert!(r.body.contains("No space left on device"), "{r:?}");
    let df = ssh_stdout(
        &sb,
        "server",
        "df -B1 --output=iavail,avail /var/lib/todo/uploads | tail -n 1",
    );
    let df: Vec<u64> = df
        .split_whitespace()
        .map(|v| v.parse().expect("df number"))
        .collect();
    assert!(
        df[0] == 0 && df[1] > 50 << 20,
        "inodes and bytes free: {df:?}"
    );
    revert_fault(&sb, &id);
    assert_eq!(upload(&sb, &base).status, 201);
    assert_eq!(
        ssh_stdout(
            &sb,
            "server",
            "findmnt -n /var/lib/todo/uploads || echo none; ls -A /srv | wc -l"
        ),
        "none\n0"
    );
    eprintln!("timing: inode-exhaustion {}", elapsed(step));

    // log-flood: a log under /var/log grows until the disk is full for everyone but root.
    let step = std::time::Instant::now();
    let free = |sb: &Sandbox| -> u64 {
        ssh_stdout(
            sb,
            "server",
            "df -B1 --output=avail /var/lib/todo | tail -n 1",
        )
        .parse()
        .expect("free bytes")
    };
    let free_before = free(&sb);
    let id = apply_fault(&sb, &["log-flood", "server"]);
    wait_until("the log fills the disk", 900, || {
        fault(&sb, &id)["on_node"]["active"] == true
    });
    eprintln!(
        "timing: log-flood filled {} MiB in {}",
        free_before >> 20,
        elapsed(step)
    );
    let r = upload(&sb, &base);
    assert_eq!(r.status, 500, "{r:?}");
    assert!(r.body.contains("No space left on device"), "{r:?}");
    assert!(
        ssh_stdout(&sb, "server", "ps -eo args").contains("/usr/local/bin/sync-agent"),
        "the chatty process is visible under its name"
    );
    revert_fault(&sb, &id);
    assert_eq!(
        ssh_stdout(
            &sb,
            "server",
            "test -e /var/log/sync-agent.log && echo kept || echo removed"
        ),
        "removed"
    );
    let free_after = free(&sb);
    assert!(
        free_after + (64 << 20) > free_before,
        "{free_before} bytes free before, {free_after} after"
    );
    wait_until("uploads work again", 120, || {
        upload(&sb, &base).status == 201
    });
    eprintln!("timing: log-flood {}", elapsed(step));

    // clock-jump with --for: "today" is two days ahead, then the node's timer puts it back.
    let step = std::time::Instant::now();
    let sync_before = ssh_stdout(&sb, "server", "systemctl is-active chrony || true");
    let r = sb.http(
        "POST",
        &format!("{base}/todos"),
        Some(r#"{"name":"e2e-before-the-jump","completed":false}"#),
    );
    assert_eq!(r.status, 201, "{r:?}");
    let today = |sb: &Sandbox| {
        let r = sb.http("GET", &format!("{base}/todos?since=today"), None);
        assert_eq!(r.status, 200, "{r:?}");
        r.body.contains("e2e-before-the-jump")
    };
    // Unless the day ends during the step: the item is then "yesterday" at the end.
    let decisive = unix_now() % 86_400 < 86_400 - 900;
    assert!(today(&sb) || !decisive);
    let id = apply_fault(&sb, &["clock-jump", "server", "--for", "90s"]);
    assert_fault_holds(&sb, &id);
    let ahead = ssh_stdout(&sb, "server", "date +%s")
        .parse::<i64>()
        .expect("epoch")
        - unix_now();
    assert!(
        (ahead - 172_800).abs() < 120,
        "the clock is {ahead} s ahead"
    );
    assert!(
        !today(&sb),
        "an item made before the jump still shows as today"
    );
    assert_eq!(
        ssh_stdout(&sb, "server", "systemctl is-active chrony || true"),
        "inactive"
    );
    wait_until("the node's timer reverts clock-jump", 300, || {
        fault(&sb, &id)["state"] == "reverted"
    });
    let off = ssh_stdout(&sb, "server", "date +%s")
        .parse::<i64>()
        .expect("epoch")
        - unix_now();
    assert!(
        off.abs() < 120,
        "the clock is off by {off} s after the revert"
    );
    assert_eq!(
        ssh_stdout(&sb, "server", "systemctl is-active chrony || true"),
        sync_before
    );
    assert!(today(&sb) || !decisive);
    eprintln!("timing: clock-jump {}", elapsed(step));

    // Recovery as the client sees it: its last 20 seconds all succeeded.
    let mark = client_seconds(&report).len();
    std::thread::sleep(std::time::Duration::from_secs(20));
    assert_eq!(
        client_failures(&report, mark, "any"),
        0,
        "the client still fails after every revert"
    );
    let summary = client.stop(&report);
    assert!(summary["failed"].as_u64().unwrap_or(0) > 0, "{summary}");
    for f in fault_status(&sb)["faults"].as_array().unwrap() {
        assert_eq!(f["state"], "reverted", "{f}");
    }
    sb.firedrill(&["down"]).assert_success("down");
    eprintln!("timing: the whole test {}", elapsed(began));
}

/// The monitor role on the smallest lab that shows it: mon (Prometheus, Alertmanager, the
/// blackbox prober) and web (app and MariaDB). Prometheus scrapes every target and probes the
/// front door; a level paged by NodeDiskFull (`page: {alert: ...}`) is played: its disk-full
/// fault on web makes Alertmanager deliver the page, which `play` shows, and the report gives
/// the time to detect; `give-up` reverts the fault, and Alertmanager delivers the resolution.
/// 515 s under TCG on 2 shared cores (up 334 s on a loaded machine; the page came 1m37s after
/// the fault, the resolution 29 s after give-up); before Alertmanager and the play it was 444 s
/// (up 291 s).
#[test]
#[ignore = "boots VMs as root: scripts/test"]
fn e2e_monitor_scrapes_every_target_and_the_disk_alert_pages_and_resolves() {
    let started = std::time::Instant::now();
    let sb = Sandbox::start("monitored");
    sb.ensure_image();
    let lab = sb.home().join("monitored.yaml");
    std::fs::write(
        &lab,
        "name: monitored\ndefaults:\n  image: debian-12\n  cpus: 1\n  disk: 8\n\
         networks:\n  - name: lan\n    cidr: 10.87.0.0/24\n    mode: nat\nnodes:\n\
         \x20 - name: web\n    roles: [app, mysql]\n    ip: 10.87.0.10\n    memory: 768\n\
         \x20 - name: mon\n    roles: [monitor]\n    ip: 10.87.0.30\n    memory: 640\n",
    )
    .expect("write lab file");
    let lab = lab.to_string_lossy().into_owned();
    sb.firedrill(&["up", &lab, "--accel", "tcg"])
        .assert_success("up");
    eprintln!("# up after {:.0?}", started.elapsed());

    // `open` prints the URL; from inside the lab's namespace, no forwarding hint.
    for (page, url) in [
        ("prometheus", "http://10.87.0.30:9090/\n"),
        ("alertmanager", "http://10.87.0.30:9093/\n"),
    ] {
        let open = sb.firedrill(&["open", page]);
        open.assert_success(&format!("open {page}"));
        assert_eq!(open.stdout, url);
        assert!(!open.stderr.contains("forward"), "{}", open.stderr);
    }
    let api = "http://10.87.0.30:9090/api/v1";

    // Every target up: both node exporters, the MariaDB exporter, the app, Prometheus and
    // Alertmanager, and the blackbox probe of the front door (the app on web: no proxy here).
    let mut seen = Vec::new();
    wait_until("every target up", 240, || {
        let r = sb.http("GET", &format!("{api}/targets?state=active"), None);
        let json: serde_json::Value = serde_json::from_str(&r.body).unwrap_or_default();
        let mut targets: Vec<String> = json["data"]["activeTargets"]
            .as_array()
            .map(|ts| {
                ts.iter()
                    .map(|t| {
                        format!(
                            "{}@{} {}",
                            t["labels"]["job"].as_str().unwrap_or("?"),
                            t["labels"]["node"].as_str().unwrap_or("?"),
                            t["health"].as_str().unwrap_or("?")
                        )
                    })
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        targets.sort();
        if targets != seen {
            eprintln!("# targets: {targets:?}");
            seen = targets.clone();
        }
        targets
            == [
                "alertmanager@mon up",
                "frontdoor@web up",
                "mysql@web up",
                "node@mon up",
                "node@web up",
                "prometheus@mon up",
                "todo@web up",
            ]
    });
    // The probe itself succeeds: the front door answers the prober with a 2xx.
    wait_until("the front door probe succeeds", 60, || {
        let r = sb.http(
            "GET",
            &format!("{api}/query?query=probe_success%7Bjob%3D%22frontdoor%22%7D"),
            None,
        );
        let json: serde_json::Value = serde_json::from_str(&r.body).unwrap_or_default();
        json["data"]["result"][0]["value"][1] == "1"
    });
    // The status line of the monitor role says so too.
    let status = lab_status(&sb);
    assert!(all_healthy(&status), "{status}");
    // A second up finds everything in place and changes nothing.
    let again = sb.firedrill(&["up", &lab, "--accel", "tcg"]);
    again.assert_success("second up");
    assert!(again.stdout.contains("nothing changed"), "{}", again.stdout);

    // A level whose briefing is Alertmanager's page: disk-full on web pages NodeDiskFull.
    let level = sb.home().join("paged-e2e.yaml");
    std::fs::write(
        &level,
        "id: paged-e2e\ntitle: Paged by the monitoring\ndifficulty: easy\nminutes: 10\n\
         lab: monitored.yaml\npage: {alert: NodeDiskFull}\n\
         briefing: You are on call; the page above just came in.\n\
         faults:\n  - {kind: disk-full, node: web, params: {leave: 0}}\n\
         objectives:\n  - id: room\n    description: web has room again\n    check:\n\
         \x20     state:\n        node: web\n\
         \x20       command: test $(df -BM --output=avail / | tail -n 1 | tr -dc 0-9) -ge 200\n\
         \x20       expect: {exit: 0}\n\
         hints:\n  - {text: Read the page's labels, cost: 10}\n\
         debrief: A file under /var/backups filled the disk.\n\
         solution:\n  - {node: web, run: rm -f /var/backups/todo-uploads.tar}\n",
    )
    .expect("write level file");
    let play = sb.firedrill(&["play", &level.to_string_lossy(), "--accel", "tcg"]);
    play.assert_success("play paged-e2e");
    assert!(
        play.stdout
            .contains("waiting for Alertmanager to page NodeDiskFull"),
        "{}",
        play.stdout
    );
    assert!(
        play.stdout.contains("** PAGE from Alertmanager, ")
            && play
                .stdout
                .contains(": NodeDiskFull **\n  / on web is full\n"),
        "{}",
        play.stdout
    );
    let report = sb.home().join("paged.md");
    sb.firedrill(&["report", "--out", &report.to_string_lossy()])
        .assert_success("report");
    let text = std::fs::read_to_string(&report).expect("report written");
    let detect = text
        .lines()
        .find(|l| l.starts_with("- Time to detect: "))
        .unwrap_or_else(|| panic!("no time to detect in the report:\n{text}"));
    assert!(
        detect.ends_with(
            ", from the first fault to Alertmanager's page (NodeDiskFull: / on web is full)."
        ),
        "{detect}"
    );
    eprintln!("# {detect}");
    sb.firedrill(&["give-up"]).assert_success("give-up");
    let gave_up = std::time::Instant::now();

    // Alertmanager delivered the alert firing, then (after the revert) resolved, to the
    // receiver on mon.
    let deliveries = || -> Vec<String> {
        let out = sb.firedrill(&[
            "ssh",
            "mon",
            "--",
            "cat",
            "/var/lib/firedrill-pages/notifications.jsonl",
        ]);
        out.stdout
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .flat_map(|n| {
                n["notification"]["alerts"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .filter(|a| a["labels"]["alertname"] == "NodeDiskFull" && a["labels"]["node"] == "web")
            .map(|a| a["status"].as_str().unwrap_or("?").to_string())
            .collect()
    };
    wait_until(
        "NodeDiskFull delivered resolved after the revert",
        240,
        || deliveries().last().is_some_and(|s| s == "resolved"),
    );
    let statuses = deliveries();
    assert_eq!(
        statuses.first().map(String::as_str),
        Some("firing"),
        "{statuses:?}"
    );
    eprintln!(
        "# NodeDiskFull delivered resolved {:.0?} after give-up (deliveries: {statuses:?})",
        gave_up.elapsed()
    );
    sb.firedrill(&["down"]).assert_success("down");
    eprintln!("# total {:.0?}", started.elapsed());
}

/// The smallest lab with a router: `pc` on lan, `web` on dmz (routed through `gw`), `gw` on
/// both with the router role, forwarding only ICMP and TCP 8000 from lan to dmz, and the DNS
/// server of both (the dns role: pc and web resolve through it).
const ROUTED_LAB: &str = "name: routed
networks:
  - {name: lan, cidr: 10.91.0.0/24}
  - {name: dmz, cidr: 10.92.0.0/24, mode: routed, router: gw, dns: {www: web}}
defaults: {memory: 384}
nodes:
  - name: gw
    roles: [router, dns]
    networks: [{name: lan, ip: 10.91.0.2}, {name: dmz, ip: 10.92.0.2}]
    router: {forward: drop, allow: [{from: lan, to: dmz, tcp: [8000]}]}
  - {name: pc, network: lan, routes: [{to: dmz, via: gw}]}
  - {name: web, network: dmz}
";

/// Two networks and a router: the lab comes up with a NIC per network, a ping and an HTTP
/// request from lan cross the router (one hop: TTL 63), a port the router's nftables does not
/// allow stays closed; pc and web resolve the lab's names (a node on the other network, a
/// `dns:` name) through BIND on gw, and a learner's edit of the zone answers after a reload
/// (on pc once the resolver's cached answer is flushed); route-missing, dns-wrong-record and
/// dns-stale are applied and reverted; `down` removes both networks.
#[test]
#[ignore = "boots VMs as root: scripts/test"]
fn e2e_two_networks_through_a_router() {
    let sb = Sandbox::start("routed");
    sb.ensure_image();
    let file = sb.home().join("routed.yaml");
    std::fs::write(&file, ROUTED_LAB).expect("write the lab file");
    let file = file.to_string_lossy().into_owned();

    let up = sb.firedrill(&["up", &file, "--accel", "tcg"]);
    up.assert_success("up");

    // gw has an interface on each network, forwards, and runs the rules from the lab file.
    let addrs = ssh_stdout(&sb, "gw", "ip -4 -o addr show");
    assert!(
        addrs.contains("10.91.0.2/24") && addrs.contains("10.92.0.2/24"),
        "{addrs}"
    );
    assert_eq!(
        ssh_stdout(&sb, "gw", "cat /proc/sys/net/ipv4/ip_forward"),
        "1"
    );
    let rules = ssh_stdout(&sb, "gw", "sudo nft list ruleset");
    assert!(rules.contains("tcp dport 8000 accept"), "{rules}");

    // pc's route to dmz goes via gw; web's default route is gw.
    let via = ssh_stdout(&sb, "pc", "ip route get 10.92.0.10");
    assert!(via.contains("via 10.91.0.2 dev eth0"), "{via}");
    let default = ssh_stdout(&sb, "web", "ip route show default");
    assert!(default.contains("via 10.92.0.2"), "{default}");

    // Names come from BIND on gw, each node asking gw's address on its own network: lan's
    // dnsmasq knows no `web` (it is on dmz only), dmz's knows no `pc`.
    let resolv = ssh_stdout(&sb, "pc", "cat /etc/resolv.conf");
    assert!(resolv.contains("nameserver 10.91.0.2"), "{resolv}");
    assert_eq!(
        ssh_stdout(&sb, "pc", "getent hosts web | cut -d' ' -f1"),
        "10.92.0.10"
    );
    assert_eq!(
        ssh_stdout(&sb, "web", "getent hosts pc | cut -d' ' -f1"),
        "10.91.0.10"
    );
    // gw's named is also the lab's caching resolver: an edit of the zone answers at once on
    // gw (the zone's own view, 127.0.0.1), while pc keeps the answer the resolver cached
    // until the name is flushed.
    let www = ssh_stdout(&sb, "pc", "dig +noall +answer www.routed.lab");
    assert!(www.contains("300") && www.ends_with("10.92.0.10"), "{www}");
    ssh_stdout(
        &sb,
        "gw",
        "sudo sed -i 's/^www\tIN\tA\t.*/www\tIN\tA\t10.92.0.99/' /etc/bind/db.routed.lab \
         && sudo rndc reload routed.lab",
    );
    wait_until("the edited zone answers", 30, || {
        let out = sb.firedrill(&["ssh", "gw", "--", "dig +short @127.0.0.1 www.routed.lab"]);
        out.stdout.trim() == "10.92.0.99"
    });
    let ask_www = || ssh_stdout(&sb, "pc", "dig +short www.routed.lab");
    assert_eq!(ask_www(), "10.92.0.10", "the resolver's cached answer");
    ssh_stdout(&sb, "gw", "sudo rndc flushname www.routed.lab");
    assert_eq!(ask_www(), "10.92.0.99", "after the flush");

    // A ping crosses gw: one hop, so the answer's TTL is 64 - 1.
    let ping = ssh_stdout(&sb, "pc", "ping -c 1 -W 5 10.92.0.10");
    assert!(
        ping.contains("1 received") && ping.contains("ttl=63"),
        "{ping}"
    );

    // HTTP on web's port 8000 crosses it too; its port 22 is not in `allow`.
    ssh_stdout(
        &sb,
        "web",
        "sudo systemd-run --unit=fd-http --property=WorkingDirectory=/etc python3 -m http.server 8000",
    );
    wait_until("web serves on 8000 through gw", 30, || {
        let out = sb.firedrill(&[
            "ssh",
            "pc",
            "--",
            "curl -s --max-time 5 http://10.92.0.10:8000/hostname",
        ]);
        out.stdout.trim() == "web"
    });
    let blocked = sb.firedrill(&[
        "ssh",
        "pc",
        "--",
        "timeout 5 bash -c '</dev/tcp/10.92.0.10/22' && echo open || echo closed",
    ]);
    assert_eq!(blocked.stdout.trim(), "closed", "{}", blocked.stderr);

    // route-missing: pc loses its route to dmz, so web is out of reach (lan still works);
    // revert puts the route back as `ip route` printed it.
    let http = "curl -s --max-time 5 http://10.92.0.10:8000/hostname";
    sb.firedrill(&[
        "fault",
        "apply",
        "route-missing",
        "pc",
        "--param",
        "to=10.92.0.0/24",
    ])
    .assert_success("fault apply route-missing");
    let cut = sb.firedrill(&["ssh", "pc", "--", http]);
    assert_ne!(
        cut.stdout.trim(),
        "web",
        "web still answers without the route"
    );
    sb.firedrill(&["ssh", "pc", "--", "ping", "-c", "1", "-W", "5", "10.91.0.2"])
        .assert_success("lan still works");
    sb.firedrill(&["fault", "revert", "--all"])
        .assert_success("revert route-missing");
    assert_eq!(ssh_stdout(&sb, "pc", http), "web", "the route is back");

    // dns-wrong-record on gw: `web` leads elsewhere (another node's address, from the zone),
    // so a request by name no longer reaches web; revert loads the right record again.
    let by_name = "curl -s --max-time 5 http://web:8000/hostname";
    assert_eq!(ssh_stdout(&sb, "pc", by_name), "web");
    let ask = || ssh_stdout(&sb, "pc", "dig +short @10.91.0.2 web.routed.lab");
    // With a wrong address the request fails (curl exits non-zero) or another server answers.
    let reaches_web = || sb.firedrill(&["ssh", "pc", "--", by_name]).stdout.trim() == "web";
    let id = apply_fault(&sb, &["dns-wrong-record", "gw", "--param", "name=web"]);
    assert_fault_holds(&sb, &id);
    let wrong = ask();
    assert!(
        !wrong.is_empty() && wrong != "10.92.0.10",
        "web still resolves to {wrong:?}"
    );
    assert!(!reaches_web(), "a request by name still reaches web");
    let serial = ssh_stdout(
        &sb,
        "gw",
        "dig +short @127.0.0.1 routed.lab SOA | cut -d' ' -f3",
    );
    assert_ne!(serial, "1", "the zone's serial was raised");
    revert_fault(&sb, &id);
    assert_eq!(ask(), "10.92.0.10");
    assert_eq!(ssh_stdout(&sb, "pc", by_name), "web");

    // dns-stale on gw: the zone is right, the resolver keeps an old answer for `web` (another
    // node's address) with a day's TTL; revert makes it forget.
    let id = apply_fault(&sb, &["dns-stale", "gw", "--param", "name=web"]);
    assert_fault_holds(&sb, &id);
    let stale = ask();
    assert!(
        !stale.is_empty() && stale != "10.92.0.10",
        "the resolver answers {stale:?}"
    );
    assert_eq!(
        ssh_stdout(&sb, "gw", "dig +short @127.0.0.1 web.routed.lab"),
        "10.92.0.10",
        "the zone is right"
    );
    assert!(!reaches_web(), "a request by name still reaches web");
    revert_fault(&sb, &id);
    assert_eq!(ask(), "10.92.0.10");
    assert_eq!(ssh_stdout(&sb, "pc", by_name), "web");

    let down = sb.firedrill(&["down"]);
    down.assert_success("down");
    let nets = sb.run_in_ns(&[
        "virsh",
        "-c",
        "qemu:///system",
        "net-list",
        "--all",
        "--name",
    ]);
    assert!(!nets.stdout.contains("fd-routed-"), "{}", nets.stdout);
    let doms = sb.run_in_ns(&["virsh", "-c", "qemu:///system", "list", "--all", "--name"]);
    assert!(!doms.stdout.contains("fd-routed-"), "{}", doms.stdout);
}

/// The shipped network lab (labs/network.yaml) as a learner gets it: the three-tier service
/// with lb on lan and the app servers and the database on dmz behind the router gw. Requests
/// through lb cross gw (lb to app1/app2 on 8080) and the mock client sees no failure and loses
/// no write; gw forwards nothing else (lb cannot open db's MySQL port, app1 on dmz can); every
/// node resolves the others through BIND on gw, and the apps their database by the name
/// `database`; the topology drawing shows both networks and the router; `down` removes both
/// networks. Five nodes: FIREDRILL_E2E=all only.
#[test]
#[ignore = "boots VMs as root: scripts/test"]
fn e2e_network_lab_serves_through_the_router() {
    let sb = Sandbox::start("network");
    sb.ensure_image();
    let started = std::time::Instant::now();
    sb.firedrill(&["up", "labs/network.yaml", "--accel", "tcg"])
        .assert_success("up labs/network.yaml");
    eprintln!("# up labs/network.yaml took {:?}", started.elapsed());
    let status = lab_status(&sb);
    assert!(all_healthy(&status), "{status:#}");
    let ip = |name: &str| node_ip(&status, name);
    let (lb, gw_lan, db) = (ip("lb"), "10.84.0.2", ip("db"));
    assert!(lb.starts_with("10.84.0."), "lb is on lan: {lb}");
    assert!(db.starts_with("10.85.0."), "db is on dmz: {db}");

    // lb's way to dmz is gw, and the app servers answer lb through it.
    let via = ssh_stdout(&sb, "lb", &format!("ip route get {db}"));
    assert!(via.contains(&format!("via {gw_lan}")), "{via}");
    let served_by: std::collections::BTreeSet<String> = served_by_n(&sb, 8).into_iter().collect();
    assert_eq!(
        served_by,
        ["app1", "app2"].iter().map(|s| s.to_string()).collect()
    );

    // The mock client through lb: nothing fails, no acknowledged write is lost.
    let ledger = sb.home().join("writes.jsonl").display().to_string();
    let client = sb.firedrill(&[
        "client",
        "--rate",
        "5",
        "--duration",
        "20s",
        "--write-ratio",
        "0.3",
        "--slo",
        "100",
        "--ledger",
        &ledger,
    ]);
    client.assert_success("client through lb and gw");
    let verified = sb.firedrill(&["client", "verify", "--ledger", &ledger]);
    verified.assert_success("client verify");
    assert!(
        verified.stdout.contains("\n0 of ")
            && verified.stdout.contains(" acknowledged writes lost\n"),
        "{}",
        verified.stdout
    );

    // gw forwards lan to dmz on 8080 only: MySQL on db is closed to lb, open to app1 (dmz).
    let probe = format!("timeout 5 bash -c '</dev/tcp/{db}/3306' && echo open || echo closed");
    assert_eq!(ssh_stdout(&sb, "lb", &probe), "closed");
    assert_eq!(ssh_stdout(&sb, "app1", &probe), "open");

    // Names from BIND on gw, from both networks.
    let resolv = ssh_stdout(&sb, "lb", "cat /etc/resolv.conf");
    assert!(resolv.contains(&format!("nameserver {gw_lan}")), "{resolv}");
    assert_eq!(
        ssh_stdout(&sb, "lb", "getent hosts app1 | cut -d' ' -f1"),
        ip("app1")
    );
    assert_eq!(
        ssh_stdout(&sb, "app2", "getent hosts lb | cut -d' ' -f1"),
        lb
    );
    // The apps reach the database by the name `database` of gw's zone, looked up through gw
    // (the dns-stale level relies on it).
    let hosts = ssh_stdout(&sb, "app1", "sudo grep '^host = ' /etc/todo/config.ini");
    assert!(hosts.contains("host = database.network.lab"), "{hosts}");
    assert_eq!(
        ssh_stdout(&sb, "app1", "getent hosts database | cut -d' ' -f1"),
        db
    );

    let svg = sb.firedrill(&["topology", "labs/network.yaml", "--format", "svg"]);
    svg.assert_success("topology");
    for name in ["lan", "dmz", "gw", "lb", "db"] {
        assert!(svg.stdout.contains(name), "{name} missing in the drawing");
    }

    sb.firedrill(&["down"]).assert_success("down");
    let nets = sb.run_in_ns(&[
        "virsh",
        "-c",
        "qemu:///system",
        "net-list",
        "--all",
        "--name",
    ]);
    assert!(!nets.stdout.contains("fd-network-"), "{}", nets.stdout);
}

/// The provision script `export vagrant` renders does on a bare node from the golden image
/// what `up` does: a node booted by `up` without roles gets the app and MySQL from
/// provision/server.sh, run as root as Vagrant's shell provisioner runs it, and serves the
/// todos; a second run changes nothing that breaks it. One node. FIREDRILL_E2E=all only.
#[test]
#[ignore = "boots VMs as root: scripts/test"]
fn e2e_vagrant_provision_script_configures_a_bare_node() {
    let started = std::time::Instant::now();
    let sb = Sandbox::start("vagprov");
    sb.ensure_image();
    let served = "name: vagprov
defaults:
  image: debian-12
networks:
  - name: lan
    cidr: 10.83.0.0/24
nodes:
  - name: server
    ip: 10.83.0.10
    memory: 1024
    roles: [app, mysql]
    app:
      port: 80
";
    let bare = served
        .replace("    roles: [app, mysql]\n", "")
        .replace("    app:\n      port: 80\n", "");
    let files = sb.home().join("vagprov-files");
    std::fs::create_dir_all(&files).expect("create the lab files' directory");
    let (served_file, bare_file) = (files.join("served.yaml"), files.join("bare.yaml"));
    std::fs::write(&served_file, served).expect("write served.yaml");
    std::fs::write(&bare_file, &bare).expect("write bare.yaml");
    let export_dir = files.join("vagrant");
    std::fs::create_dir_all(&export_dir).expect("create the export directory");
    sb.firedrill(&[
        "export",
        "vagrant",
        served_file.to_str().expect("utf-8"),
        "--dir",
        export_dir.to_str().expect("utf-8"),
    ])
    .assert_success("export vagrant");
    let script = export_dir.join("provision/server.sh");
    assert!(script.exists(), "provision/server.sh written");

    sb.firedrill(&["up", bare_file.to_str().expect("utf-8"), "--accel", "tcg"])
        .assert_success("up of the bare node");
    let booted = started.elapsed();
    // Nothing serves yet: the node has no roles.
    assert_eq!(sb.http("GET", "http://10.83.0.10/todos", None).status, 0);

    sb.firedrill(&["ssh-config"]).assert_success("ssh-config");
    let config = sb.lab_file("vagprov", "ssh_config");
    let ssh = |command: &str| {
        vec![
            "ssh".to_string(),
            "-F".into(),
            config.clone(),
            "-o".into(),
            "BatchMode=yes".into(),
            "server".into(),
            command.to_string(),
        ]
    };
    let upload = ssh("cat > /tmp/provision.sh");
    let upload: Vec<&str> = upload.iter().map(String::as_str).collect();
    sb.run_in_ns_with_input(&upload, &script)
        .assert_success("copy provision/server.sh to the node");
    // As Vagrant runs it: as root, the password in the environment.
    let provision = ssh("sudo env FIREDRILL_DB_PASSWORD=VagrantE2ePassw0rd sh /tmp/provision.sh");
    let provision: Vec<&str> = provision.iter().map(String::as_str).collect();
    for run in ["first", "second"] {
        let t = std::time::Instant::now();
        let out = sb.run_in_ns(&provision);
        eprintln!(
            "provision ({run} run, {:.0} s):\n{}{}",
            t.elapsed().as_secs_f64(),
            out.stdout,
            out.stderr
        );
        out.assert_success(&format!("provision/server.sh, {run} run"));
        // `systemctl start` returns before the app listens: under TCG it takes seconds more.
        let t = std::time::Instant::now();
        let todos = loop {
            let todos = sb.http("GET", "http://10.83.0.10/todos", None);
            if todos.status == 200 || t.elapsed() > std::time::Duration::from_secs(90) {
                break todos;
            }
            std::thread::sleep(std::time::Duration::from_secs(2));
        };
        eprintln!(
            "the app answered {:.0} s after the {run} run",
            t.elapsed().as_secs_f64()
        );
        assert_eq!(todos.status, 200, "after the {run} run: {}", todos.body);
        assert!(todos.body.contains("Get Milk"), "{}", todos.body);
        assert_eq!(
            todos.header("X-Served-By"),
            Some("server"),
            "{:?}",
            todos.headers
        );
    }
    // The app's config holds the password the script was given, and records its own digest.
    let check = ssh(
        "sudo sh -c 'grep -c VagrantE2ePassw0rd /etc/todo/config.ini; \
         [ \"$(sha256sum < /etc/todo/config.ini | cut -c1-64)\" = \"$(cat /var/lib/firedrill/written/%etc%todo%config.ini)\" ] && echo recorded'",
    );
    let check: Vec<&str> = check.iter().map(String::as_str).collect();
    let out = sb.run_in_ns(&check);
    out.assert_success("read the app's config");
    assert_eq!(out.stdout.trim(), "1\nrecorded", "{}", out.stdout);
    eprintln!(
        "vagrant provision e2e: booted in {:.0} s, all in {:.0} s",
        booted.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
}
