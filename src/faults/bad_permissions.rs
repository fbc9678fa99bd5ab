//! bad-permissions: the app's upload directory (or its config file) loses the owner or mode
//! that lets the app user write (read) it. Uploads answer 500 with "Permission denied"; with
//! target=config the app is restarted and cannot read its settings.

use super::params::ParamSpec;
use super::text::Fields;
use super::{Fault, FaultOps, Kind, Verdict, var};
use crate::spec::Role;
use serde::{Deserialize, Serialize};

pub(crate) const KIND: Kind = Kind {
    name: "bad-permissions",
    about: "The app's upload directory (or config file) becomes unwritable (unreadable) for the app user",
    params: &[
        ParamSpec {
            name: "target",
            value: "uploads|config",
            help: "what breaks (default uploads)",
        },
        ParamSpec {
            name: "how",
            value: "owner|mode",
            help: "change the owner to root or take the write/read bit away (default owner)",
        },
    ],
    build: |p, node| {
        if !super::has_role(node, Role::App) {
            return Err(KIND.does_not_fit(
                node,
                "it breaks the todo app's files, and the node has no app role",
            ));
        }
        let target = match p.choice("target", &["uploads", "config"], "uploads")? {
            "config" => Target::Config,
            _ => Target::Uploads,
        };
        let how = match p.choice("how", &["owner", "mode"], "owner")? {
            "mode" => How::Mode,
            _ => How::Owner,
        };
        Ok(Fault::BadPermissions(BadPermissions {
            target,
            how,
            path: target.path().to_string(),
            user: "todo".to_string(),
            previous: None,
            app_was_active: None,
        }))
    },
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Target {
    Uploads,
    Config,
}

impl Target {
    fn path(self) -> &'static str {
        match self {
            Target::Uploads => "/var/lib/todo/uploads",
            Target::Config => "/etc/todo/config.ini",
        }
    }
    /// The access the app needs: `test -w` for the directory, `test -r` for the config.
    fn test_flag(self) -> &'static str {
        match self {
            Target::Uploads => "-w",
            Target::Config => "-r",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum How {
    Owner,
    Mode,
}

/// Mode (octal, as `stat -c %a` prints it), owner and group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Perm {
    pub(crate) mode: String,
    pub(crate) owner: String,
    pub(crate) group: String,
}

impl Perm {
    /// `stat -c '%a %U %G'` output.
    pub(crate) fn parse(s: &str) -> Result<Perm, String> {
        let parts: Vec<&str> = s.split_whitespace().collect();
        match parts.as_slice() {
            [mode, owner, group]
                if !mode.is_empty()
                    && mode.len() <= 4
                    && mode.chars().all(|c| ('0'..='7').contains(&c)) =>
            {
                Ok(Perm {
                    mode: mode.to_string(),
                    owner: owner.to_string(),
                    group: group.to_string(),
                })
            }
            _ => Err(format!("`{s}` is not `MODE OWNER GROUP`")),
        }
    }

    /// Sets this owner and mode on `$p`, printing a line only if something changed.
    pub(crate) fn restore_script(&self) -> String {
        let q = crate::ssh::quote;
        format!(
            "if [ \"$(stat -c '%a %U %G' \"$p\")\" != {want} ]; then\n\
             \x20 chown {owner}:{group} \"$p\"\n\
             \x20 chmod {mode} \"$p\"\n\
             \x20 echo \"restored $p to mode {mode}, owner {owner}:{group}\"\n\
             fi\n",
            want = q(&format!("{} {} {}", self.mode, self.owner, self.group)),
            owner = q(&self.owner),
            group = q(&self.group),
            mode = self.mode,
        )
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct BadPermissions {
    pub(crate) target: Target,
    pub(crate) how: How,
    pub(crate) path: String,
    /// The user who must be able to get at `path`.
    pub(crate) user: String,
    #[serde(default)]
    pub(crate) previous: Option<Perm>,
    /// target=config: whether the app ran, so it is restarted (and then restarted on revert).
    #[serde(default)]
    pub(crate) app_was_active: Option<bool>,
}

impl BadPermissions {
    fn access_line(&self) -> String {
        format!(
            "if runuser -u {user} -- test {flag} \"$p\"; then echo access=yes; else echo access=no; fi\n",
            user = crate::ssh::quote(&self.user),
            flag = self.target.test_flag()
        )
    }

    fn restarts_app(&self) -> bool {
        self.target == Target::Config && self.app_was_active == Some(true)
    }
}

impl FaultOps for BadPermissions {
    fn kind(&self) -> &'static str {
        KIND.name
    }

    fn summary(&self) -> String {
        let what = match self.how {
            How::Owner => "owner to root",
            How::Mode => "mode",
        };
        format!("change the {what} of {}", self.path)
    }

    fn prepare_script(&self) -> String {
        let mut s = var("p", &self.path);
        s += "if [ ! -e \"$p\" ]; then echo \"$p does not exist\" >&2; exit 3; fi\n";
        s += "echo \"perm=$(stat -c '%a %U %G' \"$p\")\"\n";
        s += &self.access_line();
        if self.target == Target::Config {
            s += "echo \"app=$(systemctl is-active todo.service 2>/dev/null)\"\n";
        }
        s
    }

    fn prepared(&mut self, out: &Fields) -> Result<(), String> {
        let perm = Perm::parse(out.need("perm")?)?;
        if out.get("access") != Some("yes") {
            return Err(format!(
                "{} already cannot get at {} ({} {}:{}); fix that first",
                self.user, self.path, perm.mode, perm.owner, perm.group
            ));
        }
        self.previous = Some(perm);
        if self.target == Target::Config {
            self.app_was_active = Some(out.get("app") == Some("active"));
        }
        Ok(())
    }

    fn inject_script(&self) -> String {
        let mut s = String::from("set -e\n");
        s += &var("p", &self.path);
        s += match (self.target, self.how) {
            (_, How::Owner) => "chown root:root \"$p\"\n",
            // The owner keeps reading (and listing) but can no longer create files.
            (Target::Uploads, How::Mode) => "chmod 555 \"$p\"\n",
            (Target::Config, How::Mode) => "chmod 600 \"$p\"\n",
        };
        if self.restarts_app() {
            // The app reads its config at start only; a restart makes the change bite now.
            s += "systemctl restart todo.service || true\n";
        }
        s += &self.access_line();
        s
    }

    fn injected(&mut self, out: &Fields) -> Result<(), String> {
        match out.get("access") {
            Some("no") => Ok(()),
            _ => Err(format!(
                "{} can still get at {} after the change",
                self.user, self.path
            )),
        }
    }

    fn verify_script(&self) -> String {
        let mut s = var("p", &self.path);
        s += "echo \"perm=$(stat -c '%a %U %G' \"$p\")\"\n";
        s += &self.access_line();
        s
    }

    fn verdict(&self, out: &Fields, _host_now: i64) -> Verdict {
        let perm = out.get("perm").unwrap_or("unknown");
        let access = out.get("access") == Some("yes");
        let verb = match self.target {
            Target::Uploads => "write",
            Target::Config => "read",
        };
        Verdict {
            active: !access,
            detail: format!(
                "{} {perm}; {} {} {verb} it",
                self.path,
                self.user,
                if access { "can" } else { "cannot" }
            ),
        }
    }

    fn revert_script(&self, _host_now: Option<i64>) -> String {
        let Some(previous) = &self.previous else {
            return "echo 'nothing was changed'\n".to_string();
        };
        let mut s = String::from("set -e\n");
        s += &var("p", &self.path);
        s += &previous.restore_script();
        if self.restarts_app() {
            // It may be failing (or have given up) since the inject: start it afresh.
            s += "systemctl reset-failed todo.service 2>/dev/null || true\n\
                  systemctl restart todo.service\n\
                  echo 'restarted todo.service'\n";
        }
        s
    }
}

#[cfg(test)]
#[path = "bad_permissions_tests.rs"]
mod tests;
