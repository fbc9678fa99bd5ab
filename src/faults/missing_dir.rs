//! missing-dir: the app's upload directory disappears. Uploads answer 500 with "No such file or
//! directory". The directory is moved aside on the same filesystem rather than deleted, so no
//! upload is lost, and revert puts it (or its files) back.

use super::bad_permissions::Perm;
use super::params::ParamSpec;
use super::text::Fields;
use super::{Fault, FaultOps, Kind, Verdict, var};
use crate::spec::Role;
use serde::{Deserialize, Serialize};

pub(crate) const KIND: Kind = Kind {
    name: "missing-dir",
    about: "The app's upload directory is gone: uploads fail with \"No such file or directory\"",
    params: &[] as &[ParamSpec],
    build: |_p, node| {
        if !super::has_role(node, Role::App) {
            return Err(KIND.does_not_fit(
                node,
                "it removes the todo app's upload directory, and the node has no app role",
            ));
        }
        Ok(Fault::MissingDir(MissingDir {
            path: "/var/lib/todo/uploads".to_string(),
            stash: "/var/lib/todo/.uploads.old".to_string(),
            previous: None,
        }))
    },
};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct MissingDir {
    pub(crate) path: String,
    /// Where the directory waits, with its files, until revert.
    pub(crate) stash: String,
    #[serde(default)]
    pub(crate) previous: Option<Perm>,
}

impl MissingDir {
    fn vars(&self) -> String {
        var("p", &self.path) + &var("s", &self.stash)
    }
}

impl FaultOps for MissingDir {
    fn kind(&self) -> &'static str {
        KIND.name
    }

    fn summary(&self) -> String {
        format!("remove {}", self.path)
    }

    fn prepare_script(&self) -> String {
        let mut s = self.vars();
        s += "if [ ! -d \"$p\" ]; then echo \"$p is not there to remove\" >&2; exit 3; fi\n\
              if [ -e \"$s\" ] || [ -L \"$s\" ]; then echo \"$s exists; firedrill needs that name to keep the uploads safe\" >&2; exit 3; fi\n\
              echo \"perm=$(stat -c '%a %U %G' \"$p\")\"\n\
              echo \"dev=$(stat -c %d \"$p\") $(stat -c %d \"$(dirname \"$s\")\")\"\n";
        s
    }

    fn prepared(&mut self, out: &Fields) -> Result<(), String> {
        let dev = out.need("dev")?;
        let same = dev
            .split_once(' ')
            .is_some_and(|(a, b)| a.trim() == b.trim());
        if !same {
            return Err(format!(
                "{} is a mount point or on another filesystem than {}; moving it would copy the files",
                self.path, self.stash
            ));
        }
        self.previous = Some(Perm::parse(out.need("perm")?)?);
        Ok(())
    }

    fn inject_script(&self) -> String {
        let mut s = String::from("set -e\n");
        s += &self.vars();
        s += "mv -T \"$p\" \"$s\"\n";
        s
    }

    fn verify_script(&self) -> String {
        let mut s = var("p", &self.path);
        s += "if [ -d \"$p\" ]; then echo present=yes; else echo present=no; fi\n";
        s
    }

    fn verdict(&self, out: &Fields, _host_now: i64) -> Verdict {
        let present = out.get("present") == Some("yes");
        Verdict {
            active: !present,
            detail: format!(
                "{} {}",
                self.path,
                if present { "exists" } else { "is missing" }
            ),
        }
    }

    /// Moves the directory back; if the learner made a new one meanwhile, moves the files into
    /// it without overwriting any and fixes its owner and mode.
    fn revert_script(&self, _host_now: Option<i64>) -> String {
        let mut s = String::from("set -e\n");
        s += &self.vars();
        s += "if [ ! -d \"$s\" ]; then :\n\
              elif [ ! -e \"$p\" ] && [ ! -L \"$p\" ]; then mv -T \"$s\" \"$p\"; echo \"moved $p back into place\"\n\
              else\n\
              \x20 find \"$s\" -mindepth 1 -maxdepth 1 -exec mv -n -t \"$p\" {} +\n\
              \x20 if rmdir \"$s\" 2>/dev/null; then echo \"moved the files back into the new $p\"\n\
              \x20 else echo \"kept $s: some of its files have namesakes in $p\"; fi\n\
              fi\n";
        if let Some(previous) = &self.previous {
            s += "if [ -d \"$p\" ]; then\n";
            s += &previous.restore_script();
            s += "fi\n";
        }
        s
    }
}

#[cfg(test)]
#[path = "missing_dir_tests.rs"]
mod tests;
