//! The level being played, on disk: `<FIREDRILL_HOME>/play/current.json`, written atomically
//! and *before* each step that changes the lab (chaosd's habit), so `give-up` and `reset` can
//! undo whatever a `play` that died halfway had done.

use super::LevelError;
use super::level::Difficulty;
use super::score::{Outcome, Score, ScoreEntry};
use crate::jsonl::BadLine;
use crate::paths::Home;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Play {
    pub level: String,
    pub title: String,
    pub difficulty: Difficulty,
    /// The level file, absolute, read again by later commands.
    pub file: PathBuf,
    pub lab: crate::paths::LabName,
    pub lab_file: PathBuf,
    /// This play's directory: the client's report and log.
    pub dir: PathBuf,
    pub prepared_at: DateTime<Utc>,
    /// When the lab's baseline snapshot was taken (see `lab::snapshot`): `reset` returns to it.
    #[serde(default)]
    pub baseline_at: Option<DateTime<Utc>>,
    /// When the first fault began to be injected.
    #[serde(default)]
    pub faults_at: Option<DateTime<Utc>>,
    /// The incident clock: set once every fault is in.
    #[serde(default)]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub client: Option<ClientProc>,
    /// The page Alertmanager delivered for a level with `page: {alert: NAME}`; `None` until
    /// then, or when it did not come in time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paged: Option<super::page::Paged>,
    /// How many setup steps have run (they run in order).
    #[serde(default)]
    pub setup_done: usize,
    /// The faults injected (or being injected), in the level's order.
    #[serde(default)]
    pub faults: Vec<AppliedFault>,
    /// Outputs recorded before the faults, by check key (`guards.rows`).
    #[serde(default)]
    pub baselines: BTreeMap<String, String>,
    /// When each hint was taken.
    #[serde(default)]
    pub hints: Vec<DateTime<Utc>>,
    #[serde(default)]
    pub checks: Vec<CheckRecord>,
    #[serde(default)]
    pub used_solution: bool,
    #[serde(default)]
    pub end: Option<End>,
    /// Faults a game master injected into this play (`firedrill gm inject`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gm: Vec<GmFault>,
    /// `check`'s persistence reboots: what the client saw then is not counted against the
    /// learner.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub firedrill_reboots: Vec<super::client_report::Span>,
}

/// A fault a game master injected: hidden from the player until the play ends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct GmFault {
    pub at: DateTime<Utc>,
    pub kind: String,
    pub node: String,
    /// The fault's id in the lab's fault records.
    pub id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ClientProc {
    pub pid: u32,
    pub report: PathBuf,
    pub log: PathBuf,
    /// Every write the client saw acknowledged (plays from before ledgers have none).
    #[serde(default)]
    pub ledger: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct AppliedFault {
    /// Index into the level's `faults`.
    pub index: usize,
    /// The id `firedrill fault apply` printed, for faults of a kind.
    #[serde(default)]
    pub id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct CheckRecord {
    pub at: DateTime<Utc>,
    pub met: usize,
    pub objectives: usize,
    pub guards_ok: bool,
    /// Every guard that did not hold could not be judged yet (the mock client had not reported,
    /// a node did not answer): the reports say so rather than "a guard was broken".
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub guards_unknown: bool,
    /// What the ledger checks said ("0 of 412 acknowledged writes lost (at most 0)").
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ledger: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct End {
    pub at: DateTime<Utc>,
    pub outcome: Outcome,
    pub score: Score,
}

impl Play {
    pub(crate) fn path(home: &Home) -> PathBuf {
        home.play_dir().join("current.json")
    }

    pub(crate) fn load(home: &Home) -> Result<Option<Play>, LevelError> {
        let path = Play::path(home);
        let text = match std::fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(LevelError::Read { path, source }),
        };
        serde_json::from_slice(&text)
            .map(Some)
            .map_err(|source| LevelError::Parse { path, source })
    }

    /// The current play, or `NoPlay`.
    pub(crate) fn current(home: &Home) -> Result<Play, LevelError> {
        Play::load(home)?.ok_or(LevelError::NoPlay)
    }

    pub(crate) fn save(&self, home: &Home) -> Result<(), LevelError> {
        let path = Play::path(home);
        let json = serde_json::to_vec_pretty(self).expect("play state serialises");
        crate::fsutil::write_atomic(&path, &json, 0o644)
            .map_err(|source| LevelError::Write { path, source })
    }

    /// `Ended` if the play is over.
    pub(crate) fn ensure_running(&self) -> Result<(), LevelError> {
        match &self.end {
            Some(end) => Err(LevelError::Ended {
                level: self.level.clone(),
                outcome: end.outcome.name().to_string(),
            }),
            None => Ok(()),
        }
    }

    /// The score if the play ended at `at` with `outcome`: the client's requests from the first
    /// fault to `at`, the hints taken, the time since the incident clock started.
    pub(crate) fn score(
        &self,
        level: &super::Level,
        report: &super::client_report::ClientReport,
        at: DateTime<Utc>,
        outcome: Outcome,
    ) -> Score {
        let start = self.started_at.unwrap_or(self.prepared_at);
        let hint_costs = level
            .hints
            .iter()
            .take(self.hints.len())
            .map(|h| h.cost)
            .sum();
        super::score::compute(&super::score::ScoreInput {
            difficulty: level.difficulty,
            minutes: level.minutes,
            slo: level.slo,
            hint_costs,
            elapsed_s: u64::try_from((at - start).num_seconds()).unwrap_or(0),
            totals: report.totals(self.faults_at.unwrap_or(start), at),
            outcome,
            used_solution: self.used_solution,
        })
    }

    pub(crate) fn score_entry(&self, end: &End) -> ScoreEntry {
        ScoreEntry {
            at: end.at,
            level: self.level.clone(),
            title: self.title.clone(),
            difficulty: self.difficulty,
            outcome: end.outcome,
            elapsed_s: end.score.elapsed_s,
            hints: self.hints.len(),
            budget_burned_pct: end.score.budget_burned_pct,
            score: end.score.total,
        }
    }
}

/// Appends one line to `scores.jsonl` (see `jsonl::append`: one write, on a line of its own).
pub(crate) fn append_score(home: &Home, entry: &ScoreEntry) -> Result<(), LevelError> {
    let path = home.scores_file();
    let line = serde_json::to_string(entry).expect("score serialises");
    let write = || -> std::io::Result<()> {
        std::fs::create_dir_all(home.root())?;
        crate::jsonl::append_to(&path, &line)
    };
    write().map_err(|source| LevelError::Write {
        path: path.clone(),
        source,
    })
}

/// Every score in `scores.jsonl`, and the lines that are not one (a crash tore them).
pub(crate) fn read_scores(home: &Home) -> Result<(Vec<ScoreEntry>, Vec<BadLine>), LevelError> {
    let path = home.scores_file();
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(crate::jsonl::parse(&path, &text, 1)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok((Vec::new(), Vec::new())),
        Err(source) => Err(LevelError::Read { path, source }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::levels::testutil::t;
    use std::io::Write;

    #[test]
    fn saves_loads_and_appends_scores() {
        let tmp = tempfile::tempdir().unwrap();
        let home = Home::at(tmp.path());
        assert!(matches!(Play::current(&home), Err(LevelError::NoPlay)));
        let play = Play {
            level: "t".into(),
            title: "Saving fails".into(),
            difficulty: Difficulty::Easy,
            file: "/levels/t.yaml".into(),
            lab: "three-tier".into(),
            lab_file: "/labs/three-tier.yaml".into(),
            dir: tmp.path().join("play/t-1"),
            prepared_at: t(0),
            baseline_at: None,
            faults_at: Some(t(30)),
            started_at: Some(t(32)),
            client: Some(ClientProc {
                pid: 42,
                report: "r.jsonl".into(),
                log: "c.log".into(),
                ledger: None,
            }),
            setup_done: 0,
            faults: vec![AppliedFault {
                index: 0,
                id: Some("f1".into()),
            }],
            baselines: BTreeMap::from([("guards.rows".to_string(), "3".to_string())]),
            hints: vec![t(60)],
            checks: vec![],
            used_solution: false,
            end: None,
            gm: Vec::new(),
            firedrill_reboots: Vec::new(),
            paged: None,
        };
        play.save(&home).unwrap();
        assert_eq!(Play::current(&home).unwrap(), play);
        assert!(play.ensure_running().is_ok());
        let score = super::super::score::compute(&super::super::score::ScoreInput {
            difficulty: Difficulty::Easy,
            minutes: 15,
            slo: 99.9,
            hint_costs: 10,
            elapsed_s: 100,
            totals: Default::default(),
            outcome: Outcome::Solved,
            used_solution: false,
        });
        let end = End {
            at: t(132),
            outcome: Outcome::Solved,
            score,
        };
        let entry = play.score_entry(&end);
        append_score(&home, &entry).unwrap();
        // A play that crashed mid-write: the next score still lands on a line of its own.
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(home.scores_file())
            .unwrap();
        f.write_all(b"{\"at\":\"2024").unwrap();
        append_score(&home, &entry).unwrap();
        let (scores, bad) = read_scores(&home).unwrap();
        assert_eq!(scores, vec![entry.clone(), entry]);
        assert_eq!(
            bad.iter().map(ToString::to_string).collect::<Vec<_>>(),
            [format!(
                "{}:2: not a whole record (EOF while parsing a string at line 1 column 11): a crash cut it off mid-write, or it was edited; the line is left out",
                home.scores_file().display()
            )]
        );
        let ended = Play {
            end: Some(end),
            ..play
        };
        assert_eq!(
            ended.ensure_running().unwrap_err().to_string(),
            "level `t` has ended (solved)\n  hint: `firedrill report` writes its incident report; `firedrill play` starts another level"
        );
    }
}
