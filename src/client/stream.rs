//! A stream: one kind of request sent at its own rate, with its own checks, lines and summary.
//! The flags make one (`--path`, `--method`, `--header`, `--body`, `--expect`); a `--streams`
//! file makes several. The parsers here are pure and return the reason only: the flag or the
//! file position is added by the caller, so both say the same thing.

use super::expect::Expect;
use super::load::Load;
use super::template::Template;
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Method, Uri};

/// The name of the stream the flags describe.
pub(crate) const DEFAULT_NAME: &str = "default";

/// One stream, fully checked.
#[derive(Debug, Clone)]
pub(crate) struct Stream {
    pub(crate) name: String,
    /// The target rate: constant, or a ramp of stages.
    pub(crate) load: Load,
    pub(crate) method: Method,
    /// The request target (the host is the run's).
    pub(crate) url: Uri,
    /// Where `--write-ratio` writes go: POST /todos on the same host.
    pub(crate) post_url: Uri,
    pub(crate) headers: Vec<(HeaderName, HeaderValue)>,
    pub(crate) body: Option<Template>,
    pub(crate) expects: Vec<Expect>,
    pub(crate) write_ratio: f64,
    pub(crate) max_inflight: usize,
}

/// A reason and what to write instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Invalid {
    pub(crate) reason: String,
    pub(crate) hint: &'static str,
}

pub(crate) const METHOD_HINT: &str = "write one of GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS";
pub(crate) const HEADER_HINT: &str = "write NAME: VALUE, e.g. --header 'Authorization: Bearer abc'";
pub(crate) const PATH_HINT: &str =
    "write a path that starts with /, e.g. /todos or /todos?since=today";

/// An HTTP method, in any case.
pub(crate) fn parse_method(s: &str) -> Result<Method, Invalid> {
    let upper = s.trim().to_ascii_uppercase();
    let known = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];
    if !known.contains(&upper.as_str()) {
        return Err(Invalid {
            reason: "not an HTTP method".into(),
            hint: METHOD_HINT,
        });
    }
    Method::from_bytes(upper.as_bytes()).map_err(|_| Invalid {
        reason: "not an HTTP method".into(),
        hint: METHOD_HINT,
    })
}

/// `Name: value`.
pub(crate) fn parse_header(s: &str) -> Result<(HeaderName, HeaderValue), Invalid> {
    let bad = |reason: &str| Invalid {
        reason: reason.to_string(),
        hint: HEADER_HINT,
    };
    let Some((name, value)) = s.split_once(':') else {
        return Err(bad("there is no `:` between the name and the value"));
    };
    header(name, value).map_err(|reason| Invalid {
        reason,
        hint: HEADER_HINT,
    })
}

/// A header from its name and value, as the streams file gives them.
pub(crate) fn header(name: &str, value: &str) -> Result<(HeaderName, HeaderValue), String> {
    let name = name.trim();
    if name.is_empty() {
        return Err("the header name is empty".into());
    }
    let name = HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| format!("`{name}` is not a header name (letters, digits and -)"))?;
    let value = HeaderValue::from_str(value.trim())
        .map_err(|_| "the value has a character a header cannot carry".to_string())?;
    Ok((name, value))
}

/// A path with an optional query, put in place of the URL's.
pub(crate) fn with_path(url: &Uri, path: &str) -> Result<Uri, Invalid> {
    let bad = |reason: &str| Invalid {
        reason: reason.to_string(),
        hint: PATH_HINT,
    };
    if !path.starts_with('/') {
        return Err(bad("it does not start with /"));
    }
    let mut parts = url.clone().into_parts();
    parts.path_and_query = Some(path.parse().map_err(|_| bad("it is not a URL path"))?);
    Uri::from_parts(parts).map_err(|_| bad("it is not a URL path"))
}

/// The body template's reason, with the placeholders there are as the hint.
pub(crate) fn parse_body(s: &str) -> Result<Template, String> {
    Template::parse(s).map_err(|why| {
        format!(
            "{why}; the placeholders are {}",
            super::template::PLACEHOLDERS
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods() {
        assert_eq!(parse_method("post"), Ok(Method::POST));
        assert_eq!(parse_method("GET"), Ok(Method::GET));
        assert_eq!(parse_method(" put "), Ok(Method::PUT));
        assert_eq!(
            parse_method("FETCH").map_err(|e| e.reason),
            Err("not an HTTP method".into())
        );
        assert!(parse_method("").is_err());
    }

    #[test]
    fn headers() {
        let (n, v) = parse_header("X-Trace: abc def").expect("parses");
        assert_eq!((n.as_str(), v.to_str().ok()), ("x-trace", Some("abc def")));
        let (n, v) = parse_header("Authorization:Bearer a:b").expect("parses");
        assert_eq!(
            (n.as_str(), v.to_str().ok()),
            ("authorization", Some("Bearer a:b"))
        );
        let reason = |s| parse_header(s).map(|_| ()).map_err(|e| e.reason);
        assert_eq!(
            reason("X-Trace abc"),
            Err("there is no `:` between the name and the value".into())
        );
        assert_eq!(reason(": abc"), Err("the header name is empty".into()));
        assert_eq!(
            reason("X Trace: abc"),
            Err("`X Trace` is not a header name (letters, digits and -)".into())
        );
        assert_eq!(
            reason("X-Trace: a\nb"),
            Err("the value has a character a header cannot carry".into())
        );
    }

    #[test]
    fn paths() {
        let url: Uri = "http://10.78.0.10/todos".parse().expect("uri");
        assert_eq!(
            with_path(&url, "/todos?since=today").map(|u| u.to_string()),
            Ok("http://10.78.0.10/todos?since=today".into())
        );
        assert_eq!(
            with_path(&url, "todos").map_err(|e| e.reason),
            Err("it does not start with /".into())
        );
        assert_eq!(
            with_path(&url, "/a b").map_err(|e| e.reason),
            Err("it is not a URL path".into())
        );
    }

    #[test]
    fn bodies() {
        assert_eq!(
            parse_body("{{nope}}"),
            Err("unknown placeholder `{{nope}}`; the placeholders are {{seq}} (the request's number) and {{word}} (a random word)".into())
        );
    }
}
