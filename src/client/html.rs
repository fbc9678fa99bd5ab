//! `firedrill client --html FILE`: the run drawn as the HTML timeline `firedrill report --html`
//! draws for a play (the same renderer), from the seconds and events the run kept. Written
//! once, when the run ends.

use super::report::SecondRecord;
use super::stream::Stream;
use crate::events::Event;
use crate::levels::client_report::ClientReport;
use crate::report_html::{Mark, Summary, Timeline};
use chrono::{DateTime, FixedOffset, Utc};

/// What the run kept for the page.
#[derive(Debug, Default)]
pub(crate) struct Kept {
    pub(crate) seconds: Vec<SecondRecord>,
    pub(crate) events: Vec<Event>,
}

/// The run, as the page's header tells it.
pub(crate) struct Run<'a> {
    pub(crate) streams: &'a [Stream],
    pub(crate) start: DateTime<Utc>,
    pub(crate) end: DateTime<Utc>,
    pub(crate) slo: f64,
    pub(crate) zone: FixedOffset,
}

/// `GET http://10.78.0.10/todos at 20/s`, `POST ... ramp 5:60,10:60`.
fn request(s: &Stream) -> String {
    let rate = match s.load.ramp() {
        Some(stages) => format!("ramp {stages}"),
        None => format!("{}/s", s.load),
    };
    format!("{} {} at {rate}", s.method, s.url)
}

pub(crate) fn render(run: &Run, kept: Kept) -> String {
    let report = ClientReport {
        seconds: kept.seconds,
        events: kept.events,
        damaged: Vec::new(),
    };
    let mut facts: Vec<(String, String)> = run
        .streams
        .iter()
        .map(|s| {
            let label = if run.streams.len() > 1 {
                format!("Stream {}", s.name)
            } else {
                "Requests".to_string()
            };
            (label, request(s))
        })
        .collect();
    let local = run.start.with_timezone(&run.zone);
    facts.push(("Date".into(), local.format("%Y-%m-%d").to_string()));
    facts.push((
        "Duration".into(),
        crate::levels::duration(u64::try_from((run.end - run.start).num_seconds()).unwrap_or(0)),
    ));
    facts.push(("SLO".into(), crate::levels::client_report::percent(run.slo)));
    let marks = report.events.iter().map(Mark::of_event).collect();
    let page = Timeline {
        title: format!("Mock client run at {}", local.format("%H:%M:%S")),
        facts,
        report: &report,
        from: run.start,
        to: run.end,
        summary: Summary::of(&report, run.start, run.end, "the start of the run", run.slo),
        marks,
        zone: run.zone,
        footer: format!(
            "Written {} by firedrill client --html.",
            run.end
                .with_timezone(&run.zone)
                .format("%Y-%m-%d %H:%M:%S %:z")
        ),
    };
    crate::report_html::render(&page)
}
