//! Keep-alive connections to the one host the client loads. hyper-util's general pool (keyed by
//! host, with waiters, and a task spawned per request to hand the connection back) cost about
//! twice the CPU per request of the peer load generators; one host and one idle list need far
//! less. Every connection is HTTP/1.1 and carries one request at a time.

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::sync::Mutex;
use tokio::net::TcpStream;

pub(crate) type Conn = SendRequest<Full<Bytes>>;

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
    idle: Mutex<Vec<Conn>>,
}

impl Pool {
    pub(crate) fn new(addr: String) -> Pool {
        Pool {
            addr,
            idle: Mutex::new(Vec::new()),
        }
    }

    fn checkout(&self) -> Option<Conn> {
        // A poisoned lock only means another request panicked; the list itself is still valid.
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        while let Some(conn) = idle.pop() {
            if !conn.is_closed() {
                return Some(conn);
            }
        }
        None
    }

    /// Hands a connection back once its answer has been read in full.
    pub(crate) fn checkin(&self, conn: Conn) {
        if !conn.is_closed() {
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
        let (conn, driver) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(SendError::Http)?;
        // The driver ends when the server closes or the last handle is dropped; its error, if
        // any, reaches the request that was waiting on it.
        tokio::spawn(driver);
        Ok(conn)
    }

    /// Sends `req` on an idle connection, or a new one. A reused connection that the server
    /// closed while it was idle gets the request back unsent; it is then sent once more, on a
    /// new connection, so a keep-alive timeout on the server is not counted as a failure.
    pub(crate) async fn send(
        &self,
        mut req: Request<Full<Bytes>>,
    ) -> Result<(Response<Incoming>, Conn), SendError> {
        loop {
            let (mut conn, reused) = match self.checkout() {
                Some(c) => (c, true),
                None => (self.connect().await?, false),
            };
            if let Err(e) = conn.ready().await {
                if reused {
                    continue;
                }
                return Err(SendError::Http(e));
            }
            match conn.try_send_request(req).await {
                Ok(resp) => return Ok((resp, conn)),
                Err(mut e) => match e.take_message() {
                    Some(unsent) if reused => req = unsent,
                    _ => return Err(SendError::Http(e.into_error())),
                },
            }
        }
    }
}
