//! One run: start the schedule, collect results, print a line per second with the lab's events,
//! write the report, print the summary. The only module here with side effects besides sending.

use super::ClientError;
use super::config::Config;
use super::html;
use super::ledger::{LedgerFile, Write as LedgerWrite};
use super::load::Load;
use super::output::{self, RunInfo, Style};
use super::report::{self, ReportFile};
use super::schedule::{self, Msg};
use super::sparkline;
use super::stats::Stats;
use crate::events::{Event, EventTail};
use chrono::{DateTime, Utc};
use std::collections::VecDeque;
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc::{self, error::TryRecvError};
use tokio::sync::watch;

/// A second is printed this long after it ends, so that answers that arrived in its last
/// moments are counted in it rather than in the next one.
const GRACE: Duration = Duration::from_millis(50);

/// Prints, writes the report and merges events; everything the collector shows goes through here.
struct Sink {
    style: Style,
    slo: f64,
    start_wall: DateTime<Utc>,
    report: Option<ReportFile>,
    ledger: Option<LedgerFile>,
    tail: Option<EventTail>,
    /// Events read but belonging to a second not yet printed.
    pending: Vec<Event>,
    /// The seconds and events, kept for `--html`.
    kept: Option<html::Kept>,
}

impl Sink {
    fn print(&self, line: &str) {
        // A closed stdout (`| head`) must not end the run: the report and exit code still matter.
        let _ = writeln!(std::io::stdout().lock(), "{line}");
    }

    fn read_events(&mut self) {
        let Some(tail) = self.tail.as_mut() else {
            return;
        };
        match tail.poll() {
            Ok(lines) => {
                for line in lines {
                    match line {
                        Ok(e) => self.pending.push(e),
                        Err(e) => eprintln!("warning: {e}"),
                    }
                }
            }
            Err(e) => eprintln!("warning: {e}"),
        }
        self.pending.sort_by_key(|e| e.ts);
    }

    /// Events that happened before `until` (all of them when `None`), each on its own line.
    fn events_before(&mut self, until: Option<DateTime<Utc>>) -> Result<(), ClientError> {
        let cut = match until {
            Some(t) => self.pending.partition_point(|e| e.ts < t),
            None => self.pending.len(),
        };
        for e in self.pending.drain(..cut).collect::<Vec<_>>() {
            self.print(&output::event_line(&e, self.style));
            if let Some(r) = self.report.as_mut() {
                r.line(&report::event_json(&e))?;
            }
            if let Some(k) = self.kept.as_mut() {
                k.events.push(e);
            }
        }
        Ok(())
    }

    /// Second `second` of every stream: a line each, named when there are several.
    fn second(&mut self, streams: &mut [StreamRun], second: u64) -> Result<(), ClientError> {
        self.read_events();
        let end = self.start_wall + Duration::from_secs(second + 1);
        self.events_before(Some(end))?;
        let several = streams.len() > 1;
        for run in streams {
            let s = run.stats.flush(second);
            let label = several.then_some(run.name.as_str());
            let target = run.load.target_in_second(second);
            // A constant rate is in the summary; a ramp's changes show on each line.
            let shown = run.load.ramp().map(|_| target);
            let mut line =
                output::second_line(&s, self.start_wall, self.slo, label, shown, self.style);
            if run.recent.len() == sparkline::SPARK_SECONDS {
                run.recent.pop_front();
            }
            run.recent.push_back(s.success_ratio());
            if self.style.sparkline {
                line.push_str("  ");
                line.push_str(&sparkline::sparkline(run.recent.iter().copied()));
            }
            self.print(&line);
            let record = report::second_record(&s, self.start_wall, &run.name, target);
            if let Some(r) = self.report.as_mut() {
                r.line(&report::second_json(&record))?;
            }
            if let Some(k) = self.kept.as_mut() {
                k.seconds.push(record);
            }
        }
        Ok(())
    }
}

/// One stream's counting, as the collector keeps it.
struct StreamRun {
    name: String,
    load: Load,
    stats: Stats,
    /// The success of the last seconds, for the sparkline.
    recent: VecDeque<Option<f64>>,
}

/// How often the collector takes the shards' messages. Polling, rather than being woken by each
/// message, keeps the shards from waking this thread thousands of times a second.
const DRAIN_EVERY: Duration = Duration::from_millis(10);

/// Takes every message waiting; `false` once every shard and request is finished.
fn drain(
    rx: &mut mpsc::UnboundedReceiver<Msg>,
    streams: &mut [StreamRun],
    sink: &Sink,
) -> Result<bool, ClientError> {
    loop {
        match rx.try_recv() {
            Ok(Msg::Sent {
                stream,
                scheduled,
                lag,
            }) => streams[stream].stats.sent(scheduled, lag),
            Ok(Msg::Done {
                stream,
                index,
                scheduled,
                completed,
                outcome,
            }) => {
                let run = &mut streams[stream];
                if let (Some(ledger), Some(ack)) = (&sink.ledger, &outcome.ack) {
                    ledger.append(&LedgerWrite::new(
                        ack,
                        &run.name,
                        sink.start_wall + completed,
                    ))?;
                }
                run.stats.done(index, scheduled, completed, &outcome);
            }
            Ok(Msg::Dropped {
                stream,
                first,
                end,
                step,
                reason,
            }) => {
                let run = &mut streams[stream];
                for index in (first..end).step_by(step as usize) {
                    run.stats.dropped(index, run.load.due(index), &reason);
                }
            }
            Err(TryRecvError::Empty) => return Ok(true),
            Err(TryRecvError::Disconnected) => return Ok(false),
        }
    }
}

/// Runs the load until the duration is over or Ctrl-C; `Ok(true)` when every stream met the SLO.
/// Runs on the collector's runtime; the requests go out from the shards' threads.
pub(crate) async fn run(cfg: Config, style: Style) -> Result<bool, ClientError> {
    let cfg = Arc::new(cfg);
    let report = cfg.report.as_deref().map(ReportFile::create).transpose()?;
    let ledger = cfg.ledger.as_deref().map(LedgerFile::open).transpose()?;
    // Opened before the first request: events from before the run are history.
    let tail = cfg.events.clone().map(EventTail::from_end);
    // `up` checks the lab's nodes a few at a time while this mark is held.
    let _loading = cfg.lab.as_ref().and_then(|dir| {
        crate::lab::loading::mark(dir)
            .map_err(|e| {
                eprintln!(
                    "warning: cannot mark lab {} as loaded ({e}): an `up` meanwhile checks every node at once and may slow the service",
                    dir.name()
                )
            })
            .ok()
    });
    let (stop, stopped) = watch::channel(false);
    let ctrl_c = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            let _ = stop.send(true);
        }
        // Keep the sender: the schedule treats a closed channel as "run to the end".
        std::future::pending::<()>().await
    });

    let (tx, mut rx) = mpsc::unbounded_channel();
    let start = Instant::now();
    let start_wall = Utc::now();
    let mut sink = Sink {
        style,
        slo: cfg.slo,
        start_wall,
        report,
        ledger,
        tail,
        pending: Vec::new(),
        kept: cfg.html.as_ref().map(|_| html::Kept::default()),
    };
    for index in 0..cfg.streams.len() {
        schedule::spawn_shards(&cfg, index, tx.clone(), stopped.clone(), start)
            .map_err(ClientError::Shard)?;
    }
    drop(tx);

    let mut streams: Vec<StreamRun> = cfg
        .streams
        .iter()
        .map(|s| StreamRun {
            name: s.name.clone(),
            load: s.load.clone(),
            stats: Stats::new(),
            recent: VecDeque::with_capacity(sparkline::SPARK_SECONDS),
        })
        .collect();
    let mut second = 0u64;
    let tick_at = |second: u64| start + Duration::from_secs(second + 1) + GRACE;
    let tick = tokio::time::sleep_until(tick_at(second).into());
    tokio::pin!(tick);
    let mut poll = tokio::time::interval(DRAIN_EVERY);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = poll.tick() => {
                if !drain(&mut rx, &mut streams, &sink)? {
                    break;
                }
            }
            _ = &mut tick => {
                let open = drain(&mut rx, &mut streams, &sink)?;
                sink.second(&mut streams, second)?;
                second += 1;
                tick.as_mut().reset(tick_at(second).into());
                if !open {
                    break;
                }
            }
        }
    }
    ctrl_c.abort();

    let elapsed = start.elapsed();
    // The partial last second, and any second whose results came in after the last tick.
    if let Some(last) = streams.iter().filter_map(|s| s.stats.last_second()).max() {
        for s in second..=last.max(second) {
            sink.second(&mut streams, s)?;
        }
    }
    sink.read_events();
    sink.events_before(None)?;

    let several = streams.len() > 1;
    let mut all_met = true;
    for run in streams {
        let totals = run.stats.finish();
        let info = RunInfo {
            start: start_wall,
            elapsed,
            target_rate: run.load.mean_rate(elapsed),
            ramp: run.load.ramp(),
            slo: cfg.slo,
            stream: several.then(|| run.name.clone()),
        };
        sink.print(output::summary(&totals, &info, style).trim_end());
        if let Some(r) = sink.report.as_mut() {
            r.line(&report::summary_json(&totals, &info, &run.name))?;
        }
        all_met &= report::slo_met(totals.availability(), cfg.slo);
    }
    if let (Some(path), Some(kept)) = (&cfg.html, sink.kept.take()) {
        let run = html::Run {
            streams: &cfg.streams,
            start: start_wall,
            end: start_wall + elapsed,
            slo: cfg.slo,
            zone: style.zone,
        };
        let page = html::render(&run, kept);
        crate::fsutil::write_atomic(path, page.as_bytes(), 0o644).map_err(|source| {
            ClientError::HtmlWrite {
                path: path.clone(),
                source,
            }
        })?;
        sink.print(&format!("wrote the timeline to {}", path.display()));
    }
    Ok(all_met)
}
