//! `--report FILE.jsonl`: one object per second (`"type": "second"`), the lab's events as they
//! were read (`"type": "event"`), and the summary last (`"type": "summary"`). Later features score
//! an incident from it (time to detect, time to mitigate, error budget burned), so every field is
//! a plain number or string and times are RFC 3339 UTC with milliseconds.

use super::ClientError;
use super::class::Class;
use super::output::RunInfo;
use super::stats::{Counts, Percentiles, SecondStats, Totals};
use crate::events::Event;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

/// One line of the report: what the client writes and what the level commands read back, one
/// type for both.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub(crate) enum Record {
    Second(SecondRecord),
    /// The lab's events as the client read them from its log.
    Event(Event),
    Summary(SummaryRecord),
    /// A kind of line a newer client writes: skipped by this build's readers.
    #[serde(other)]
    Unknown,
}

/// Failures by class, in display order.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub(crate) struct ClassCounts {
    pub(crate) refused: u64,
    pub(crate) timeout: u64,
    pub(crate) reset: u64,
    /// HTTPS only; reports from before HTTPS have none.
    #[serde(default)]
    pub(crate) tls: u64,
    #[serde(rename = "5xx")]
    pub(crate) http5xx: u64,
    #[serde(rename = "4xx")]
    pub(crate) http4xx: u64,
    #[serde(rename = "413")]
    pub(crate) http413: u64,
    pub(crate) json: u64,
    pub(crate) other: u64,
}

impl From<&Counts> for ClassCounts {
    fn from(c: &Counts) -> Self {
        ClassCounts {
            refused: c.get(Class::Refused),
            timeout: c.get(Class::Timeout),
            reset: c.get(Class::Reset),
            tls: c.get(Class::Tls),
            http5xx: c.get(Class::Http5xx),
            http4xx: c.get(Class::Http4xx),
            http413: c.get(Class::Http413),
            json: c.get(Class::Json),
            other: c.get(Class::Other),
        }
    }
}

/// The stream of a record written before runs had several: the one the flags describe.
fn default_stream() -> String {
    crate::client::stream::DEFAULT_NAME.to_string()
}

/// One second of one stream of the run; `ts` is the start of the second.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct SecondRecord {
    /// The stream's name (`default` for the flags' stream, and in reports from before streams).
    #[serde(default = "default_stream")]
    pub(crate) stream: String,
    pub(crate) second: u64,
    #[serde(
        serialize_with = "crate::events::ser_ts",
        deserialize_with = "crate::events::de_ts"
    )]
    pub(crate) ts: DateTime<Utc>,
    /// The requests per second due in this second (a ramp's current stage); `None` in reports
    /// from before ramps.
    #[serde(default)]
    pub(crate) target_rate: Option<f64>,
    pub(crate) sent: u64,
    pub(crate) ok: u64,
    /// Sent and failed (every class but ok and dropped).
    pub(crate) failed: u64,
    /// Could not be sent on time: a failure for the user too.
    pub(crate) dropped: u64,
    pub(crate) classes: ClassCounts,
    pub(crate) p50_ms: Option<f64>,
    pub(crate) p99_ms: Option<f64>,
    pub(crate) max_ms: Option<f64>,
    pub(crate) success_ratio: Option<f64>,
    pub(crate) inflight: u64,
    pub(crate) lag_max_ms: f64,
    /// GET/HEAD requests sent a second time after their reused connection closed unanswered.
    #[serde(default)]
    pub(crate) retried: u64,
}

impl SecondRecord {
    /// Failed or dropped: what a user felt as a failure.
    pub(crate) fn bad(&self) -> u64 {
        self.failed + self.dropped
    }
    pub(crate) fn results(&self) -> u64 {
        self.ok + self.bad()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct StretchRecord {
    requests: u64,
    start: String,
    end: String,
    seconds: f64,
}

/// One stream's summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct SummaryRecord {
    #[serde(default = "default_stream")]
    stream: String,
    start: String,
    end: String,
    /// The rate, or for a ramp the mean target over the run.
    target_rate: f64,
    /// A ramp's stages, as written (`--ramp`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ramp: Option<String>,
    achieved_rate: Option<f64>,
    scheduled: u64,
    sent: u64,
    ok: u64,
    failed: u64,
    dropped: u64,
    classes: ClassCounts,
    p50_ms: Option<f64>,
    p90_ms: Option<f64>,
    p99_ms: Option<f64>,
    max_ms: Option<f64>,
    lag_p50_ms: Option<f64>,
    lag_p99_ms: Option<f64>,
    longest_failure: Option<StretchRecord>,
    #[serde(default)]
    retried: u64,
    availability: Option<f64>,
    slo: f64,
    slo_met: bool,
}

/// One second of one stream, as the report and the HTML timeline keep it.
pub(crate) fn second_record(
    s: &SecondStats,
    start: DateTime<Utc>,
    stream: &str,
    target_rate: f64,
) -> SecondRecord {
    let p = |f: fn(&Percentiles) -> f64| s.latency.as_ref().map(f);
    SecondRecord {
        stream: stream.to_string(),
        second: s.second,
        ts: start + Duration::from_secs(s.second),
        target_rate: Some(target_rate),
        sent: s.sent,
        ok: s.counts.get(Class::Ok),
        failed: s.counts.failed(),
        dropped: s.counts.get(Class::Dropped),
        classes: ClassCounts::from(&s.counts),
        p50_ms: p(|p| p.p50),
        p99_ms: p(|p| p.p99),
        max_ms: p(|p| p.max),
        success_ratio: s.success_ratio(),
        inflight: s.inflight,
        lag_max_ms: ms(s.lag_max),
        retried: s.retried,
    }
}

pub(crate) fn second_json(s: &SecondRecord) -> String {
    serde_json::to_string(&Record::Second(s.clone())).unwrap_or_default()
}

pub(crate) fn event_json(e: &Event) -> String {
    serde_json::to_string(&Record::Event(e.clone())).unwrap_or_default()
}

pub(crate) fn summary_json(t: &Totals, run: &RunInfo, stream: &str) -> String {
    let p = |f: fn(&Percentiles) -> f64| t.latency.as_ref().map(f);
    let availability = t.availability();
    let rec = Record::Summary(SummaryRecord {
        stream: stream.to_string(),
        start: ts(run.start),
        end: ts(run.start + run.elapsed),
        target_rate: run.target_rate,
        ramp: run.ramp.clone(),
        achieved_rate: t.achieved_rate,
        scheduled: t.scheduled(),
        sent: t.sent,
        ok: t.counts.get(Class::Ok),
        failed: t.counts.failed(),
        dropped: t.counts.get(Class::Dropped),
        classes: ClassCounts::from(&t.counts),
        p50_ms: p(|p| p.p50),
        p90_ms: p(|p| p.p90),
        p99_ms: p(|p| p.p99),
        max_ms: p(|p| p.max),
        lag_p50_ms: t.lag.map(|l| l.p50),
        lag_p99_ms: t.lag.map(|l| l.p99),
        longest_failure: t.longest_failure.map(|s| StretchRecord {
            requests: s.requests,
            start: ts(run.start + s.start),
            end: ts(run.start + s.end),
            seconds: (s.end - s.start).as_secs_f64(),
        }),
        retried: t.retried,
        availability,
        slo: run.slo,
        slo_met: slo_met(availability, run.slo),
    });
    serde_json::to_string(&rec).unwrap_or_default()
}

/// Nothing scheduled (Ctrl-C at once) misses nothing.
pub(crate) fn slo_met(availability: Option<f64>, slo: f64) -> bool {
    availability.is_none_or(|a| a >= slo)
}

/// The open report file. Each line goes out in one write as it is made (`jsonl::append`), so a
/// scorer can follow it live and a crash tears at most the line being written.
#[derive(Debug)]
pub(crate) struct ReportFile {
    path: PathBuf,
    file: File,
}

impl ReportFile {
    /// A new, empty report: each run writes its own.
    pub(crate) fn create(path: &Path) -> Result<ReportFile, ClientError> {
        let err = |source| ClientError::ReportCreate {
            path: path.to_path_buf(),
            source,
        };
        File::create(path).map_err(err)?;
        Ok(ReportFile {
            path: path.to_path_buf(),
            file: crate::jsonl::open(path).map_err(err)?,
        })
    }

    pub(crate) fn line(&mut self, json: &str) -> Result<(), ClientError> {
        crate::jsonl::append(&self.file, json).map_err(|source| ClientError::ReportWrite {
            path: self.path.clone(),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::request::Outcome;
    use crate::client::stats::Stats;
    use chrono::TimeZone;

    #[test]
    fn each_line_is_written_at_once_and_a_new_report_starts_empty() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("run.jsonl");
        std::fs::write(&path, "{\"type\":\"old run\"}\n").unwrap();
        let mut r = ReportFile::create(&path).unwrap();
        r.line("{\"a\":1}").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{\"a\":1}\n");
        // A line torn by a crash of an earlier writer: the next starts on its own line.
        std::io::Write::write_all(&mut &r.file, b"{\"b\":").unwrap();
        r.line("{\"c\":3}").unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "{\"a\":1}\n{\"b\":\n{\"c\":3}\n"
        );
    }

    /// A run that started at 14:03:02 and sent one request in its second second.
    fn one_sent() -> (DateTime<Utc>, Stats) {
        let start = Utc
            .with_ymd_and_hms(2024, 5, 1, 14, 3, 2)
            .single()
            .expect("valid");
        let mut s = Stats::new();
        s.sent(Duration::from_millis(1000), Duration::from_micros(300));
        (start, s)
    }

    #[test]
    fn second_record_fields() {
        let (start, mut s) = one_sent();
        s.done(
            0,
            Duration::from_millis(1000),
            Duration::from_millis(1413),
            &Outcome {
                class: Class::Http413,
                latency: Some(Duration::from_millis(413)),
                reason: Some("HTTP 413".into()),
                ack: None,
                retried: false,
            },
        );
        let line = second_json(&second_record(&s.flush(1), start, "default", 5.0));
        // 413 ms falls in a histogram bucket whose top is 413.183 ms.
        assert_eq!(
            line,
            r#"{"type":"second","stream":"default","second":1,"ts":"2024-05-01T14:03:03.000Z","target_rate":5.0,"sent":1,"ok":0,"failed":1,"dropped":0,"classes":{"refused":0,"timeout":0,"reset":0,"tls":0,"5xx":0,"4xx":0,"413":1,"json":0,"other":0},"p50_ms":413.183,"p99_ms":413.183,"max_ms":413.183,"success_ratio":0.0,"inflight":0,"lag_max_ms":0.3,"retried":0}"#
        );
    }

    /// What the client writes, the level commands read back unchanged: one type for both.
    #[test]
    fn every_record_round_trips_through_its_line() {
        let (start, mut s) = one_sent();
        let second = second_json(&second_record(&s.flush(1), start, "old-client", 10.0));
        let event = event_json(&Event::now(
            crate::events::EventKind::FaultInjected,
            Some("app1"),
            "fault injected on app1",
        ));
        let info = RunInfo {
            start,
            elapsed: Duration::from_secs(2),
            target_rate: 7.5,
            ramp: Some("5:1,10:1".into()),
            slo: 99.9,
            stream: Some("old-client".into()),
        };
        let summary = summary_json(&s.finish(), &info, "old-client");
        for line in [&second, &event, &summary] {
            let record: Record = serde_json::from_str(line).expect("the line parses");
            assert_eq!(&serde_json::to_string(&record).unwrap(), line);
        }
        assert!(
            summary.starts_with(r#"{"type":"summary","stream":"old-client","#),
            "{summary}"
        );
        // A report from before streams: its records belong to the flags' stream.
        let old = second.replace(r#""stream":"old-client","#, "");
        match serde_json::from_str::<Record>(&old).expect("an old line parses") {
            Record::Second(s) => assert_eq!(s.stream, "default"),
            other => panic!("not a second: {other:?}"),
        }
        // ... and has no target rate.
        match serde_json::from_str::<Record>(&old.replace(r#""target_rate":10.0,"#, ""))
            .expect("a line from before ramps parses")
        {
            Record::Second(s) => assert_eq!(s.target_rate, None),
            other => panic!("not a second: {other:?}"),
        }
        let read = crate::levels::client_report::ClientReport::parse(
            Path::new("run.jsonl"),
            &format!("{second}\n{event}\n{{\"type\":\"from-a-newer-client\"}}\n"),
        );
        assert_eq!(read.seconds.len(), 1);
        assert_eq!(read.seconds[0].ts, start + Duration::from_secs(1));
        assert_eq!(read.events.len(), 1);
        assert!(read.damaged.is_empty(), "{:?}", read.damaged);
    }

    #[test]
    fn slo_verdict() {
        assert!(slo_met(Some(99.95), 99.9));
        assert!(slo_met(Some(99.9), 99.9));
        assert!(!slo_met(Some(99.0), 99.9));
        assert!(slo_met(None, 99.9));
    }
}
