//! A node's first configuration as a list of steps, for `export vagrant` to write as the node's
//! provision script. The roles' own `apply` decides every command, against a fake node
//! (`remote::fake`, logged in as root as Vagrant's shell provisioner runs) that answers the
//! roles' questions as a node fresh from the golden image does: no managed file, units
//! disabled and stopped, no database login yet. Each answer leads `apply` to the commands it
//! runs on such a node, and every one of those is safe to run again (files are rewritten,
//! units enabled and started, SQL is `IF NOT EXISTS`), so the script may run twice.
//!
//! A question is not written into the script, its answer having been assumed; every other
//! command is, in order, with its stdin.

use super::context::{NodeContext, RoleConfig, Secrets};
use super::error::RoleError;
use super::{files, monitor, mysql, postgres, service};
use crate::remote::fake::{FakeRemote, contains, exact, exit, ok, prefix};

/// One step of a node's first configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    /// What `apply` told the user at this point.
    Say(String),
    /// A command as root, with its stdin.
    Run {
        command: String,
        stdin: Option<Vec<u8>>,
    },
}

/// The fake node: the questions the roles ask, with a fresh node's answers, then one rule that
/// answers every other command as done. Returns it with that last rule's index.
fn fresh_node(ctx: &NodeContext) -> (FakeRemote, usize) {
    let mut node = FakeRemote::new(&ctx.node)
        .logged_in_as_root()
        .on_with(contains(files::STATE_MARK), files::fresh_state)
        .on_with(contains(service::STATE_MARK), service::fresh_state);
    // The todo login: refused once (before provisioning), then it works (the check after it).
    let as_root = |node: &FakeRemote, script: &str| crate::ssh::as_root(node, script);
    for config in &ctx.roles {
        match config {
            RoleConfig::Mysql(db) => {
                let probe = as_root(&node, &mysql::probe_script(ctx, db));
                node = node.once(exact(&probe), exit(1, "Access denied for user"));
            }
            RoleConfig::Postgres(db) => {
                let probe = as_root(&node, &postgres::probe_script(ctx, db));
                node = node.once(exact(&probe), exit(2, "password authentication failed"));
            }
            _ => {}
        }
    }
    // The exporters' `prometheus` login: not there yet.
    for check in monitor::login_checks(ctx) {
        let check = as_root(&node, check);
        node = node.once(exact(&check), ok(""));
    }
    let done = node.rule_count();
    (node.on(prefix(""), ok("")), done)
}

/// What configuring `ctx`'s node for its roles runs on a node fresh from the golden image.
pub(crate) async fn first_setup(
    ctx: &NodeContext,
    secrets: &Secrets,
) -> Result<Vec<Step>, RoleError> {
    let (node, done) = fresh_node(ctx);
    // What was said, after how many commands.
    let mut said: Vec<(usize, String)> = Vec::new();
    {
        let mut progress = |line: &str| said.push((node.calls().len(), line.to_string()));
        super::apply(&node, ctx, secrets, false, &mut progress).await?;
    }
    let mut said = said.into_iter().peekable();
    let mut steps = Vec::new();
    for (i, call) in node.calls().into_iter().enumerate() {
        while let Some((_, line)) = said.next_if(|(after, _)| *after <= i) {
            steps.push(Step::Say(line));
        }
        if call.rule == done {
            steps.push(Step::Run {
                command: call.command,
                stdin: call.stdin,
            });
        }
    }
    steps.extend(said.map(|(_, line)| Step::Say(line)));
    Ok(steps)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::roles::fixtures;

    fn runs(steps: &[Step]) -> Vec<(&str, Option<String>)> {
        steps
            .iter()
            .filter_map(|s| match s {
                Step::Run { command, stdin } => Some((
                    command.as_str(),
                    stdin
                        .as_deref()
                        .map(|d| String::from_utf8_lossy(d).into_owned()),
                )),
                Step::Say(_) => None,
            })
            .collect()
    }

    fn position(
        runs: &[(&str, Option<String>)],
        what: impl Fn(&str, Option<&str>) -> bool,
    ) -> usize {
        runs.iter()
            .position(|(c, s)| what(c, s.as_deref()))
            .unwrap_or_else(|| panic!("no such command in {runs:#?}"))
    }

    #[tokio::test]
    async fn a_fresh_database_node_gets_its_files_service_and_login_and_no_questions() {
        let ctx = fixtures::mysql_db();
        let steps = first_setup(&ctx, &fixtures::secrets())
            .await
            .expect("renders");
        let runs = runs(&steps);
        // The questions were answered, not written.
        assert!(
            runs.iter()
                .all(|(c, _)| !c.contains(files::STATE_MARK) && !c.contains(service::STATE_MARK))
        );
        let cnf = position(&runs, |c, _| c.contains(mysql::CNF_PATH));
        let enable = position(&runs, |c, _| {
            c == "sh -c 'systemctl enable --no-reload mariadb.service'"
        });
        let start = position(&runs, |c, _| c == "sh -c 'systemctl start mariadb.service'");
        let sql = position(&runs, |_, s| s.is_some_and(|s| s.contains("CREATE USER")));
        let probe = format!(
            "sh -c {}",
            crate::ssh::quote(&mysql::probe_script(&ctx, ctx.db().expect("db")))
        );
        let logins: Vec<usize> = runs
            .iter()
            .enumerate()
            .filter(|(_, (c, _))| *c == probe)
            .map(|(i, _)| i)
            .collect();
        // The login is checked once, after provisioning: the check that it worked.
        assert_eq!(logins, vec![sql + 1], "{runs:#?}");
        assert!(cnf < enable && enable < start && start < sql, "{runs:#?}");
        assert!(
            runs[logins[0]]
                .1
                .as_deref()
                .is_some_and(|s| s.contains(fixtures::PASSWORD))
        );
        // What the roles said is kept, before what it was about.
        let say = steps
            .iter()
            .position(|s| *s == Step::Say("mysql: creating the todo database and user".into()))
            .expect("said");
        let sql_step = steps
            .iter()
            .position(|s| matches!(s, Step::Run { stdin: Some(d), .. } if String::from_utf8_lossy(d).contains("CREATE USER")))
            .expect("sql step");
        assert!(say < sql_step);
    }

    #[tokio::test]
    async fn a_fresh_app_node_gets_user_files_migration_links_and_service() {
        let steps = first_setup(&fixtures::app1(), &fixtures::secrets())
            .await
            .expect("renders");
        let runs = runs(&steps);
        let setup = position(&runs, |c, _| c.contains("useradd --system"));
        let config = position(&runs, |c, _| c.contains("/etc/todo/config.ini"));
        let reload = position(&runs, |c, _| c == "sh -c 'systemctl daemon-reload'");
        let migrate = position(&runs, |c, _| c.contains("/migrate --quiet --database db"));
        let links = position(&runs, |c, _| {
            c.contains("link releases/v1 /opt/todo/current")
        });
        let start = position(&runs, |c, _| c == "sh -c 'systemctl start todo.service'");
        assert!(
            setup < config && config < reload && reload < migrate,
            "{runs:#?}"
        );
        assert!(migrate < links && links < start, "{runs:#?}");
    }

    #[tokio::test]
    async fn a_fresh_node_of_a_monitored_lab_creates_the_exporter_login_once() {
        let mut ctx = fixtures::mysql_db();
        ctx.peers.push(crate::roles::Peer {
            name: "mon".into(),
            ip: std::net::Ipv4Addr::new(10, 20, 0, 30),
            roles: vec![crate::roles::Role::Monitor],
            serves: vec![],
        });
        let steps = first_setup(&ctx, &fixtures::secrets())
            .await
            .expect("renders");
        let runs = runs(&steps);
        let check = format!(
            "sh -c {}",
            crate::ssh::quote(monitor::login_checks(&ctx)[0])
        );
        let grant = position(&runs, |_, s| {
            s.is_some_and(|s| s.contains("'prometheus'@'localhost'"))
        });
        let checks: Vec<usize> = runs
            .iter()
            .enumerate()
            .filter(|(_, (c, _))| *c == check)
            .map(|(i, _)| i)
            .collect();
        assert_eq!(checks, vec![grant + 1], "{runs:#?}");
    }
}
