//! HTTPS for the client: which certificates it trusts, the name it checks the server's
//! certificate against, and a failed handshake in a learner's words. A certificate the client
//! refuses is a failure of class `tls` with its reason ("certificate expired 2 days ago"), as a
//! browser or a mobile app would refuse it; the client never skips the check.
//!
//! rustls with ring (the crypto russh already brings). Each new connection's handshake resumes
//! an earlier session when the server allows it, as browsers do.

use super::ClientError;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{CertificateError, ClientConfig, Error, RootCertStore};
use std::fmt;
use std::path::Path;
use std::sync::Arc;
use tokio_rustls::TlsConnector;

/// The CA certificates of `cacert` (a PEM file, as `curl --cacert` reads), or this host's
/// trusted CAs without it.
pub(crate) fn client_config(cacert: Option<&Path>) -> Result<Arc<ClientConfig>, ClientError> {
    let mut roots = RootCertStore::empty();
    match cacert {
        Some(path) => {
            let bad = |reason: String| ClientError::CaCert {
                path: path.to_path_buf(),
                reason,
            };
            let text = std::fs::read(path).map_err(|e| bad(format!("cannot read it: {e}")))?;
            let certs = CertificateDer::pem_slice_iter(&text)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| bad(format!("not PEM ({e})")))?;
            if certs.is_empty() {
                return Err(bad(
                    "it holds no certificate (-----BEGIN CERTIFICATE-----)".into()
                ));
            }
            for cert in certs {
                roots
                    .add(cert)
                    .map_err(|e| bad(format!("a certificate in it is not usable: {e}")))?;
            }
        }
        None => {
            // A store that cannot be read leaves fewer CAs trusted: the handshake then says
            // "unknown CA", and its reason names --cacert.
            let found = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(found.certs);
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ClientError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// What a connection to one HTTPS host needs: the configuration and the name the server's
/// certificate must carry (the URL's host: a DNS name or an address).
#[derive(Clone)]
pub(crate) struct TlsTarget {
    pub(crate) connector: TlsConnector,
    pub(crate) name: ServerName<'static>,
}

impl fmt::Debug for TlsTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsTarget")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl TlsTarget {
    /// `host` as a URL gives it (an IPv6 address in brackets).
    pub(crate) fn new(config: Arc<ClientConfig>, host: &str) -> Result<TlsTarget, String> {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let name = ServerName::try_from(bare.to_string()).map_err(|_| {
            format!("{host} is not a DNS name or an address a certificate can name")
        })?;
        Ok(TlsTarget {
            connector: TlsConnector::from(config),
            name,
        })
    }
}

/// The TLS error behind a failed exchange: rustls' own, or inside the `io::Error` that
/// tokio-rustls wraps it in (whose `source()` skips it).
pub(crate) fn tls_error<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a Error> {
    let mut cause = Some(err);
    while let Some(e) = cause {
        if let Some(t) = e.downcast_ref::<Error>() {
            return Some(t);
        }
        if let Some(t) = e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|inner| inner.downcast_ref::<Error>())
        {
            return Some(t);
        }
        cause = e.source();
    }
    None
}

/// How long ago or ahead `secs` (since the epoch) is from `now`, in the largest whole unit.
fn distance(now: u64, then: u64) -> String {
    let d = now.abs_diff(then);
    let (n, unit) = match d {
        0..120 => (d, "second"),
        120..7200 => (d / 60, "minute"),
        7200..172_800 => (d / 3600, "hour"),
        _ => (d / 86_400, "day"),
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

fn date(secs: u64) -> String {
    i64::try_from(secs)
        .ok()
        .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
        .map_or_else(
            || secs.to_string(),
            |t| t.format("%Y-%m-%d %H:%M UTC").to_string(),
        )
}

/// The reason a learner reads for a refused handshake.
pub(crate) fn reason(err: &Error) -> String {
    use CertificateError as C;
    match err {
        Error::InvalidCertificate(c) => match c {
            C::ExpiredContext { time, not_after } => format!(
                "certificate expired {} ago (not after {})",
                distance(time.as_secs(), not_after.as_secs()),
                date(not_after.as_secs())
            ),
            C::Expired => "certificate expired".into(),
            C::NotValidYetContext { time, not_before } => format!(
                "certificate not valid for another {} (not before {}): is a clock wrong?",
                distance(time.as_secs(), not_before.as_secs()),
                date(not_before.as_secs())
            ),
            C::NotValidYet => "certificate not valid yet: is a clock wrong?".into(),
            C::UnknownIssuer => {
                "certificate signed by a CA this client does not trust (a lab's CA: --cacert FILE)"
                    .into()
            }
            C::NotValidForNameContext {
                expected,
                presented,
            } => format!(
                "certificate is not for {} (it names {})",
                expected.to_str(),
                presented.join(", ")
            ),
            C::NotValidForName => "certificate is not for this host".into(),
            C::BadSignature => "certificate's signature does not match its CA".into(),
            C::Revoked => "certificate revoked".into(),
            other => format!("bad certificate ({other:?})"),
        },
        Error::AlertReceived(alert) => format!("the server ended the handshake ({alert:?})"),
        Error::NoCertificatesPresented => "the server presented no certificate".into(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::UnixTime;
    use std::time::Duration;

    fn at(secs: u64) -> UnixTime {
        UnixTime::since_unix_epoch(Duration::from_secs(secs))
    }

    #[test]
    fn reasons_say_what_is_wrong_with_the_certificate() {
        let now = 1_764_547_200; // 2025-12-01 00:00 UTC
        let expired = Error::InvalidCertificate(CertificateError::ExpiredContext {
            time: at(now),
            not_after: at(now - 2 * 86_400),
        });
        assert_eq!(
            reason(&expired),
            "certificate expired 2 days ago (not after 2025-11-29 00:00 UTC)"
        );
        let early = Error::InvalidCertificate(CertificateError::NotValidYetContext {
            time: at(now),
            not_before: at(now + 90),
        });
        assert_eq!(
            reason(&early),
            "certificate not valid for another 90 seconds (not before 2025-12-01 00:01 UTC): is a clock wrong?"
        );
        assert_eq!(
            reason(&Error::InvalidCertificate(CertificateError::UnknownIssuer)),
            "certificate signed by a CA this client does not trust (a lab's CA: --cacert FILE)"
        );
        let name = Error::InvalidCertificate(CertificateError::NotValidForNameContext {
            expected: ServerName::try_from("10.78.0.10").expect("an address"),
            presented: vec!["DNS:lb".into(), "DNS:localhost".into()],
        });
        assert_eq!(
            reason(&name),
            "certificate is not for 10.78.0.10 (it names DNS:lb, DNS:localhost)"
        );
        assert_eq!(distance(100, 100 + 3 * 3600), "3 hours");
        assert_eq!(distance(100, 161), "61 seconds");
        assert_eq!(distance(0, 60 * 60), "60 minutes");
    }

    #[test]
    fn the_tls_error_is_found_inside_an_io_error() {
        let inner = Error::InvalidCertificate(CertificateError::UnknownIssuer);
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, inner.clone());
        assert_eq!(tls_error(&io), Some(&inner));
        let plain = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset");
        assert_eq!(tls_error(&plain), None);
    }

    #[test]
    fn a_cacert_file_must_hold_a_certificate() {
        let dir = tempfile::tempdir().expect("tempdir");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").expect("write");
        assert_eq!(
            client_config(Some(&empty))
                .map(|_| ())
                .map_err(|e| e.to_string()),
            Err(format!(
                "--cacert {}: it holds no certificate (-----BEGIN CERTIFICATE-----); give the PEM file of the CA that signed the server's certificate, e.g. a lab's /etc/haproxy/tls/ca.pem",
                empty.display()
            ))
        );
        let missing = dir.path().join("missing.pem");
        assert!(
            client_config(Some(&missing))
                .map_err(|e| e.to_string())
                .is_err_and(|e| e.contains("cannot read it"))
        );
        assert!(client_config(None).is_ok());
    }

    #[test]
    fn the_server_name_is_the_url_host() {
        let config = client_config(None).expect("config");
        let t = TlsTarget::new(config.clone(), "10.78.0.10").expect("an address");
        assert_eq!(t.name.to_str(), "10.78.0.10");
        let t = TlsTarget::new(config.clone(), "[::1]").expect("an IPv6 address");
        assert_eq!(t.name.to_str(), "::1");
        let t = TlsTarget::new(config, "lb.three-tier.lab").expect("a name");
        assert_eq!(t.name.to_str(), "lb.three-tier.lab");
    }
}
