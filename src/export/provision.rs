//! A node's provision script: the steps of its first configuration (`roles::first_setup`) as a
//! POSIX shell script, which Vagrant's shell provisioner runs as root. Each command is the one
//! `up` sends over SSH, byte for byte; its stdin follows it as a here-document.
//!
//! No password is in the script: the roles render the lab's database password as
//! `PASSWORD_PLACEHOLDER`, and the script puts the one the Vagrantfile passes in
//! `FIREDRILL_DB_PASSWORD` in its place, in a 0600 temp file, before the command reads it.

use super::ExportError;
use crate::roles::Step;
use crate::ssh::quote;

/// The second line of every provision script: how `export` knows the file is its own.
pub(crate) const MARKER: &str = "# Written by `firedrill export vagrant`, which rewrites it: change the lab file and export again.";

/// What the roles write where the database password goes (letters only, as a password is).
pub(crate) const PASSWORD_PLACEHOLDER: &str = "FiredrillDatabasePasswordFromTheVagrantfile";

/// The environment variable that brings the password to the script.
pub(crate) const PASSWORD_VAR: &str = "FIREDRILL_DB_PASSWORD";

/// Ends each here-document; a text with a line like it goes through `printf` instead.
const EOF: &str = "FIREDRILL_EOF";

/// Whether `steps` need the database password.
pub(crate) fn needs_password(steps: &[Step]) -> bool {
    steps.iter().any(|s| match s {
        Step::Run {
            stdin: Some(data), ..
        } => contains(data, PASSWORD_PLACEHOLDER),
        _ => false,
    })
}

fn contains(data: &[u8], part: &str) -> bool {
    data.windows(part.len()).any(|w| w == part.as_bytes())
}

/// The script of node `node` of lab `lab` (from the lab file `source`).
pub(crate) fn script(
    lab: &str,
    source: &str,
    node: &str,
    steps: &[Step],
) -> Result<String, ExportError> {
    let mut out = format!(
        "#!/bin/sh\n{MARKER}\n\
         # Node {node} of lab {lab} ({source}): what `firedrill up` runs on it as root over SSH\n\
         # when it comes fresh from the golden image, in order, rendered by the same role code.\n\
         # Safe to run again (`vagrant provision {node}`).\n\
         set -eu\n"
    );
    if needs_password(steps) {
        out.push_str(&format!(
            "case \"${{{PASSWORD_VAR}:-}}\" in\n\
             '' | *[!A-Za-z0-9]*)\n    \
             echo \"provision/{node}.sh: set {PASSWORD_VAR} to the lab's database password \
             (letters and digits); the Vagrantfile does\" >&2\n    \
             exit 1\n    \
             ;;\n\
             esac\n\
             secret=$(mktemp)\n\
             trap 'rm -f \"$secret\"' EXIT\n"
        ));
    }
    for step in steps {
        out.push('\n');
        match step {
            Step::Say(line) => out.push_str(&format!("# {}\n", line.replace('\n', " "))),
            Step::Run { command, stdin } => out.push_str(&run(node, command, stdin.as_deref())?),
        }
    }
    Ok(out)
}

/// One command with its stdin.
fn run(node: &str, command: &str, stdin: Option<&[u8]>) -> Result<String, ExportError> {
    let Some(data) = stdin else {
        return Ok(format!("{command} </dev/null\n"));
    };
    let text = std::str::from_utf8(data).map_err(|_| ExportError::NotText {
        node: node.to_string(),
        command: command.chars().take(80).collect(),
    })?;
    if !text.contains(PASSWORD_PLACEHOLDER) {
        return Ok(match here_document(text) {
            Some(doc) => format!("{command} {doc}"),
            None => format!("printf %s {} | {command}\n", quote(text)),
        });
    }
    // The password goes into a 0600 temp file. A managed file's record is the sha256 the node
    // computes of what it wrote (`ssh::upload_all`), so it is that of the file with the password.
    let fill = format!("sed 's/{PASSWORD_PLACEHOLDER}/'\"${PASSWORD_VAR}\"'/g' > \"$secret\"");
    let mut out = match here_document(text) {
        Some(doc) => format!("{fill} {doc}"),
        None => format!("printf %s {} | {fill}\n", quote(text)),
    };
    out.push_str(&format!("{command} < \"$secret\"\n"));
    Ok(out)
}

/// `<<'EOF'`, the text and the end line, when the text can be one: it ends with a newline (a
/// here-document always does) and no line of it is the end line.
fn here_document(text: &str) -> Option<String> {
    (text.ends_with('\n') && !text.lines().any(|l| l == EOF))
        .then(|| format!("<<'{EOF}'\n{text}{EOF}\n"))
}
