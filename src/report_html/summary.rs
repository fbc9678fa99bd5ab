//! The figures above the chart, from the client's seconds in a window: requests and failures,
//! the longest outage, the error budget burned and the time to mitigate. The same functions the
//! Markdown reports and the score use, so the page and the report agree.

use super::{clock, esc};
use crate::levels::client_report::{ClientReport, Totals, percent};
use crate::levels::{budget_burned_pct, duration};
use chrono::{DateTime, FixedOffset, Utc};
use std::fmt::Write;

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Summary {
    /// The figures count the seconds from here (the first fault, the start of the run) ...
    pub from: DateTime<Utc>,
    /// ... to here.
    pub to: DateTime<Utc>,
    /// What `from` is, for the reader: `the first fault`.
    pub from_what: String,
    pub totals: Totals,
    /// The longest run of seconds in which a request failed: its start and end.
    pub longest_outage: Option<(DateTime<Utc>, DateTime<Utc>)>,
    pub first_error: Option<DateTime<Utc>>,
    /// When errors stopped for good (`ClientReport::mitigated_at`).
    pub mitigated: Option<DateTime<Utc>>,
    /// Percent of a 30-day error budget at `slo`.
    pub budget_burned_pct: f64,
    pub slo: f64,
    /// For a level paged by Alertmanager: when the page came and what it said (`None`: no
    /// page was expected, and no card is drawn).
    pub detected: Option<Detection>,
}

/// The time to detect of a paged level.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Detection {
    pub alert: String,
    /// `None`: the page did not come in time.
    pub at: Option<DateTime<Utc>>,
}

impl Summary {
    pub(crate) fn of(
        report: &ClientReport,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        from_what: &str,
        slo: f64,
    ) -> Summary {
        let totals = report.totals(from, to);
        Summary {
            from,
            to,
            from_what: from_what.to_string(),
            totals,
            longest_outage: report.longest_outage(from, to),
            first_error: report.first_error(from, to),
            mitigated: report.mitigated_at(from, to),
            budget_burned_pct: budget_burned_pct(totals, slo),
            slo,
            detected: None,
        }
    }
}

fn seconds(from: DateTime<Utc>, to: DateTime<Utc>) -> String {
    duration(u64::try_from((to - from).num_seconds()).unwrap_or(0))
}

fn card(out: &mut String, label: &str, value: &str, detail: &str, bad: bool) {
    let _ = writeln!(
        out,
        "<div class=\"card{}\"><div class=\"label\">{}</div><div class=\"value\">{}</div><div class=\"detail\">{}</div></div>",
        if bad { " bad" } else { "" },
        esc(label),
        esc(value),
        esc(detail)
    );
}

pub(super) fn write_cards(out: &mut String, s: &Summary, zone: FixedOffset) {
    out.push_str("<div class=\"summary\">\n");
    let t = s.totals;
    card(
        out,
        "Requests",
        &t.results.to_string(),
        &format!(
            "from {} ({}) to {}",
            s.from_what,
            clock(s.from, zone),
            clock(s.to, zone)
        ),
        false,
    );
    let share = if t.results == 0 {
        String::new()
    } else {
        format!(" ({})", percent(t.bad as f64 * 100.0 / t.results as f64))
    };
    card(
        out,
        "Failed",
        &format!("{}{share}", t.bad),
        "failed or dropped",
        t.bad > 0,
    );
    match s.longest_outage {
        Some((a, b)) => card(
            out,
            "Longest outage",
            &seconds(a, b),
            &format!(
                "{} to {}: every second had a failure",
                clock(a, zone),
                clock(b, zone)
            ),
            true,
        ),
        None => card(
            out,
            "Longest outage",
            "none",
            "no second had a failure",
            false,
        ),
    }
    card(
        out,
        "Error budget burned",
        &percent(s.budget_burned_pct),
        &format!("of a 30-day budget at an SLO of {}", percent(s.slo)),
        s.budget_burned_pct > 0.0,
    );
    match &s.detected {
        Some(Detection {
            alert,
            at: Some(at),
        }) => card(
            out,
            "Time to detect",
            &seconds(s.from, *at),
            &format!("Alertmanager paged {alert} at {}", clock(*at, zone)),
            false,
        ),
        Some(Detection { alert, at: None }) => card(
            out,
            "Time to detect",
            "not detected",
            &format!("Alertmanager did not page {alert} in time"),
            true,
        ),
        None => {}
    }
    match (s.first_error, s.mitigated) {
        (None, _) => card(out, "Time to mitigate", "-", "no request failed", false),
        (Some(first), Some(m)) => card(
            out,
            "Time to mitigate",
            &seconds(first, m),
            &format!(
                "first failure {}, errors stop {}",
                clock(first, zone),
                clock(m, zone)
            ),
            false,
        ),
        (Some(first), None) => card(
            out,
            "Time to mitigate",
            "not yet",
            &format!(
                "failures from {} to the end of the record",
                clock(first, zone)
            ),
            true,
        ),
    }
    out.push_str("</div>\n");
}
