//! Tests against a real OpenSSH server on 127.0.0.1 (see `test_sshd`).

use super::test_sshd::{Fixture, free_port};
use super::*;
use crate::remote::Remote;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::sync::{Arc, Mutex};
use std::time::Instant;

const CONNECT: Duration = Duration::from_secs(10);

async fn connected(f: &Fixture) -> Session {
    Session::connect(&f.target(), CONNECT)
        .await
        .expect("connect to the test sshd")
}

#[tokio::test]
async fn runs_a_command_with_stdin_stdout_stderr_and_status() {
    let f = Fixture::new();
    let _sshd = f.start_sshd();
    let s = connected(&f).await;
    let out = s
        .run("tr a-z A-Z; echo oops >&2", Some(b"hello\n"))
        .await
        .unwrap();
    assert_eq!(out.status, 0);
    assert_eq!(out.stdout_str(), "HELLO\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "oops\n");
    assert_eq!(s.node(), "t1");
    assert_eq!(s.needs_sudo(), f.target().user != "root");
    s.close().await;
}

#[tokio::test]
async fn non_zero_status_and_death_by_signal() {
    let f = Fixture::new();
    let _sshd = f.start_sshd();
    let s = connected(&f).await;
    assert_eq!(s.run("exit 42", None).await.unwrap().status, 42);
    // sshd reports a signal instead of a status; shells report 128 + 15.
    assert_eq!(s.run("kill -TERM $$", None).await.unwrap().status, 143);
    // Without stdin the command sees end-of-file instead of waiting forever.
    assert_eq!(s.run("cat", None).await.unwrap().stdout, b"");
    assert_eq!(s.run_streaming("echo streamed; exit 3").await.unwrap(), 3);
}

#[tokio::test]
async fn exit_status_arriving_after_eof_is_waited_for() {
    let f = Fixture::new();
    let _sshd = f.start_sshd();
    let s = connected(&f).await;
    // Closing stdout and stderr makes sshd send EOF; the status follows a second later.
    let out = s
        .run("echo out; exec >&- 2>&-; sleep 1; exit 7", None)
        .await
        .unwrap();
    assert_eq!((out.status, out.stdout_str()), (7, "out\n".to_string()));
}

#[tokio::test]
async fn large_stdin_and_output_flow_at_once_and_unread_stdin_is_fine() {
    let f = Fixture::new();
    let _sshd = f.start_sshd();
    let s = connected(&f).await;
    // 8 MiB is past every window and buffer: writing all stdin before reading would deadlock.
    let data: Vec<u8> = (0..8 << 20).map(|i: u32| (i % 251) as u8).collect();
    let out = s.run("cat", Some(&data)).await.unwrap();
    assert_eq!(out.status, 0);
    assert!(
        out.stdout == data,
        "cat returned {} bytes",
        out.stdout.len()
    );
    assert_eq!(s.run("exit 5", Some(&data)).await.unwrap().status, 5);
}

#[tokio::test]
async fn commands_run_concurrently_on_one_session() {
    let f = Fixture::new();
    let _sshd = f.start_sshd();
    let s = connected(&f).await;
    let start = Instant::now();
    // Two 3 s commands: one after the other would take 6 s; together, a little over 3 s even
    // on a loaded machine.
    let (a, b) = tokio::join!(
        s.run("sleep 3; echo a", None),
        s.run("sleep 3; echo b", None)
    );
    assert_eq!(a.unwrap().stdout_str(), "a\n");
    assert_eq!(b.unwrap().stdout_str(), "b\n");
    assert!(
        start.elapsed() < Duration::from_millis(5500),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn a_different_host_key_is_refused_naming_both_fingerprints() {
    let f = Fixture::new();
    let _sshd = f.start_sshd();
    let other = generate_keypair("impostor").unwrap();
    let mut target = f.target();
    target.host_key = other.public_openssh.clone();
    let err = Session::connect(&target, CONNECT).await.unwrap_err();
    let expected = fingerprint(&other.public_openssh).unwrap();
    let presented = fingerprint(&f.host.public_openssh).unwrap();
    assert_eq!(
        err.to_string(),
        format!(
            "t1 ({addr}): the SSH host key does not match: expected {expected} (the key \
             firedrill generated for this node), but the server presented {presented}; not logging in\n  \
             hint: another machine may hold this address, or the node was not built from \
             this lab's seed: check with `firedrill status`, then recreate the lab with \
             `firedrill down` and `firedrill up`",
            addr = f.addr()
        )
    );
    // Strict also in wait_ready: no retrying until the deadline, no trust on first use.
    let start = Instant::now();
    let err = wait_ready(&target, Duration::from_secs(20), |_| {})
        .await
        .unwrap_err();
    assert!(matches!(err, SshError::HostKeyMismatch { .. }), "{err}");
    assert!(start.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn only_the_expected_host_key_type_is_negotiated() {
    use russh::keys::ssh_key::{Algorithm, EcdsaCurve, LineEnding, PrivateKey};
    let f = Fixture::new();
    let ecdsa = PrivateKey::random(
        &mut rand::rng(),
        Algorithm::Ecdsa {
            curve: EcdsaCurve::NistP256,
        },
    )
    .unwrap();
    f.add_host_key(&ecdsa.to_openssh(LineEnding::LF).unwrap());
    let _sshd = f.start_sshd();
    // The client's preference decides, and by default it is ed25519 first: without narrowing
    // it to the expected type this would be a host key mismatch.
    let mut target = f.target();
    target.host_key = ecdsa.public_key().to_openssh().unwrap();
    let s = Session::connect(&target, CONNECT).await.unwrap();
    assert_eq!(
        s.run("echo ecdsa", None).await.unwrap().stdout_str(),
        "ecdsa\n"
    );
    let s = Session::connect(&f.target(), CONNECT).await.unwrap();
    assert_eq!(
        s.run("echo ed25519", None).await.unwrap().stdout_str(),
        "ed25519\n"
    );
}

#[tokio::test]
async fn a_key_the_server_does_not_know_is_rejected() {
    let f = Fixture::new();
    let _sshd = f.start_sshd();
    let stranger = f.dir.path().join("stranger");
    let pair = ensure_keypair(&stranger, "stranger").unwrap();
    let mut target = f.target();
    target.key_path = stranger;
    let err = Session::connect(&target, CONNECT).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "t1 ({}): the server refused key {} for user {}; its first boot may not \
             have installed it yet, or the node was built for another key: see \
             `firedrill console t1`",
            f.addr(),
            fingerprint(&pair.public_openssh).unwrap(),
            target.user
        )
    );
}

#[tokio::test]
async fn connect_times_out_on_a_server_that_never_speaks() {
    // The kernel completes the TCP handshake for a listener that never accepts.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let f = Fixture::new();
    let mut target = f.target();
    target.addr = silent.local_addr().unwrap();
    let err = Session::connect(&target, Duration::from_millis(500))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "t1 ({}): no SSH login within 0.5s; the node may still be booting or be \
             overloaded: see `firedrill console t1`",
            target.addr
        )
    );
}

fn recorder() -> (Arc<Mutex<Vec<Phase>>>, impl FnMut(Phase) + Send) {
    let phases = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&phases);
    (phases, move |p| sink.lock().unwrap().push(p))
}

#[tokio::test]
async fn wait_ready_retries_until_sshd_starts_then_waits_for_cloud_init() {
    let f = Arc::new(Fixture::new());
    f.set_cloud_init("1", "status: done", 0);
    let later = Arc::clone(&f);
    let sshd = tokio::task::spawn_blocking(move || {
        std::thread::sleep(Duration::from_millis(1500));
        later.start_sshd()
    });
    let (phases, progress) = recorder();
    let start = Instant::now();
    let session = wait_ready(&f.target(), Duration::from_secs(30), progress)
        .await
        .unwrap();
    let took = start.elapsed();
    let _sshd = sshd.await.unwrap();
    assert!(took >= Duration::from_millis(2500), "ready after {took:?}");
    assert_eq!(
        *phases.lock().unwrap(),
        vec![
            Phase::WaitingForSsh,
            Phase::WaitingForCloudInit,
            Phase::Ready
        ]
    );
    assert_eq!(f.cloud_init_calls(), "status --wait\n");
    assert_eq!(
        session.run("echo ok", None).await.unwrap().stdout_str(),
        "ok\n"
    );
}

#[tokio::test]
async fn wait_ready_gives_up_at_the_deadline_with_the_last_error() {
    let f = Fixture::new();
    let (phases, progress) = recorder();
    let start = Instant::now();
    let err = wait_ready(&f.target(), Duration::from_secs(2), progress)
        .await
        .unwrap_err();
    let took = start.elapsed();
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(3),
        "{took:?}"
    );
    let SshError::NotReady {
        node,
        waited,
        last_error,
    } = &err
    else {
        panic!("expected NotReady, got {err}");
    };
    assert_eq!(node, "t1");
    assert!(*waited >= Duration::from_secs(2));
    assert!(
        last_error.starts_with(&format!(
            "t1 ({}): cannot connect: Connection refused",
            f.addr()
        )),
        "{last_error}"
    );
    assert!(
        err.to_string()
            .starts_with("t1: not ready after 2s; last problem: t1 (")
    );
    assert_eq!(*phases.lock().unwrap(), vec![Phase::WaitingForSsh]);
}

#[tokio::test]
async fn wait_ready_fails_fast_when_cloud_init_failed() {
    let f = Fixture::new();
    f.set_cloud_init("0", "status: error", 1);
    let _sshd = f.start_sshd();
    let err = wait_ready(&f.target(), Duration::from_secs(30), |_| {})
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "t1: cloud-init failed, so the node is not set up as the lab says:\n\
         status: error\ndetail:\n(scripts_user) failed\n\
         See /var/log/cloud-init.log on the node: \
         `firedrill ssh t1 -- sudo tail -n 50 /var/log/cloud-init.log`"
    );
    assert_eq!(f.cloud_init_calls(), "status --wait\nstatus --long\n");
}

#[tokio::test]
async fn wait_ready_times_out_while_cloud_init_runs() {
    let f = Fixture::new();
    f.set_cloud_init("4", "status: done", 0);
    let _sshd = f.start_sshd();
    let (phases, progress) = recorder();
    let err = wait_ready(&f.target(), Duration::from_secs(2), progress)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "t1: not ready after 2s; last problem: SSH login works, but its setup (first boot) was still running"
    );
    assert_eq!(
        *phases.lock().unwrap(),
        vec![Phase::WaitingForSsh, Phase::WaitingForCloudInit]
    );
}

#[tokio::test]
#[ignore = "needs root (chown root:root): scripts/test"]
async fn upload_writes_atomically_with_mode_and_owner() {
    let f = Fixture::new();
    let _sshd = f.start_sshd();
    let s = connected(&f).await;
    let dir = f.dir.path().join("etc");
    std::fs::create_dir(&dir).unwrap();
    let path = dir.join("it's a file.cfg");
    let path_str = path.to_str().unwrap();
    upload(&s, path_str, b"first\n", 0o640, "root:root", None)
        .await
        .unwrap();
    upload(&s, path_str, b"second\n", 0o600, "root:root", None)
        .await
        .unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"second\n");
    let meta = std::fs::metadata(&path).unwrap();
    assert_eq!(meta.permissions().mode() & 0o7777, 0o600);
    assert_eq!((meta.uid(), meta.gid()), (0, 0));
    // Nothing but the file: the temp file was renamed, not left behind.
    let names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("it's a file.cfg")]);

    let missing = f.dir.path().join("nope/x.cfg");
    let err = upload(
        &s,
        missing.to_str().unwrap(),
        b"x",
        0o644,
        "root:root",
        None,
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        err.starts_with(&format!(
            "t1: uploading {0} failed (exit 1): {0}: No such file or directory; ",
            missing.display()
        )),
        "{err}"
    );
}

#[tokio::test]
async fn nothing_listening_is_a_connect_error() {
    let f = Fixture::new();
    let mut target = f.target();
    target.addr.set_port(free_port());
    let err = Session::connect(&target, CONNECT).await.unwrap_err();
    assert!(matches!(err, SshError::Connect { .. }), "{err}");
}

#[tokio::test]
async fn a_check_waits_for_its_turn_only_after_the_login() {
    let f = Fixture::new();
    f.set_cloud_init("1", "status: done", 0);
    let _sshd = f.start_sshd();
    let turn = tokio::sync::Semaphore::new(0);
    let check = super::Piggyback {
        script: "true".into(),
        stdin: None,
    };
    let (phases, progress) = recorder();
    let target = f.target();
    let waiting = super::wait_ready_with(
        &target,
        Duration::from_secs(30),
        progress,
        Some(&check),
        Some(&turn),
    );
    tokio::pin!(waiting);
    // Logged in, then held at the turn: nothing runs on the node meanwhile.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !phases.lock().unwrap().contains(&Phase::WaitingForTurn) {
        assert!(Instant::now() < deadline, "{:?}", phases.lock().unwrap());
        tokio::select! {
            r = &mut waiting => panic!("ready without a turn: {:?}", r.map(|_| ())),
            _ = tokio::time::sleep(Duration::from_millis(20)) => {}
        }
    }
    tokio::select! {
        r = &mut waiting => panic!("ready without a turn: {:?}", r.map(|_| ())),
        _ = tokio::time::sleep(Duration::from_millis(300)) => {}
    }
    assert_eq!(f.cloud_init_calls(), "");
    turn.add_permits(1);
    let (session, _) = waiting.await.unwrap();
    assert_eq!(
        *phases.lock().unwrap(),
        vec![
            Phase::WaitingForSsh,
            Phase::WaitingForTurn,
            Phase::WaitingForCloudInit,
            Phase::Ready
        ]
    );
    assert_eq!(turn.available_permits(), 1, "the turn is given back");
    session.close().await;
}
