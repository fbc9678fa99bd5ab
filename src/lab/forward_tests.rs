use super::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[test]
fn specs_are_localport_node_port() {
    assert_eq!(
        parse_spec("8080:lb:80").expect("valid"),
        Spec {
            local_port: 8080,
            node: "lb".into(),
            port: 80
        }
    );
    for bad in [
        "8080:lb",
        "8080:lb:80:1",
        "x:lb:80",
        "8080::80",
        "0:lb:80",
        "8080:lb:65536",
        "",
    ] {
        let e = parse_spec(bad).expect_err(bad);
        assert!(e.is_usage());
        assert!(
            e.to_string()
                .starts_with(&format!("`{bad}` is not LOCALPORT:NODE:PORT")),
            "{e}"
        );
    }
}

/// An echo server on 127.0.0.1 of whatever namespace the calling thread is in.
fn echo_server() -> SocketAddrV4 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind echo");
    let SocketAddr::V4(addr) = l.local_addr().expect("addr") else {
        unreachable!("bound to an IPv4 address")
    };
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            std::thread::spawn(move || {
                let mut r = s.try_clone().expect("clone");
                let mut w = s;
                let _ = std::io::copy(&mut r, &mut w);
            });
        }
    });
    addr
}

/// Sends a line through the forward on `local` and returns what comes back.
async fn round_trip(local: SocketAddr) -> String {
    let mut c = TcpStream::connect(local)
        .await
        .expect("connect to the forward");
    c.write_all(b"ping through the forward\n")
        .await
        .expect("write");
    let mut buf = vec![0u8; 25];
    tokio::time::timeout(Duration::from_secs(10), c.read_exact(&mut buf))
        .await
        .expect("an answer within 10 s")
        .expect("read");
    String::from_utf8_lossy(&buf).into_owned()
}

async fn run_forward(to: SocketAddrV4, ns: Netns) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let local = listener.local_addr().expect("addr");
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let relay = tokio::spawn(relay(listener, to, ns, async {
        let _ = stop_rx.await;
    }));
    let got = round_trip(local).await;
    stop_tx.send(()).expect("stop");
    tokio::time::timeout(Duration::from_secs(5), relay)
        .await
        .expect("relay stops when asked")
        .expect("relay task");
    got
}

#[tokio::test]
async fn relays_within_this_namespace() {
    let to = echo_server();
    let ns = Netns::of_path(Path::new("/proc/self/ns/net")).expect("own namespace");
    assert!(!ns.is_other());
    assert_eq!(run_forward(to, ns).await, "ping through the forward\n");
}

/// The lab's case: the echo server listens on 127.0.0.1 inside a network namespace this test
/// creates, unreachable from ours; the forward's listener is in ours and connects from inside.
#[tokio::test]
#[ignore = "needs root: scripts/test"]
async fn relays_into_another_network_namespace() {
    let name = format!("fd-fwd-{}", std::process::id());
    let sh = |args: &[&str]| {
        let s = std::process::Command::new("ip")
            .args(args)
            .status()
            .expect("ip");
        assert!(s.success(), "ip {args:?}");
    };
    sh(&["netns", "add", &name]);
    // Removed however the test ends.
    struct Del(String);
    impl Drop for Del {
        fn drop(&mut self) {
            let _ = std::process::Command::new("ip")
                .args(["netns", "del", &self.0])
                .status();
        }
    }
    let _del = Del(name.clone());
    sh(&["netns", "exec", &name, "ip", "link", "set", "lo", "up"]);
    let path = PathBuf::from(format!("/run/netns/{name}"));
    let ns = Netns::of_path(&path).expect("the test's namespace");
    assert!(ns.is_other());
    let file = File::open(&path).expect("open netns");
    let to = std::thread::spawn(move || {
        // SAFETY: a valid namespace fd; this thread only serves the echo from then on.
        assert_eq!(
            unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) },
            0
        );
        echo_server()
    })
    .join()
    .expect("echo thread");
    // From our namespace the port is closed (nothing of ours listens on it there, or it
    // would be some other program's: then the check proves nothing and is skipped).
    let direct = std::net::TcpStream::connect_timeout(&to.into(), Duration::from_secs(2));
    let got = run_forward(to, ns).await;
    assert_eq!(got, "ping through the forward\n");
    if let Err(e) = direct {
        assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused);
    }
}
