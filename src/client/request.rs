//! Sending one request and deciding its class. The deadline is the request's scheduled time plus
//! `--timeout`, and latency is measured from the scheduled time: a request that waited because
//! the client was late still shows the wait (no coordinated omission).

use super::class::{Class, classify_error, classify_status, error_reason, timeout_reason};
use super::expect::Expect;
use super::pool::{Pool, SendError};
use super::stream::Stream;
use super::template::Template;
use super::tls::TlsTarget;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::{ACCEPT, CONTENT_TYPE, HOST, HeaderValue, USER_AGENT};
use hyper::{Method, Request, Uri};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::time::Instant;

/// Bodies larger than this are an error, not a memory problem for the learner's laptop.
const MAX_BODY: usize = 8 << 20;

/// What one request came to.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Outcome {
    pub(crate) class: Class,
    /// From the scheduled time to the end of the answer; `None` when no answer came.
    pub(crate) latency: Option<Duration>,
    /// Why it failed, for the summary; `None` for ok.
    pub(crate) reason: Option<String>,
    /// An acknowledged write, for the ledger (only when there is one).
    pub(crate) ack: Option<Box<Ack>>,
    /// Sent a second time: a GET or HEAD whose reused keep-alive connection closed before
    /// answering (`pool.rs`).
    pub(crate) retried: bool,
}

/// A write the server acknowledged: a 2xx to a POST or PUT, and what it answered.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Ack {
    pub(crate) seq: u64,
    pub(crate) method: Method,
    pub(crate) path: String,
    pub(crate) status: u16,
    /// The answer as JSON (`Null` when it is not JSON).
    pub(crate) content: serde_json::Value,
}

/// Everything needed to send one stream's requests; shared by all its request tasks.
#[derive(Debug)]
pub(crate) struct Sender {
    pool: Pool,
    method: Method,
    /// The request targets in origin form (`/todos`): the connection already names the host.
    get: Uri,
    post: Uri,
    /// The default headers and the stream's, in the order they are sent.
    headers: hyper::HeaderMap,
    body: Option<Template>,
    /// Picks `{{word}}`: differs from run to run.
    seed: u64,
    expects: Vec<Expect>,
    timeout: Duration,
    /// Whether to keep acknowledged writes (`--ledger`).
    ledger: bool,
}

/// `/path?query` of a URL.
fn origin_form(uri: &Uri) -> Uri {
    uri.path_and_query()
        .map_or("/", |p| p.as_str())
        .parse()
        .unwrap_or_else(|_| Uri::from_static("/"))
}

impl Sender {
    pub(crate) fn new(
        stream: &Stream,
        timeout: Duration,
        ledger: bool,
        seed: u64,
        tls: Option<TlsTarget>,
    ) -> Sender {
        // `parse_url` made sure there is a host; the port defaults to the scheme's.
        let authority = stream.url.authority().map_or("", |a| a.as_str());
        let host = stream.url.host().unwrap_or_default();
        let port = stream
            .url
            .port_u16()
            .unwrap_or(if tls.is_some() { 443 } else { 80 });
        let mut headers = hyper::HeaderMap::new();
        headers.insert(
            HOST,
            HeaderValue::from_str(authority).unwrap_or(HeaderValue::from_static("localhost")),
        );
        headers.insert(
            USER_AGENT,
            HeaderValue::from_static(concat!("firedrill-client/", env!("CARGO_PKG_VERSION"))),
        );
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        if stream.body.is_some() {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        // The stream's own replace the defaults of the same name.
        for (name, _) in &stream.headers {
            headers.remove(name);
        }
        for (name, value) in &stream.headers {
            headers.append(name.clone(), value.clone());
        }
        Sender {
            pool: Pool::new(format!("{host}:{port}"), tls),
            method: stream.method.clone(),
            get: origin_form(&stream.url),
            post: origin_form(&stream.post_url),
            headers,
            body: stream.body.clone(),
            seed,
            expects: stream.expects.clone(),
            timeout,
            ledger,
        }
    }

    /// Sends request `index` (a `--write-ratio` write when `write`) that was due at `scheduled`.
    pub(crate) async fn send(&self, index: u64, write: bool, scheduled: Instant) -> Outcome {
        let deadline = scheduled + self.timeout;
        let retried = AtomicBool::new(false);
        let result = tokio::time::timeout_at(deadline, self.exchange(index, write, &retried)).await;
        let retried = retried.load(Ordering::Relaxed);
        match result {
            Ok(Ok((status, body))) => {
                let latency = scheduled.elapsed();
                let (class, reason) = self.judge(status, &body, write);
                let ack = (self.ledger && class == Class::Ok)
                    .then(|| self.ack(index, write, status, &body))
                    .flatten();
                Outcome {
                    class,
                    latency: Some(latency),
                    reason,
                    ack,
                    retried,
                }
            }
            Ok(Err((class, reason))) => Outcome {
                class,
                latency: None,
                reason: Some(reason),
                ack: None,
                retried,
            },
            Err(_) => Outcome {
                class: Class::Timeout,
                latency: None,
                reason: Some(timeout_reason(self.timeout)),
                ack: None,
                retried,
            },
        }
    }

    /// The write request `index` was, if it was one.
    fn ack(&self, index: u64, write: bool, status: u16, body: &[u8]) -> Option<Box<Ack>> {
        let (method, uri) = if write {
            (Method::POST, &self.post)
        } else {
            (self.method.clone(), &self.get)
        };
        if method != Method::POST && method != Method::PUT {
            return None;
        }
        Some(Box::new(Ack {
            seq: index,
            method,
            path: uri.to_string(),
            status,
            content: serde_json::from_slice(body).unwrap_or(serde_json::Value::Null),
        }))
    }

    /// Request `index` as it goes out (the same each time it is built).
    fn request(&self, index: u64, write: bool) -> Request<Full<Bytes>> {
        let mut req = if write {
            let mut req = Request::new(Full::new(Bytes::from(new_item(index))));
            *req.method_mut() = Method::POST;
            *req.uri_mut() = self.post.clone();
            req
        } else {
            let body = match &self.body {
                Some(t) => Bytes::from(t.render(index, self.seed)),
                None => Bytes::new(),
            };
            let mut req = Request::new(Full::new(body));
            *req.method_mut() = self.method.clone();
            *req.uri_mut() = self.get.clone();
            req
        };
        *req.headers_mut() = self.headers.clone();
        if write {
            req.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        req
    }

    async fn exchange(
        &self,
        index: u64,
        write: bool,
        retried: &AtomicBool,
    ) -> Result<(u16, Bytes), (Class, String)> {
        let idempotent = !write && matches!(self.method, Method::GET | Method::HEAD);
        let make = || self.request(index, write);
        let (resp, conn) = self
            .pool
            .send(make, idempotent, retried)
            .await
            .map_err(|e| {
                let class = classify_error(e.as_error(), matches!(e, SendError::Connect(_)));
                (class, error_reason(e.as_error()))
            })?;
        let status = resp.status().as_u16();
        let body = Limited::new(resp.into_body(), MAX_BODY)
            .collect()
            .await
            .map_err(|e| {
                let class = classify_error(e.as_ref(), false);
                (class, error_reason(e.as_ref()))
            })?
            .to_bytes();
        self.pool.checkin(conn);
        Ok((status, body))
    }

    /// Status first, then the shape. `--expect` applies to reads only: the answer to a POST is
    /// the created item, not the list.
    fn judge(&self, status: u16, body: &[u8], write: bool) -> (Class, Option<String>) {
        let class = classify_status(status);
        if class != Class::Ok {
            return (class, Some(format!("HTTP {status}")));
        }
        if write || self.expects.is_empty() {
            return (Class::Ok, None);
        }
        match check_body(&self.expects, body) {
            Ok(()) => (Class::Ok, None),
            Err(reason) => (Class::Json, Some(reason)),
        }
    }
}

pub(crate) fn check_body(expects: &[Expect], body: &[u8]) -> Result<(), String> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("the body is not JSON ({e})"))?;
    for expect in expects {
        expect
            .check(&value)
            .map_err(|why| format!("{why} (--expect {expect})"))?;
    }
    Ok(())
}

/// The item a write sends; numbered so that a learner can find it in the database.
pub(crate) fn new_item(index: u64) -> String {
    let name = serde_json::Value::String(format!("firedrill item {index}"));
    format!(r#"{{"name":{name},"completed":false}}"#)
}

/// Whether request `index` is a write: writes are spread evenly, exactly `ratio` of every run
/// of requests, so that two runs with the same flags send the same traffic.
pub(crate) fn is_write(index: u64, ratio: f64) -> bool {
    ((index + 1) as f64 * ratio).floor() > (index as f64 * ratio).floor()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_are_spread_evenly() {
        let writes: Vec<u64> = (0..100).filter(|&i| is_write(i, 0.1)).collect();
        assert_eq!(writes, (0..10).map(|k| k * 10 + 9).collect::<Vec<_>>());
        assert_eq!((0..1000).filter(|&i| is_write(i, 0.25)).count(), 250);
        assert_eq!((0..1000).filter(|&i| is_write(i, 0.33)).count(), 330);
        assert_eq!((0..50).filter(|&i| is_write(i, 1.0)).count(), 50);
        assert_eq!((0..50).filter(|&i| is_write(i, 0.0)).count(), 0);
    }

    #[test]
    fn item_and_body_checks() {
        assert_eq!(
            new_item(7),
            r#"{"name":"firedrill item 7","completed":false}"#
        );
        let expects = vec![Expect::parse("todos[].completed:bool").expect("parses")];
        assert_eq!(
            check_body(&expects, br#"{"todos":[{"completed":false}]}"#),
            Ok(())
        );
        assert_eq!(
            check_body(&expects, br#"{"todos":[{"completed":"no"}]}"#),
            Err(
                "todos[0].completed is string, expected bool (--expect todos[].completed:bool)"
                    .into()
            )
        );
        assert!(
            check_body(&expects, b"<html>").is_err_and(|e| e.starts_with("the body is not JSON"))
        );
    }
}
