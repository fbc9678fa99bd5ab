//! db-lock: a stuck migration. One session holds a transaction that has read the todo table;
//! an `ALTER TABLE` then waits for the table's exclusive lock, and every later read of the
//! table queues behind it. Reads hang while the app's CPU stays idle. Both sessions run as
//! transient units (plausibly named) so they outlive the SSH session; revert kills both
//! sessions on the server (a killed client alone would leave a waiting query behind) and
//! stops the units. The ALTER is one that changes nothing if it ever completes.

use super::hog::{check_script, stop_script};
use super::params::ParamSpec;
use super::text::{Fields, base64};
use super::{Fault, FaultOps, Kind, Verdict};
use crate::spec::Role;
use serde::{Deserialize, Serialize};

pub(crate) const KIND: Kind = Kind {
    name: "db-lock",
    about: "A stuck migration: an ALTER TABLE waits behind an open transaction, and every read of the todo table hangs",
    params: &[] as &[ParamSpec],
    build: |_p, node| {
        let Some(engine) = Engine::of(node) else {
            return Err(KIND.does_not_fit(
                node,
                "it locks the todo table, and the node has no database role",
            ));
        };
        Ok(Fault::DbLock(DbLock {
            engine,
            holder: None,
            alter: None,
            client: None,
        }))
    },
};

const HOLDER_UNIT: &str = "todo-report-export.service";
const ALTER_UNIT: &str = "todo-migrate.service";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Engine {
    Mysql,
    Postgres,
}

impl Engine {
    /// The engine of the node's database role, if it has one.
    pub(crate) fn of(node: &crate::plan::NodePlan) -> Option<Engine> {
        if super::has_role(node, Role::Mysql) {
            Some(Engine::Mysql)
        } else if super::has_role(node, Role::Postgres) {
            Some(Engine::Postgres)
        } else {
            None
        }
    }
}

/// The SQL of each engine. The holder's last statement never ends (1000 days), which keeps its
/// transaction open; it and the ALTER are found again by their text.
struct Sql {
    holder: &'static str,
    alter: &'static str,
    /// Prefixes of the two statements as the server lists them.
    holder_like: &'static str,
    alter_like: &'static str,
    /// Counts sessions whose statement starts with `%s`, waiting on a lock when `%w` is true.
    count_waiting: &'static str,
    count_running: &'static str,
    ids: &'static str,
    kill: &'static str,
}

const MYSQL: Sql = Sql {
    holder: "BEGIN;\nSELECT id FROM todos LIMIT 1;\nSELECT SLEEP(86400000);\n",
    alter: "SET SESSION lock_wait_timeout = 31536000;\nALTER TABLE todos ENGINE=InnoDB;\n",
    holder_like: "SELECT SLEEP(86400000)",
    alter_like: "ALTER TABLE todos ENGINE=InnoDB",
    count_waiting: "SELECT COUNT(*) FROM information_schema.processlist WHERE info LIKE 'LIKE%' AND state LIKE 'Waiting for table metadata lock%'",
    count_running: "SELECT COUNT(*) FROM information_schema.processlist WHERE info LIKE 'LIKE%'",
    ids: "SELECT id FROM information_schema.processlist WHERE info LIKE 'LIKE%'",
    kill: "KILL ID",
};

const POSTGRES: Sql = Sql {
    holder: "BEGIN;\nSELECT id FROM todos LIMIT 1;\nSELECT pg_sleep(86400000);\n",
    alter: "SET lock_timeout = 0;\nALTER TABLE todos ALTER COLUMN completed SET DEFAULT false;\n",
    holder_like: "SELECT pg_sleep(86400000)",
    alter_like: "ALTER TABLE todos ALTER COLUMN completed",
    count_waiting: "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'LIKE%' AND wait_event_type = 'Lock'",
    count_running: "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'LIKE%'",
    ids: "SELECT pid FROM pg_stat_activity WHERE query LIKE 'LIKE%'",
    kill: "SELECT pg_terminate_backend(ID)",
};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct DbLock {
    pub(crate) engine: Engine,
    /// The sessions' ids on the server (informational: revert finds them by their statements).
    #[serde(default)]
    pub(crate) holder: Option<u64>,
    #[serde(default)]
    pub(crate) alter: Option<u64>,
    /// Another way to run a query as the database's superuser (tests only; never recorded).
    #[serde(skip)]
    pub(crate) client: Option<String>,
}

impl DbLock {
    fn sql(&self) -> &'static Sql {
        match self.engine {
            Engine::Mysql => &MYSQL,
            Engine::Postgres => &POSTGRES,
        }
    }

    /// `q QUERY` prints the query's rows, one value per line.
    fn query_fn(&self) -> String {
        let client = self.client.clone().unwrap_or_else(|| match self.engine {
            Engine::Mysql => "mysql -NB todo".to_string(),
            Engine::Postgres => "runuser -u postgres -- psql -X -A -t -q -d todo".to_string(),
        });
        let flag = match self.engine {
            Engine::Mysql => "-e",
            Engine::Postgres => "-c",
        };
        format!("q() {{ {client} {flag} \"$1\"; }}\n")
    }

    fn unit_command(&self, unit: &str, description: &str, sql: &str) -> String {
        let (user, client) = match self.engine {
            Engine::Mysql => ("", "/usr/bin/mysql todo"),
            Engine::Postgres => (" --uid=postgres", "/usr/bin/psql -X -d todo"),
        };
        format!(
            "systemd-run --quiet --collect --unit={unit} --description={desc}{user} \
             -p StandardInput=data -p StandardInputData={data} {client}\n",
            desc = crate::ssh::quote(description),
            data = base64(sql.as_bytes()),
        )
    }

    fn like(query: &str, prefix: &str) -> String {
        query.replace("LIKE%", &format!("{prefix}%"))
    }

    /// Waits up to 10 s for `q QUERY` to print a number above 0, else fails with `what`.
    fn wait(query: &str, what: &str) -> String {
        format!(
            "i=0\nuntil [ \"$(q {query})\" -gt 0 ] 2>/dev/null; do\n\
             \x20 i=$((i + 1)); if [ $i -gt 50 ]; then echo {what} >&2; exit 1; fi; sleep 0.2\ndone\n",
            query = crate::ssh::quote(query),
            what = crate::ssh::quote(what)
        )
    }
}

impl FaultOps for DbLock {
    fn kind(&self) -> &'static str {
        KIND.name
    }

    fn summary(&self) -> String {
        "leave an ALTER TABLE of todos waiting behind an open transaction".to_string()
    }

    fn prepare_script(&self) -> String {
        let sql = self.sql();
        let mut s = check_script(HOLDER_UNIT) + &check_script(ALTER_UNIT);
        s += &self.query_fn();
        s += &format!(
            "echo \"pending=$(q {})\"\n",
            crate::ssh::quote(&Self::like(sql.count_running, sql.alter_like))
        );
        s += "echo \"rows=$(q 'SELECT COUNT(*) FROM todos')\"\n";
        s
    }

    fn prepared(&mut self, out: &Fields) -> Result<(), String> {
        // Counted only to prove the table can be read.
        out.number::<u64>("rows")
            .map_err(|_| "the todo table cannot be read; is the database up?".to_string())?;
        let pending: u64 = out.number("pending").unwrap_or(0);
        if pending > 0 {
            return Err("an ALTER TABLE of todos is already running".to_string());
        }
        Ok(())
    }

    fn inject_script(&self) -> String {
        let sql = self.sql();
        let mut s = String::from("set -e\n");
        s += &self.query_fn();
        s += &self.unit_command(HOLDER_UNIT, "Export the todo report", sql.holder);
        s += &Self::wait(
            &Self::like(sql.count_running, sql.holder_like),
            "the transaction did not start",
        );
        s += &self.unit_command(ALTER_UNIT, "todo schema migration", sql.alter);
        s += &Self::wait(
            &Self::like(sql.count_waiting, sql.alter_like),
            "the ALTER TABLE is not waiting for the lock",
        );
        s += &format!(
            "echo \"holder=$(q {})\"\necho \"alter=$(q {})\"\n",
            crate::ssh::quote(&Self::like(sql.ids, sql.holder_like)),
            crate::ssh::quote(&Self::like(sql.ids, sql.alter_like))
        );
        s
    }

    fn injected(&mut self, out: &Fields) -> Result<(), String> {
        self.holder = out.number("holder").ok();
        self.alter = out.number("alter").ok();
        Ok(())
    }

    fn verify_script(&self) -> String {
        let sql = self.sql();
        let mut s = self.query_fn();
        s += &format!(
            "echo \"waiting=$(q {})\"\necho \"holding=$(q {})\"\n",
            crate::ssh::quote(&Self::like(sql.count_waiting, sql.alter_like)),
            crate::ssh::quote(&Self::like(sql.count_running, sql.holder_like))
        );
        s
    }

    fn verdict(&self, out: &Fields, _host_now: i64) -> Verdict {
        let waiting: u64 = out.number("waiting").unwrap_or(0);
        let holding: u64 = out.number("holding").unwrap_or(0);
        Verdict {
            active: waiting > 0,
            detail: format!(
                "{waiting} ALTER TABLE waiting for the lock; {holding} transaction holding it"
            ),
        }
    }

    /// The ALTER goes first, so it cannot run once the transaction is gone.
    fn revert_script(&self, _host_now: Option<i64>) -> String {
        let sql = self.sql();
        let mut s = self.query_fn();
        for (prefix, what) in [
            (sql.alter_like, "the waiting ALTER TABLE"),
            (sql.holder_like, "the transaction holding the lock"),
        ] {
            s += &format!(
                "for id in $(q {ids}); do q \"{kill}\" >/dev/null && echo \"ended {what} (session $id)\" || true; done\n",
                ids = crate::ssh::quote(&Self::like(sql.ids, prefix)),
                kill = sql.kill.replace("ID", "$id"),
            );
        }
        s += &stop_script(ALTER_UNIT);
        s += &stop_script(HOLDER_UNIT);
        s
    }
}

#[cfg(test)]
#[path = "db_lock_tests.rs"]
mod tests;
