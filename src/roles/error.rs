//! Why configuring a node failed: the node, the step, the command and what it said. Commands
//! never carry secrets (those travel on stdin), so showing them is safe.

use crate::remote::RemoteError;
use thiserror::Error;

/// Long scripts are cut in messages; the first part says which command it was.
const COMMAND_SHOWN: usize = 240;

#[derive(Debug, Error)]
pub(crate) enum RoleError {
    #[error(
        "{failed}\n  ran: `{command}`\n  hint: look on the node with `firedrill ssh {node}`, fix the cause, then run `firedrill up` again", node = .failed.node
    )]
    Command {
        failed: crate::remote::CommandFailed,
        command: String,
    },
    #[error(
        "{node}: {step}: the SSH session failed: {source}\n  \
         hint: check that the node runs (`firedrill status`), then run `firedrill up` again"
    )]
    Remote {
        node: String,
        step: String,
        #[source]
        source: RemoteError,
    },
    #[error(
        "{node}: {step}: `{command}` gave an answer firedrill does not understand: {detail}\n  \
         hint: the node's image may differ from the golden image; run `firedrill up` again or rebuild the node"
    )]
    Unexpected {
        node: String,
        step: String,
        command: String,
        detail: String,
    },
    #[error(
        "{node}: {field} {value:?} is not a plain name: use lower-case letters, digits and _ \
         (starting with a letter) in the lab file."
    )]
    BadName {
        node: String,
        field: &'static str,
        value: String,
    },
    #[error(
        "template {template} failed to render: {message}\n  hint: this is a firedrill bug: please report it"
    )]
    Template { template: String, message: String },
}

/// The command as shown in an error: its first line, cut to a readable length.
pub(super) fn shown_command(command: &str) -> String {
    let first = command.lines().next().unwrap_or_default();
    let mut shown: String = first.chars().take(COMMAND_SHOWN).collect();
    if shown.len() < command.len() {
        shown.push_str(" ...");
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_command_names_node_step_command_and_stderr() {
        let out = crate::remote::Output {
            status: 1,
            stdout: Vec::new(),
            stderr: b"ERROR 1045 (28000): Access denied\n".to_vec(),
        };
        let e = RoleError::Command {
            failed: out.failure("db", "mysql: provision database"),
            command: "mysql --batch".into(),
        };
        assert_eq!(
            e.to_string(),
            "db: mysql: provision database failed (exit 1): ERROR 1045 (28000): Access denied\n  \
             ran: `mysql --batch`\n  \
             hint: look on the node with `firedrill ssh db`, fix the cause, then run `firedrill up` again"
        );
    }

    #[test]
    fn long_commands_are_cut_to_their_first_line() {
        assert_eq!(shown_command("set -e\nrm -rf /"), "set -e ...");
        assert_eq!(shown_command("systemctl start x"), "systemctl start x");
        let long = "x".repeat(300);
        assert_eq!(shown_command(&long), format!("{} ...", "x".repeat(240)));
    }
}
