//! `firedrill report --html`: the play of a level or exercise as an HTML timeline. The marks are
//! the rows of the Markdown report's timeline (so both name the same things, and an incident
//! still being played names no cause); the figures are those of the score. Pure.

use super::incident::Input;
use super::level::Kind;
use crate::report_html::{Detection, Summary, Timeline};
use chrono::{FixedOffset, Utc};

pub(crate) fn render(i: &Input) -> String {
    let (level, play, report) = (i.level, i.play, i.report);
    let end = play.end.as_ref().map_or(i.now, |e| e.at);
    let clock = play.started_at.unwrap_or(play.prepared_at);
    let impact_from = play.faults_at.unwrap_or(clock);
    let (title, what, marks, from_what) = match level.kind {
        Kind::Incident => (
            "Incident",
            "Level",
            super::incident::timeline(i, end),
            "the first fault",
        ),
        Kind::Exercise => (
            "Change",
            "Exercise",
            super::change_report::happenings(i, end),
            "the start of the change",
        ),
    };
    let status = match &play.end {
        Some(e) => format!(
            "{} after {}",
            e.outcome.name(),
            super::duration(u64::try_from((e.at - clock).num_seconds()).unwrap_or(0))
        ),
        None => "in progress".to_string(),
    };
    // An incident's id names its cause (`play --random` keeps it secret): shown once it ends.
    let about = format!("{}, about {} minutes", level.difficulty, level.minutes);
    let about = match (level.kind, &play.end) {
        (Kind::Incident, None) => about,
        _ => format!("{} ({about})", level.id.value),
    };
    // From the client's first second: the lab may have taken minutes to prepare before it.
    let first = report.seconds.iter().map(|s| s.ts).min();
    let from = first.map_or(impact_from, |f| f.min(impact_from));
    let utc = FixedOffset::east_opt(0).expect("UTC is a valid offset");
    let page = Timeline {
        title: format!("{title}: {}", level.title),
        facts: vec![
            (what.to_string(), about),
            ("Lab".to_string(), play.lab.to_string()),
            ("Date".to_string(), clock.format("%Y-%m-%d").to_string()),
            ("Status".to_string(), status),
        ],
        report,
        from,
        to: end,
        summary: Summary {
            detected: level.page.as_ref().map(|p| Detection {
                alert: p.alert.value.clone(),
                at: play.paged.as_ref().map(|paged| paged.at),
            }),
            ..Summary::of(report, impact_from, end, from_what, level.slo)
        },
        marks,
        zone: utc,
        footer: format!(
            "Written {} UTC by firedrill report --html.",
            i.now.with_timezone(&Utc).format("%Y-%m-%d %H:%M:%S")
        ),
    };
    crate::report_html::render(&page)
}

#[cfg(test)]
#[path = "timeline_tests.rs"]
mod tests;
