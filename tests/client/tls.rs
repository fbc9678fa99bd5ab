//! HTTPS: a TLS server on 127.0.0.1 with certificates made here by openssl, signed by a CA made
//! here too. The client trusts that CA with `--cacert`; a good certificate serves every
//! request, an expired one (signed by the same CA, for the same names) fails every request
//! with class `tls` and says why, and without `--cacert` the unknown CA does the same.

use super::Client;
use super::server::{Request, TODOS, read_request, respond};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::io::BufReader;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(20);

fn openssl(dir: &Path, args: &str) {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("openssl {args}"))
        .current_dir(dir)
        .output()
        .expect("run openssl (Debian's openssl package)");
    assert!(out.status.success(), "openssl {args}: {out:?}");
}

/// A CA (`ca.pem`), a key, and two certificates for localhost and 127.0.0.1 from that CA:
/// `good.pem` valid for 30 days, `expired.pem` expired two days ago.
fn certificates(dir: &Path) {
    let ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    openssl(
        dir,
        &format!(
            "req -x509 {ec} -keyout ca.key -out ca.pem -days 30 -subj /CN=firedrill-test-ca \
             -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null"
        ),
    );
    openssl(
        dir,
        &format!(
            "req -new {ec} -keyout site.key -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -out site.csr 2>/dev/null"
        ),
    );
    std::fs::write(
        dir.join("ca.cnf"),
        "[ca]\ndefault_ca = lab\n[lab]\ndatabase = index.txt\nnew_certs_dir = .\nserial = serial\n\
         default_md = sha256\npolicy = any\ncopy_extensions = copy\nunique_subject = no\n\
         [any]\ncommonName = supplied\n",
    )
    .expect("write ca.cnf");
    std::fs::write(dir.join("index.txt"), "").expect("write index");
    std::fs::write(dir.join("serial"), "1000\n").expect("write serial");
    let ca = |out: &str, start: &str, end: &str| {
        openssl(
            dir,
            &format!(
                "ca -batch -notext -config ca.cnf -cert ca.pem -keyfile ca.key \
                 -startdate \"$(date -u -d '{start}' +%Y%m%d%H%M%SZ)\" \
                 -enddate \"$(date -u -d '{end}' +%Y%m%d%H%M%SZ)\" -in site.csr -out {out} 2>/dev/null"
            ),
        )
    };
    ca("good.pem", "-1 day", "+30 days");
    ca("expired.pem", "-400 days", "-2 days");
}

/// Serves the todo list over TLS with `cert` and `site.key` on 127.0.0.1 until dropped.
struct TlsServer {
    port: u16,
    received: Arc<Mutex<Vec<Request>>>,
    closed: Arc<AtomicBool>,
}

impl TlsServer {
    fn start(dir: &Path, cert: &str) -> TlsServer {
        let certs = CertificateDer::pem_file_iter(dir.join(cert))
            .expect("read the certificate")
            .collect::<Result<Vec<_>, _>>()
            .expect("PEM");
        let key = PrivateKeyDer::from_pem_file(dir.join("site.key")).expect("the key");
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("a server config");
        let config = Arc::new(config);
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local addr").port();
        listener.set_nonblocking(true).expect("nonblocking");
        let received = Arc::new(Mutex::new(Vec::new()));
        let closed = Arc::new(AtomicBool::new(false));
        let (got, stop) = (received.clone(), closed.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                let Ok((tcp, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(1));
                    continue;
                };
                let _ = tcp.set_nonblocking(false);
                let Ok(conn) = rustls::ServerConnection::new(config.clone()) else {
                    continue;
                };
                let got = got.clone();
                std::thread::spawn(move || {
                    // A refused certificate ends the handshake: the first read fails, and the
                    // thread ends.
                    let mut stream = BufReader::new(rustls::StreamOwned::new(conn, tcp));
                    for n in 1.. {
                        let Some(req) = read_request(&mut stream, n) else {
                            return;
                        };
                        let status = if req.method == "POST" { 201 } else { 200 };
                        let body = if status == 201 {
                            req.body.clone()
                        } else {
                            TODOS.into()
                        };
                        got.lock().expect("lock").push(req);
                        if respond(stream.get_mut(), status, &body).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        TlsServer {
            port,
            received,
            closed,
        }
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        self.closed.store(true, Ordering::SeqCst);
    }
}

fn ca_path(dir: &Path) -> PathBuf {
    dir.join("ca.pem")
}

/// One second of the client at 20 requests per second against `url`, with a report.
fn one_second(url: &str, more: &[&str]) -> super::Run {
    Client::new()
        .args(&["--url", url, "--rate", "20", "--duration", "1s"])
        .args(more)
        .with_report()
        .run(LIMIT)
}

#[test]
fn https_with_the_lab_ca_serves_and_a_refused_certificate_is_a_tls_failure_with_its_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    certificates(dir.path());
    let ca = ca_path(dir.path()).display().to_string();

    // A good certificate, by address and by name: every read and write is served over TLS.
    let good = TlsServer::start(dir.path(), "good.pem");
    for host in ["127.0.0.1", "localhost"] {
        let url = format!("https://{host}:{}/todos", good.port);
        let run = one_second(
            &url,
            &[
                "--cacert",
                &ca,
                "--write-ratio",
                "0.25",
                "--expect",
                "todos[].name:string",
            ],
        );
        assert_eq!(
            run.code, 0,
            "stdout:\n{}\nstderr:\n{}",
            run.stdout, run.stderr
        );
        assert_eq!(
            (run.count("sent"), run.count("ok")),
            (20, 20),
            "{}",
            run.stdout
        );
        assert_eq!(run.class("tls"), 0);
    }
    let got = good.received();
    assert_eq!(got.len(), 40);
    assert_eq!(got.iter().filter(|r| r.method == "POST").count(), 10);
    assert!(got.iter().all(|r| r.path == "/todos"));
    assert_eq!(
        got.iter().filter_map(|r| r.header("host")).next(),
        Some(format!("127.0.0.1:{}", good.port).as_str())
    );

    // Expired two days ago, same CA, same names: refused, class tls, and the summary says why.
    let expired = TlsServer::start(dir.path(), "expired.pem");
    let url = format!("https://localhost:{}/todos", expired.port);
    let run = one_second(&url, &["--cacert", &ca]);
    assert_eq!(
        run.code, 1,
        "stdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
    assert_eq!(
        (run.count("sent"), run.count("failed")),
        (20, 20),
        "{}",
        run.stdout
    );
    assert_eq!(run.class("tls"), 20);
    assert_eq!(run.per_second_sum("failed"), 20);
    let line = run
        .stdout
        .lines()
        .find(|l| l.trim_start().starts_with("tls "))
        .unwrap_or_else(|| panic!("no tls line in the summary:\n{}", run.stdout));
    assert!(
        line.contains("certificate expired 2 days ago (not after "),
        "{line}"
    );
    assert!(
        expired.received().is_empty(),
        "no request reaches the server"
    );

    // The lab CA not given: the certificate is from a CA the client does not know.
    let url = format!("https://127.0.0.1:{}/todos", good.port);
    let run = one_second(&url, &[]);
    assert_eq!(
        (run.count("sent"), run.class("tls")),
        (20, 20),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains(
            "certificate signed by a CA this client does not trust (a lab's CA: --cacert FILE)"
        ),
        "{}",
        run.stdout
    );
}

impl TlsServer {
    fn received(&self) -> Vec<Request> {
        self.received.lock().expect("lock").clone()
    }
}
