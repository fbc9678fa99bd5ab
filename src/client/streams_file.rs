//! `--streams FILE`: several named streams in one run. The format (also in the README):
//!
//! ```yaml
//! streams:
//!   - name: old-client           # letters, digits, - and _; shown on its lines
//!     rate: 5                    # requests per second
//!     path: /todos               # default: the target's path
//!     expect: ["todos[].name:string"]
//!   - name: writer
//!     rate: 2                    # or: ramp: "2:60,5:60" (RATE:SECONDS stages, as --ramp)
//!     method: POST               # default GET
//!     headers: {X-Client: drill}
//!     body: '{"name": "task {{seq}} {{word}}", "completed": false}'
//!     write_ratio: 0             # as --write-ratio, default 0
//! ```
//!
//! serde-saphyr reads it (unknown keys and wrong types are errors with their line and column);
//! then every value is checked with the flags' own parsers, and every problem is reported at
//! once, each at its position.

use super::ClientError;
use super::config;
use super::expect::Expect;
use super::load::{self, Load};
use super::stream::{self, Stream};
use hyper::Uri;
use serde::Deserialize;
use serde_saphyr::{Location, MessageFormatter, Spanned};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    streams: Spanned<Vec<RawStream>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStream {
    name: Spanned<String>,
    #[serde(default)]
    rate: Option<Spanned<f64>>,
    #[serde(default)]
    ramp: Option<Spanned<String>>,
    #[serde(default)]
    path: Option<Spanned<String>>,
    #[serde(default)]
    method: Option<Spanned<String>>,
    #[serde(default)]
    headers: Option<Spanned<BTreeMap<String, String>>>,
    #[serde(default)]
    body: Option<Spanned<String>>,
    #[serde(default)]
    expect: Vec<Spanned<String>>,
    #[serde(default)]
    write_ratio: Option<Spanned<f64>>,
}

/// What every stream of the file shares with the run.
#[derive(Debug, Clone)]
pub(crate) struct Shared<'a> {
    /// The target: its host for every stream, its path for streams without one.
    pub(crate) url: &'a Uri,
    pub(crate) post_url: &'a Uri,
    pub(crate) timeout: Duration,
    /// `--max-inflight`, applied to each stream; `None`: from each stream's rate.
    pub(crate) max_inflight: Option<usize>,
}

/// At most this long, so the per-second lines stay aligned.
const NAME_MAX: usize = 24;

/// The problems of a file, each as `FILE:LINE:COLUMN: what; hint`.
struct Problems<'a> {
    file: &'a Path,
    list: Vec<String>,
}

impl Problems<'_> {
    fn add(&mut self, at: Location, what: impl std::fmt::Display) {
        self.list.push(format!(
            "{}:{}:{}: {what}",
            self.file.display(),
            at.line(),
            at.column()
        ));
    }
}

/// Reads the streams of `text`, the contents of `file`.
pub(crate) fn load(file: &Path, text: &str, shared: &Shared) -> Result<Vec<Stream>, ClientError> {
    let raw: RawFile = serde_saphyr::from_str(text).map_err(|e| {
        let what = serde_saphyr::UserMessageFormatter.format_message(e.without_snippet());
        let at = e
            .location()
            .map(|l| format!(":{}:{}", l.line(), l.column()))
            .unwrap_or_default();
        ClientError::Streams {
            problems: format!(
                "{}{at}: {what}; the format is in the README (\"The mock client\")",
                file.display()
            ),
        }
    })?;
    let mut problems = Problems {
        file,
        list: Vec::new(),
    };
    if raw.streams.value.is_empty() {
        problems.add(
            raw.streams.referenced,
            "`streams` is empty; give at least one stream",
        );
    }
    let mut names: BTreeMap<String, Location> = BTreeMap::new();
    let mut streams = Vec::new();
    for s in raw.streams.value {
        let name = s.name.value.clone();
        if let Some(first) = names.get(&name) {
            problems.add(
                s.name.referenced,
                format!(
                    "stream `{name}` is named twice (first at line {}); give each stream its own name",
                    first.line()
                ),
            );
        }
        names.entry(name.clone()).or_insert(s.name.referenced);
        if let Some(stream) = check(s, shared, &mut problems) {
            streams.push(stream);
        }
    }
    if problems.list.is_empty() {
        Ok(streams)
    } else {
        Err(ClientError::Streams {
            problems: problems.list.join("\n"),
        })
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= NAME_MAX
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// One stream, or `None` with its problems added.
fn check(s: RawStream, shared: &Shared, problems: &mut Problems) -> Option<Stream> {
    let before = problems.list.len();
    let name = s.name.value;
    if !valid_name(&name) {
        problems.add(
            s.name.referenced,
            format!(
                "stream name `{name}`: use 1 to {NAME_MAX} lowercase letters, digits, - and _, e.g. old-client"
            ),
        );
    }
    let at = |field: &str| format!("stream `{name}`, {field}");
    let load = stream_load(
        s.rate.as_ref(),
        s.ramp.as_ref(),
        s.name.referenced,
        &at,
        problems,
    );
    let url = match &s.path {
        None => Some(shared.url.clone()),
        Some(p) => match stream::with_path(shared.url, &p.value) {
            Ok(u) => Some(u),
            Err(e) => {
                problems.add(
                    p.referenced,
                    format!("{} `{}`: {}; {}", at("path"), p.value, e.reason, e.hint),
                );
                None
            }
        },
    };
    let method = match &s.method {
        None => hyper::Method::GET,
        Some(m) => stream::parse_method(&m.value).unwrap_or_else(|e| {
            problems.add(
                m.referenced,
                format!("{} `{}`: {}; {}", at("method"), m.value, e.reason, e.hint),
            );
            hyper::Method::GET
        }),
    };
    let mut headers = Vec::new();
    if let Some(h) = &s.headers {
        for (k, v) in &h.value {
            match stream::header(k, v) {
                Ok(pair) => headers.push(pair),
                Err(why) => problems.add(h.referenced, format!("{} `{k}`: {why}", at("header"))),
            }
        }
    }
    let body = s.body.as_ref().and_then(|b| {
        stream::parse_body(&b.value)
            .map_err(|why| problems.add(b.referenced, format!("{}: {why}", at("body"))))
            .ok()
    });
    let mut expects = Vec::new();
    for e in &s.expect {
        match Expect::parse(&e.value) {
            Ok(x) => expects.push(x),
            Err(ClientError::BadExpect { value, reason }) => problems.add(
                e.referenced,
                format!(
                    "{} `{value}`: {reason}; write PATH:TYPE, e.g. todos[].name:string, with TYPE one of string, bool, number, array, object, null",
                    at("expect")
                ),
            ),
            Err(other) => problems.add(e.referenced, other),
        }
    }
    let write_ratio = match &s.write_ratio {
        None => 0.0,
        Some(w) => config::parse_write_ratio(&w.value.to_string()).unwrap_or_else(|_| {
            problems.add(
                w.referenced,
                format!(
                    "{}: {} is not a fraction from 0 to 1, e.g. write_ratio: 0.1",
                    at("write_ratio"),
                    w.value
                ),
            );
            0.0
        }),
    };
    if problems.list.len() > before {
        return None;
    }
    let load = load?;
    Some(Stream {
        name,
        method,
        url: url?,
        post_url: shared.post_url.clone(),
        headers,
        body,
        expects,
        write_ratio,
        max_inflight: shared
            .max_inflight
            .unwrap_or_else(|| config::default_max_inflight(load.peak(), shared.timeout)),
        load,
    })
}

/// `rate` or `ramp`: exactly one; `None` with its problem added.
fn stream_load(
    rate: Option<&Spanned<f64>>,
    ramp: Option<&Spanned<String>>,
    name_at: Location,
    at: &dyn Fn(&str) -> String,
    problems: &mut Problems,
) -> Option<Load> {
    match (rate, ramp) {
        (Some(_), Some(ramp)) => {
            problems.add(
                ramp.referenced,
                format!(
                    "{}: the stream has both rate and ramp; keep one (ramp sets the rate of each stage)",
                    at("ramp")
                ),
            );
            None
        }
        (None, None) => {
            problems.add(
                name_at,
                format!(
                    "{}: give the stream a rate (e.g. rate: 5) or a ramp (e.g. ramp: \"5:60,10:60\")",
                    at("rate")
                ),
            );
            None
        }
        (Some(rate), None) => match config::parse_rate(&rate.value.to_string()) {
            Ok(r) => Some(Load::constant(r)),
            Err(_) => {
                problems.add(
                    rate.referenced,
                    format!(
                        "{}: {} is not above 0; give requests per second, e.g. rate: 5",
                        at("rate"),
                        rate.value
                    ),
                );
                None
            }
        },
        (None, Some(ramp)) => match Load::parse_ramp(&ramp.value) {
            Ok(l) => Some(l),
            Err(why) => {
                problems.add(
                    ramp.referenced,
                    format!(
                        "{} `{}`: {why}; {}",
                        at("ramp"),
                        ramp.value,
                        load::RAMP_HINT
                    ),
                );
                None
            }
        },
    }
}

/// Reads `--streams FILE`.
pub(crate) fn read(file: &Path, shared: &Shared) -> Result<Vec<Stream>, ClientError> {
    let text = std::fs::read_to_string(file).map_err(|source| ClientError::StreamsRead {
        path: file.to_path_buf(),
        source,
    })?;
    load(file, &text, shared)
}
