//! `firedrill client verify --ledger FILE`: reads the ledger, dumps the todo table of each of the
//! lab's database nodes over SSH (the lab handle's shell, as root), and says how many
//! acknowledged writes are lost. Exit 0 when none is, 1 when some are, 2 for bad input.

use super::ClientError;
use super::ledger::{self, Write};
use super::verify::{self, Finding};
use crate::lab::Lab;
use crate::paths::Home;
use crate::plan::NodePlan;
use crate::remote::Remote;
use crate::roles::{Engine, Role};
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub(crate) struct VerifyArgs {
    /// The ledger a `firedrill client --ledger FILE` run wrote.
    #[arg(long, value_name = "FILE.jsonl")]
    ledger: PathBuf,
    /// The lab whose databases to read (default: the only lab up).
    #[arg(long, value_name = "NAME")]
    lab: Option<String>,
    /// Only this database node (default: every one; a write is kept when one holds it).
    #[arg(long, value_name = "NODE")]
    node: Option<String>,
}

/// The engine of a database node, from its role.
pub(crate) fn engine_of(node: &NodePlan) -> Option<Engine> {
    if node.roles.contains(&Role::Postgres) {
        Some(Engine::Postgres)
    } else if node.roles.contains(&Role::Mysql) {
        Some(Engine::Mysql)
    } else {
        None
    }
}

/// The findings for `writes` on the database `remote` runs, as root.
pub(crate) async fn check_node(
    remote: &impl Remote,
    engine: Engine,
    writes: &[Write],
) -> Result<Vec<Finding>, ClientError> {
    let script = verify::dump_script(engine, crate::lab::DB_NAME, verify::first_id(writes));
    let out = remote
        .run_as_root(&script, None)
        .await
        .map_err(|e| ClientError::VerifyRemote {
            node: e.node,
            message: e.message,
        })?
        .check(
            remote.node(),
            &format!("reading the todo table ({})", engine.as_str()),
        )
        .map_err(ClientError::VerifyDump)?;
    let table = verify::parse_table(engine, &out.stdout_str()).map_err(|reason| {
        ClientError::VerifyTable {
            node: remote.node().to_string(),
            reason,
        }
    })?;
    Ok(verify::compare(writes, &table))
}

pub(crate) fn run(args: &VerifyArgs) -> Result<bool, ClientError> {
    let (writes, bad) = ledger::read(&args.ledger).map_err(|source| ClientError::LedgerRead {
        path: args.ledger.clone(),
        source,
    })?;
    for b in &bad {
        eprintln!("warning: {b}");
    }
    if writes.is_empty() {
        return Err(ClientError::LedgerEmpty {
            path: args.ledger.clone(),
        });
    }
    let lab = Lab::open(&Home::from_env(), args.lab.as_deref()).map_err(ClientError::LabState)?;
    let databases: Vec<(&NodePlan, Engine)> = lab
        .state
        .nodes()
        .filter(|n| args.node.as_deref().is_none_or(|want| n.name == want))
        .filter_map(|n| Some((n, engine_of(n)?)))
        .collect();
    if databases.is_empty() {
        let all: Vec<String> = lab
            .state
            .nodes()
            .filter(|n| engine_of(n).is_some())
            .map(|n| n.name.clone())
            .collect();
        return Err(ClientError::NoDatabase {
            lab: lab.name().to_string(),
            asked: args.node.clone(),
            databases: all.join(", "),
        });
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(ClientError::Runtime)?;
    let nodes = runtime.block_on(async {
        let mut nodes = Vec::new();
        for (node, engine) in &databases {
            let session = lab
                .shell(node, crate::ssh::Purpose::Check)
                .await
                .map_err(|e| ClientError::VerifyRemote {
                    node: node.name.clone(),
                    message: e.to_string(),
                })?;
            let findings = check_node(&session, *engine, &writes).await;
            session.close().await;
            nodes.push((format!("{} ({})", node.name, engine.as_str()), findings?));
        }
        Ok::<_, ClientError>(nodes)
    })?;
    let (text, none_lost) = verify::render(&writes, &nodes);
    print!("{text}");
    Ok(none_lost)
}
