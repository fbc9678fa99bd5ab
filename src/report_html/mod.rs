//! The HTML timeline of a run: one self-contained page (inline SVG and CSS, no script, nothing
//! fetched) that draws the mock client's seconds — success, p50/p99 latency, failures stacked by
//! class, each stream on its own — and what happened (faults, reverts, hints, checks, the lab's
//! events) on one time axis, with the run's summary. `firedrill report --html` and
//! `firedrill client --html` both build a `Timeline` and call `render`; pure, so the page is
//! tested against a golden file.
//!
//! - `summary.rs`: the figures above the chart (longest outage, error budget, time to mitigate);
//! - `scale.rs`: the time axis, buckets of seconds, the latency and count scales;
//! - `buckets.rs`: a stream's seconds summed per bucket;
//! - `chart.rs`: the SVG.

mod buckets;
mod chart;
mod scale;
mod summary;

/// The success line's and the failures' colours, which the browser test looks for.
#[cfg(test)]
pub(crate) use chart::{FAILED, SUCCESS};
pub(crate) use summary::{Detection, Summary};

use crate::events::{Event, EventKind};
use crate::levels::client_report::ClientReport;
use chrono::{DateTime, FixedOffset, Utc};
use std::fmt::Write;

/// Everything the page shows.
pub(crate) struct Timeline<'a> {
    /// `Incident: Saving fails`.
    pub title: String,
    /// Label and value rows under the title: the level, the lab, the status, the target.
    pub facts: Vec<(String, String)>,
    pub report: &'a ClientReport,
    /// The time axis: seconds outside it are left out, and marks outside it are only listed.
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub summary: Summary,
    pub marks: Vec<Mark>,
    /// Clock times are shown in this zone.
    pub zone: FixedOffset,
    /// The last line: who wrote the page and when.
    pub footer: String,
}

/// What a mark on the time axis stands for; each kind has its colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum MarkKind {
    /// The play's own steps: started, briefing, errors stop, the end.
    Phase,
    Fault,
    Revert,
    Hint,
    Check,
    /// The lab's events: a node started, rebooted or removed, `up`, `down`.
    Lab,
}

impl MarkKind {
    /// The mark of an event of the lab's log.
    pub(crate) fn of(kind: &EventKind) -> MarkKind {
        match kind {
            EventKind::FaultInjected => MarkKind::Fault,
            EventKind::FaultReverted => MarkKind::Revert,
            EventKind::NodeRebooted
            | EventKind::NodeStarted
            | EventKind::NodeRemoved
            | EventKind::LabUp
            | EventKind::LabDown
            | EventKind::Other(_) => MarkKind::Lab,
        }
    }

    const ALL: [MarkKind; 6] = [
        MarkKind::Phase,
        MarkKind::Fault,
        MarkKind::Revert,
        MarkKind::Hint,
        MarkKind::Check,
        MarkKind::Lab,
    ];

    fn name(self) -> &'static str {
        match self {
            MarkKind::Phase => "play",
            MarkKind::Fault => "fault",
            MarkKind::Revert => "revert",
            MarkKind::Hint => "hint",
            MarkKind::Check => "check",
            MarkKind::Lab => "lab event",
        }
    }

    fn color(self) -> &'static str {
        match self {
            MarkKind::Phase => "#222222",
            MarkKind::Fault => "#b2182b",
            MarkKind::Revert => "#1b7837",
            MarkKind::Hint => "#bf812d",
            MarkKind::Check => "#2166ac",
            MarkKind::Lab => "#7a7a7a",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Mark {
    pub at: DateTime<Utc>,
    pub kind: MarkKind,
    pub text: String,
}

impl Mark {
    pub(crate) fn new(at: DateTime<Utc>, kind: MarkKind, text: impl Into<String>) -> Mark {
        Mark {
            at,
            kind,
            text: text.into(),
        }
    }

    /// An event of the lab's log, as the client copied it: `node-started (app3): node app3 ...`.
    pub(crate) fn of_event(e: &Event) -> Mark {
        let node = e
            .node
            .as_deref()
            .map_or(String::new(), |n| format!(" ({n})"));
        Mark::new(
            e.ts,
            MarkKind::of(&e.kind),
            format!("{}{node}: {}", e.kind, e.message),
        )
    }
}

/// `text` made safe as HTML text and as an attribute value. Control characters (but tab and
/// newline) become U+FFFD: they are not allowed in an HTML document.
pub(crate) fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\t' | '\n' => out.push(c),
            c if c.is_control() => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// `14:03:07` in `zone`.
pub(crate) fn clock(t: DateTime<Utc>, zone: FixedOffset) -> String {
    t.with_timezone(&zone).format("%H:%M:%S").to_string()
}

/// `UTC`, or the offset: `UTC+02:00`.
fn zone_name(zone: FixedOffset) -> String {
    if zone.local_minus_utc() == 0 {
        "UTC".to_string()
    } else {
        format!("UTC{zone}")
    }
}

const CSS: &str = "\
body{font-family:'DejaVu Sans',Verdana,Arial,sans-serif;color:#222;background:#fff;margin:16px 24px;max-width:1140px}
h1{font-size:20px;margin:0 0 4px}
h2{font-size:16px;margin:18px 0 6px}
.facts{margin:0 0 10px;color:#444;font-size:13px}
.facts span{margin-right:14px}
.facts b{color:#222}
.summary{display:flex;flex-wrap:wrap;gap:8px;margin:0 0 8px}
.card{border:1px solid #ddd;border-radius:4px;padding:5px 10px;flex:1 1 0;min-width:140px}
.card .label{font-size:11px;color:#666;text-transform:uppercase;letter-spacing:.03em}
.card .value{font-size:17px;font-weight:bold}
.card .detail{font-size:11px;color:#555}
.card.bad .value{color:#b2182b}
.legend{font-size:12px;color:#333;margin:4px 0 2px}
.legend span{margin-right:12px;white-space:nowrap}
.sw{display:inline-block;width:12px;height:10px;margin-right:4px;vertical-align:middle;border-radius:2px}
svg.chart{width:100%;height:auto;display:block}
svg text{font-family:'DejaVu Sans',Verdana,Arial,sans-serif}
table{border-collapse:collapse;font-size:13px}
td,th{border-bottom:1px solid #eee;padding:3px 8px;text-align:left;vertical-align:top}
td.n{text-align:right;color:#fff;font-weight:bold;border-radius:8px}
footer{margin-top:16px;font-size:11px;color:#777}
";

/// The page.
pub(crate) fn render(t: &Timeline) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>\n{CSS}</style>\n</head>\n<body>\n<h1>{}</h1>\n<p class=\"facts\">",
        esc(&t.title),
        esc(&t.title)
    );
    for (label, value) in &t.facts {
        let _ = write!(out, "<span>{}: <b>{}</b></span>", esc(label), esc(value));
    }
    out.push_str("</p>\n");
    summary::write_cards(&mut out, &t.summary, t.zone);
    let mut marks: Vec<&Mark> = t.marks.iter().collect();
    // Stable: marks at the same time keep the caller's order.
    marks.sort_by_key(|m| m.at);
    let chart = chart::Chart::new(t, &marks);
    chart.write_legend(&mut out);
    out.push_str(&chart.svg());
    write_marks(&mut out, &marks, t.zone);
    let _ = write!(
        out,
        "<footer>{}</footer>\n</body>\n</html>\n",
        esc(&t.footer)
    );
    out
}

/// The table under the chart: each mark's number (as on the chart), time and text.
fn write_marks(out: &mut String, marks: &[&Mark], zone: FixedOffset) {
    let _ = writeln!(out, "<h2>What happened ({})</h2>", zone_name(zone));
    if marks.is_empty() {
        out.push_str("<p>Nothing was recorded besides the client's traffic.</p>\n");
        return;
    }
    out.push_str("<table>\n<tr><th>#</th><th>Time</th><th>Kind</th><th>What</th></tr>\n");
    for (n, m) in marks.iter().enumerate() {
        let _ = writeln!(
            out,
            "<tr><td class=\"n\" style=\"background:{}\">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            m.kind.color(),
            n + 1,
            clock(m.at, zone),
            m.kind.name(),
            esc(&m.text)
        );
    }
    out.push_str("</table>\n");
}

#[cfg(test)]
mod tests;
