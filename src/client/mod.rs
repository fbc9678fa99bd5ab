//! `firedrill client`: an open-loop load generator that shows, second by second, what a user of
//! the lab's service feels, and never hides an outage by slowing down with the server.

mod class;
mod config;
mod expect;
mod outage;
mod output;
mod pool;
pub(crate) mod report;
mod request;
mod run;
mod schedule;
mod stats;
mod target;
pub(crate) use target::lab_url;
mod timer;

use crate::paths::Home;
use chrono::{FixedOffset, Local, Offset};
use config::Config;
use expect::Expect;
use std::path::PathBuf;
use thiserror::Error;

#[derive(Debug, Error)]
pub(crate) enum ClientError {
    #[error(
        "--rate {value}: the rate must be a number of requests per second above 0, e.g. --rate 20"
    )]
    BadRate { value: String },
    #[error(
        "{flag} {value}: not a duration ({reason}); write a number and a unit, e.g. 500ms, 30s, 2m or 1h"
    )]
    BadDuration {
        flag: &'static str,
        value: String,
        reason: String,
    },
    #[error(
        "--url {value}: {reason}; write it as http://HOST[:PORT]/PATH, e.g. http://10.78.0.10/todos"
    )]
    BadUrl { value: String, reason: String },
    #[error(
        "--expect {value}: {reason}; write PATH:TYPE, e.g. todos[].name:string, with TYPE one of string, bool, number, array, object, null"
    )]
    BadExpect { value: String, reason: String },
    #[error("--slo {value}: the SLO is a percentage above 0 and at most 100, e.g. --slo 99.9")]
    BadSlo { value: String },
    #[error(
        "--write-ratio {value}: the write ratio is a fraction from 0 to 1, e.g. --write-ratio 0.1"
    )]
    BadWriteRatio { value: String },
    #[error("--max-inflight {value}: give a whole number above 0, e.g. --max-inflight 1000")]
    BadMaxInflight { value: String },
    #[error("lab {lab} is not up: run `firedrill up LAB.yaml`")]
    LabNotUp { lab: String },
    #[error("--lab {0}: run `firedrill list` for the labs on this host")]
    BadLabName(crate::paths::BadLabName),
    #[error("no lab is up: run `firedrill up LAB.yaml`, or pass --url")]
    NoLabUp,
    #[error("several labs are up ({labs}): pass --lab NAME")]
    SeveralLabsUp { labs: String },
    #[error(
        "lab {lab} has no haproxy or app node to send requests to; pass --url http://HOST:PORT/PATH"
    )]
    LabHasNoService { lab: String },
    #[error(transparent)]
    LabState(crate::state::StateError),
    #[error("--report {path}: cannot create the file: {source}; choose a writable path")]
    ReportCreate {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write the report {path}: {source}; check the disk space")]
    ReportWrite {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot start the client: {0}; check the process limits (ulimit -u, ulimit -n)")]
    Runtime(std::io::Error),
    #[error("cannot start a sending thread: {0}; check the process limits (ulimit -u)")]
    Shard(std::io::Error),
}

impl ClientError {
    /// 2 for input the user must change before retrying, 1 for failures while running.
    pub(crate) fn exit_code(&self) -> u8 {
        match self {
            ClientError::BadRate { .. }
            | ClientError::BadDuration { .. }
            | ClientError::BadUrl { .. }
            | ClientError::BadExpect { .. }
            | ClientError::BadSlo { .. }
            | ClientError::BadWriteRatio { .. }
            | ClientError::BadMaxInflight { .. }
            | ClientError::LabNotUp { .. }
            | ClientError::NoLabUp
            | ClientError::BadLabName(_)
            | ClientError::SeveralLabsUp { .. }
            | ClientError::LabHasNoService { .. }
            | ClientError::ReportCreate { .. } => 2,
            ClientError::LabState(_)
            | ClientError::ReportWrite { .. }
            | ClientError::Runtime(_)
            | ClientError::Shard(_) => 1,
        }
    }
}

/// The flags, as typed. Numbers and durations stay text here so that a bad value gets the same
/// one-line message as every other bad input, instead of clap's multi-line usage.
#[derive(Debug, clap::Args)]
pub(crate) struct ClientArgs {
    /// The lab whose service to load and whose events to show (default: the only lab up).
    #[arg(long, value_name = "NAME")]
    lab: Option<String>,
    /// Send requests here instead of the lab's service (GET; writes go to /todos on the same host).
    #[arg(long, value_name = "URL")]
    url: Option<String>,
    /// Requests per second, sent on schedule whatever the server does.
    #[arg(
        long,
        value_name = "N",
        default_value = "20",
        allow_hyphen_values = true
    )]
    rate: String,
    /// How long to run, e.g. 30s, 2m; without it, until Ctrl-C.
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true)]
    duration: Option<String>,
    /// How long a user waits for an answer, counted from the request's scheduled time.
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "2s",
        allow_hyphen_values = true
    )]
    timeout: String,
    /// A JSON path and type every answer must have, e.g. todos[].completed:bool (repeatable).
    #[arg(long, value_name = "PATH:TYPE")]
    expect: Vec<String>,
    /// The fraction of requests that are POST /todos with a new item.
    #[arg(
        long,
        value_name = "F",
        default_value = "0",
        allow_hyphen_values = true
    )]
    write_ratio: String,
    /// Write one JSON object per second, the events and the summary to this file.
    #[arg(long, value_name = "FILE.jsonl")]
    report: Option<PathBuf>,
    /// The availability objective in percent; the exit code is 1 when it is missed.
    #[arg(
        long,
        value_name = "PERCENT",
        default_value = "99.9",
        allow_hyphen_values = true
    )]
    slo: String,
    /// Requests waiting on the server at most; beyond it, requests are counted as dropped
    /// (default: rate x (timeout + 1 s), at most 1000).
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    max_inflight: Option<String>,
}

fn configure(args: &ClientArgs, home: &Home) -> Result<Config, ClientError> {
    let rate = config::parse_rate(&args.rate)?;
    let duration = args
        .duration
        .as_deref()
        .map(|d| config::parse_duration("--duration", d))
        .transpose()?;
    let timeout = config::parse_duration("--timeout", &args.timeout)?;
    let expects = args
        .expect
        .iter()
        .map(|e| Expect::parse(e))
        .collect::<Result<Vec<_>, _>>()?;
    let write_ratio = config::parse_write_ratio(&args.write_ratio)?;
    let slo = config::parse_slo(&args.slo)?;
    let max_inflight = match &args.max_inflight {
        Some(m) => config::parse_max_inflight(m)?,
        None => config::default_max_inflight(rate, timeout),
    };
    if let Some(u) = &args.url {
        config::parse_url(u)?; // a bad URL is reported before looking for labs
    }
    let target = target::resolve(home, args.lab.as_deref(), args.url.as_deref())?;
    let (url, post_url) = config::parse_url(&target.url)?;
    Ok(Config {
        url,
        post_url,
        rate,
        duration,
        timeout,
        expects,
        write_ratio,
        report: args.report.clone(),
        slo,
        max_inflight,
        events: target.lab.map(|l| l.events_file()),
    })
}

/// Runs `firedrill client`; `Ok(false)` when the run missed the SLO.
pub(crate) fn run(args: &ClientArgs) -> Result<bool, ClientError> {
    let cfg = configure(args, &Home::from_env())?;
    let style = output::Style {
        color: crate::color::wanted(),
        zone: local_zone(),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(ClientError::Runtime)?;
    runtime.block_on(run::run(cfg, style))
}

/// Clock times print in the local zone, as the learner's wall clock shows them.
fn local_zone() -> FixedOffset {
    Local::now().offset().fix()
}
