//! Keep-alive connections to the one host the client loads. hyper-util's general pool (keyed by
//! host, with waiters, and a task spawned per request to hand the connection back) cost about
//! twice the CPU per request of the peer load generators; one host and one idle list need far
//! less. Every connection is HTTP/1.1 and carries one request at a time.
//!
//! A server may close an idle keep-alive connection just as a request goes out on it. As browsers
//! do, a GET or HEAD that then fails with the connection closed or reset, before a byte of answer
//! came, is sent once more on a new connection; a request on a new connection is never resent,
//! nor one that is not idempotent (a POST may have been carried out).
//!
//! For HTTPS each new connection makes its TLS handshake before HTTP starts (`tls.rs`); a
//! refused certificate fails the connection like a refused port, with its own class.

use super::class::{Class, classify_error};
use super::tls::TlsTarget;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

/// A connection, and how many bytes it has received: whether any answer came to a request.
#[derive(Debug)]
pub(crate) struct Conn {
    send: SendRequest<Full<Bytes>>,
    received: Arc<AtomicU64>,
}

/// The byte stream under HTTP: plain TCP, or TLS over it.
enum Transport {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

/// Calls `$method` on the stream inside a pinned `Transport`.
macro_rules! on_transport {
    ($self:expr, $method:ident ( $($arg:expr),* )) => {
        match $self.get_mut() {
            Transport::Plain(s) => Pin::new(s).$method($($arg),*),
            Transport::Tls(s) => Pin::new(s.as_mut()).$method($($arg),*),
        }
    };
}

impl AsyncRead for Transport {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        on_transport!(self, poll_read(cx, buf))
    }
}

impl AsyncWrite for Transport {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        on_transport!(self, poll_write(cx, buf))
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        on_transport!(self, poll_write_vectored(cx, bufs))
    }
    fn is_write_vectored(&self) -> bool {
        match self {
            Transport::Plain(s) => s.is_write_vectored(),
            Transport::Tls(s) => s.is_write_vectored(),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        on_transport!(self, poll_flush(cx))
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        on_transport!(self, poll_shutdown(cx))
    }
}

/// A stream that counts the bytes it reads (of the answer: over TLS, after decryption).
struct Counting {
    inner: Transport,
    received: Arc<AtomicU64>,
}

impl AsyncRead for Counting {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        let read = buf.filled().len() - before;
        if read > 0 {
            self.received.fetch_add(read as u64, Ordering::Relaxed);
        }
        polled
    }
}

impl AsyncWrite for Counting {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Why no answer came: the connection could not be made, or the exchange failed on it.
#[derive(Debug)]
pub(crate) enum SendError {
    Connect(std::io::Error),
    Http(hyper::Error),
}

impl SendError {
    pub(crate) fn as_error(&self) -> &(dyn std::error::Error + 'static) {
        match self {
            SendError::Connect(e) => e,
            SendError::Http(e) => e,
        }
    }
}

#[derive(Debug)]
pub(crate) struct Pool {
    /// `host:port`, resolved at each new connection (a lab's DNS name may move).
    addr: String,
    /// For an https:// URL.
    tls: Option<TlsTarget>,
    idle: Mutex<Vec<Conn>>,
}

impl Pool {
    pub(crate) fn new(addr: String, tls: Option<TlsTarget>) -> Pool {
        Pool {
            addr,
            tls,
            idle: Mutex::new(Vec::new()),
        }
    }

    fn checkout(&self) -> Option<Conn> {
        // A poisoned lock only means another request panicked; the list itself is still valid.
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        while let Some(conn) = idle.pop() {
            if !conn.send.is_closed() {
                return Some(conn);
            }
        }
        None
    }

    /// Hands a connection back once its answer has been read in full.
    pub(crate) fn checkin(&self, conn: Conn) {
        if !conn.send.is_closed() {
            self.idle
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(conn);
        }
    }

    async fn connect(&self) -> Result<Conn, SendError> {
        let stream = TcpStream::connect(&self.addr)
            .await
            .map_err(SendError::Connect)?;
        // Small requests: Nagle would hold some of them back for up to 40 ms.
        stream.set_nodelay(true).map_err(SendError::Connect)?;
        let inner = match &self.tls {
            None => Transport::Plain(stream),
            Some(t) => Transport::Tls(Box::new(
                t.connector
                    .connect(t.name.clone(), stream)
                    .await
                    .map_err(SendError::Connect)?,
            )),
        };
        let received = Arc::new(AtomicU64::new(0));
        let io = Counting {
            inner,
            received: received.clone(),
        };
        let (send, driver) = http1::handshake(TokioIo::new(io))
            .await
            .map_err(SendError::Http)?;
        // The driver ends when the server closes or the last handle is dropped; its error, if
        // any, reaches the request that was waiting on it.
        tokio::spawn(driver);
        Ok(Conn { send, received })
    }

    /// Sends the request `make` builds on an idle connection, or a new one. A reused connection
    /// that the server closed while it was idle gets the request back unsent; it is then sent
    /// once more, so a keep-alive timeout on the server is not counted as a failure. When
    /// `idempotent`, a request that met a reused connection closing before any answer is built
    /// again and sent once on a new connection, and `retried` is set.
    pub(crate) async fn send(
        &self,
        make: impl Fn() -> Request<Full<Bytes>>,
        idempotent: bool,
        retried: &AtomicBool,
    ) -> Result<(Response<Incoming>, Conn), SendError> {
        let mut req = make();
        loop {
            // The retry takes a new connection: the idle ones are as old as the one that closed.
            let idle = if retried.load(Ordering::Relaxed) {
                None
            } else {
                self.checkout()
            };
            let (mut conn, reused) = match idle {
                Some(c) => (c, true),
                None => (self.connect().await?, false),
            };
            if let Err(e) = conn.send.ready().await {
                if reused {
                    continue;
                }
                return Err(SendError::Http(e));
            }
            let received = conn.received.load(Ordering::Relaxed);
            match conn.send.try_send_request(req).await {
                Ok(resp) => return Ok((resp, conn)),
                Err(mut e) => match e.take_message() {
                    Some(unsent) if reused => req = unsent,
                    _ => {
                        let e = e.into_error();
                        let unanswered = conn.received.load(Ordering::Relaxed) == received;
                        if reused
                            && idempotent
                            && unanswered
                            && !retried.load(Ordering::Relaxed)
                            && classify_error(&e, false) == Class::Reset
                        {
                            retried.store(true, Ordering::Relaxed);
                            req = make();
                            continue;
                        }
                        return Err(SendError::Http(e));
                    }
                },
            }
        }
    }
}
