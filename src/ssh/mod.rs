//! SSH to lab nodes with russh: key pairs (`keys`), a session that implements `Remote`
//! (`session`), waiting until a node is ready (`ready`), and uploads and quoting built on
//! `Remote::run` (`shell`).
//!
//! Host keys are checked strictly: firedrill generates each node's host key and puts it in the
//! node's seed, so the key is known before first contact and anything else is refused.

mod connect;
mod keys;
mod ready;
mod session;
mod shell;

#[cfg(test)]
mod test_sshd;
#[cfg(test)]
mod tests;

pub(crate) use connect::{Purpose, connect};
pub(crate) use keys::{KeyPair, ensure_keypair};
#[cfg(test)]
pub(crate) use keys::{fingerprint, generate_keypair};
#[cfg(test)]
pub(crate) use ready::ready_now;
pub(crate) use ready::{Phase, Piggyback, wait_ready, wait_ready_with};
pub(crate) use session::Session;
pub(crate) use shell::{Upload, as_root, quote, upload, upload_all};
#[cfg(test)]
pub(crate) use shell::{assert_sh_parses, upload_script, upload_stdin, uploaded};

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Where and how to log into one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    pub(crate) node: String,
    pub(crate) addr: SocketAddr,
    /// `lab` on lab nodes; commands for root then go through `sudo -n`. As `root`, they don't.
    pub(crate) user: String,
    /// The private key, in OpenSSH format.
    pub(crate) key_path: PathBuf,
    /// The node's host public key as an OpenSSH line (`ssh-ed25519 AAAA... comment`).
    pub(crate) host_key: String,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum SshError {
    #[error("cannot generate an SSH key pair: {0}")]
    KeyGen(String),

    #[error(
        "cannot use the SSH key {}: {message}; remove it and {}.pub to have firedrill \
         generate a new pair (nodes that trust the old key must then be recreated)",
        path.display(), path.display()
    )]
    KeyRead { path: PathBuf, message: String },

    #[error("cannot write {}: {source}; check that the directory exists and is writable", path.display())]
    KeyWrite {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("not a valid OpenSSH public key line ({message}): {line:?}")]
    PublicKey { line: String, message: String },

    #[error(
        "{node} ({addr}): cannot connect: {source}; is the node running? \
         `firedrill status` shows it and `firedrill console {node}` its boot log"
    )]
    Connect {
        node: String,
        addr: SocketAddr,
        source: std::io::Error,
    },

    #[error(
        "{node} ({addr}): no SSH login within {}s; the node may still be booting or be \
         overloaded: see `firedrill console {node}`", after.as_secs_f32()
    )]
    Timeout {
        node: String,
        addr: SocketAddr,
        after: Duration,
    },

    #[error(
        "{node} ({addr}): the SSH host key does not match: expected {expected} (the key \
         firedrill generated for this node), but the server presented {presented}; not logging in\n  \
         hint: another machine may hold this address, or the node was not built from \
         this lab's seed: check with `firedrill status`, then recreate the lab with \
         `firedrill down` and `firedrill up`"
    )]
    HostKeyMismatch {
        node: String,
        addr: SocketAddr,
        expected: String,
        presented: String,
    },

    #[error(
        "{node} ({addr}): the server refused key {fingerprint} for user {user}; its first \
         boot may not have installed it yet, or the node was built for another key: see \
         `firedrill console {node}`"
    )]
    AuthRejected {
        node: String,
        addr: SocketAddr,
        user: String,
        fingerprint: String,
    },

    #[error("{node} ({addr}): SSH session failed: {message}")]
    Session {
        node: String,
        addr: SocketAddr,
        message: String,
    },

    #[error("{node}: {message}")]
    Command { node: String, message: String },

    #[error(
        "{node}: cloud-init failed, so the node is not set up as the lab says:\n{detail}\n\
         See /var/log/cloud-init.log on the node: \
         `firedrill ssh {node} -- sudo tail -n 50 /var/log/cloud-init.log`"
    )]
    CloudInit { node: String, detail: String },

    #[error(
        "{node}: its first boot failed, so the node is not set up as the lab says:\n{detail}\n\
         The setup's output is in its log on the node: \
         `firedrill ssh {node} -- sudo journalctl -b -u firedrill-first-boot`, and on its \
         console: `firedrill console {node}`"
    )]
    FirstBoot { node: String, detail: String },

    #[error(
        "{node}: not ready after {}s; last problem: {last_error}", waited.as_secs()
    )]
    NotReady {
        node: String,
        waited: Duration,
        last_error: String,
    },
}
