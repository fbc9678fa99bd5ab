//! The rendered haproxy.cfg run by a real haproxy on this host, and the health check's
//! `show stat` script run against its runtime socket.
//!
//! NEEDS ROOT. Everything runs inside a fresh network, mount and PID namespace
//! (`unshare --net --mount --pid --fork`): only a loopback exists there, :80 and :8404 are
//! free, `/run` is a private tmpfs, and every process in it ends when the namespace's first
//! process exits. Host packages: haproxy, python3, socat, curl, iproute2, util-linux, openssl,
//! dnsmasq-base (libvirt's).

use super::context::Role;
use super::fixtures;
use super::haproxy;
use super::{Backend, RoleHealth};
use std::net::Ipv4Addr;
use std::process::Command;

/// A fresh directory for test `what`, and the lb fixture listening on 127.0.0.1.
fn setup(what: &str) -> (std::path::PathBuf, super::NodeContext, super::HaproxyConfig) {
    let dir = std::env::temp_dir().join(format!("firedrill-haproxy-{what}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create the test dir");
    let mut ctx = fixtures::lb();
    ctx.ip = Ipv4Addr::LOCALHOST;
    let hp = ctx.haproxy().cloned().expect("haproxy settings");
    (dir, ctx, hp)
}

/// The rendered haproxy.cfg, with the lab CA and certificate made by the role's own script in
/// `dir/tls` and the config pointing there.
pub(super) fn render_with_tls(
    dir: &std::path::Path,
    ctx: &super::NodeContext,
    hp: &super::HaproxyConfig,
) -> String {
    let tls = dir.join("tls");
    let tls_dir = tls.to_str().expect("utf-8 path");
    let made = Command::new("sh")
        .arg("-c")
        .arg(haproxy::tls_script(&ctx.lab, &ctx.node, ctx.ip).replace(
            &format!("d={}\n", haproxy::TLS_DIR),
            &format!("d={tls_dir}\n"),
        ))
        .output()
        .expect("run the TLS script");
    assert_eq!(String::from_utf8_lossy(&made.stdout), "made\n", "{made:?}");
    haproxy::render_config(ctx, hp)
        .expect("renders")
        .replace(haproxy::TLS_PEM, &format!("{tls_dir}/site.pem"))
}

/// app1 has a healthy server on 127.0.0.1:8080; app2 (127.0.0.2:8080) has none.
const SCRIPT: &str = r#"
set -e
ip link set lo up
mount -t tmpfs firedrill-run /run
mkdir -p /run/haproxy
/usr/bin/python3 -c '
import http.server
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"{\"status\": \"ok\"}\n"
        self.send_response(200)
        self.send_header("X-Served-By", "app1")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
http.server.HTTPServer(("127.0.0.1", 8080), H).serve_forever()
' &
app=$!
haproxy -D -p /run/haproxy.pid -f "$1"
# Wait until haproxy has marked app2 DOWN (2 failed checks, 2 s apart) and app1 UP.
for i in $(seq 1 40); do
    sh "$2" > "$3"
    if grep -q '^app,app2,.*,DOWN,' "$3" && grep -q '^app,app1,.*,UP,' "$3"; then break; fi
    sleep 0.5
done
curl -s -D - -o /dev/null --max-time 5 http://127.0.0.1:80/todos > "$4"
curl -s -D - -o /dev/null --max-time 5 --cacert "$5" https://localhost:443/todos > "$6"
kill "$(cat /run/haproxy.pid)" "$app"
"#;

#[test]
#[ignore = "needs root and haproxy: scripts/test"]
fn haproxy_runs_the_rendered_config_and_health_reads_its_socket_needs_root() {
    let (dir, ctx, mut hp) = setup("live");
    hp.backends = vec![
        Backend {
            name: "app1".into(),
            node: "app1".into(),
            ip: Ipv4Addr::new(127, 0, 0, 1),
            host: None,
        },
        Backend {
            name: "app2".into(),
            node: "app2".into(),
            ip: Ipv4Addr::new(127, 0, 0, 2),
            host: None,
        },
    ];
    let cfg = dir.join("haproxy.cfg");
    let stat_sh = dir.join("stat.sh");
    let stat = dir.join("stat.csv");
    let headers = dir.join("headers.txt");
    let tls_headers = dir.join("tls-headers.txt");
    let tls = dir.join("tls");
    std::fs::write(&cfg, render_with_tls(&dir, &ctx, &hp)).expect("write config");
    std::fs::write(&stat_sh, haproxy::api_script("show stat")).expect("write stat script");

    let out = Command::new("timeout")
        .args(["--kill-after=5", "60"])
        .args(["unshare", "--net", "--mount", "--pid", "--fork"])
        .args(["sh", "-c", SCRIPT, "sh"])
        .args([
            &cfg,
            &stat_sh,
            &stat,
            &headers,
            &tls.join("ca.pem"),
            &tls_headers,
        ])
        .output()
        .expect("run unshare");
    assert!(
        out.status.success(),
        "the namespace script failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );

    let csv = std::fs::read_to_string(&stat).expect("show stat output");
    assert_eq!(
        haproxy::judge_stat(&csv),
        RoleHealth {
            role: Role::Haproxy,
            ok: false,
            detail: "1/2 backends UP (app2 DOWN)".into(),
            release: None,
        },
        "show stat said:\n{csv}"
    );
    // haproxy passes the backend's HTTP version through and sends header names in lower case.
    let answer = std::fs::read_to_string(&headers)
        .expect("curl headers")
        .to_lowercase();
    assert!(
        answer.starts_with("http/1.0 200 ok\r\n") && answer.contains("\r\nx-served-by: app1\r\n"),
        "through :80: {answer}"
    );
    // The same service over HTTPS, trusted through the lab CA alone.
    let answer = std::fs::read_to_string(&tls_headers)
        .expect("curl headers over https")
        .to_lowercase();
    assert!(
        answer.starts_with("http/1.0 200 ok\r\n") && answer.contains("\r\nx-served-by: app1\r\n"),
        "through :443: {answer}"
    );
    std::fs::remove_dir_all(&dir).expect("remove the test dir");
}

/// Two app servers (127.0.0.1 says app1, 127.0.0.2 says app2) and a dnsmasq on 127.0.0.53
/// that the namespace's own /etc/resolv.conf names, serving `web.lab.test` from a hosts file.
/// haproxy reaches its one server by that name; the name is repointed from app1 to app2 and
/// dnsmasq told (SIGHUP), without touching haproxy. Prints what answered before and after, the
/// seconds the move took, and whether haproxy is the same process.
const BY_NAME_SCRIPT: &str = r#"
set -e
ip link set lo up
mount -t tmpfs firedrill-run /run
mkdir -p /run/haproxy
for n in 1 2; do
/usr/bin/python3 -c '
import http.server, sys
n = sys.argv[1]
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"{\"status\": \"ok\"}\n"
        self.send_response(200)
        self.send_header("X-Served-By", "app" + n)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
http.server.HTTPServer(("127.0.0." + n, 8080), H).serve_forever()
' $n &
done
echo "127.0.0.1 web.lab.test" > /run/hosts
chmod 644 /run/hosts
echo "nameserver 127.0.0.53" > /run/resolv.conf
mount --bind /run/resolv.conf /etc/resolv.conf
dnsmasq --no-resolv --no-hosts --addn-hosts=/run/hosts --listen-address=127.0.0.53 \
    --bind-interfaces --port=53 --local-ttl=1 --pid-file=/run/dnsmasq.pid
haproxy -D -p /run/haproxy.pid -f "$1"
pid=$(cat /run/haproxy.pid)
served() { curl -s -D - -o /dev/null --max-time 3 http://127.0.0.1:80/todos | tr -d '\r' | sed -n 's/^[Xx]-[Ss]erved-[Bb]y: //p'; }
before=
for i in $(seq 1 40); do before=$(served); [ -n "$before" ] && break; sleep 0.5; done
echo "127.0.0.2 web.lab.test" > /run/hosts
kill -HUP "$(cat /run/dnsmasq.pid)"
start=$(date +%s)
after=
for i in $(seq 1 120); do after=$(served); [ "$after" = app2 ] && break; sleep 0.5; done
echo "before=$before after=$after seconds=$(( $(date +%s) - start )) same_process=$([ "$(cat /run/haproxy.pid)" = "$pid" ] && kill -0 "$pid" && echo yes || echo no)" > "$2"
kill "$(cat /run/haproxy.pid)" "$(cat /run/dnsmasq.pid)"
"#;

#[test]
#[ignore = "needs root, haproxy and dnsmasq: scripts/test"]
fn haproxy_follows_a_repointed_dns_name_without_a_reload_needs_root() {
    let (dir, ctx, mut hp) = setup("dns");
    hp.backends = vec![Backend {
        name: "web".into(),
        node: "app1".into(),
        ip: Ipv4Addr::new(127, 0, 0, 1),
        host: Some("web.lab.test".into()),
    }];
    let rendered = render_with_tls(&dir, &ctx, &hp);
    assert!(
        rendered.contains("server web web.lab.test:8080 check resolvers lab")
            && rendered.contains("\nresolvers lab\n    parse-resolv-conf\n"),
        "the server by name and its resolvers:\n{rendered}"
    );
    let cfg = dir.join("haproxy.cfg");
    let result = dir.join("result.txt");
    std::fs::write(&cfg, rendered).expect("write config");
    let out = Command::new("timeout")
        .args(["--kill-after=5", "120"])
        .args(["unshare", "--net", "--mount", "--pid", "--fork"])
        .args(["sh", "-c", BY_NAME_SCRIPT, "sh"])
        .args([&cfg, &result])
        .output()
        .expect("run unshare");
    assert!(
        out.status.success(),
        "the namespace script failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let said = std::fs::read_to_string(&result).expect("the script's result");
    let field = |k: &str| {
        said.split_whitespace()
            .find_map(|w| w.strip_prefix(&format!("{k}=")))
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(field("before"), "app1", "{said}");
    assert_eq!(
        field("after"),
        "app2",
        "the traffic follows the name: {said}"
    );
    assert_eq!(
        field("same_process"),
        "yes",
        "no reload, no restart: {said}"
    );
    let seconds: u64 = field("seconds").parse().expect("seconds");
    // `hold valid 10s`: the name is asked again within about ten seconds.
    assert!(seconds <= 15, "the move took {seconds} s: {said}");
    eprintln!("haproxy followed the repointed name in {seconds} s");
    std::fs::remove_dir_all(&dir).expect("remove the test dir");
}
