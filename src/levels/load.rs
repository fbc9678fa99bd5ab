//! Parse a level file into `Level`: keys, value types and required fields, every problem at its
//! own line and column. The YAML tree, the key checks and the scalar readers are `spec`'s, so
//! a level file is reported exactly as a lab file is. Cross-checks (the lab's nodes, fault kinds,
//! the briefing) are `validate`'s.

use super::level::{
    AlertPage, ClientSettings, Difficulty, FaultSpec, Kind, Level, SolutionStep, Step,
};
use super::load_checks::{HintItem, guard, hint, objective};
use crate::spec::At;
use crate::spec::load::{Map, join, list, string, uint};
use crate::spec::problem::{Problem, Report};
use crate::spec::suggest::did_you_mean;
use crate::spec::yaml::{self, Value, Yaml};
use std::path::Path;

const LEVEL_KEYS: &[&str] = &[
    "kind",
    "id",
    "title",
    "difficulty",
    "minutes",
    "lab",
    "slo",
    "client",
    "briefing",
    "page",
    "setup",
    "faults",
    "objectives",
    "guards",
    "hints",
    "debrief",
    "solution",
];
const CLIENT_KEYS: &[&str] = &["rate", "write_ratio", "path", "streams", "ramp", "https"];
const SETUP_KEYS: &[&str] = &["node", "run", "revert"];
const SOLUTION_KEYS: &[&str] = &["node", "run", "up", "restart"];
const FAULT_KEYS: &[&str] = &["kind", "node", "params", "run", "revert"];

/// The level, if the file has enough structure to validate further, and the problems found.
pub(super) fn parse(file: &Path, text: &str) -> (Option<Level>, Vec<Problem>) {
    let mut r = Report::new(file);
    let level = yaml::parse(text, &mut r).and_then(|root| level(&root, file, &mut r));
    (level, r.problems)
}

fn level(root: &Yaml, file: &Path, r: &mut Report) -> Option<Level> {
    if root.value == Value::Null {
        r.error(
            Some(root.pos),
            "",
            "the level file is empty",
            "start from a level in labs/levels/: it has `id`, `lab`, `briefing`, `faults`, `objectives` and `solution`",
        );
        return None;
    }
    let m = Map::new(root, "", LEVEL_KEYS, r)?;
    let kind = m
        .get("kind")
        .map_or(Some(Kind::Incident), |y| kind_of(y, r));
    let id = m.require("id", r, "add `id: NAME`, the file's name without .yaml");
    let id = id.and_then(|y| string(y, "id", r));
    let title = m.require("title", r, "add `title: ...`, one line a pager would show");
    let title = title.and_then(|y| text(y, "title", r));
    let difficulty = m.require(
        "difficulty",
        r,
        "add `difficulty: easy` (easy, medium or hard)",
    );
    let difficulty = difficulty.and_then(|y| difficulty_of(y, r));
    let minutes = m.require(
        "minutes",
        r,
        "add `minutes: 20`, the time the level takes an engineer",
    );
    let minutes = minutes.and_then(|y| uint::<u32>(y, "minutes", r, MINUTES_HINT));
    let minutes = minutes.and_then(|m| within(m, "minutes", 1.0..=240.0, r, MINUTES_HINT));
    let lab = m.require(
        "lab",
        r,
        "add `lab: ../three-tier.yaml`, relative to this file",
    );
    let lab = lab.and_then(|y| string(y, "lab", r));
    let slo = m.get("slo").map(|y| {
        let slo = number(y, "slo", r, SLO_HINT)?;
        if slo.value <= 0.0 || slo.value >= 100.0 {
            r.error(
                Some(slo.pos),
                "slo",
                "the SLO must be above 0 and below 100",
                SLO_HINT,
            );
            return None;
        }
        Some(slo)
    });
    let dir = file.parent().unwrap_or(Path::new(""));
    let client = m
        .get("client")
        .map_or(Some(ClientSettings::default()), |y| client(y, dir, r));
    let briefing = m.require(
        "briefing",
        r,
        "add `briefing: |` with the symptoms a user or pager reports",
    );
    let briefing = briefing.and_then(|y| text(y, "briefing", r));
    let page = m.get("page").map(|y| page(y, r));
    let setup = m.get("setup").map_or(Some(Vec::new()), |y| {
        list(y, "setup", r, |y, p, r| step(y, p, r, SETUP_KEYS)).map(|l| l.value)
    });
    let faults = m.get("faults").map_or(Some(Vec::new()), |y| {
        list(y, "faults", r, fault).map(|l| l.value)
    });
    let objectives = m.require(
        "objectives",
        r,
        "add `objectives:`, each with a `check` a program can run",
    );
    let objectives = objectives.and_then(|y| list(y, "objectives", r, objective));
    let guards = m.get("guards").map_or(Some(Vec::new()), |y| {
        list(y, "guards", r, guard).map(|l| l.value)
    });
    let hints = m.get("hints").map_or(Some(Vec::new()), |y| {
        list(y, "hints", r, hint).map(|l| l.value)
    });
    let (hints, nudges) = match hints {
        Some(items) => {
            let (mut paid, mut nudges) = (Vec::new(), Vec::new());
            for item in items {
                match item {
                    HintItem::Paid(h) => paid.push(h),
                    HintItem::Nudge(n) => nudges.push(n),
                }
            }
            (Some(paid), Some(nudges))
        }
        None => (None, None),
    };
    let debrief = m.require(
        "debrief",
        r,
        "add `debrief: |` with the root cause and what to check",
    );
    let debrief = debrief.and_then(|y| text(y, "debrief", r));
    let solution = m.require(
        "solution",
        r,
        "add `solution:`, the commands that fix the level",
    );
    let solution =
        solution.and_then(|y| list(y, "solution", r, |y, p, r| solution_step(y, p, dir, r)));
    if let Some(empty) = solution.as_ref().filter(|s| s.value.is_empty()) {
        r.error(
            Some(empty.pos),
            "solution",
            "`solution` is empty: Level CI plays the level against it and `give-up --solution` applies it",
            "list the commands that fix the level, e.g. `- {node: app1, run: systemctl start todo}`",
        );
    }
    let lab = lab?;
    let lab_path = dir.join(&lab.value);
    Some(Level {
        source: file.to_path_buf(),
        kind: kind?,
        id: id?,
        title: title?.value,
        difficulty: difficulty?,
        minutes: minutes?.value,
        lab,
        lab_path,
        slo: slo.map_or(Some(99.9), |s| s.map(|s| s.value))?,
        client: client?,
        briefing: briefing?,
        page: page.map_or(Some(None), |p| p.map(Some))?,
        setup: setup?,
        faults: faults?,
        objectives: objectives?.value,
        guards: guards?,
        hints: hints?,
        nudges: nudges?,
        debrief: debrief?.value,
        solution: solution?.value,
    })
}

const MINUTES_HINT: &str = "the minutes an engineer needs, e.g. `minutes: 20`";
const SLO_HINT: &str = "the availability objective in percent, e.g. `slo: 99.9`";

fn difficulty_of(y: &Yaml, r: &mut Report) -> Option<Difficulty> {
    let s = string(y, "difficulty", r)?;
    let d = Difficulty::from_name(&s.value);
    if d.is_none() {
        let names = Difficulty::ALL.map(Difficulty::name);
        let hint = did_you_mean(&s.value, names).map_or_else(
            || "use easy, medium or hard".to_string(),
            |d| format!("{d} Use easy, medium or hard"),
        );
        r.error(
            Some(s.pos),
            "difficulty",
            format!("unknown difficulty `{}`", s.value),
            hint,
        );
    }
    d
}

fn kind_of(y: &Yaml, r: &mut Report) -> Option<Kind> {
    let s = string(y, "kind", r)?;
    let kinds = [Kind::Incident, Kind::Exercise];
    let k = kinds.into_iter().find(|k| k.name() == s.value);
    if k.is_none() {
        let hint = did_you_mean(&s.value, kinds.map(Kind::name)).map_or_else(
            || "use incident (something is broken) or exercise (a change to make)".to_string(),
            |d| format!("{d} Use incident or exercise"),
        );
        r.error(
            Some(s.pos),
            "kind",
            format!("unknown kind `{}`", s.value),
            hint,
        );
    }
    k
}

/// A solution step: commands on a node, or `up` with another lab file (and `restart`).
fn solution_step(y: &Yaml, path: &str, dir: &Path, r: &mut Report) -> Option<SolutionStep> {
    let m = Map::new(y, path, SOLUTION_KEYS, r)?;
    let Some(up) = m.get("up") else {
        if let Some(restart) = m.get("restart") {
            r.error(
                Some(restart.pos),
                &join(path, "restart"),
                "`restart` goes with `up`",
                "write `{up: FILE.yaml, restart: [NODE]}`, or remove `restart`",
            );
            return None;
        }
        return step(y, path, r, SOLUTION_KEYS).map(SolutionStep::Node);
    };
    for key in ["node", "run"] {
        if let Some(v) = m.get(key) {
            r.error(
                Some(v.pos),
                &join(path, key),
                format!("a step has either `up` or `node` and `run`, not `{key}` with `up`"),
                "split it into two steps",
            );
            return None;
        }
    }
    let file = string(up, &join(path, "up"), r)?;
    let restart = m.get("restart").map_or(Some(Vec::new()), |y| {
        list(y, &join(path, "restart"), r, string).map(|l| l.value)
    })?;
    Some(SolutionStep::Up {
        path: dir.join(&file.value),
        file,
        restart,
    })
}

fn client(y: &Yaml, dir: &Path, r: &mut Report) -> Option<ClientSettings> {
    let m = Map::new(y, "client", CLIENT_KEYS, r)?;
    let d = ClientSettings::default();
    let rate_hint = "requests per second, above 0 and at most 1000, e.g. `rate: 10`";
    let rate = m.get("rate").map(|y| {
        let rate = number(y, "client.rate", r, rate_hint)?;
        if rate.value <= 0.0 {
            r.error(
                Some(rate.pos),
                "client.rate",
                "the rate must be above 0",
                rate_hint,
            );
            return None;
        }
        within(rate, "client.rate", 0.0..=1000.0, r, rate_hint)
    });
    let ratio_hint = "a fraction from 0 to 1, e.g. `write_ratio: 0.1`";
    let ratio = m.get("write_ratio").map(|y| {
        number(y, "client.write_ratio", r, ratio_hint)
            .and_then(|v| within(v, "client.write_ratio", 0.0..=1.0, r, ratio_hint))
    });
    let path = m.get("path").map(|y| {
        let p = string(y, "client.path", r)?;
        if !p.value.starts_with('/') {
            r.error(
                Some(p.pos),
                "client.path",
                format!("`{}` is not a path", p.value),
                "start it with /, e.g. `path: /todos?since=today`",
            );
            return None;
        }
        Some(p)
    });
    let streams = m.get("streams").map(|y| {
        let s = string(y, "client.streams", r)?;
        if let Some(other) = ["rate", "path", "write_ratio"]
            .into_iter()
            .find(|k| m.get(k).is_some())
        {
            r.error(
                Some(s.pos),
                "client.streams",
                format!("`streams` replaces `{other}`"),
                "give each stream its rate, path and method in the streams file",
            );
            return None;
        }
        Some(At {
            value: dir.join(&s.value),
            pos: s.pos,
        })
    });
    let ramp = m.get("ramp").map(|y| {
        let s = string(y, "client.ramp", r)?;
        if m.get("rate").is_some() {
            r.error(
                Some(s.pos),
                "client.ramp",
                "`ramp` replaces `rate`",
                "remove `rate`; the ramp's stages give the rates, e.g. `ramp: \"5:60,10:60\"`",
            );
            return None;
        }
        if let Err(why) = crate::client::load::Load::parse_ramp(&s.value) {
            r.error(
                Some(s.pos),
                "client.ramp",
                format!("`{}` is not a ramp: {why}", s.value),
                "give stages as RATE:SECONDS, e.g. `ramp: \"5:60,10:60,20:60\"`",
            );
            return None;
        }
        Some(s)
    });
    let https = m.get("https").map(|y| boolean(y, "client.https", r));
    Some(ClientSettings {
        https: https.map_or(Some(None), |v| v.map(Some))?,
        rate: rate.map_or(Some(d.rate), |v| v.map(|v| v.value))?,
        write_ratio: ratio.map_or(Some(d.write_ratio), |v| v.map(|v| v.value))?,
        path: path.map_or(Some(None), |p| p.map(|p| Some(p.value)))?,
        streams: streams.map_or(Some(None), |v| v.map(Some))?,
        ramp: ramp.map_or(Some(None), |v| v.map(Some))?,
    })
}

/// `page: {alert: NAME}`; that NAME is an alert rule is `validate`'s to check.
fn page(y: &Yaml, r: &mut Report) -> Option<AlertPage> {
    let m = Map::new(y, "page", &["alert"], r)?;
    let alert = m.require(
        "alert",
        r,
        "add `alert: NAME`, an alert of templates/monitor/alerts.yml (e.g. NodeDiskFull)",
    );
    let alert = alert.and_then(|y| string(y, "page.alert", r))?;
    Some(AlertPage { pos: y.pos, alert })
}

/// A setup or solution step: commands run as root on a node.
fn step(y: &Yaml, path: &str, r: &mut Report, keys: &[&str]) -> Option<Step> {
    let m = Map::new(y, path, keys, r)?;
    let node = m.require("node", r, "add `node: NAME`, a node of the level's lab");
    let node = node.and_then(|y| string(y, &join(path, "node"), r));
    let run = m.require("run", r, "add `run: COMMANDS`, run as root with sh");
    let run = run.and_then(|y| text(y, &join(path, "run"), r));
    let revert = m.get("revert").map(|y| text(y, &join(path, "revert"), r));
    Some(Step {
        node: node?,
        run: run?.value,
        revert: revert.map_or(Some(None), |v| v.map(|v| Some(v.value)))?,
    })
}

fn fault(y: &Yaml, path: &str, r: &mut Report) -> Option<FaultSpec> {
    let m = Map::new(y, path, FAULT_KEYS, r)?;
    match (m.get("kind"), m.get("run")) {
        (Some(_), Some(run)) => {
            r.error(
                Some(run.pos),
                &join(path, "run"),
                "a fault has either `kind` or `run`, not both",
                "use `kind` for a fault of `firedrill fault list`, `run` and `revert` for a scripted one",
            );
            None
        }
        (None, None) => {
            r.error(
                Some(y.pos),
                path,
                "a fault needs `kind` or `run`",
                "give `kind: KIND` (see `firedrill fault list`), or `run` and `revert` for a scripted fault",
            );
            None
        }
        (None, Some(_)) => {
            if m.get("params").is_some() {
                r.error(
                    Some(y.pos),
                    &join(path, "params"),
                    "`params` is for a fault `kind`",
                    "put the values into the `run` script",
                );
            }
            let step = step(y, path, r, FAULT_KEYS)?;
            if step.revert.is_none() {
                r.error(
                    Some(y.pos),
                    path,
                    "missing required field `revert`",
                    "a scripted fault needs `revert`: the commands that undo `run` when the level ends",
                );
                return None;
            }
            Some(FaultSpec::Script(step))
        }
        (Some(kind), None) => {
            if let Some(rev) = m.get("revert") {
                r.error(
                    Some(rev.pos),
                    &join(path, "revert"),
                    "`revert` is for a scripted fault",
                    "a fault `kind` knows how to undo itself; remove `revert`",
                );
            }
            let kind = string(kind, &join(path, "kind"), r);
            let node = m.require("node", r, "add `node: NAME`, the node to break");
            let node = node.and_then(|y| string(y, &join(path, "node"), r));
            let params = m
                .get("params")
                .map_or(Some(Vec::new()), |y| params(y, &join(path, "params"), r));
            Some(FaultSpec::Kind {
                kind: kind?,
                node: node?,
                params: params?,
            })
        }
    }
}

/// `params: {key: value}`; which keys a kind takes is `validate`'s to check.
fn params(y: &Yaml, path: &str, r: &mut Report) -> Option<Vec<(At<String>, String)>> {
    let Value::Map(entries) = &y.value else {
        r.error(
            Some(y.pos),
            path,
            format!("expected a mapping of parameters, found {}", y.describe()),
            "write `params: {leave: 0}`; `firedrill fault list` shows each kind's parameters",
        );
        return None;
    };
    let mut out: Vec<(At<String>, String)> = Vec::new();
    for (key, value) in entries {
        let key_path = join(path, &key.name);
        if let Some((first, _)) = out.iter().find(|(k, _)| k.value == key.name) {
            let msg = format!(
                "`{}` is given twice (first on line {})",
                key.name, first.pos.line
            );
            r.error(Some(key.pos), &key_path, msg, "keep only one of them");
            continue;
        }
        let value = string(value, &key_path, r)?;
        out.push((
            At {
                value: key.name.clone(),
                pos: key.pos,
            },
            value.value,
        ));
    }
    Some(out)
}

/// A string that must not be empty or blank.
pub(super) fn text(y: &Yaml, path: &str, r: &mut Report) -> Option<At<String>> {
    let s = string(y, path, r)?;
    if s.value.trim().is_empty() {
        r.error(
            Some(s.pos),
            path,
            format!("`{}` is empty", path.rsplit('.').next().unwrap_or(path)),
            "write the text, or remove the key if it is optional",
        );
        return None;
    }
    Some(s)
}

pub(super) fn number(y: &Yaml, path: &str, r: &mut Report, hint: &str) -> Option<At<f64>> {
    let value = match &y.value {
        Value::Int(i) => Some(*i as f64),
        Value::Float(f) if f.is_finite() => Some(*f),
        Value::Str(s) => s.trim().parse::<f64>().ok().filter(|f| f.is_finite()),
        _ => None,
    };
    match value {
        Some(value) => Some(At { value, pos: y.pos }),
        None => {
            r.error(
                Some(y.pos),
                path,
                format!("expected a number, found {}", y.describe()),
                hint,
            );
            None
        }
    }
}

pub(super) fn boolean(y: &Yaml, path: &str, r: &mut Report) -> Option<At<bool>> {
    match &y.value {
        Value::Bool(b) => Some(At {
            value: *b,
            pos: y.pos,
        }),
        _ => {
            r.error(
                Some(y.pos),
                path,
                format!("expected true or false, found {}", y.describe()),
                "write `true` or `false`",
            );
            None
        }
    }
}

/// `value` if it lies in `range`, else an error that names the range.
pub(super) fn within<T: Copy + Into<f64>>(
    value: At<T>,
    path: &str,
    range: std::ops::RangeInclusive<f64>,
    r: &mut Report,
    hint: &str,
) -> Option<At<T>> {
    if range.contains(&value.value.into()) {
        return Some(value);
    }
    let field = path.rsplit('.').next().unwrap_or(path);
    r.error(
        Some(value.pos),
        path,
        format!("{field} must be from {} to {}", range.start(), range.end()),
        hint,
    );
    None
}
