//! The checking parts of a level file: objectives, guards, their checks and expectations, and
//! hints. Parsed like the rest of `load`, every problem at its own line and column.

use super::level::{
    Check, ClientBudget, Expect, Guard, Hint, LedgerCheck, Mitigate, Nudge, Objective, StateCheck,
};
use super::load::{boolean, number, text, within};
use crate::spec::At;
use crate::spec::load::{Map, join, list, string, uint};
use crate::spec::problem::Report;
use crate::spec::yaml::Yaml;

const OBJECTIVE_KEYS: &[&str] = &["id", "description", "check", "persistence", "hidden"];
const GUARD_KEYS: &[&str] = &["id", "description", "check"];
const CHECK_KEYS: &[&str] = &["mitigate", "state", "client", "ledger"];
const CLIENT_KEYS: &[&str] = &[
    "stream",
    "max_failed",
    "max_failed_percent",
    "max_bad_seconds",
];
const LEDGER_KEYS: &[&str] = &["max_lost", "node"];
const MITIGATE_KEYS: &[&str] = &["success_percent", "seconds", "p99_ms"];
const STATE_KEYS: &[&str] = &["node", "command", "expect"];
const EXPECT_KEYS: &[&str] = &[
    "exit",
    "stdout_contains",
    "stdout_lacks",
    "stdout_is",
    "at_least_baseline",
    "same_as_baseline",
    "differs_from_baseline",
    "clock_within_s",
];
const HINT_KEYS: &[&str] = &["text", "cost", "when"];
const WHEN_KEYS: &[&str] = &["met", "not_met"];

pub(super) fn objective(y: &Yaml, path: &str, r: &mut Report) -> Option<Objective> {
    let m = Map::new(y, path, OBJECTIVE_KEYS, r)?;
    let (id, description, check) = identity_and_check(&m, path, r);
    let persistence = m
        .get("persistence")
        .map(|y| boolean(y, &join(path, "persistence"), r));
    let hidden = m
        .get("hidden")
        .map(|y| boolean(y, &join(path, "hidden"), r));
    Some(Objective {
        pos: y.pos,
        id: id?,
        description: description?,
        check: check?,
        persistence: persistence.map_or(Some(None), |p| p.map(Some))?,
        hidden: hidden.map_or(Some(false), |h| h.map(|h| h.value))?,
    })
}

pub(super) fn guard(y: &Yaml, path: &str, r: &mut Report) -> Option<Guard> {
    let m = Map::new(y, path, GUARD_KEYS, r)?;
    let (id, description, check) = identity_and_check(&m, path, r);
    Some(Guard {
        pos: y.pos,
        id: id?,
        description: description?,
        check: check?,
    })
}

type Identity = (Option<At<String>>, Option<At<String>>, Option<Check>);

fn identity_and_check(m: &Map, path: &str, r: &mut Report) -> Identity {
    let id = m.require("id", r, "add `id: NAME`, short and unique in the level");
    let id = id.and_then(|y| string(y, &join(path, "id"), r));
    let description = m.require(
        "description",
        r,
        "add `description: ...`, what `check` prints; it must not name the cause",
    );
    let description = description.and_then(|y| text(y, &join(path, "description"), r));
    let check = m.require("check", r, "add `check:` with `mitigate:` or `state:`");
    let check = check.and_then(|y| self::check(y, &join(path, "check"), r));
    (id, description, check)
}

fn check(y: &Yaml, path: &str, r: &mut Report) -> Option<Check> {
    let m = Map::new(y, path, CHECK_KEYS, r)?;
    let given: Vec<&str> = CHECK_KEYS
        .iter()
        .copied()
        .filter(|k| m.get(k).is_some())
        .collect();
    match given.as_slice() {
        [] => {
            r.error(
                Some(y.pos),
                path,
                "a check needs `mitigate`, `state`, `client` or `ledger`",
                "e.g. `mitigate: {success_percent: 99, seconds: 30}`",
            );
            None
        }
        [one] => {
            let (y, p) = (m.get(one)?, join(path, one));
            match *one {
                "mitigate" => mitigate(y, &p, r).map(Check::Mitigate),
                "state" => state(y, &p, r).map(Check::State),
                "client" => client_budget(y, &p, r).map(Check::Client),
                _ => ledger(y, &p, r).map(Check::Ledger),
            }
        }
        [first, second, ..] => {
            let at = m.get(second).map(|y| y.pos);
            r.error(
                at,
                &join(path, second),
                format!("a check has one of `{first}` and `{second}`, not both"),
                "split it into two objectives",
            );
            None
        }
    }
}

fn client_budget(y: &Yaml, path: &str, r: &mut Report) -> Option<ClientBudget> {
    let m = Map::new(y, path, CLIENT_KEYS, r)?;
    let stream = m.get("stream").map(|y| string(y, &join(path, "stream"), r));
    let count = |key: &str, r: &mut Report| {
        m.get(key)
            .map(|y| uint::<u64>(y, &join(path, key), r, "a count, e.g. `0`").map(|v| v.value))
    };
    let max_failed = count("max_failed", r);
    let max_bad_seconds = count("max_bad_seconds", r);
    let pct_path = join(path, "max_failed_percent");
    let pct_hint = "a percentage from 0 to 100, e.g. `max_failed_percent: 1`";
    let max_failed_percent = m.get("max_failed_percent").map(|y| {
        number(y, &pct_path, r, pct_hint)
            .and_then(|v| within(v, &pct_path, 0.0..=100.0, r, pct_hint))
            .map(|v| v.value)
    });
    if max_failed.is_none() && max_failed_percent.is_none() && max_bad_seconds.is_none() {
        r.error(
            Some(y.pos),
            path,
            "a client check needs a budget",
            "give `max_failed: 0`, `max_failed_percent: 1` or `max_bad_seconds: 60`",
        );
        return None;
    }
    Some(ClientBudget {
        pos: y.pos,
        stream: stream.map_or(Some(None), |s| s.map(Some))?,
        max_failed: max_failed.map_or(Some(None), |v| v.map(Some))?,
        max_failed_percent: max_failed_percent.map_or(Some(None), |v| v.map(Some))?,
        max_bad_seconds: max_bad_seconds.map_or(Some(None), |v| v.map(Some))?,
    })
}

fn ledger(y: &Yaml, path: &str, r: &mut Report) -> Option<LedgerCheck> {
    let m = Map::new(y, path, LEDGER_KEYS, r)?;
    let lost = m.require(
        "max_lost",
        r,
        "add `max_lost: 0`, the acknowledged writes that may be missing",
    );
    let lost = lost.and_then(|y| uint::<u64>(y, &join(path, "max_lost"), r, "a count, e.g. `0`"));
    let node = m.get("node").map(|y| string(y, &join(path, "node"), r));
    Some(LedgerCheck {
        pos: y.pos,
        max_lost: lost?.value,
        node: node.map_or(Some(None), |n| n.map(Some))?,
    })
}

fn mitigate(y: &Yaml, path: &str, r: &mut Report) -> Option<Mitigate> {
    let m = Map::new(y, path, MITIGATE_KEYS, r)?;
    let pct = m.require("success_percent", r, "add `success_percent: 99`");
    let (pct_path, secs_path, p99_path) = (
        join(path, "success_percent"),
        join(path, "seconds"),
        join(path, "p99_ms"),
    );
    let pct_hint = "a percentage above 0 and at most 100, e.g. `success_percent: 99`";
    let pct = pct.and_then(|y| number(y, &pct_path, r, pct_hint));
    let pct = pct.and_then(|p| {
        if p.value <= 0.0 {
            r.error(
                Some(p.pos),
                &pct_path,
                "the success percentage must be above 0",
                pct_hint,
            );
            return None;
        }
        within(p, &pct_path, 0.0..=100.0, r, pct_hint)
    });
    let secs = m.require(
        "seconds",
        r,
        "add `seconds: 30`, the window the success rate is measured over",
    );
    let secs_hint = "seconds, from 5 to 3600, e.g. `seconds: 30`";
    let secs = secs.and_then(|y| uint::<u32>(y, &secs_path, r, secs_hint));
    let secs = secs.and_then(|s| within(s, &secs_path, 5.0..=3600.0, r, secs_hint));
    let p99_hint = "milliseconds, from 1 to 60000, e.g. `p99_ms: 500`";
    let p99 = m.get("p99_ms").map(|y| {
        number(y, &p99_path, r, p99_hint)
            .and_then(|v| within(v, &p99_path, 1.0..=60000.0, r, p99_hint))
    });
    Some(Mitigate {
        pos: y.pos,
        success_percent: pct?.value,
        seconds: secs?.value,
        p99_ms: p99.map_or(Some(None), |v| v.map(|v| Some(v.value)))?,
    })
}

fn state(y: &Yaml, path: &str, r: &mut Report) -> Option<StateCheck> {
    let m = Map::new(y, path, STATE_KEYS, r)?;
    let node = m.require("node", r, "add `node: NAME`, where the command runs");
    let node = node.and_then(|y| string(y, &join(path, "node"), r));
    let command = m.require("command", r, "add `command: ...`, run as root with sh");
    let command = command.and_then(|y| text(y, &join(path, "command"), r));
    let expect = m.require("expect", r, "add `expect: {exit: 0}`");
    let expect = expect.and_then(|y| expect_of(y, &join(path, "expect"), r));
    Some(StateCheck {
        pos: y.pos,
        node: node?,
        command: command?.value,
        expect: expect?,
    })
}

fn expect_of(y: &Yaml, path: &str, r: &mut Report) -> Option<Vec<Expect>> {
    let m = Map::new(y, path, EXPECT_KEYS, r)?;
    let mut out = Vec::new();
    let mut ok = true;
    for key in EXPECT_KEYS {
        let Some(v) = m.get(key) else { continue };
        let p = join(path, key);
        let e = match *key {
            "exit" => uint::<u32>(v, &p, r, "an exit status, e.g. `exit: 0`")
                .map(|a| Expect::Exit(a.value)),
            "stdout_contains" => string(v, &p, r).map(|a| Expect::StdoutContains(a.value)),
            "stdout_lacks" => string(v, &p, r).map(|a| Expect::StdoutLacks(a.value)),
            "stdout_is" => string(v, &p, r).map(|a| Expect::StdoutIs(a.value)),
            "clock_within_s" => uint::<u64>(v, &p, r, "seconds, e.g. `clock_within_s: 5`")
                .map(|a| Expect::ClockWithin(a.value)),
            baseline => boolean(v, &p, r).and_then(|b| {
                if !b.value {
                    r.error(
                        Some(b.pos),
                        &p,
                        format!("`{baseline}: false` checks nothing"),
                        format!("write `{baseline}: true`, or remove it"),
                    );
                    return None;
                }
                Some(match baseline {
                    "at_least_baseline" => Expect::AtLeastBaseline,
                    "differs_from_baseline" => Expect::DiffersFromBaseline,
                    _ => Expect::SameAsBaseline,
                })
            }),
        };
        match e {
            Some(e) => out.push(e),
            None => ok = false,
        }
    }
    if ok && out.is_empty() {
        r.error(
            Some(y.pos),
            path,
            "`expect` has nothing to check",
            format!("give one or more of: {}", EXPECT_KEYS.join(", ")),
        );
        return None;
    }
    ok.then_some(out)
}

/// A hint: paid, in order (`firedrill hint`), or with `when:` a nudge that `check` shows.
pub(super) enum HintItem {
    Paid(Hint),
    Nudge(Nudge),
}

pub(super) fn hint(y: &Yaml, path: &str, r: &mut Report) -> Option<HintItem> {
    let m = Map::new(y, path, HINT_KEYS, r)?;
    let text = m.require("text", r, "add `text: ...`, the hint");
    let text = text.and_then(|y| self::text(y, &join(path, "text"), r));
    if let Some(when) = m.get("when") {
        if let Some(cost) = m.get("cost") {
            r.error(
                Some(cost.pos),
                &join(path, "cost"),
                "a hint with `when` costs nothing: `check` shows it while its condition holds",
                "remove `cost`, or remove `when` to make it a hint that `firedrill hint` sells",
            );
            return None;
        }
        let when_path = join(path, "when");
        let w = Map::new(when, &when_path, WHEN_KEYS, r)?;
        let ids = |key: &str, r: &mut Report| {
            w.get(key).map_or(Some(Vec::new()), |y| {
                list(y, &join(&when_path, key), r, string).map(|l| l.value)
            })
        };
        let (met, not_met) = (ids("met", r), ids("not_met", r));
        let (met, not_met) = (met?, not_met?);
        if met.is_empty() && not_met.is_empty() {
            r.error(
                Some(when.pos),
                &when_path,
                "`when` has no condition",
                "give `met: [ID]` and/or `not_met: [ID]`, ids of objectives or guards",
            );
            return None;
        }
        return Some(HintItem::Nudge(Nudge {
            pos: y.pos,
            text: text?.value,
            met,
            not_met,
        }));
    }
    let cost = m.require("cost", r, "add `cost: 10`, the points the hint costs");
    let cost = cost.and_then(|y| uint::<u32>(y, &join(path, "cost"), r, "points, e.g. `cost: 10`"));
    Some(HintItem::Paid(Hint {
        text: text?.value,
        cost: cost?.value,
    }))
}
