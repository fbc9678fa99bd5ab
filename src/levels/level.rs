//! A level file as parsed. Values that validation points at keep their position (`At`).

use crate::spec::{At, Pos};
use std::fmt;
use std::path::PathBuf;

#[derive(
    Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Difficulty {
    Easy,
    Medium,
    Hard,
}

impl Difficulty {
    pub(crate) const ALL: [Difficulty; 3] =
        [Difficulty::Easy, Difficulty::Medium, Difficulty::Hard];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Difficulty::Easy => "easy",
            Difficulty::Medium => "medium",
            Difficulty::Hard => "hard",
        }
    }

    pub(crate) fn from_name(s: &str) -> Option<Difficulty> {
        Difficulty::ALL.into_iter().find(|d| d.name() == s)
    }
}

impl fmt::Display for Difficulty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An incident breaks the lab on purpose; an exercise asks for a change while customers keep
/// using the service (nothing is broken; the guards are the customers').
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Kind {
    #[default]
    Incident,
    Exercise,
}

impl Kind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Incident => "incident",
            Kind::Exercise => "exercise",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Level {
    pub source: PathBuf,
    pub kind: Kind,
    pub id: At<String>,
    pub title: String,
    pub difficulty: Difficulty,
    pub minutes: u32,
    /// As written (relative to the level file).
    pub lab: At<String>,
    /// `lab` resolved against the level file's directory.
    pub lab_path: PathBuf,
    /// The availability objective in percent, for the error budget.
    pub slo: f64,
    pub client: ClientSettings,
    pub briefing: At<String>,
    /// The briefing is delivered when Alertmanager pages this alert (`page: {alert: NAME}`),
    /// after the faults.
    pub page: Option<AlertPage>,
    /// Preparation before the baselines and the faults (seed a table); undone at the end.
    pub setup: Vec<Step>,
    pub faults: Vec<FaultSpec>,
    pub objectives: Vec<Objective>,
    pub guards: Vec<Guard>,
    /// The hints `firedrill hint` gives, in order, each for its cost.
    pub hints: Vec<Hint>,
    /// The hints that depend on the live state: `check` shows one, free, while its condition
    /// holds ("you fixed the symptom, not the cause").
    pub nudges: Vec<Nudge>,
    pub debrief: String,
    pub solution: Vec<SolutionStep>,
}

/// `page: {alert: NAME}`: an alert of the monitor role's rules (templates/monitor/alerts.yml).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct AlertPage {
    pub pos: Pos,
    pub alert: At<String>,
}

/// How `play` runs the mock client.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ClientSettings {
    pub rate: f64,
    pub write_ratio: f64,
    /// Path and query to GET on the service (default: the client's, `/todos`).
    pub path: Option<String>,
    /// A streams file (`firedrill client --streams`), resolved against the level file: it
    /// replaces rate, path and write ratio.
    pub streams: Option<At<PathBuf>>,
    /// A step load, `RATE:SECONDS,...` (`firedrill client --ramp`).
    pub ramp: Option<At<String>>,
    /// `https: true`: the client loads haproxy's HTTPS front end (:443), trusting the lab's CA
    /// as the level's users do; a certificate it refuses is a failure of class tls.
    pub https: Option<At<bool>>,
}

impl Default for ClientSettings {
    fn default() -> Self {
        ClientSettings {
            rate: 10.0,
            write_ratio: 0.1,
            path: None,
            streams: None,
            ramp: None,
            https: None,
        }
    }
}

impl ClientSettings {
    pub(crate) fn https(&self) -> bool {
        self.https.as_ref().is_some_and(|h| h.value)
    }
}

/// Commands run as root on a node. `revert` undoes `run` (setup steps and scripted faults).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Step {
    pub node: At<String>,
    pub run: String,
    pub revert: Option<String>,
}

/// A step of a reference solution: commands on a node, or `up` with another lab file.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum SolutionStep {
    Node(Step),
    /// Converge the lab to this lab file (as written, and resolved against the level file), as
    /// `firedrill up FILE --restart NODE...` does.
    Up {
        file: At<String>,
        path: PathBuf,
        restart: Vec<At<String>>,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum FaultSpec {
    /// A kind of `firedrill fault list`.
    Kind {
        kind: At<String>,
        node: At<String>,
        params: Vec<(At<String>, String)>,
    },
    /// A fault firedrill has no kind for (yet): a script and the script that undoes it.
    Script(Step),
}

impl FaultSpec {
    pub(crate) fn node(&self) -> &At<String> {
        match self {
            FaultSpec::Kind { node, .. } => node,
            FaultSpec::Script(s) => &s.node,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Objective {
    pub pos: Pos,
    pub id: At<String>,
    pub description: At<String>,
    pub check: Check,
    /// Reboot the check's node once everything else is met, and run the check again.
    pub persistence: Option<At<bool>>,
    /// A check on the cause, not an outcome a user would state: `check` and the briefing show
    /// "a hidden check" until it is met, so the list of objectives does not give the cause away.
    pub hidden: bool,
}

impl Objective {
    pub(crate) fn persistent(&self) -> bool {
        self.persistence.as_ref().is_some_and(|p| p.value)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Guard {
    pub pos: Pos,
    pub id: At<String>,
    pub description: At<String>,
    pub check: Check,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Check {
    Mitigate(Mitigate),
    State(StateCheck),
    Client(ClientBudget),
    Ledger(LedgerCheck),
}

/// What the mock client saw over the whole play (or one of its streams), within a budget.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ClientBudget {
    pub pos: Pos,
    pub stream: Option<At<String>>,
    pub max_failed: Option<u64>,
    pub max_failed_percent: Option<f64>,
    /// Seconds with any failed or dropped request: an announced outage budget.
    pub max_bad_seconds: Option<u64>,
}

/// The play's write ledger against the lab's database(s).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct LedgerCheck {
    pub pos: Pos,
    pub max_lost: u64,
    /// Only this database node must hold the writes (the new one, after a move).
    pub node: Option<At<String>>,
}

/// The mock client shows at least `success_percent` over the last `seconds`, and optionally no
/// second in that window with a p99 latency above `p99_ms`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Mitigate {
    pub pos: Pos,
    pub success_percent: f64,
    pub seconds: u32,
    pub p99_ms: Option<f64>,
}

/// A command run as root on a node, and what its result must be.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct StateCheck {
    pub pos: Pos,
    pub node: At<String>,
    pub command: String,
    pub expect: Vec<Expect>,
}

impl StateCheck {
    /// Whether `play` must record the command's output before the faults.
    pub(crate) fn needs_baseline(&self) -> bool {
        self.expect.iter().any(|e| {
            matches!(
                e,
                Expect::AtLeastBaseline | Expect::SameAsBaseline | Expect::DiffersFromBaseline
            )
        })
    }
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Expect {
    Exit(u32),
    StdoutContains(String),
    StdoutLacks(String),
    /// The whole stdout, trimmed, equals this.
    StdoutIs(String),
    /// stdout is a number at least the one recorded at play time (a row count).
    AtLeastBaseline,
    /// stdout is what it was at play time (a hash).
    SameAsBaseline,
    /// stdout is not what it was at play time (a boot id: the node rebooted).
    DiffersFromBaseline,
    /// stdout is Unix seconds within this many seconds of firedrill's host clock.
    ClockWithin(u64),
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Hint {
    pub text: String,
    pub cost: u32,
}

/// A hint with `when:`: shown by `check` while these objectives or guards are met and those are
/// not (by id).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Nudge {
    pub pos: Pos,
    pub text: String,
    pub met: Vec<At<String>>,
    pub not_met: Vec<At<String>>,
}
