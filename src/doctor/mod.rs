//! `firedrill doctor`: is this host ready for a lab? Facts are gathered once (`facts.rs`, the
//! only I/O); every check is a pure function of them (`checks.rs`), so each verdict and each
//! fix is tested with made-up facts.

mod access;
mod capacity;
mod checks;
#[cfg(test)]
mod checks_tests;
mod deep;
mod facts;
mod networks;
mod supplies;

use crate::lab::AccelChoice;
use crate::paths::Home;
use serde::Serialize;
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Verdict {
    Ok,
    Warn,
    Fail,
}

/// The commands that fix a failing check, per distribution family.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Fix {
    pub debian: String,
    pub fedora: String,
}

impl Fix {
    /// A fix that is the same command everywhere.
    fn same(command: impl Into<String>) -> Fix {
        let c = command.into();
        Fix {
            debian: c.clone(),
            fedora: c,
        }
    }

    fn packages(debian: &str, fedora: &str) -> Fix {
        Fix {
            debian: format!("sudo apt-get install -y {debian}"),
            fedora: format!("sudo dnf install -y {fedora}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Check {
    pub name: &'static str,
    pub verdict: Verdict,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<Fix>,
}

impl Check {
    fn ok(name: &'static str, detail: impl Into<String>) -> Check {
        Check {
            name,
            verdict: Verdict::Ok,
            detail: detail.into(),
            fix: None,
        }
    }
    fn warn(name: &'static str, detail: impl Into<String>, fix: Option<Fix>) -> Check {
        Check {
            name,
            verdict: Verdict::Warn,
            detail: detail.into(),
            fix,
        }
    }
    fn fail(name: &'static str, detail: impl Into<String>, fix: Fix) -> Check {
        Check {
            name,
            verdict: Verdict::Fail,
            detail: detail.into(),
            fix: Some(fix),
        }
    }
}

pub(crate) struct DoctorOptions {
    pub lab: Option<PathBuf>,
    pub json: bool,
    pub deep: bool,
    pub accel: AccelChoice,
}

/// Runs every check and prints them; `Ok(false)` when one failed (exit status 1).
pub(crate) async fn run(home: &Home, opts: &DoctorOptions) -> Result<bool, std::io::Error> {
    let home = home.clone();
    let lab = opts.lab.clone();
    let (deep, accel) = (opts.deep, opts.accel);
    let facts =
        tokio::task::spawn_blocking(move || facts::gather(&home, lab.as_deref(), accel, deep))
            .await
            .map_err(std::io::Error::other)?;
    let checks = checks::all(&facts);
    let passed = !checks.iter().any(|c| c.verdict == Verdict::Fail);
    if opts.json {
        let out = serde_json::json!({ "ok": passed, "checks": checks });
        println!("{out:#}");
    } else {
        print!("{}", render(&checks, crate::color::wanted()));
    }
    Ok(passed)
}

/// One line per check, its fix below it when it has one, and a last line saying what to do.
pub(crate) fn render(checks: &[Check], color: bool) -> String {
    let paint = |v: Verdict| {
        let (word, code) = match v {
            Verdict::Ok => ("ok  ", "\x1b[32m"),
            Verdict::Warn => ("warn", "\x1b[33m"),
            Verdict::Fail => ("FAIL", "\x1b[31m"),
        };
        if color {
            format!("{code}{word}\x1b[0m")
        } else {
            word.to_string()
        }
    };
    let width = checks.iter().map(|c| c.name.len()).max().unwrap_or(0);
    let mut out = String::new();
    for c in checks {
        out += &format!("{} {:width$}  {}\n", paint(c.verdict), c.name, c.detail);
        if let Some(fix) = &c.fix {
            if fix.debian == fix.fedora {
                out += &format!("       fix: {}\n", fix.debian);
            } else {
                out += &format!("       fix (Debian/Ubuntu): {}\n", fix.debian);
                out += &format!("       fix (Fedora):        {}\n", fix.fedora);
            }
        }
    }
    let failed = checks.iter().filter(|c| c.verdict == Verdict::Fail).count();
    let warned = checks.iter().filter(|c| c.verdict == Verdict::Warn).count();
    out += &match failed {
        0 => format!("ready: {} checks, {warned} warnings\n", checks.len()),
        n => format!(
            "not ready: {n} failed, {warned} warnings; run the fixes above and `firedrill doctor` again\n"
        ),
    };
    out
}
