//! ed25519 key pairs in OpenSSH formats: the lab user's key and each node's host key.

use super::SshError;
#[cfg(test)]
use russh::keys::ssh_key::HashAlg;
use russh::keys::ssh_key::{Algorithm, LineEnding, PrivateKey, PublicKey};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// An ed25519 key pair in OpenSSH formats.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct KeyPair {
    /// `-----BEGIN OPENSSH PRIVATE KEY-----...`, unencrypted.
    pub(crate) private_openssh: String,
    /// `ssh-ed25519 AAAA... comment`, without a trailing newline.
    pub(crate) public_openssh: String,
}

/// Keeps the private key out of logs and panic messages.
impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyPair")
            .field("public_openssh", &self.public_openssh)
            .finish_non_exhaustive()
    }
}

pub(crate) fn generate_keypair(comment: &str) -> Result<KeyPair, SshError> {
    let mut key = PrivateKey::random(&mut rand::rng(), Algorithm::Ed25519)
        .map_err(|e| SshError::KeyGen(e.to_string()))?;
    key.set_comment(comment);
    to_pair(&key).map_err(SshError::KeyGen)
}

fn to_pair(key: &PrivateKey) -> Result<KeyPair, String> {
    let private = key.to_openssh(LineEnding::LF).map_err(|e| e.to_string())?;
    let public = key.public_key().to_openssh().map_err(|e| e.to_string())?;
    Ok(KeyPair {
        private_openssh: private.to_string(),
        public_openssh: public,
    })
}

/// Writes the private key 0600 at `path` and the public key at `path.pub` (0644), each
/// atomically. If `path` exists, loads it instead, rewrites a missing or stale `.pub` from it
/// and tightens its mode to 0600 (OpenSSH's `ssh -i` refuses a key others can read).
pub(crate) fn ensure_keypair(path: &Path, comment: &str) -> Result<KeyPair, SshError> {
    let pub_path = public_path(path);
    if path.exists() {
        let key = load_private_key(path)?;
        let pair = to_pair(&key).map_err(|message| SshError::KeyRead {
            path: path.to_path_buf(),
            message,
        })?;
        let written = fs::read_to_string(&pub_path).unwrap_or_default();
        if written.trim_end() != pair.public_openssh {
            write_atomic(
                &pub_path,
                format!("{}\n", pair.public_openssh).as_bytes(),
                0o644,
            )?;
        }
        let mode = fs::metadata(path)
            .map_err(|e| read_error(path, e))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            fs::set_permissions(path, fs::Permissions::from_mode(0o600)).map_err(|source| {
                SshError::KeyWrite {
                    path: path.to_path_buf(),
                    source,
                }
            })?;
        }
        return Ok(pair);
    }
    let pair = generate_keypair(comment)?;
    // The private key last: a crash in between leaves no private key, so the next run
    // generates a fresh pair and overwrites the orphan `.pub`.
    write_atomic(
        &pub_path,
        format!("{}\n", pair.public_openssh).as_bytes(),
        0o644,
    )?;
    write_atomic(path, pair.private_openssh.as_bytes(), 0o600)?;
    Ok(pair)
}

/// `SHA256:...` as `ssh-keygen -l` prints it (the tests compare what a server presents).
#[cfg(test)]
pub(crate) fn fingerprint(public_openssh: &str) -> Result<String, SshError> {
    Ok(parse_public_key(public_openssh)?
        .fingerprint(HashAlg::Sha256)
        .to_string())
}

pub(super) fn parse_public_key(line: &str) -> Result<PublicKey, SshError> {
    PublicKey::from_openssh(line.trim()).map_err(|e| SshError::PublicKey {
        line: line.to_string(),
        message: e.to_string(),
    })
}

pub(super) fn load_private_key(path: &Path) -> Result<PrivateKey, SshError> {
    let text = fs::read_to_string(path).map_err(|e| read_error(path, e))?;
    let key = PrivateKey::from_openssh(text.as_bytes()).map_err(|e| SshError::KeyRead {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    if key.is_encrypted() {
        return Err(SshError::KeyRead {
            path: path.to_path_buf(),
            message: "it is encrypted with a passphrase, and firedrill needs an unencrypted key"
                .to_string(),
        });
    }
    Ok(key)
}

fn read_error(path: &Path, e: std::io::Error) -> SshError {
    SshError::KeyRead {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

fn public_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(".pub");
    PathBuf::from(name)
}

/// Temp file in the same directory, created with its final mode (so a private key is never
/// readable by others, not even for a moment), synced, then renamed over `path`.
fn write_atomic(path: &Path, data: &[u8], mode: u32) -> Result<(), SshError> {
    crate::fsutil::write_atomic(path, data, mode).map_err(|source| SshError::KeyWrite {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ssh::test_sshd::TempDir;
    use std::process::Command;

    #[test]
    fn generated_pair_is_ed25519_with_comment() {
        let pair = generate_keypair("lab@minimal").unwrap();
        assert!(
            pair.private_openssh
                .starts_with("-----BEGIN OPENSSH PRIVATE KEY-----\n")
        );
        assert!(
            pair.private_openssh
                .ends_with("-----END OPENSSH PRIVATE KEY-----\n")
        );
        assert!(pair.public_openssh.starts_with("ssh-ed25519 AAAA"));
        assert!(pair.public_openssh.ends_with(" lab@minimal"));
        assert_ne!(generate_keypair("lab@minimal").unwrap(), pair);
    }

    #[test]
    fn ensure_writes_modes_and_openssh_accepts_the_files() {
        let dir = TempDir::new("keys");
        let path = dir.path().join("id_ed25519");
        let pair = ensure_keypair(&path, "lab@t").unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&public_path(&path)), 0o644);
        assert_eq!(
            fs::read_to_string(public_path(&path)).unwrap(),
            format!("{}\n", pair.public_openssh)
        );
        // No temp files left behind.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 2);

        // ssh-keygen refuses private keys others can read, so this also checks the mode.
        let derived = Command::new("ssh-keygen")
            .arg("-y")
            .arg("-f")
            .arg(&path)
            .output()
            .unwrap();
        assert!(derived.status.success(), "{derived:?}");
        let derived = String::from_utf8(derived.stdout).unwrap();
        assert_eq!(derived.trim_end(), pair.public_openssh);

        let listed = Command::new("ssh-keygen")
            .arg("-l")
            .arg("-f")
            .arg(public_path(&path))
            .output()
            .unwrap();
        let listed = String::from_utf8(listed.stdout).unwrap();
        let fp = fingerprint(&pair.public_openssh).unwrap();
        assert!(fp.starts_with("SHA256:"));
        assert_eq!(listed.split(' ').nth(1), Some(fp.as_str()));
    }

    #[test]
    fn ensure_is_idempotent_and_repairs_pub_and_mode() {
        let dir = TempDir::new("keys");
        let path = dir.path().join("id_ed25519");
        let first = ensure_keypair(&path, "lab@t").unwrap();
        assert_eq!(ensure_keypair(&path, "other").unwrap(), first);

        fs::remove_file(public_path(&path)).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(ensure_keypair(&path, "other").unwrap(), first);
        assert_eq!(
            fs::read_to_string(public_path(&path)).unwrap(),
            format!("{}\n", first.public_openssh)
        );
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    #[test]
    fn unreadable_key_says_what_to_do() {
        let dir = TempDir::new("keys");
        let path = dir.path().join("id_ed25519");
        fs::write(&path, "not a key").unwrap();
        let err = ensure_keypair(&path, "x").unwrap_err().to_string();
        let shown = path.display();
        assert!(
            err.starts_with(&format!("cannot use the SSH key {shown}: ")),
            "{err}"
        );
        assert!(err.ends_with(&format!(
            "remove it and {shown}.pub to have firedrill generate a new pair (nodes that trust \
             the old key must then be recreated)"
        )));
    }

    #[test]
    fn bad_public_key_is_refused() {
        let err = fingerprint("ssh-ed25519 notbase64!").unwrap_err();
        assert!(
            matches!(err, SshError::PublicKey { ref line, .. } if line == "ssh-ed25519 notbase64!")
        );
    }
}
