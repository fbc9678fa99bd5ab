//! `firedrill forward LOCALPORT:NODE:PORT`: a TCP port on this host that leads to a node's port,
//! until interrupted.
//!
//! The lab's network lives wherever libvirtd put its bridge: the host's network namespace on a
//! normal machine, another one when libvirtd was started under `ip netns exec` (machines
//! without systemd, the tests). The listener stays in the namespace `forward` runs in; each
//! connection to the node is made from inside the node's namespace, found through the node's
//! QEMU process: libvirt writes its PID to `/run/libvirt/qemu/DOMAIN.pid`, and
//! `/proc/PID/ns/net` is the namespace its network device (and so the lab's bridge) is in. A
//! short-lived thread enters that namespace (`setns` changes only the calling thread) and
//! connects; a socket keeps the namespace it was made in, so the relay then runs on the async
//! runtime like any other. When that namespace is this process's own, no thread is needed.

use super::LabError;
use crate::paths::Home;
use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Where libvirt's QEMU driver (system instance) writes each running domain's PID.
pub(super) const QEMU_PID_DIR: &str = "/run/libvirt/qemu";

#[derive(Debug, thiserror::Error)]
pub(crate) enum ForwardError {
    #[error(
        "`{0}` is not LOCALPORT:NODE:PORT\n  hint: e.g. `firedrill forward 8080:lb:80` makes http://127.0.0.1:8080 reach port 80 of node lb"
    )]
    BadSpec(String),
    #[error(transparent)]
    Lab(#[from] LabError),
    #[error("node {node} is not running (no {})\n  hint: `firedrill up` the lab first", .pid_file.display())]
    NotRunning { node: String, pid_file: PathBuf },
    #[error("cannot open the network namespace {}: {message}\n  hint: run firedrill as root (entering another network namespace needs it)", .path.display())]
    Namespace { path: PathBuf, message: String },
    #[error("lab `{lab}` has no page `{page}`; its pages are: {}\n  hint: a lab with a node of role monitor has `prometheus`", .pages.join(", "))]
    NoPage {
        lab: String,
        page: String,
        pages: Vec<String>,
    },
    #[error(
        "cannot listen on {addr}: {source}\n  hint: pick another local port, or stop what listens there"
    )]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

impl ForwardError {
    pub(crate) fn is_usage(&self) -> bool {
        matches!(self, ForwardError::BadSpec(_) | ForwardError::NoPage { .. })
            || matches!(self, ForwardError::Lab(e) if e.is_usage())
    }
}

/// `LOCALPORT:NODE:PORT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Spec {
    pub local_port: u16,
    pub node: String,
    pub port: u16,
}

pub(crate) fn parse_spec(s: &str) -> Result<Spec, ForwardError> {
    let bad = || ForwardError::BadSpec(s.to_string());
    let mut parts = s.split(':');
    let (Some(local), Some(node), Some(port), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    let port_of = |p: &str| p.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(bad);
    if node.is_empty() {
        return Err(bad());
    }
    Ok(Spec {
        local_port: port_of(local)?,
        node: node.to_string(),
        port: port_of(port)?,
    })
}

/// Where to connect from: `None` for this process's own namespace.
pub(crate) struct Netns(Option<File>);

impl Netns {
    /// The namespace of process `pid` (`/proc/PID/ns/net`), or `None` when it is ours.
    pub(crate) fn of_path(path: &Path) -> Result<Netns, ForwardError> {
        use std::os::unix::fs::MetadataExt;
        let err = |e: std::io::Error| ForwardError::Namespace {
            path: path.to_path_buf(),
            message: e.to_string(),
        };
        let theirs = std::fs::metadata(path).map_err(err)?;
        let ours = std::fs::metadata("/proc/self/ns/net").map_err(err)?;
        if (theirs.dev(), theirs.ino()) == (ours.dev(), ours.ino()) {
            return Ok(Netns(None));
        }
        File::open(path).map(|f| Netns(Some(f))).map_err(err)
    }

    pub(super) fn is_other(&self) -> bool {
        self.0.is_some()
    }

    /// Connects to `to` from inside this namespace.
    async fn connect(&self, to: SocketAddrV4) -> std::io::Result<TcpStream> {
        let Some(ns) = &self.0 else {
            return tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(to))
                .await
                .map_err(|_| std::io::ErrorKind::TimedOut)?;
        };
        let ns = ns.try_clone()?;
        // A thread of its own, never one of the runtime's (which would stay in the namespace).
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let _ = tx.send(connect_in(&ns, to));
        });
        let stream = rx.await.map_err(std::io::Error::other)??;
        stream.set_nonblocking(true)?;
        TcpStream::from_std(stream)
    }
}

fn connect_in(ns: &File, to: SocketAddrV4) -> std::io::Result<std::net::TcpStream> {
    // SAFETY: setns takes a valid namespace fd and changes only this thread, which ends after.
    if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    std::net::TcpStream::connect_timeout(&to.into(), CONNECT_TIMEOUT)
}

/// Accepts on `listener` and relays each connection to `to`, connecting from `ns`, until
/// `stop` resolves. Each relay's end is reported on stderr.
pub(crate) async fn relay(
    listener: TcpListener,
    to: SocketAddrV4,
    ns: Netns,
    stop: impl std::future::Future<Output = ()>,
) {
    let ns = std::sync::Arc::new(ns);
    tokio::pin!(stop);
    loop {
        let (mut client, peer) = tokio::select! {
            _ = &mut stop => return,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    eprintln!("forward: accept failed: {e}");
                    continue;
                }
            },
        };
        let ns = ns.clone();
        tokio::spawn(async move {
            match ns.connect(to).await {
                Ok(mut upstream) => {
                    if let Err(e) = tokio::io::copy_bidirectional(&mut client, &mut upstream).await
                    {
                        eprintln!("forward: {peer} -> {to}: {e}");
                    }
                }
                Err(e) => eprintln!("forward: {peer}: cannot connect to {to}: {e}"),
            }
        });
    }
}

/// `firedrill forward`.
pub(crate) async fn forward(
    home: &Home,
    lab: Option<&str>,
    spec: &str,
    bind: Ipv4Addr,
) -> Result<(), ForwardError> {
    let spec = parse_spec(spec)?;
    let lab = super::Lab::open(home, lab).map_err(LabError::from)?;
    let node = lab.require_node(&spec.node).map_err(LabError::from)?;
    let pid_file = Path::new(QEMU_PID_DIR).join(format!("{}.pid", node.domain.name));
    let pid = std::fs::read_to_string(&pid_file)
        .ok()
        .and_then(|p| p.trim().parse::<u32>().ok())
        .ok_or_else(|| ForwardError::NotRunning {
            node: spec.node.clone(),
            pid_file: pid_file.clone(),
        })?;
    let ns = Netns::of_path(&PathBuf::from(format!("/proc/{pid}/ns/net")))?;
    let addr = SocketAddr::from((bind, spec.local_port));
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| ForwardError::Bind { addr, source })?;
    let to = SocketAddrV4::new(node.ip, spec.port);
    eprintln!(
        "forwarding {addr} -> {} {to}{}; Ctrl-C stops",
        spec.node,
        if ns.is_other() {
            format!(" (in the network namespace of QEMU pid {pid})")
        } else {
            String::new()
        }
    );
    relay(listener, to, ns, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await;
    Ok(())
}

#[cfg(test)]
#[path = "forward_tests.rs"]
mod tests;
