//! What happened to one request, in the words a learner uses: ok, refused, timeout, reset, tls,
//! 5xx, 4xx, 413, json; plus dropped (the client could not send it on time) and other (anything else
//! that went wrong, so that no failure is ever hidden).

use super::tls;
use std::error::Error as StdError;
use std::io::ErrorKind;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Class {
    Ok,
    /// No connection: refused, or the host is unreachable.
    Refused,
    /// No complete answer before the request's deadline (scheduled time + `--timeout`).
    Timeout,
    /// The connection was closed or reset before the answer was complete.
    Reset,
    /// HTTPS: the client refused the server's certificate (expired, unknown CA, another name)
    /// or the handshake failed.
    Tls,
    Http5xx,
    Http413,
    Http4xx,
    /// The answer did not have the shape `--expect` asks for.
    Json,
    /// Anything else: an unexpected status (1xx, 3xx) or a protocol error.
    Other,
    /// The client could not send the request on time: every slot of `--max-inflight` was busy.
    Dropped,
}

impl Class {
    pub(crate) const COUNT: usize = 11;

    /// In display order.
    pub(crate) const ALL: [Class; Class::COUNT] = [
        Class::Ok,
        Class::Refused,
        Class::Timeout,
        Class::Reset,
        Class::Tls,
        Class::Http5xx,
        Class::Http4xx,
        Class::Http413,
        Class::Json,
        Class::Other,
        Class::Dropped,
    ];

    /// The failure classes that were sent, i.e. everything but ok and dropped.
    pub(crate) const FAILED: [Class; 9] = [
        Class::Refused,
        Class::Timeout,
        Class::Reset,
        Class::Tls,
        Class::Http5xx,
        Class::Http4xx,
        Class::Http413,
        Class::Json,
        Class::Other,
    ];

    pub(crate) fn index(self) -> usize {
        match self {
            Class::Ok => 0,
            Class::Refused => 1,
            Class::Timeout => 2,
            Class::Reset => 3,
            Class::Tls => 4,
            Class::Http5xx => 5,
            Class::Http4xx => 6,
            Class::Http413 => 7,
            Class::Json => 8,
            Class::Other => 9,
            Class::Dropped => 10,
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Class::Ok => "ok",
            Class::Refused => "refused",
            Class::Timeout => "timeout",
            Class::Reset => "reset",
            Class::Tls => "tls",
            Class::Http5xx => "5xx",
            Class::Http4xx => "4xx",
            Class::Http413 => "413",
            Class::Json => "json",
            Class::Other => "other",
            Class::Dropped => "dropped",
        }
    }
}

/// The class of an HTTP status, before any `--expect` check.
pub(crate) fn classify_status(status: u16) -> Class {
    match status {
        200..=299 => Class::Ok,
        413 => Class::Http413,
        400..=499 => Class::Http4xx,
        500..=599 => Class::Http5xx,
        _ => Class::Other,
    }
}

/// The class of a transport error, found by walking the error's causes: hyper wraps the
/// `io::Error` that says what the kernel saw, or the TLS error (which comes first: it names what
/// the user would be told).
pub(crate) fn classify_error(err: &(dyn StdError + 'static), is_connect: bool) -> Class {
    if tls::tls_error(err).is_some() {
        return Class::Tls;
    }
    let mut cause: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = cause {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            match io.kind() {
                ErrorKind::ConnectionRefused
                | ErrorKind::HostUnreachable
                | ErrorKind::NetworkUnreachable
                | ErrorKind::AddrNotAvailable => return Class::Refused,
                ErrorKind::ConnectionReset
                | ErrorKind::ConnectionAborted
                | ErrorKind::BrokenPipe
                | ErrorKind::UnexpectedEof => return Class::Reset,
                ErrorKind::TimedOut => return Class::Timeout,
                _ => {}
            }
        }
        if let Some(h) = e.downcast_ref::<hyper::Error>()
            && h.is_incomplete_message()
        {
            return Class::Reset;
        }
        cause = e.source();
    }
    if is_connect {
        Class::Refused
    } else {
        Class::Other
    }
}

/// A short reason for the summary: the innermost cause says most ("Connection refused (os
/// error 111)"), the outer layers only repeat "client error (Connect)"; a TLS error in the
/// learner's words ("certificate expired 2 days ago ...").
pub(crate) fn error_reason(err: &(dyn StdError + 'static)) -> String {
    if let Some(t) = tls::tls_error(err) {
        return tls::reason(t);
    }
    let mut last = err;
    while let Some(next) = last.source() {
        last = next;
    }
    last.to_string()
}

pub(crate) fn timeout_reason(timeout: Duration) -> String {
    format!(
        "no complete answer within {}",
        super::output::fmt_latency(timeout)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Wrap(Box<dyn StdError + 'static>);
    impl std::fmt::Display for Wrap {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("client error (Connect)")
        }
    }
    impl StdError for Wrap {
        fn source(&self) -> Option<&(dyn StdError + 'static)> {
            Some(self.0.as_ref())
        }
    }

    fn io(kind: ErrorKind) -> Wrap {
        Wrap(Box::new(std::io::Error::new(kind, "boom")))
    }

    #[test]
    fn statuses() {
        assert_eq!(classify_status(200), Class::Ok);
        assert_eq!(classify_status(201), Class::Ok);
        assert_eq!(classify_status(413), Class::Http413);
        assert_eq!(classify_status(404), Class::Http4xx);
        assert_eq!(classify_status(500), Class::Http5xx);
        assert_eq!(classify_status(503), Class::Http5xx);
        assert_eq!(classify_status(301), Class::Other);
    }

    #[test]
    fn transport_errors_by_cause() {
        assert_eq!(
            classify_error(&io(ErrorKind::ConnectionRefused), true),
            Class::Refused
        );
        assert_eq!(
            classify_error(&io(ErrorKind::HostUnreachable), true),
            Class::Refused
        );
        assert_eq!(
            classify_error(&io(ErrorKind::ConnectionReset), false),
            Class::Reset
        );
        assert_eq!(
            classify_error(&io(ErrorKind::BrokenPipe), false),
            Class::Reset
        );
        assert_eq!(
            classify_error(&io(ErrorKind::TimedOut), true),
            Class::Timeout
        );
        assert_eq!(
            classify_error(&io(ErrorKind::PermissionDenied), true),
            Class::Refused
        );
        assert_eq!(
            classify_error(&io(ErrorKind::PermissionDenied), false),
            Class::Other
        );
        assert_eq!(error_reason(&io(ErrorKind::ConnectionReset)), "boom");
        let expired = Wrap(Box::new(std::io::Error::new(
            ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::Expired),
        )));
        assert_eq!(classify_error(&expired, true), Class::Tls);
        assert_eq!(error_reason(&expired), "certificate expired");
    }

    #[test]
    fn indexes_match_display_order() {
        for (i, c) in Class::ALL.iter().enumerate() {
            assert_eq!(c.index(), i);
        }
    }
}
