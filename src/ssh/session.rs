//! One authenticated SSH connection to a node. Each command gets its own channel, so several
//! can run at once over one connection.

use super::keys::{load_private_key, parse_public_key};
use super::{SshError, Target};
use crate::remote::{Output, Remote, RemoteError};
use russh::client::{self, Handle};
use russh::keys::ssh_key::{HashAlg, PublicKey};
use russh::keys::{PrivateKeyWithHashAlg, PublicKeyOrCertificate};
use russh::{ChannelMsg, Disconnect, Preferred, Sig};
use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// A node that stops answering (a fault cut its network, it froze) must not hang a command
/// forever: after 3 unanswered keepalives 15 s apart the connection is closed and the command
/// fails.
const KEEPALIVE: Duration = Duration::from_secs(15);
/// A TCP connection that has had no answer for this long starts over with a fresh SYN (below).
const CONNECT_AFRESH: Duration = Duration::from_secs(2);

/// Connects, starting over every `CONNECT_AFRESH` while nothing answers. A booting node's address
/// answers nothing until its network is up, and the kernel's own SYN retransmissions back off
/// (1, 3, 7, 15 s after the first): a node whose network came up meanwhile was found up to 15 s
/// late. A refusal or an unreachable network still ends an attempt at once; the caller's timeout
/// bounds the whole.
async fn connect_tcp(addr: std::net::SocketAddr) -> std::io::Result<tokio::net::TcpStream> {
    afresh(|| tokio::net::TcpStream::connect(addr)).await
}

/// Runs `attempt` again each time one has not ended within `CONNECT_AFRESH`; returns the first
/// that ends, success or failure.
async fn afresh<T, F: Future<Output = std::io::Result<T>>>(
    mut attempt: impl FnMut() -> F,
) -> std::io::Result<T> {
    loop {
        if let Ok(ended) = tokio::time::timeout(CONNECT_AFRESH, attempt()).await {
            return ended;
        }
    }
}

pub(crate) struct Session {
    node: String,
    addr: SocketAddr,
    user: String,
    handle: Handle<Client>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Session({}@{} {})", self.user, self.node, self.addr)
    }
}

struct Client {
    expected: PublicKey,
}

#[derive(Debug)]
enum ClientError {
    Russh(russh::Error),
    HostKeyMismatch { presented: String },
}

impl From<russh::Error> for ClientError {
    fn from(e: russh::Error) -> Self {
        ClientError::Russh(e)
    }
}

impl client::Handler for Client {
    type Error = ClientError;

    /// Strict: the key firedrill generated for the node, or nothing. An error (not `Ok(false)`)
    /// carries the presented key out to `connect` so the message can name it.
    async fn check_server_key(
        &mut self,
        server_key: &PublicKeyOrCertificate,
    ) -> Result<bool, ClientError> {
        match server_key {
            PublicKeyOrCertificate::PublicKey { key, .. }
                if key.key_data() == self.expected.key_data() =>
            {
                Ok(true)
            }
            PublicKeyOrCertificate::PublicKey { key, .. } => Err(ClientError::HostKeyMismatch {
                presented: key.fingerprint(HashAlg::Sha256).to_string(),
            }),
            PublicKeyOrCertificate::Certificate(cert) => Err(ClientError::HostKeyMismatch {
                presented: format!(
                    "a certificate for {}",
                    cert.public_key().fingerprint(HashAlg::Sha256)
                ),
            }),
        }
    }
}

/// Where a command's output goes.
enum Sink<'a> {
    Collect {
        stdout: &'a mut Vec<u8>,
        stderr: &'a mut Vec<u8>,
    },
    Local,
}

impl Sink<'_> {
    async fn write(&mut self, stderr: bool, data: &[u8]) -> std::io::Result<()> {
        match (self, stderr) {
            (Sink::Collect { stdout, .. }, false) => stdout.extend_from_slice(data),
            (Sink::Collect { stderr, .. }, true) => stderr.extend_from_slice(data),
            (Sink::Local, false) => {
                let mut out = tokio::io::stdout();
                out.write_all(data).await?;
                out.flush().await?;
            }
            (Sink::Local, true) => {
                let mut err = tokio::io::stderr();
                err.write_all(data).await?;
                err.flush().await?;
            }
        }
        Ok(())
    }
}

impl Session {
    /// Connects and authenticates with the key. The server's host key must equal
    /// `target.host_key`; anything else is `SshError::HostKeyMismatch`, and nothing is sent.
    pub(crate) async fn connect(target: &Target, timeout: Duration) -> Result<Session, SshError> {
        let key = load_private_key(&target.key_path)?;
        let expected = parse_public_key(&target.host_key)?;
        match tokio::time::timeout(timeout, handshake(target, key, expected)).await {
            Ok(result) => result,
            Err(_) => Err(SshError::Timeout {
                node: target.node.clone(),
                addr: target.addr,
                after: timeout,
            }),
        }
    }

    /// Runs `command`, streaming its stdout and stderr to ours as they arrive, and returns its
    /// exit status. Our stdin is not forwarded: the command sees end-of-file.
    pub(crate) async fn run_streaming(&self, command: &str) -> Result<u32, SshError> {
        self.exec(command, None, &mut Sink::Local)
            .await
            .map_err(|message| SshError::Command {
                node: self.node.clone(),
                message,
            })
    }

    pub(crate) async fn close(self) {
        // The node may already be gone; there is nothing to do about a failed goodbye.
        let _ = self
            .handle
            .disconnect(Disconnect::ByApplication, "", "en")
            .await;
    }

    async fn exec(
        &self,
        command: &str,
        stdin: Option<&[u8]>,
        sink: &mut Sink<'_>,
    ) -> Result<u32, String> {
        let shown = shorten(command);
        let channel = self
            .handle
            .channel_open_session()
            .await
            .map_err(|e| format!("cannot open an SSH channel: {e}"))?;
        channel
            .exec(true, command)
            .await
            .map_err(|e| format!("cannot start `{shown}`: {e}"))?;
        let (mut reader, writer) = channel.split();

        // stdin is written while output is read: a command that prints before it has read all
        // its input would otherwise deadlock against a full window.
        let feed = async move {
            if let Some(data) = stdin {
                writer.data(data).await?;
            }
            writer.eof().await
        };
        let read = async {
            let mut status = None;
            while let Some(msg) = reader.wait().await {
                match msg {
                    ChannelMsg::Data { data } => sink.write(false, &data).await,
                    ChannelMsg::ExtendedData { data, ext: 1 } => sink.write(true, &data).await,
                    // The exit status may come after EOF: keep reading until the channel closes.
                    ChannelMsg::ExitStatus { exit_status } => {
                        status = Some(exit_status);
                        Ok(())
                    }
                    ChannelMsg::ExitSignal { signal_name, .. } => {
                        status = Some(128 + signal_number(&signal_name));
                        Ok(())
                    }
                    ChannelMsg::Failure => {
                        return Err(format!("the server refused to run `{shown}`"));
                    }
                    _ => Ok(()),
                }
                .map_err(|e| format!("cannot write the output of `{shown}` locally: {e}"))?;
            }
            status.ok_or_else(|| {
                format!("the connection closed before `{shown}` reported its exit status")
            })
        };
        tokio::pin!(feed, read);
        let mut feeding = true;
        loop {
            tokio::select! {
                // A command that exits without reading its stdin makes the feed fail; its exit
                // status is what counts, as with `ssh host cmd < file`.
                _ = &mut feed, if feeding => feeding = false,
                status = &mut read => return status,
            }
        }
    }
}

async fn handshake(
    target: &Target,
    key: russh::keys::PrivateKey,
    expected: PublicKey,
) -> Result<Session, SshError> {
    let session_error = |message: String| SshError::Session {
        node: target.node.clone(),
        addr: target.addr,
        message,
    };
    let stream = connect_tcp(target.addr)
        .await
        .map_err(|source| SshError::Connect {
            node: target.node.clone(),
            addr: target.addr,
            source,
        })?;
    // Commands are small request/response exchanges; Nagle only adds latency.
    let _ = stream.set_nodelay(true);
    // Offer only the expected key's type: with cloud-init's default `ssh_genkeytypes` a node
    // also has RSA and ECDSA host keys that firedrill never saw, and the server must not pick
    // one of those. (RSA keeps the defaults: its signature names differ from its key type.)
    let mut preferred = Preferred::default();
    if !expected.algorithm().is_rsa() {
        preferred.key = Cow::Owned(vec![expected.algorithm()]);
    }
    let config = Arc::new(client::Config {
        keepalive_interval: Some(KEEPALIVE),
        keepalive_max: 3,
        preferred,
        ..Default::default()
    });
    let expected_fp = expected.fingerprint(HashAlg::Sha256).to_string();
    let mut handle = client::connect_stream(config, stream, Client { expected })
        .await
        .map_err(|e| match e {
            ClientError::HostKeyMismatch { presented } => SshError::HostKeyMismatch {
                node: target.node.clone(),
                addr: target.addr,
                expected: expected_fp,
                presented,
            },
            ClientError::Russh(e) => session_error(e.to_string()),
        })?;
    let fingerprint = key.fingerprint(HashAlg::Sha256).to_string();
    let auth = handle
        .authenticate_publickey(
            target.user.clone(),
            PrivateKeyWithHashAlg::new(Arc::new(key), None),
        )
        .await
        .map_err(|e| session_error(e.to_string()))?;
    if !auth.success() {
        return Err(SshError::AuthRejected {
            node: target.node.clone(),
            addr: target.addr,
            user: target.user.clone(),
            fingerprint,
        });
    }
    Ok(Session {
        node: target.node.clone(),
        addr: target.addr,
        user: target.user.clone(),
        handle,
    })
}

/// The command as messages show it: its first line, at most 60 characters.
fn shorten(command: &str) -> String {
    let line = command.lines().next().unwrap_or("");
    let mut short: String = line.chars().take(60).collect();
    if short.len() < command.len() {
        short.push_str("...");
    }
    short
}

/// Linux numbers, so a command killed by a signal reports 128+N as a shell would.
fn signal_number(sig: &Sig) -> u32 {
    match sig {
        Sig::HUP => 1,
        Sig::INT => 2,
        Sig::QUIT => 3,
        Sig::ILL => 4,
        Sig::ABRT => 6,
        Sig::FPE => 8,
        Sig::KILL => 9,
        Sig::USR1 => 10,
        Sig::SEGV => 11,
        Sig::PIPE => 13,
        Sig::ALRM => 14,
        Sig::TERM => 15,
        Sig::Custom(name) => match name.as_str() {
            "BUS" => 7,
            "USR2" => 12,
            "XCPU" => 24,
            "XFSZ" => 25,
            // Unknown: 127 + 128 = 255, what `ssh` itself returns when it cannot tell.
            _ => 127,
        },
    }
}

impl Remote for Session {
    fn node(&self) -> &str {
        &self.node
    }

    fn needs_sudo(&self) -> bool {
        self.user != "root"
    }

    async fn run(&self, command: &str, stdin: Option<&[u8]>) -> Result<Output, RemoteError> {
        let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
        let status = self
            .exec(
                command,
                stdin,
                &mut Sink::Collect {
                    stdout: &mut stdout,
                    stderr: &mut stderr,
                },
            )
            .await
            .map_err(|message| RemoteError {
                node: self.node.clone(),
                message,
            })?;
        Ok(Output {
            status,
            stdout,
            stderr,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Instant;

    /// An attempt that has had no answer (a booting node's address drops SYNs until its network
    /// is up) is dropped for a fresh one, which finds the node as soon as it answers; an answer,
    /// even a refusal, ends the wait at once.
    #[tokio::test]
    async fn a_connection_with_no_answer_starts_over_and_an_answer_ends_it() {
        let tries = AtomicUsize::new(0);
        let start = Instant::now();
        let got = afresh(|| {
            let n = tries.fetch_add(1, Ordering::SeqCst);
            async move {
                if n == 0 {
                    std::future::pending::<()>().await;
                }
                Ok(n)
            }
        })
        .await;
        let took = start.elapsed();
        assert_eq!(got.unwrap(), 1);
        assert!(
            took >= CONNECT_AFRESH && took < CONNECT_AFRESH * 2,
            "{took:?}"
        );

        let tries = AtomicUsize::new(0);
        let refused = afresh(|| {
            tries.fetch_add(1, Ordering::SeqCst);
            async { Err::<(), _>(std::io::Error::from(std::io::ErrorKind::ConnectionRefused)) }
        })
        .await;
        assert_eq!(
            refused.unwrap_err().kind(),
            std::io::ErrorKind::ConnectionRefused
        );
        assert_eq!(tries.load(Ordering::SeqCst), 1);
    }
}
