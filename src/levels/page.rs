//! A level's page from the monitoring (`page: {alert: NAME}`). Alertmanager on the monitor node
//! delivers every notification to firedrill's webhook receiver on that node, which appends it
//! to `roles::NOTIFICATIONS` (one JSON line each, see templates/monitor/firedrill-pages.py).
//! `play` counts the lines before the faults, then reads the new ones over SSH until one says
//! NAME fires: the page is what Alertmanager really delivered, after its routing and grouping.
//!
//! The receiver runs on the monitor node rather than on this host: `play` may run outside the
//! network namespace of the lab's bridge (libvirtd in another namespace, reached through
//! `forward`), where the guests could not reach a listener, and a listener on the host would
//! need the host's firewall to let the guests in. SSH to the nodes works wherever `play` does.

use super::LevelError;
use crate::lab::Nodes;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How long `play` waits for the page after the faults. The rules' `for:` are one or two
/// minutes for the paging alerts, plus a scrape and an evaluation (15 s each) and
/// Alertmanager's group wait (10 s); under software emulation everything is slower.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(600);
/// How often `play` reads the receiver's file.
pub(crate) const POLL: Duration = Duration::from_secs(3);

/// The page as Alertmanager delivered it, and when `play` saw it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Paged {
    pub at: DateTime<Utc>,
    pub alert: String,
    pub summary: String,
    #[serde(default)]
    pub description: String,
}

/// Prints how many notifications the receiver has kept so far (0 before the first).
pub(crate) fn count_script() -> String {
    format!(
        "if [ -f {f} ]; then wc -l < {f}; else echo 0; fi",
        f = crate::roles::NOTIFICATIONS
    )
}

/// Prints the notifications after the first `seen`.
pub(crate) fn since_script(seen: u64) -> String {
    format!(
        "if [ -f {f} ]; then tail -n +{} {f}; fi",
        seen + 1,
        f = crate::roles::NOTIFICATIONS
    )
}

pub(crate) fn parse_count(stdout: &str) -> Option<u64> {
    stdout.trim().parse().ok()
}

/// The first firing `alert` in the receiver's lines: its summary and description. Lines that
/// are not a notification (a torn last line) are skipped: the next read sees them whole.
pub(crate) fn find(lines: &str, alert: &str) -> Option<(String, String)> {
    lines.lines().find_map(|line| {
        let record: serde_json::Value = serde_json::from_str(line).ok()?;
        let alerts = record["notification"]["alerts"].as_array()?;
        let a = alerts
            .iter()
            .find(|a| a["status"] == "firing" && a["labels"]["alertname"] == alert)?;
        let text = |key: &str| {
            a["annotations"][key]
                .as_str()
                .unwrap_or_default()
                .to_string()
        };
        let summary = match text("summary") {
            s if s.is_empty() => format!("{alert} is firing"),
            s => s,
        };
        Some((summary, text("description")))
    })
}

/// Reads the receiver's notifications after the first `seen` on `monitor` every `poll` until
/// `alert` fires (`Some`) or `timeout` has passed (`None`).
pub(crate) async fn wait<N: Nodes>(
    nodes: &N,
    monitor: &str,
    alert: &str,
    seen: u64,
    (timeout, poll): (Duration, Duration),
) -> Result<Option<Paged>, LevelError> {
    let started = tokio::time::Instant::now();
    let script = since_script(seen);
    loop {
        let out = nodes.run(monitor, &script).await?;
        if let Some((summary, description)) = find(&out.stdout_str(), alert) {
            return Ok(Some(Paged {
                at: Utc::now(),
                alert: alert.to_string(),
                summary,
                description,
            }));
        }
        if started.elapsed() >= timeout {
            return Ok(None);
        }
        tokio::time::sleep(poll).await;
    }
}

/// What the learner sees of the page, before the briefing.
pub(crate) fn render(paged: &Paged, after: Duration) -> String {
    let mut out = format!(
        "\n** PAGE from Alertmanager, {} after the incident began: {} **\n  {}\n",
        super::duration(after.as_secs()),
        paged.alert,
        paged.summary
    );
    if !paged.description.is_empty() {
        out += &format!("  {}\n", paged.description);
    }
    out
}

/// Why there is no page: said on stderr, and the briefing follows as written.
pub(crate) fn missed(alert: &str, monitor: &str, timeout: Duration) -> String {
    format!(
        "warning: Alertmanager did not page {alert} within {} of the faults; the incident goes on \
         without the page\n  hint: is the alert firing? `firedrill open prometheus` (its Alerts \
         tab) and `firedrill open alertmanager`; the deliveries are in {} on {monitor}",
        super::duration(timeout.as_secs()),
        crate::roles::NOTIFICATIONS
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::FakeNodes;
    use crate::remote::fake::{FakeRemote, answer, contains};

    /// As the receiver kept it: an alert posted to Debian's Alertmanager 0.25 running
    /// templates/monitor/alertmanager.yml, on this host.
    const FIRING: &str = r#"{"received":1796078057.8411846,"notification":{"receiver":"firedrill","status":"firing","alerts":[{"status":"firing","labels":{"alertname":"NodeDiskFull","mountpoint":"/","node":"web","severity":"page"},"annotations":{"description":"Only 0% is left.","summary":"/ on web is full"},"startsAt":"2026-11-30T22:34:07Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"","fingerprint":"683401d0bf598f32"}],"groupLabels":{"alertname":"NodeDiskFull","node":"web"},"commonLabels":{"alertname":"NodeDiskFull","mountpoint":"/","node":"web","severity":"page"},"commonAnnotations":{"description":"Only 0% is left.","summary":"/ on web is full"},"externalURL":"http://vm:19093","version":"4","groupKey":"{}:{alertname=\"NodeDiskFull\", node=\"web\"}","truncatedAlerts":0}}"#;
    const RESOLVED: &str = r#"{"received":1764539100.0,"notification":{"status":"resolved","alerts":[{"status":"resolved","labels":{"alertname":"NodeDiskFull"},"annotations":{"summary":"/ on web is full"}}]}}"#;
    const OTHER: &str = r#"{"received":1764539000.0,"notification":{"status":"firing","alerts":[{"status":"firing","labels":{"alertname":"NodeDown"},"annotations":{"summary":"Node db does not answer"}}]}}"#;

    #[test]
    fn the_first_firing_notification_of_the_alert_is_the_page() {
        let lines = format!("{OTHER}\n{RESOLVED}\n{{\"torn\n{FIRING}\n");
        assert_eq!(
            find(&lines, "NodeDiskFull"),
            Some(("/ on web is full".into(), "Only 0% is left.".into()))
        );
        // A resolved notification is no page, nor is another alert.
        assert_eq!(
            find(&format!("{RESOLVED}\n{OTHER}\n"), "NodeDiskFull"),
            None
        );
        assert_eq!(find("", "NodeDiskFull"), None);
    }

    #[test]
    fn the_scripts_read_only_what_came_after_the_faults() {
        assert_eq!(
            count_script(),
            "if [ -f /var/lib/firedrill-pages/notifications.jsonl ]; then wc -l < /var/lib/firedrill-pages/notifications.jsonl; else echo 0; fi"
        );
        assert_eq!(
            since_script(4),
            "if [ -f /var/lib/firedrill-pages/notifications.jsonl ]; then tail -n +5 /var/lib/firedrill-pages/notifications.jsonl; fi"
        );
        assert_eq!(parse_count("12\n"), Some(12));
        assert_eq!(parse_count("wc: error"), None);
        for script in [count_script(), since_script(0)] {
            let out = std::process::Command::new("dash")
                .args(["-n", "-c", &script])
                .output()
                .expect("dash runs");
            assert!(out.status.success(), "{script}");
        }
    }

    #[tokio::test]
    async fn play_waits_for_the_page_and_gives_up_after_the_timeout() {
        let fake = FakeRemote::new("mon").answers(
            contains("tail -n +3"),
            vec![
                answer(0, ""),
                answer(0, OTHER),
                answer(0, &format!("{OTHER}\n{FIRING}\n")),
            ],
        );
        let nodes = FakeNodes::new(vec![fake]);
        let paged = wait(&nodes, "mon", "NodeDiskFull", 2, (TIMEOUT, Duration::ZERO))
            .await
            .expect("no error")
            .expect("paged");
        assert_eq!(paged.summary, "/ on web is full");
        assert_eq!(
            render(&paged, Duration::from_secs(95)),
            "\n** PAGE from Alertmanager, 1m35s after the incident began: NodeDiskFull **\n  \
             / on web is full\n  Only 0% is left.\n"
        );

        let quiet = FakeRemote::new("mon").answers(contains("tail"), vec![answer(0, OTHER)]);
        let nodes = FakeNodes::new(vec![quiet]);
        let none = wait(
            &nodes,
            "mon",
            "NodeDiskFull",
            0,
            (Duration::ZERO, Duration::ZERO),
        )
        .await
        .expect("no error");
        assert_eq!(none, None);
    }
}
