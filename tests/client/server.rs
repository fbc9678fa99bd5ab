//! A small HTTP/1.1 server on 127.0.0.1 that misbehaves on cue. Behaviour is chosen by each
//! request's arrival number (1, 2, 3...), not by the clock: the client's open loop sends one
//! request every 1/rate seconds, so "requests 21 to 40" is a time window of known length, and the
//! counts the tests expect are exact.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    /// Names in lowercase, in the order they came.
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// 1 for the first request on its connection, 2 for the next one on the same...
    pub on_connection: u64,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

pub enum Action {
    Respond(u16, String),
    /// Read the request and never answer; the connection stays open until the client gives up.
    Stall,
    /// Close the connection without a byte of answer: what a client sees when the server closes
    /// an idle keep-alive connection just as a request goes out on it.
    Close,
    /// Send the first bytes of an answer's status line, then close the connection.
    CloseMidAnswer,
    /// Answer, then stop listening and close every connection: from now on, connections are
    /// refused.
    RespondThenClosePort(u16, String),
}

type Behaviour = dyn Fn(u64, &Request) -> Action + Send + Sync;

pub struct Server {
    pub port: u16,
    received: Arc<Mutex<Vec<Request>>>,
    closed: Arc<AtomicBool>,
}

pub const TODOS: &str =
    r#"{"todos":[{"name":"Get Milk","completed":false},{"name":"Walk","completed":true}]}"#;

/// 200 with the todo list for reads, 201 with the item for writes.
pub fn healthy(req: &Request) -> Action {
    if req.method == "POST" {
        Action::Respond(201, req.body.clone())
    } else {
        Action::Respond(200, TODOS.to_string())
    }
}

impl Server {
    pub fn start(behaviour: impl Fn(u64, &Request) -> Action + Send + Sync + 'static) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local addr").port();
        listener.set_nonblocking(true).expect("nonblocking");
        let received = Arc::new(Mutex::new(Vec::new()));
        let closed = Arc::new(AtomicBool::new(false));
        let shared = Shared {
            behaviour: Arc::new(behaviour),
            arrivals: Arc::new(AtomicU64::new(0)),
            received: received.clone(),
            closed: closed.clone(),
            conns: Arc::new(Mutex::new(Vec::new())),
        };
        std::thread::spawn(move || accept_loop(listener, shared));
        Server {
            port,
            received,
            closed,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/todos", self.port)
    }

    pub fn received(&self) -> Vec<Request> {
        self.received.lock().expect("lock").clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.closed.store(true, Ordering::SeqCst);
    }
}

#[derive(Clone)]
struct Shared {
    behaviour: Arc<Behaviour>,
    arrivals: Arc<AtomicU64>,
    received: Arc<Mutex<Vec<Request>>>,
    closed: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<TcpStream>>>,
}

impl Shared {
    fn close_port(&self) {
        self.closed.store(true, Ordering::SeqCst);
        for c in self.conns.lock().expect("lock").drain(..) {
            let _ = c.shutdown(Shutdown::Both);
        }
    }
}

fn accept_loop(listener: TcpListener, shared: Shared) {
    // Polling accept lets the loop notice `closed` and drop the listener, which is what makes
    // the kernel refuse new connections.
    while !shared.closed.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => {
                let _ = stream.set_nonblocking(false);
                let _ = stream.set_nodelay(true);
                if let Ok(clone) = stream.try_clone() {
                    shared.conns.lock().expect("lock").push(clone);
                }
                let shared = shared.clone();
                std::thread::spawn(move || serve(stream, shared));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(1)),
        }
    }
}

pub fn read_request(reader: &mut impl BufRead, on_connection: u64) -> Option<Request> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let mut length = 0usize;
    let mut headers = Vec::new();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).ok()? == 0 {
            return None;
        }
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().ok()?;
            }
            headers.push((name.to_ascii_lowercase(), value.trim().to_string()));
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Request {
        method,
        path,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
        on_connection,
    })
}

pub fn respond(stream: &mut impl Write, status: u16, body: &str) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        201 => "Created",
        413 => "Payload Too Large",
        500 => "Internal Server Error",
        _ => "Other",
    };
    write!(
        stream,
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
}

fn serve(stream: TcpStream, shared: Shared) {
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    let mut on_connection = 0;
    loop {
        on_connection += 1;
        let Some(req) = read_request(&mut reader, on_connection) else {
            return;
        };
        let n = shared.arrivals.fetch_add(1, Ordering::SeqCst) + 1;
        shared.received.lock().expect("lock").push(req.clone());
        match (shared.behaviour)(n, &req) {
            Action::Respond(status, body) => {
                if respond(&mut writer, status, &body).is_err() {
                    return;
                }
            }
            Action::Close => {
                let _ = writer.shutdown(Shutdown::Both);
                return;
            }
            Action::CloseMidAnswer => {
                let _ = writer.write_all(b"HTTP/1.1 200 O");
                let _ = writer.shutdown(Shutdown::Both);
                return;
            }
            Action::Stall => {
                // Hold the connection until the client closes it.
                let mut sink = [0u8; 1024];
                while matches!(reader.read(&mut sink), Ok(k) if k > 0) {}
                return;
            }
            Action::RespondThenClosePort(status, body) => {
                let _ = respond(&mut writer, status, &body);
                shared.close_port();
                return;
            }
        }
    }
}
