//! `firedrill client`: an open-loop load generator that shows, second by second, what a user of
//! the lab's service feels, and never hides an outage by slowing down with the server.

mod class;
mod config;
mod expect;
mod html;
pub(crate) mod ledger;
pub(crate) mod load;
mod outage;
mod output;
mod pool;
pub(crate) mod report;
mod request;
mod run;
mod schedule;
mod sparkline;
mod stats;
mod stream;
mod streams_file;
#[cfg(test)]
mod streams_file_tests;
mod target;
mod template;
pub(crate) use target::lab_url;
mod timer;
mod tls;
pub(crate) mod verify;
#[cfg(test)]
mod verify_live_tests;
pub(crate) mod verify_run;
#[cfg(test)]
mod verify_tests;

use crate::paths::Home;
use chrono::{FixedOffset, Local, Offset};
use config::Config;
use std::path::PathBuf;
use thiserror::Error;

#[derive(Debug, Error)]
pub(crate) enum ClientError {
    #[error(
        "--rate {value}: the rate must be a number of requests per second above 0, e.g. --rate 20"
    )]
    BadRate { value: String },
    #[error("--ramp {value}: {reason}; {hint}", hint = load::RAMP_HINT)]
    BadRamp { value: String, reason: String },
    #[error(
        "--rate and --ramp both given: --ramp sets the rate of each stage and the last one holds; drop --rate"
    )]
    RateAndRamp,
    #[error(
        "{flag} {value}: not a duration ({reason}); write a number and a unit, e.g. 500ms, 30s, 2m or 1h"
    )]
    BadDuration {
        flag: &'static str,
        value: String,
        reason: String,
    },
    #[error(
        "--url {value}: {reason}; write it as http://HOST[:PORT]/PATH or https://..., e.g. http://10.78.0.10/todos"
    )]
    BadUrl { value: String, reason: String },
    #[error(
        "--cacert {path}: {reason}; give the PEM file of the CA that signed the server's certificate, e.g. a lab's /etc/haproxy/tls/ca.pem"
    )]
    CaCert { path: PathBuf, reason: String },
    #[error(
        "--cacert is for https:// targets and {url} is plain HTTP; drop --cacert, or pass --url https://..."
    )]
    CaCertWithoutHttps { url: String },
    #[error("cannot set up TLS: {0}; report this as a bug of firedrill")]
    Tls(String),
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
    /// `--method`, `--header`, `--path` or `--body`.
    #[error("{flag} {value}: {reason}; {hint}")]
    BadRequestFlag {
        flag: &'static str,
        value: String,
        reason: String,
        hint: &'static str,
    },
    #[error("{problems}")]
    Streams { problems: String },
    #[error("--streams {path}: cannot read the file: {source}; check the path")]
    StreamsRead {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("--ledger {path}: cannot open the file: {source}; choose a writable path")]
    LedgerOpen {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot append to the ledger {path}: {source}; check the disk space")]
    LedgerWrite {
        path: PathBuf,
        source: std::io::Error,
    },
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
    #[error("--html {path}: it is a directory; give the name of the HTML file to write")]
    HtmlIsDirectory { path: PathBuf },
    #[error("cannot write the HTML timeline {path}: {source}; check the path and the disk space")]
    HtmlWrite {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write the report {path}: {source}; check the disk space")]
    ReportWrite {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("--ledger {path}: cannot read the file: {source}; check the path")]
    LedgerRead {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the ledger {path} holds no writes\n  hint: run `firedrill client --ledger {path}` with writes (--write-ratio, or a stream with method POST) first"
    )]
    LedgerEmpty { path: PathBuf },
    #[error("{}", no_database(lab, asked.as_deref(), databases))]
    NoDatabase {
        lab: String,
        asked: Option<String>,
        databases: String,
    },
    #[error("{node}: {message}; check that the lab is up (`firedrill status`)")]
    VerifyRemote { node: String, message: String },
    #[error("{0}; check that the database runs (`firedrill status`)")]
    VerifyDump(crate::remote::CommandFailed),
    #[error("{node}: cannot read the todo table: {reason}")]
    VerifyTable { node: String, reason: String },
    #[error("cannot start the client: {0}; check the process limits (ulimit -u, ulimit -n)")]
    Runtime(std::io::Error),
    #[error("cannot start a sending thread: {0}; check the process limits (ulimit -u)")]
    Shard(std::io::Error),
}

fn no_database(lab: &str, asked: Option<&str>, databases: &str) -> String {
    match (asked, databases.is_empty()) {
        (_, true) => format!("lab {lab} has no database node (role mysql or postgres) to verify"),
        (Some(node), false) => {
            format!(
                "--node {node}: not a database node of lab {lab}; its database nodes: {databases}"
            )
        }
        (None, false) => format!("lab {lab}: no database node found"),
    }
}

impl ClientError {
    /// 2 for input the user must change before retrying, 1 for failures while running.
    pub(crate) fn exit_code(&self) -> u8 {
        match self {
            ClientError::BadRate { .. }
            | ClientError::BadRamp { .. }
            | ClientError::RateAndRamp
            | ClientError::BadDuration { .. }
            | ClientError::BadUrl { .. }
            | ClientError::CaCert { .. }
            | ClientError::CaCertWithoutHttps { .. }
            | ClientError::BadExpect { .. }
            | ClientError::BadSlo { .. }
            | ClientError::BadWriteRatio { .. }
            | ClientError::BadMaxInflight { .. }
            | ClientError::BadRequestFlag { .. }
            | ClientError::Streams { .. }
            | ClientError::StreamsRead { .. }
            | ClientError::LedgerOpen { .. }
            | ClientError::LedgerRead { .. }
            | ClientError::LedgerEmpty { .. }
            | ClientError::NoDatabase { .. }
            | ClientError::LabNotUp { .. }
            | ClientError::NoLabUp
            | ClientError::BadLabName(_)
            | ClientError::SeveralLabsUp { .. }
            | ClientError::LabHasNoService { .. }
            | ClientError::ReportCreate { .. }
            | ClientError::HtmlIsDirectory { .. } => 2,
            // `verify` with no lab up, or a bad --lab: the user's to change.
            ClientError::LabState(e) if e.is_usage() => 2,
            ClientError::LabState(_)
            | ClientError::ReportWrite { .. }
            | ClientError::HtmlWrite { .. }
            | ClientError::LedgerWrite { .. }
            | ClientError::VerifyRemote { .. }
            | ClientError::VerifyDump(_)
            | ClientError::VerifyTable { .. }
            | ClientError::Runtime(_)
            | ClientError::Tls(_)
            | ClientError::Shard(_) => 1,
        }
    }
}

/// The flags, as typed. Numbers and durations stay text here so that a bad value gets the same
/// one-line message as every other bad input, instead of clap's multi-line usage.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct ClientArgs {
    #[command(subcommand)]
    command: Option<ClientCommand>,
    /// The lab whose service to load and whose events to show (default: the only lab up).
    #[arg(long, value_name = "NAME")]
    lab: Option<String>,
    /// Send requests here instead of the lab's service (GET; writes go to /todos on the same host);
    /// http:// or https://.
    #[arg(long, value_name = "URL")]
    url: Option<String>,
    /// For https://: trust the CA certificates in this PEM file instead of this host's, e.g. a
    /// lab's CA (scp lb:/etc/haproxy/tls/ca.pem). A certificate the client refuses is a
    /// failure of class tls.
    #[arg(long, value_name = "FILE")]
    cacert: Option<PathBuf>,
    /// Requests per second, sent on schedule whatever the server does [default: 20].
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    rate: Option<String>,
    /// A step load in place of --rate: RATE:SECONDS stages one after another, the last rate
    /// holding until the run ends, e.g. 5:60,10:60,20:60.
    #[arg(long, value_name = "RATE:SECONDS,...", allow_hyphen_values = true)]
    ramp: Option<String>,
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
    /// The request's path (and query), in place of the target's, e.g. /todos?since=today.
    #[arg(long, value_name = "PATH")]
    path: Option<String>,
    /// The request's method.
    #[arg(long, value_name = "METHOD", default_value = "GET")]
    method: String,
    /// A header to send, e.g. 'X-Client: drill' (repeatable).
    #[arg(long, value_name = "'NAME: VALUE'")]
    header: Vec<String>,
    /// The request's body: sent as is, with {{seq}} the request's number and {{word}} a random
    /// word, e.g. '{"name": "task {{seq}} {{word}}"}'.
    #[arg(long, value_name = "TEMPLATE")]
    body: Option<String>,
    /// A JSON path and type every answer must have, e.g. todos[].completed:bool (repeatable).
    #[arg(long, value_name = "PATH:TYPE")]
    expect: Vec<String>,
    /// Several named streams from a YAML file, each with its rate, request and checks, in place
    /// of --rate, --path, --method, --header, --body, --expect and --write-ratio.
    #[arg(
        long,
        value_name = "FILE.yaml",
        conflicts_with_all = ["rate", "ramp", "path", "method", "header", "body", "expect", "write_ratio"]
    )]
    streams: Option<PathBuf>,
    /// Append every acknowledged write (a 2xx answer to a POST or PUT) to this file, for
    /// `firedrill client verify`.
    #[arg(long, value_name = "FILE.jsonl")]
    ledger: Option<PathBuf>,
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
    /// When the run ends, write its timeline here as one HTML page (success, latency and
    /// failures per second with the lab's events; opens offline).
    #[arg(long, value_name = "FILE.html")]
    html: Option<PathBuf>,
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

/// `firedrill client verify`.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum ClientCommand {
    /// Check that every write a `--ledger` file holds is in the lab's database(s), unchanged.
    Verify(verify_run::VerifyArgs),
}

fn configure(args: &ClientArgs, home: &Home) -> Result<Config, ClientError> {
    let duration = args
        .duration
        .as_deref()
        .map(|d| config::parse_duration("--duration", d))
        .transpose()?;
    let timeout = config::parse_duration("--timeout", &args.timeout)?;
    if let Some(path) = args.html.as_ref().filter(|p| p.is_dir()) {
        return Err(ClientError::HtmlIsDirectory { path: path.clone() });
    }
    let slo = config::parse_slo(&args.slo)?;
    if let Some(u) = &args.url {
        config::parse_url(u)?; // a bad URL is reported before looking for labs
    }
    // Checked before looking for labs too: a typo is reported at once, wherever it is.
    let placeholder: hyper::Uri = "http://localhost/todos".parse().expect("a constant URL");
    let check_only = |url: &hyper::Uri, post: &hyper::Uri| match &args.streams {
        Some(file) => streams_file::read(
            file,
            &streams_file::Shared {
                url,
                post_url: post,
                timeout,
                max_inflight: args
                    .max_inflight
                    .as_deref()
                    .map(config::parse_max_inflight)
                    .transpose()?,
            },
        ),
        None => config::flag_stream(args, url, post, timeout).map(|s| vec![s]),
    };
    check_only(&placeholder, &placeholder)?;
    let target = target::resolve(home, args.lab.as_deref(), args.url.as_deref())?;
    let (url, post_url) = config::parse_url(&target.url)?;
    let tls = match (url.scheme_str(), &args.cacert) {
        (Some("https"), cacert) => {
            let config = tls::client_config(cacert.as_deref())?;
            let host = url.host().unwrap_or_default();
            Some(
                tls::TlsTarget::new(config, host).map_err(|reason| ClientError::BadUrl {
                    value: target.url.clone(),
                    reason,
                })?,
            )
        }
        (_, Some(_)) => {
            return Err(ClientError::CaCertWithoutHttps {
                url: target.url.clone(),
            });
        }
        (_, None) => None,
    };
    Ok(Config {
        streams: check_only(&url, &post_url)?,
        duration,
        timeout,
        report: args.report.clone(),
        html: args.html.clone(),
        ledger: args.ledger.clone(),
        slo,
        events: target.lab.as_ref().map(|l| l.events_file()),
        lab: target.lab,
        tls,
    })
}

/// The name of the stream the flags describe.
pub(crate) const DEFAULT_STREAM: &str = stream::DEFAULT_NAME;

/// The names of the streams `file` defines, or why the client would refuse it (for a level's
/// `client.streams`, checked before any play starts).
pub(crate) fn stream_names(file: &std::path::Path) -> Result<Vec<String>, ClientError> {
    let placeholder: hyper::Uri = "http://localhost/todos".parse().expect("a constant URL");
    let streams = streams_file::read(
        file,
        &streams_file::Shared {
            url: &placeholder,
            post_url: &placeholder,
            timeout: std::time::Duration::from_secs(2),
            max_inflight: None,
        },
    )?;
    Ok(streams.into_iter().map(|s| s.name).collect())
}

/// Runs `firedrill client`; `Ok(false)` when the run missed the SLO.
pub(crate) fn run(args: &ClientArgs) -> Result<bool, ClientError> {
    if let Some(ClientCommand::Verify(v)) = &args.command {
        return verify_run::run(v);
    }
    let cfg = configure(args, &Home::from_env())?;
    let wanted = crate::color::wanted();
    let style = output::Style {
        color: wanted,
        sparkline: wanted,
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
