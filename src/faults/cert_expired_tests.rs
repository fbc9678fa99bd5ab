use super::*;
use crate::faults::testing::{build, node, sh};
use crate::remote::Output;
use crate::spec::Role;

/// The kind's scripts run for real with openssl, in a temporary directory in place of
/// /etc/haproxy/tls and /var/lib/firedrill, with systemctl logging what it was asked.
struct Bench {
    tmp: tempfile::TempDir,
}

impl Bench {
    fn new() -> Bench {
        let bench = Bench {
            tmp: tempfile::tempdir().unwrap(),
        };
        let made = bench.run(&crate::roles::tls_script(
            "three-tier",
            "lb",
            "10.78.0.10".parse().unwrap(),
        ));
        assert_eq!(made.stdout_str(), "made\n", "{made:?}");
        bench
    }

    fn path(&self, name: &str) -> String {
        self.tmp.path().join(name).to_str().unwrap().to_string()
    }

    fn run(&self, script: &str) -> Output {
        let tls = self.path("tls");
        let script = script
            .replace(&var("d", TLS_DIR), &var("d", &tls))
            .replace(&format!("d={TLS_DIR}\n"), &format!("d={tls}\n"))
            .replace(
                &var("pem", TLS_PEM),
                &var("pem", &format!("{tls}/site.pem")),
            )
            .replace(&var("keep", KEEP), &var("keep", &self.path("keep")));
        assert!(!script.contains("/etc/haproxy"), "{script}");
        sh(&format!(
            "systemctl() {{ echo \"$*\" >> {}; }}\nhostname() {{ echo lb.three-tier.lab; }}\n{script}",
            self.path("systemctl.log")
        ))
    }

    fn pem(&self) -> String {
        std::fs::read_to_string(self.path("tls/site.pem")).unwrap()
    }

    fn openssl(&self, args: &str) -> Output {
        sh(&format!("openssl {args} -in {}", self.path("tls/site.pem")))
    }

    fn systemctl(&self) -> String {
        std::fs::read_to_string(self.path("systemctl.log")).unwrap_or_default()
    }
}

fn fault() -> CertExpired {
    let Fault::CertExpired(f) = build("cert-expired", &node("lb", &[Role::Haproxy]), &[]).unwrap()
    else {
        panic!()
    };
    f
}

#[test]
fn it_needs_haproxy() {
    let err = build("cert-expired", &node("app1", &[Role::App]), &[]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "cert-expired does not fit node app1: it needs the haproxy role (haproxy serves HTTPS)"
    );
}

#[test]
fn an_expired_certificate_for_the_same_names_and_key_then_the_original_back() {
    let bench = Bench::new();
    let original = bench.pem();
    let san = bench
        .openssl("x509 -noout -ext subjectAltName")
        .stdout_str();
    assert!(
        san.contains("DNS:lb, DNS:lb.three-tier.lab, DNS:localhost, IP Address:10.78.0.10"),
        "{san}"
    );
    let key = bench.openssl("pkey -pubout").stdout_str();

    let mut f = fault();
    let out = bench.run(&f.prepare_script());
    assert!(out.success(), "{out:?}");
    f.prepared(&Fields::parse(&out.stdout_str())).unwrap();

    let out = bench.run(&f.inject_script());
    assert!(out.success(), "{out:?}");
    assert_ne!(bench.pem(), original);
    assert!(!bench.openssl("x509 -noout -checkend 0").success());
    assert_eq!(
        bench
            .openssl("x509 -noout -ext subjectAltName")
            .stdout_str(),
        san
    );
    assert_eq!(bench.openssl("pkey -pubout").stdout_str(), key);
    let verify = sh(&format!(
        "openssl verify -CAfile {} {}",
        bench.path("tls/ca.pem"),
        bench.path("tls/site.pem")
    ));
    let said = format!(
        "{}{}",
        verify.stdout_str(),
        String::from_utf8_lossy(&verify.stderr)
    );
    assert!(said.contains("certificate has expired"), "{said}");
    assert_eq!(bench.systemctl(), "reload haproxy\n");

    let out = bench.run(&f.revert_script(Some(1)));
    assert!(out.success(), "{out:?}");
    assert_eq!(
        out.stdout_str(),
        "put back the certificate $pem had before\n".replace("$pem", &bench.path("tls/site.pem"))
            + "reloaded haproxy\n"
    );
    assert_eq!(bench.pem(), original);
    assert!(!std::path::Path::new(&bench.path("keep")).exists());
    // Twice in a row: nothing left to do.
    let again = bench.run(&f.revert_script(None));
    assert_eq!((again.status, again.stdout_str()), (0, String::new()));
}

#[test]
fn a_certificate_the_learner_issued_stays() {
    let bench = Bench::new();
    let mut f = fault();
    let out = bench.run(&f.prepare_script());
    f.prepared(&Fields::parse(&out.stdout_str())).unwrap();
    assert!(bench.run(&f.inject_script()).success());
    // The learner's fix: a new certificate from the lab CA.
    std::fs::remove_file(bench.path("tls/site.pem")).unwrap();
    assert!(
        bench
            .run(&crate::roles::tls_script(
                "three-tier",
                "lb",
                "10.78.0.10".parse().unwrap()
            ))
            .success()
    );
    let theirs = bench.pem();
    let out = bench.run(&f.revert_script(Some(1)));
    assert!(out.success(), "{out:?}");
    assert!(out.stdout_str().starts_with("kept "), "{out:?}");
    assert_eq!(bench.pem(), theirs);
}

#[test]
fn the_verdict_reads_what_haproxy_serves() {
    let f = fault();
    let v = f.verdict(
        &Fields::parse("served=expired\nuntil=Nov 28 21:50:48 2026 GMT\n"),
        0,
    );
    assert_eq!(
        v,
        Verdict {
            active: true,
            detail: "haproxy serves a certificate that expired Nov 28 21:50:48 2026 GMT".into()
        }
    );
    assert!(
        !f.verdict(&Fields::parse("served=valid\nuntil=x\n"), 0)
            .active
    );
    assert_eq!(
        f.verdict(&Fields::parse("served=none\nuntil=\n"), 0).detail,
        "haproxy serves no certificate on port 443"
    );
    // Nothing recorded, nothing to undo.
    assert_eq!(f.revert_script(None), "echo 'nothing was changed'\n");
}
