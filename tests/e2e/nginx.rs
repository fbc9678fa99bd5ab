//! nginx in front of the app (labs/nginx.yaml).

use super::lab::{all_healthy, lab_status, ssh_stdout, wait_until};
use crate::harness::Sandbox;

pub(super) fn nginx_proxies_limits_bodies_and_forwards_headers() {
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
