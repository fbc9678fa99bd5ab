//! One node being configured: runs scripts as root through `Remote::run`, turns failures into
//! `RoleError`s that name the node and step, and collects what changed.

use super::error::{RoleError, shown_command};
use crate::remote::{Output, Remote};

pub(super) struct Session<'a, R: Remote> {
    remote: &'a R,
    node: &'a str,
    changed: Vec<String>,
    /// Managed files the learner edited on the node, left as they are.
    edited: Vec<String>,
    /// Overwrite such files instead (`up --force`).
    overwrite_edits: bool,
    progress: &'a mut (dyn FnMut(&str) + Send + Sync),
}

impl<'a, R: Remote> Session<'a, R> {
    pub(super) fn new(
        remote: &'a R,
        node: &'a str,
        progress: &'a mut (dyn FnMut(&str) + Send + Sync),
    ) -> Self {
        Session {
            remote,
            node,
            changed: Vec::new(),
            edited: Vec::new(),
            overwrite_edits: false,
            progress,
        }
    }

    /// Overwrite managed files the learner edited on the node (they are left alone otherwise).
    pub(super) fn overwrite_edits(mut self, yes: bool) -> Self {
        self.overwrite_edits = yes;
        self
    }

    pub(super) fn overwrites_edits(&self) -> bool {
        self.overwrite_edits
    }

    /// Records a managed file that was edited on the node and left as it is.
    pub(super) fn left_edited(&mut self, path: &str) {
        (self.progress)(&format!("{path} was edited on the node: left as it is"));
        self.edited.push(path.to_string());
    }

    pub(super) fn remote(&self) -> &R {
        self.remote
    }

    pub(super) fn node(&self) -> &str {
        self.node
    }

    /// Tells the user what is happening. Never pass a secret here.
    pub(super) fn say(&mut self, message: &str) {
        (self.progress)(message);
    }

    /// Records a change on the node; it shows in the report and in the progress output.
    pub(super) fn changed(&mut self, what: String) {
        (self.progress)(&what);
        self.changed.push(what);
    }

    /// What changed, and the edited files left as they are.
    pub(super) fn into_report(self) -> super::NodeReport {
        super::NodeReport {
            changed: self.changed,
            edited: self.edited,
        }
    }

    /// Runs `script` as root and returns its output whatever its exit status. Secrets go in
    /// `stdin`, never in `script`: the command line is visible in `ps` on the node.
    pub(super) async fn run(
        &self,
        step: &str,
        script: &str,
        stdin: Option<&[u8]>,
    ) -> Result<Output, RoleError> {
        self.remote
            .run_as_root(script, stdin)
            .await
            .map_err(|source| RoleError::Remote {
                node: self.node.to_string(),
                step: step.to_string(),
                source,
            })
    }

    /// Creates the todo database and user unless the todo login already works, then proves the
    /// login. The credentials and the SQL travel on stdin, never on a command line. `role` names
    /// the steps ("mysql", "postgres"); returns whether it provisioned.
    pub(super) async fn provision_unless_login_works(
        &mut self,
        role: &str,
        probe: &str,
        login: &str,
        script: &str,
        sql: impl FnOnce() -> Result<String, RoleError>,
    ) -> Result<bool, RoleError> {
        let out = self
            .run(
                &format!("{role}: check the todo login"),
                probe,
                Some(login.as_bytes()),
            )
            .await?;
        if out.success() {
            return Ok(false);
        }
        self.say(&format!("{role}: creating the todo database and user"));
        let sql = sql()?;
        self.ok(
            &format!("{role}: provision the database"),
            script,
            Some(sql.as_bytes()),
        )
        .await?;
        self.ok(
            &format!("{role}: log in as the todo user"),
            probe,
            Some(login.as_bytes()),
        )
        .await?;
        Ok(true)
    }

    /// Like `run`, but a non-zero exit status is an error.
    pub(super) async fn ok(
        &self,
        step: &str,
        script: &str,
        stdin: Option<&[u8]>,
    ) -> Result<Output, RoleError> {
        let out = self.run(step, script, stdin).await?;
        if out.success() {
            Ok(out)
        } else {
            Err(self.failed(step, script, &out))
        }
    }

    pub(super) fn failed(&self, step: &str, script: &str, out: &Output) -> RoleError {
        RoleError::Command {
            failed: out.failure(self.node, step),
            command: shown_command(script),
        }
    }

    pub(super) fn unexpected(&self, step: &str, script: &str, detail: String) -> RoleError {
        RoleError::Unexpected {
            node: self.node.to_string(),
            step: step.to_string(),
            command: shown_command(script),
            detail,
        }
    }
}

pub(super) use crate::ssh::quote;
