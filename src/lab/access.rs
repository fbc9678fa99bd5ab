//! Getting at the nodes: `firedrill ssh`, `firedrill ssh-config` (so plain OpenSSH and scp
//! work with the lab's key and strictly checked host keys) and `firedrill console`.

use super::LabError;
use crate::paths::{Home, LabDir};
use crate::state::{LabState, StateError, write_atomic};
use std::fmt::Write;

/// The known_hosts lines: every name a user may type, and the IP, map to the node's key.
pub(crate) fn known_hosts(state: &LabState) -> String {
    let mut out = String::new();
    for n in state.nodes() {
        let key = state
            .host_key(&n.name)
            .split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ");
        let _ = writeln!(out, "{},{},{} {key}", n.name, n.fqdn, n.ip);
    }
    out
}

pub(crate) fn ssh_config_text(dir: &LabDir, state: &LabState) -> String {
    let mut out = format!(
        "# firedrill lab {}: use with `ssh -F {}`\n",
        state.name,
        dir.ssh_config().display()
    );
    for n in state.nodes() {
        let _ = write!(
            out,
            "Host {name} {fqdn}\n  HostName {ip}\n  User {user}\n  IdentityFile {key}\n  IdentitiesOnly yes\n  UserKnownHostsFile {kh}\n  StrictHostKeyChecking yes\n  HostKeyAlias {name}\n\n",
            name = n.name,
            fqdn = n.fqdn,
            ip = n.ip,
            user = state.user,
            key = dir.ssh_key().display(),
            kh = dir.known_hosts().display(),
        );
    }
    out
}

pub(crate) fn write_access_files(dir: &LabDir, state: &LabState) -> Result<(), StateError> {
    write_atomic(&dir.known_hosts(), known_hosts(state).as_bytes(), 0o644)?;
    write_atomic(
        &dir.ssh_config(),
        ssh_config_text(dir, state).as_bytes(),
        0o644,
    )
}

/// `firedrill ssh NODE [-- COMMAND...]`: with a command, runs it over russh and returns its exit
/// status; without, hands the terminal to OpenSSH with the lab's config.
pub(crate) async fn ssh(
    home: &Home,
    lab: Option<&str>,
    name: &str,
    command: &[String],
) -> Result<u32, LabError> {
    let lab = super::Lab::open(home, lab)?;
    let n = lab.require_node(name)?;
    let (dir, state) = (&lab.dir, &lab.state);
    if command.is_empty() {
        use std::os::unix::process::CommandExt;
        write_access_files(dir, state)?;
        let err = std::process::Command::new("ssh")
            .arg("-F")
            .arg(dir.ssh_config())
            .arg(&n.name)
            .exec();
        return Err(LabError::Exec {
            program: "ssh".into(),
            message: err.to_string(),
            hint: format!(
                "install openssh-client for an interactive shell, or run a command: firedrill ssh {name} -- uptime"
            ),
        });
    }
    let session = lab.shell(n, crate::ssh::Purpose::Command).await?;
    let code = session.run_streaming(&command.join(" ")).await?;
    session.close().await;
    Ok(code)
}

pub(crate) fn ssh_config(home: &Home, lab: Option<&str>) -> Result<(), LabError> {
    let lab = super::Lab::open(home, lab)?;
    write_access_files(&lab.dir, &lab.state)?;
    print!("{}", ssh_config_text(&lab.dir, &lab.state));
    Ok(())
}

/// `firedrill secrets`: the lab's generated passwords, on request only.
pub(crate) fn secrets(home: &Home, lab: Option<&str>) -> Result<(), LabError> {
    let lab = super::Lab::open(home, lab)?;
    let s = super::configure::secrets(&lab.dir)?;
    let dbs: Vec<&str> = lab
        .state
        .nodes()
        .filter(|n| n.roles.iter().any(|r| r.is_database()))
        .map(|n| n.name.as_str())
        .collect();
    println!(
        "database `todo`, user `todo` on {}: {}",
        if dbs.is_empty() {
            "-".to_string()
        } else {
            dbs.join(", ")
        },
        s.db_password
    );
    println!("(stored 0600 in {})", lab.dir.secrets_file().display());
    Ok(())
}

/// `firedrill console NODE`: the node's serial console log (the last `lines` lines, or all).
pub(crate) fn console(
    home: &Home,
    lab: Option<&str>,
    name: &str,
    lines: Option<usize>,
) -> Result<(), LabError> {
    let lab = super::Lab::open(home, lab)?;
    let n = lab.require_node(name)?;
    let path = lab.dir.console_log(&n.name);
    let bytes = std::fs::read(&path).map_err(|e| LabError::Node {
        node: n.name.clone(),
        step: "read console log",
        message: format!(
            "{}: {e}; the node writes it once it has started",
            path.display()
        ),
    })?;
    let text = String::from_utf8_lossy(&bytes);
    let all: Vec<&str> = text.lines().collect();
    let from = lines.map(|l| all.len().saturating_sub(l)).unwrap_or(0);
    for l in &all[from..] {
        println!("{l}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> LabState {
        let mut s = crate::state::sample();
        s.observed[0].host_key = "ssh-ed25519 AAAAC3Nza web@minimal".into();
        s
    }

    #[test]
    fn known_hosts_lists_every_name_and_drops_the_comment() {
        assert_eq!(
            known_hosts(&state()),
            "web,web.minimal.lab,10.77.0.10 ssh-ed25519 AAAAC3Nza\n"
        );
    }

    #[test]
    fn ssh_config_checks_host_keys_strictly() {
        let dir = Home::at("/h").lab(&"minimal".into());
        let text = ssh_config_text(&dir, &state());
        assert_eq!(
            text,
            "# firedrill lab minimal: use with `ssh -F /h/labs/minimal/ssh_config`\n\
             Host web web.minimal.lab\n  HostName 10.77.0.10\n  User lab\n  IdentityFile /h/labs/minimal/id_ed25519\n  IdentitiesOnly yes\n  UserKnownHostsFile /h/labs/minimal/known_hosts\n  StrictHostKeyChecking yes\n  HostKeyAlias web\n\n"
        );
    }
}
