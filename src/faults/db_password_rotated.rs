//! db-password-rotated: the database user's password is changed (to a random one nobody is
//! told) and the app's config is not: every new connection the app opens is refused with
//! "Access denied" (MariaDB) or "password authentication failed" (PostgreSQL), sessions that
//! were open keep working (the app's pool replaces its own within `db_max_age`, 5 s).
//!
//! No password leaves the node. Before the change the user's stored hash (what the server
//! itself keeps: a `mysql_native_password` hash or a SCRAM verifier) is copied into a
//! root-only file on the node, and revert gives the server that hash back, which is the
//! password the app's config holds. The record on the host keeps only short fingerprints
//! (sha256) of the hashes, to tell "still rotated" from "changed again since" without them.

use super::params::ParamSpec;
use super::text::Fields;
use super::{Fault, FaultOps, Kind, Verdict, var};
use serde::{Deserialize, Serialize};

pub(crate) const KIND: Kind = Kind {
    name: "db-password-rotated",
    about: "The database user's password was changed, the app's config was not: every query fails with access denied",
    params: &[] as &[ParamSpec],
    build: |_p, node| {
        let Some(engine) = Engine::of(node) else {
            return Err(KIND.does_not_fit(
                node,
                "it changes the todo user's database password, and the node has no database role",
            ));
        };
        Ok(Fault::DbPasswordRotated(DbPasswordRotated {
            engine,
            user: USER.to_string(),
            host: None,
            backup: BACKUP.to_string(),
            before: None,
            after: None,
        }))
    },
};

/// The user the app logs in as (`up` creates it; see `lab::configure`).
const USER: &str = "todo";
/// Root-only, on the node: the hash the user had.
const BACKUP: &str = "/var/lib/firedrill/db-password-rotated.hash";

/// The same engines, serialized the same way, as db-lock's.
pub(crate) use super::db_lock::Engine;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct DbPasswordRotated {
    pub(crate) engine: Engine,
    pub(crate) user: String,
    /// MariaDB's host part of the account (`todo@'10.0.0.0/255.255.255.0'`).
    #[serde(default)]
    pub(crate) host: Option<String>,
    /// The node's file that keeps the old hash until revert.
    pub(crate) backup: String,
    /// Fingerprints of the stored hash before and after the change.
    #[serde(default)]
    pub(crate) before: Option<String>,
    #[serde(default)]
    pub(crate) after: Option<String>,
}

impl DbPasswordRotated {
    /// Shell functions: `q SQL` prints rows as the superuser; `hash` prints the user's stored
    /// hash; `set_password PW` and `set_hash HASH` set it (the SQL goes on stdin, never on a
    /// command line); `fingerprint` prints the first 16 hex digits of the hash's sha256.
    fn functions(&self) -> String {
        let mut s = var("user", &self.user) + &var("backup", &self.backup);
        s += &var("host", self.host.as_deref().unwrap_or_default());
        match self.engine {
            Engine::Mysql => {
                s += "q() { mysql -NB -e \"$1\"; }\n\
                      hash() { q \"SELECT authentication_string FROM mysql.user WHERE User = '$user' AND Host = '$host'\"; }\n\
                      apply() { mysql -NB; }\n\
                      set_password() { printf \"ALTER USER '%s'@'%s' IDENTIFIED BY '%s';\\n\" \"$user\" \"$host\" \"$1\" | apply; }\n\
                      set_hash() { printf \"ALTER USER '%s'@'%s' IDENTIFIED BY PASSWORD '%s';\\n\" \"$user\" \"$host\" \"$1\" | apply; }\n";
            }
            Engine::Postgres => {
                s += "q() { runuser -u postgres -- psql -X -A -t -q -c \"$1\"; }\n\
                      hash() { q \"SELECT rolpassword FROM pg_authid WHERE rolname = '$user'\"; }\n\
                      apply() { runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 >/dev/null; }\n\
                      set_password() { printf \"ALTER ROLE %s PASSWORD '%s';\\n\" \"$user\" \"$1\" | apply; }\n\
                      set_hash() { set_password \"$1\"; }\n";
            }
        }
        s += "fingerprint() { hash | sha256sum | cut -c1-16; }\n";
        s
    }
}

impl FaultOps for DbPasswordRotated {
    fn kind(&self) -> &'static str {
        KIND.name
    }

    fn summary(&self) -> String {
        format!(
            "change database user {}'s password; the app's config keeps the old one",
            self.user
        )
    }

    fn prepare_script(&self) -> String {
        let mut s = self.functions();
        s += "if [ -e \"$backup\" ]; then echo \"$backup exists: a db-password-rotated fault is not reverted yet\" >&2; exit 3; fi\n";
        match self.engine {
            Engine::Mysql => {
                s += "hosts=$(q \"SELECT Host FROM mysql.user WHERE User = '$user'\") || exit 1\n\
                      if [ \"$(printf '%s\\n' \"$hosts\" | grep -c .)\" != 1 ]; then echo \"the database has not exactly one account $user@...: $hosts\" >&2; exit 3; fi\n\
                      host=$hosts\n\
                      echo \"host=$host\"\n\
                      echo \"plugin=$(q \"SELECT plugin FROM mysql.user WHERE User = '$user' AND Host = '$host'\")\"\n";
            }
            Engine::Postgres => {
                s += "echo \"plugin=$(q \"SELECT substr(rolpassword, 1, 13) FROM pg_authid WHERE rolname = '$user'\")\"\n";
            }
        }
        s += "echo \"before=$(fingerprint)\"\n";
        s
    }

    fn prepared(&mut self, out: &Fields) -> Result<(), String> {
        let plugin = out.get("plugin").unwrap_or_default();
        let (fits, what) = match self.engine {
            Engine::Mysql => {
                self.host = Some(out.need("host")?.to_string());
                (plugin == "mysql_native_password", "mysql_native_password")
            }
            Engine::Postgres => (plugin == "SCRAM-SHA-256", "a SCRAM-SHA-256 password"),
        };
        if !fits {
            return Err(format!(
                "the database user {} does not log in with {what} ({plugin:?})",
                self.user
            ));
        }
        self.before = Some(out.need("before")?.to_string());
        Ok(())
    }

    /// Keeps the old hash (0600, root), then sets a random password that is never printed.
    fn inject_script(&self) -> String {
        let mut s = String::from("set -e\numask 077\n");
        s += &self.functions();
        s += "mkdir -p \"$(dirname \"$backup\")\"\n\
              tmp=$(mktemp \"$backup.XXXXXX\")\n\
              hash > \"$tmp\"\n\
              if [ ! -s \"$tmp\" ]; then rm -f \"$tmp\"; echo \"the user $user has no stored password\" >&2; exit 1; fi\n\
              mv -f \"$tmp\" \"$backup\"\n\
              set_password \"$(head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')\"\n\
              echo \"after=$(fingerprint)\"\n";
        s
    }

    fn injected(&mut self, out: &Fields) -> Result<(), String> {
        let after = out.need("after")?.to_string();
        if Some(&after) == self.before.as_ref() {
            return Err("the stored password did not change".to_string());
        }
        self.after = Some(after);
        Ok(())
    }

    fn verify_script(&self) -> String {
        self.functions() + "echo \"now=$(fingerprint)\"\n"
    }

    fn verdict(&self, out: &Fields, _host_now: i64) -> Verdict {
        let now = out.get("now").unwrap_or_default();
        let (user, before) = (&self.user, self.before.as_deref());
        let rotated = match &self.after {
            Some(after) => now == after,
            None => Some(now) != before,
        };
        Verdict {
            active: rotated,
            detail: if rotated {
                format!("{user}'s password is not the one the app's config holds")
            } else if Some(now) == before {
                format!("{user}'s password is the one it had before the fault")
            } else {
                format!("{user}'s password was changed again since the fault")
            },
        }
    }

    /// Gives the old hash back if the password is still the fault's (or the inject stopped
    /// halfway); one changed again since is left alone. The backup goes either way.
    fn revert_script(&self, _host_now: Option<i64>) -> String {
        let mut s = String::from("set -e\n");
        s += &self.functions();
        s += &var("before", self.before.as_deref().unwrap_or_default());
        s += &var("after", self.after.as_deref().unwrap_or_default());
        s += "now=$(fingerprint)\n\
              if [ \"$now\" != \"$before\" ]; then\n\
              \x20 if [ -n \"$after\" ] && [ \"$now\" != \"$after\" ]; then\n\
              \x20   echo \"left $user's password alone: it was changed again since the fault\"\n\
              \x20 elif [ -s \"$backup\" ]; then\n\
              \x20   set_hash \"$(cat \"$backup\")\"\n\
              \x20   echo \"gave $user back the password the app's config holds\"\n\
              \x20 else\n\
              \x20   echo \"$backup is gone: set $user's password to the one in the app's /etc/todo/config.ini by hand\" >&2; exit 1\n\
              \x20 fi\n\
              fi\n\
              if [ -e \"$backup\" ]; then rm -f \"$backup\"; echo \"removed $backup\"; fi\n";
        s
    }
}

#[cfg(test)]
#[path = "db_password_rotated_tests.rs"]
mod tests;
