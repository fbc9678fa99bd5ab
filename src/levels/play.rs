//! `firedrill play`, `hint`, `check`, `report` and `score`.

use super::client_report::{ClientReport, percent};
use super::evaluate::{Context, Evaluation, Retry, capture_baselines, evaluate};
use super::finish::{run_step, undo};
use super::level::{FaultSpec, Level};
use super::nodes::SshNodes;
use super::play_state::{AppliedFault, CheckRecord, Play};
use super::score::Outcome;
use super::{LevelError, client_proc, fault_cli, health};
use crate::events::{Event, EventKind};
use crate::lab::{AccelChoice, UpOptions};
use crate::paths::Home;
use crate::spec::Role;
use crate::state::{LabPhase, LabState, StateError};
use chrono::Utc;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub(crate) struct PlayOptions {
    /// `None`: a level at random.
    pub level: Option<String>,
    pub accel: AccelChoice,
    pub timeout: Duration,
}

/// Retries of a persistent check after its node rebooted, while services start.
const AFTER_REBOOT: Retry = Retry {
    attempts: 20,
    delay: Duration::from_secs(6),
};

/// The level file `play` was asked for: a path, an id in the levels directory, or a random one.
fn resolve(opts: &PlayOptions) -> Result<PathBuf, LevelError> {
    let dir = super::levels_dir();
    let files = super::level_files(&dir);
    let ids = || -> Vec<String> {
        files
            .iter()
            .filter_map(|f| f.file_stem().map(|s| s.to_string_lossy().into_owned()))
            .collect()
    };
    match &opts.level {
        Some(name) if Path::new(name).is_file() => Ok(PathBuf::from(name)),
        Some(name) => {
            let file = dir.join(format!("{name}.yaml"));
            if file.is_file() {
                Ok(file)
            } else if files.is_empty() {
                Err(LevelError::NoLevels(dir))
            } else {
                Err(LevelError::NotFound {
                    name: name.clone(),
                    dir: dir.clone(),
                    known: ids(),
                })
            }
        }
        None if files.is_empty() => Err(LevelError::NoLevels(dir)),
        None => {
            let pick = rand::random::<u64>() as usize % files.len();
            Ok(files[pick].clone())
        }
    }
}

/// The level of a play, read again from its file.
pub(crate) fn level_of(play: &Play) -> Result<Level, LevelError> {
    super::check_file(&play.file)
        .map(|(l, _)| l)
        .map_err(LevelError::Invalid)
}

fn lab_state(home: &Home, lab: &str) -> Result<LabState, LevelError> {
    Ok(
        LabState::load(&home.lab(lab), lab)?
            .ok_or_else(|| StateError::NotFound(lab.to_string()))?,
    )
}

/// Where the mock client sends its GETs when the level names a path: the first haproxy node
/// on port 80, else the first app node on its port (as the client itself chooses).
fn service_url(state: &LabState, path: &str) -> Option<String> {
    if let Some(lb) = state
        .nodes
        .iter()
        .find(|n| n.roles.contains(&Role::Haproxy))
    {
        return Some(format!("http://{}{path}", lb.ip));
    }
    let app = state.nodes.iter().find(|n| n.roles.contains(&Role::App))?;
    Some(format!(
        "http://{}:{}{path}",
        app.ip,
        app.app_port.unwrap_or(8080)
    ))
}

pub(crate) async fn play(home: &Home, opts: &PlayOptions) -> Result<(), LevelError> {
    if let Some(p) = Play::load(home)?
        && p.end.is_none()
    {
        return Err(LevelError::InProgress(p.level));
    }
    let file = std::path::absolute(resolve(opts)?).map_err(|source| LevelError::Read {
        path: PathBuf::from("."),
        source,
    })?;
    let (level, warnings) = super::check_file(&file).map_err(LevelError::Invalid)?;
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    let lab = crate::spec::load(&level.lab_path)
        .map_err(LevelError::Invalid)?
        .name
        .value;
    ensure_healthy_lab(home, &level, &lab, opts).await?;

    let now = Utc::now();
    let mut play = Play {
        level: level.id.value.clone(),
        title: level.title.clone(),
        difficulty: level.difficulty,
        file,
        lab: lab.clone(),
        lab_file: level.lab_path.clone(),
        dir: home.play_dir().join(format!(
            "{}-{}",
            level.id.value,
            now.format("%Y%m%dT%H%M%SZ")
        )),
        prepared_at: now,
        faults_at: None,
        started_at: None,
        client: None,
        setup_done: 0,
        faults: Vec::new(),
        baselines: Default::default(),
        hints: Vec::new(),
        checks: Vec::new(),
        used_solution: false,
        end: None,
    };
    play.save(home)?;
    let state = lab_state(home, &lab)?;
    let nodes = SshNodes::new(home.lab(&lab), state.clone());
    let prepared = prepare(home, &level, &mut play, &nodes, &state).await;
    if let Err(e) = prepared {
        eprintln!("the level could not start; undoing what it did");
        if let Err(u) = undo(home, &level, &mut play, &nodes).await {
            eprintln!("error: {u}");
        }
        nodes.close().await;
        let _ = std::fs::remove_file(Play::path(home));
        return Err(e);
    }
    nodes.close().await;
    let _ = crate::events::append(
        &home.lab(&lab),
        &Event::now(
            EventKind::Other("level-started".into()),
            None,
            format!("level {} started", level.id.value),
        ),
    );
    print!("{}", briefing(&level, &play));
    Ok(())
}

async fn ensure_healthy_lab(
    home: &Home,
    level: &Level,
    lab: &str,
    opts: &PlayOptions,
) -> Result<(), LevelError> {
    let up = LabState::load(&home.lab(lab), lab)?.is_some_and(|s| s.phase == LabPhase::Up);
    if up {
        let problems = health::problems(home, lab).await?;
        if problems.is_empty() {
            println!("lab {lab} is up and healthy: using it");
            return Ok(());
        }
        println!(
            "lab {lab} is up but not healthy:\n{}\nrunning `up` to repair it",
            problems.join("\n")
        );
    }
    let up = UpOptions {
        file: level.lab_path.clone(),
        accel: opts.accel,
        force: false,
        timeout: opts.timeout,
    };
    crate::lab::up(home, &up).await?;
    let problems = health::problems(home, lab).await?;
    if problems.is_empty() {
        return Ok(());
    }
    Err(LevelError::Unhealthy {
        lab: lab.to_string(),
        file: level.lab_path.clone(),
        detail: problems.join("\n"),
    })
}

/// Setup, baselines, the client on a healthy service, then the faults. The play is saved before
/// each step, so whatever happened can be undone.
async fn prepare(
    home: &Home,
    level: &Level,
    play: &mut Play,
    nodes: &SshNodes,
    state: &LabState,
) -> Result<(), LevelError> {
    for (i, step) in level.setup.iter().enumerate() {
        println!("preparing the lab ({} of {})...", i + 1, level.setup.len());
        play.setup_done = i + 1;
        play.save(home)?;
        run_step(nodes, step, "setup").await?;
    }
    play.baselines = capture_baselines(level, nodes).await?;
    let url = level
        .client
        .path
        .as_deref()
        .and_then(|p| service_url(state, p));
    let client = client_proc::start(&play.lab, &level.client, url.as_deref(), &play.dir)?;
    play.client = Some(client.clone());
    play.save(home)?;
    wait_for_healthy_traffic(&client).await?;

    play.faults_at = Some(Utc::now());
    for (index, f) in level.faults.iter().enumerate() {
        play.faults.push(AppliedFault { index, id: None });
        play.save(home)?;
        match f {
            FaultSpec::Kind { kind, node, params } => {
                let params: Vec<(String, String)> = params
                    .iter()
                    .map(|(k, v)| (k.value.clone(), v.clone()))
                    .collect();
                let id = fault_cli::apply(&play.lab, &kind.value, &node.value, &params).await?;
                if let Some(last) = play.faults.last_mut() {
                    last.id = Some(id);
                }
            }
            FaultSpec::Script(step) => run_step(nodes, step, "a scripted fault").await?,
        }
    }
    play.started_at = Some(Utc::now());
    play.save(home)
}

/// The client must see a healthy service before the faults: 5 s at 95% or better.
async fn wait_for_healthy_traffic(
    client: &super::play_state::ClientProc,
) -> Result<(), LevelError> {
    let unhealthy = |detail: String| LevelError::ServiceUnhealthy {
        detail,
        log: client.log.clone(),
    };
    for _ in 0..30 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        if !client_proc::alive(client.pid) {
            return Err(unhealthy(format!(
                "the mock client exited:\n{}",
                client_proc::log_tail(&client.log, 5)
            )));
        }
        let report = ClientReport::read(&client.report)?;
        let Some(window) = report
            .seconds
            .len()
            .checked_sub(5)
            .map(|s| &report.seconds[s..])
        else {
            continue;
        };
        let ok: u64 = window.iter().map(|s| s.ok).sum();
        let all: u64 = window.iter().map(|s| s.results()).sum();
        if all > 0 && ok * 100 >= all * 95 {
            return Ok(());
        }
        if report.seconds.len() >= 10 {
            let pct = if all == 0 {
                0.0
            } else {
                ok as f64 * 100.0 / all as f64
            };
            return Err(unhealthy(format!(
                "only {} of the mock client's requests succeeded over 5 s",
                percent(pct)
            )));
        }
    }
    Err(unhealthy(
        "the mock client reported no second within 30 s".to_string(),
    ))
}

pub(crate) fn briefing(level: &Level, play: &Play) -> String {
    let mut out = format!(
        "\n== {} ({}, about {} minutes) ==\n\n{}\n",
        level.title,
        level.difficulty,
        level.minutes,
        level.briefing.value.trim_end()
    );
    out += "\nYour objectives:\n";
    for o in &level.objectives {
        out += &format!("  - {}\n", o.description.value);
    }
    out += "\nThe incident clock is running. The mock client's live view: ";
    if let Some(c) = &play.client {
        out += &format!("tail -f {}\n", c.log.display());
    } else {
        out += "not running\n";
    }
    out += "  firedrill check     are the objectives met? (never says why not)\n\
            \x20 firedrill hint      the next hint; each costs points\n\
            \x20 firedrill give-up   the debrief; the faults are reverted\n";
    out
}

pub(crate) fn hint(home: &Home) -> Result<(), LevelError> {
    let mut play = Play::current(home)?;
    play.ensure_running()?;
    let level = level_of(&play)?;
    let n = play.hints.len();
    let Some(h) = level.hints.get(n) else {
        println!(
            "no more hints ({} of {} taken); `firedrill give-up` shows the debrief",
            n,
            level.hints.len()
        );
        return Ok(());
    };
    play.hints.push(Utc::now());
    play.save(home)?;
    println!(
        "hint {} of {} (-{} points):\n  {}",
        n + 1,
        level.hints.len(),
        h.cost,
        h.text.trim_end().replace('\n', "\n  ")
    );
    Ok(())
}

pub(crate) async fn check(home: &Home, apply_solution: bool) -> Result<(), LevelError> {
    let mut play = Play::current(home)?;
    play.ensure_running()?;
    let level = level_of(&play)?;
    let nodes = SshNodes::new(home.lab(&play.lab), lab_state(home, &play.lab)?);
    if apply_solution {
        play.used_solution = true;
        play.save(home)?;
        for step in &level.solution {
            run_step(&nodes, step, "the reference solution").await?;
        }
        println!("applied the reference solution (this play scores 0)");
    }
    let report = match &play.client {
        Some(c) => ClientReport::read(&c.report)?,
        None => ClientReport::default(),
    };
    let ctx = Context {
        report: &report,
        since: play.started_at.unwrap_or(play.prepared_at),
        now: Utc::now(),
        baselines: &play.baselines,
        after_reboot: AFTER_REBOOT,
    };
    let eval = evaluate(&level, &nodes, &ctx, &mut |s| println!("{s}")).await;
    let solved = eval.solved(&level);
    play.checks.push(CheckRecord {
        at: Utc::now(),
        met: eval.met(),
        objectives: eval.objectives.len(),
        guards_ok: eval.guards_ok(),
    });
    play.save(home)?;
    print!("{}", render_check(&eval));
    if solved {
        super::finish::end(home, &level, &mut play, &nodes, Outcome::Solved).await?;
        println!("\nSolved.\n\n{}", level.debrief.trim_end());
    } else {
        println!(
            "{} of {} objectives met; keep going (`firedrill hint` if you are stuck)",
            eval.met(),
            eval.objectives.len()
        );
    }
    nodes.close().await;
    Ok(())
}

pub(crate) fn render_check(eval: &Evaluation) -> String {
    let mut out = String::from("objectives:\n");
    let note = |n: &Option<String>| n.as_ref().map_or(String::new(), |n| format!(" ({n})"));
    for v in &eval.objectives {
        out += &format!(
            "  [{}] {}{}\n",
            if v.met { "met" } else { "   " },
            v.description,
            note(&v.note)
        );
    }
    if !eval.guards.is_empty() {
        out += "guards:\n";
        for v in &eval.guards {
            out += &format!(
                "  [{}] {}{}\n",
                if v.met { "ok" } else { "VIOLATED" },
                v.description,
                note(&v.note)
            );
        }
    }
    out
}

pub(crate) fn report(home: &Home, out: Option<PathBuf>) -> Result<(), LevelError> {
    let play = Play::current(home)?;
    let level = level_of(&play)?;
    let client = match &play.client {
        Some(c) => ClientReport::read(&c.report)?,
        None => ClientReport::default(),
    };
    let now = Utc::now();
    let text = super::incident::render(&super::incident::Input {
        level: &level,
        play: &play,
        report: &client,
        now,
    });
    let path = out.unwrap_or_else(|| {
        PathBuf::from(format!(
            "incident-{}-{}.md",
            play.level,
            now.format("%Y%m%d-%H%M")
        ))
    });
    crate::fsutil::write_atomic(&path, text.as_bytes(), 0o644).map_err(|source| {
        LevelError::Write {
            path: path.clone(),
            source,
        }
    })?;
    println!("wrote {}", path.display());
    Ok(())
}

pub(crate) fn score(home: &Home) -> Result<(), LevelError> {
    print!(
        "{}",
        super::score::render_history(&super::play_state::read_scores(home)?)
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::levels::evaluate::Verdict;

    #[test]
    fn check_output_shows_descriptions_and_notes_only() {
        let v = |id: &str, d: &str, met: bool, note: Option<&str>| Verdict {
            id: id.into(),
            description: d.into(),
            met,
            note: note.map(String::from),
        };
        let eval = Evaluation {
            objectives: vec![
                v(
                    "served",
                    "Users are served again",
                    true,
                    Some("100% of requests succeeded over the last 30 s (needs 99%)"),
                ),
                v("room", "The app server can write its data", false, None),
            ],
            guards: vec![v("rows", "No todo is lost", false, None)],
            rebooted: vec![],
        };
        assert_eq!(
            render_check(&eval),
            "objectives:\n  [met] Users are served again (100% of requests succeeded over the last 30 s (needs 99%))\n  \
             [   ] The app server can write its data\nguards:\n  [VIOLATED] No todo is lost\n"
        );
    }
}
