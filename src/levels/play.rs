//! `firedrill play`, `hint`, `check`, `report` and `score`.

use super::client_report::{ClientReport, percent};
use super::evaluate::capture_baselines;
use super::finish::{run_step, undo};
use super::level::{FaultSpec, Kind, Level};
use super::play_state::{AppliedFault, Play};
use super::sources::{Origin, Search};
use super::{LevelError, client_proc, health, page};
use crate::events::{Event, EventKind};
use crate::host::HostFacts;
use crate::lab::{AccelChoice, UpOptions};
use crate::lab::{Lab, Nodes, SshNodes};
use crate::paths::Home;
use crate::paths::LabName;

use crate::state::{LabPhase, LabState};
use chrono::{DateTime, Utc};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub(crate) struct PlayOptions {
    /// `None`: a level at random.
    pub level: Option<String>,
    /// With `level: None`: only incidents of this difficulty.
    pub difficulty: Option<super::level::Difficulty>,
    pub accel: AccelChoice,
    pub timeout: Duration,
}

/// The level file `play` was asked for: a path, an id found by `sources` (the built-in levels
/// are written out only when the id is not found before them), or a random incident.
/// A level by id or path, found as `play` finds it.
pub(crate) fn resolve_level(home: &Home, name: &str) -> Result<PathBuf, LevelError> {
    resolve(home, Some(name), None)
}

/// The level file `play` plays: `level` by path or id, or an incident at random (of
/// `difficulty`, if given).
fn resolve(
    home: &Home,
    level: Option<&str>,
    difficulty: Option<super::level::Difficulty>,
) -> Result<PathBuf, LevelError> {
    match level {
        Some(name) if Path::new(name).is_file() => Ok(PathBuf::from(name)),
        Some(name) => {
            if let Some(f) = Search::local().find(name) {
                return Ok(f);
            }
            let search = Search::all(home)?;
            let entries = search.entries();
            match entries.iter().find(|f| f.id == name) {
                Some(f) => Ok(f.file.clone()),
                None if entries.is_empty() => Err(LevelError::NoLevels(search.describe())),
                None => Err(LevelError::NotFound {
                    name: name.to_string(),
                    searched: search.describe(),
                    known: entries.into_iter().map(|f| f.id).collect(),
                }),
            }
        }
        None => {
            let search = Search::all(home)?;
            let files = search.incidents();
            if files.is_empty() {
                return Err(LevelError::NoLevels(search.describe()));
            }
            let pool = random_pool(&files, difficulty);
            if pool.is_empty() {
                return Err(LevelError::NoneOfDifficulty {
                    difficulty: difficulty.map_or("any", |d| d.name()).to_string(),
                    searched: search.describe(),
                });
            }
            let pick = rand::random::<u64>() as usize % pool.len();
            Ok(pool[pick].clone())
        }
    }
}

/// The levels `play --random` picks from: all, or those of one difficulty (which must validate
/// to say theirs).
fn random_pool(files: &[PathBuf], difficulty: Option<super::level::Difficulty>) -> Vec<&PathBuf> {
    files
        .iter()
        .filter(|f| {
            difficulty.is_none_or(|d| {
                super::check_file(f, &HostFacts::default()).is_ok_and(|c| c.level.difficulty == d)
            })
        })
        .collect()
}

/// `play --list`: every incident and exercise, each id once (the first found, see `sources`),
/// with its difficulty and minutes; the built-in ones are marked, and the directories are named
/// at the end. Files that do not validate are listed with their first problem, so a broken one
/// is not silently missing.
pub(crate) fn list(home: &Home) -> Result<(), LevelError> {
    let search = Search::all(home)?;
    let entries = search.entries();
    if entries.is_empty() {
        return Err(LevelError::NoLevels(search.describe()));
    }
    println!(
        "{:<28} {:<9} {:<7} {:>4}  TITLE",
        "ID", "KIND", "LEVEL", "MIN"
    );
    for f in &entries {
        let built_in = if search.dirs[f.dir].origin == Origin::BuiltIn {
            "  (built in)"
        } else {
            ""
        };
        match super::check_file(&f.file, &HostFacts::default()) {
            Ok(c) => println!(
                "{:<28} {:<9} {:<7} {:>4}  {}{built_in}",
                f.id,
                c.level.kind.name(),
                c.level.difficulty.name(),
                c.level.minutes,
                c.level.title
            ),
            Err(p) => println!(
                "{:<28} invalid: {}{built_in}",
                f.id,
                p.0.first().map(ToString::to_string).unwrap_or_default()
            ),
        }
    }
    println!("\nfrom, first found wins:");
    for (i, dir) in search.dirs.iter().enumerate() {
        let n = entries.iter().filter(|f| f.dir == i).count();
        let origin = match dir.origin {
            Origin::Env(var) => format!(" ({var})"),
            Origin::Here => String::new(),
            Origin::BuiltIn => " (built in)".into(),
        };
        println!("  {n:>3}  {}{origin}", dir.path.display());
    }
    println!("\n`firedrill play ID` starts one; `firedrill play --random` an incident at random");
    Ok(())
}

/// The level of a play, read again from its file. Its lab is checked against itself only: the
/// lab is running, so its own bridges would look like routes in the way.
pub(crate) fn level_of(play: &Play) -> Result<Level, LevelError> {
    super::check_file(&play.file, &HostFacts::default())
        .map(|c| c.level)
        .map_err(LevelError::Invalid)
}

/// What a level's lab is checked against when the level starts: this host's memory and the
/// images built. Its networks are left to `up`, which sees libvirt's networks too (a lab that
/// is already up would otherwise overlap its own routes).
fn start_facts(home: &Home) -> Result<HostFacts, LevelError> {
    let mut facts = HostFacts::local().map_err(crate::lab::LabError::from)?;
    facts.routes.clear();
    facts.images = crate::image::list(home)
        .map_err(crate::lab::LabError::from)?
        .into_iter()
        .map(|i| i.name)
        .collect();
    Ok(facts)
}

/// Where the mock client sends its GETs when the level names a path: the lab's front door
/// (as the client itself chooses).
fn service_url(state: &LabState, path: &str) -> Option<String> {
    let (node, port) = crate::roles::front_door(state.nodes())?;
    Some(match port {
        80 => format!("http://{}{path}", node.ip),
        p => format!("http://{}:{p}{path}", node.ip),
    })
}

/// The URL of haproxy's HTTPS front end and the lab CA's certificate, read from the haproxy
/// node (`client: {https: true}`; the CA's key stays there).
async fn https_target(
    nodes: &SshNodes,
    state: &LabState,
    path: Option<&str>,
) -> Result<(String, String), LevelError> {
    let lb = state
        .nodes()
        .find(|n| n.roles.contains(&crate::roles::Role::Haproxy))
        .ok_or_else(|| LevelError::NoHaproxy {
            lab: state.name.to_string(),
        })?;
    let script = format!("cat {}/ca.pem", crate::roles::TLS_DIR);
    let out = nodes.run(&lb.name, &script).await?;
    if !out.success() || !out.stdout_str().contains("-----BEGIN CERTIFICATE-----") {
        return Err(LevelError::Step {
            failed: out.failure(&lb.name, "reading the lab CA for the HTTPS client"),
            hint: "`firedrill up` with the level's lab file configures haproxy's TLS and its CA"
                .into(),
        });
    }
    let url = format!("https://{}{}", lb.ip, path.unwrap_or("/todos"));
    Ok((url, out.stdout_str()))
}

pub(crate) async fn play(home: &Home, opts: &PlayOptions) -> Result<(), LevelError> {
    if let Some(p) = Play::load(home)?
        && p.end.is_none()
    {
        return Err(LevelError::InProgress(p.level));
    }
    let file = std::path::absolute(resolve(home, opts.level.as_deref(), opts.difficulty)?)
        .map_err(|source| LevelError::Read {
            path: PathBuf::from("."),
            source,
        })?;
    let checked = super::check_file(&file, &start_facts(home)?).map_err(LevelError::Invalid)?;
    for w in &checked.warnings {
        eprintln!("warning: {w}");
    }
    let (level, lab) = (checked.level, checked.plan.lab);
    // Created here if the lab is new: `up` (called in-process) takes it again.
    let _lock = crate::lab::LabLock::create(&home.lab(&lab), "`firedrill play`")?;
    // The sessions of a lab found healthy serve the level's steps too.
    let found = ensure_healthy_lab(home, &level, &lab, opts).await?;

    let now = Utc::now();
    let mut play = Play {
        level: level.id.value.clone(),
        title: level.title.clone(),
        difficulty: level.difficulty,
        file,
        lab: lab.clone(),
        lab_file: level.lab_path.clone(),
        // Named by time only: the briefing prints this path, and with `play --random` the
        // level's id (which names the cause) must stay unknown.
        dir: home
            .play_dir()
            .join(now.format("%Y%m%dT%H%M%SZ").to_string()),
        prepared_at: now,
        baseline_at: None,
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
        gm: Vec::new(),
        firedrill_reboots: Vec::new(),
        paged: None,
    };
    let nodes = match found {
        Some(nodes) => nodes,
        None => SshNodes::of(&Lab::at(home, &lab)?),
    };
    let state = nodes.state();
    play.baseline_at = take_baseline(state, &nodes).await;
    play.save(home)?;
    let prepared = prepare(home, &level, &mut play, &nodes, state).await;
    if let Err(e) = prepared {
        eprintln!("the level could not start; undoing what it did");
        let undone = undo(home, &level, &mut play, &nodes, false).await;
        nodes.close().await;
        match undone {
            // Nothing is left to undo: forget the play, so another can start.
            Ok(()) => {
                let _ = std::fs::remove_file(Play::path(home));
            }
            // Keep the record: `firedrill reset` works from it.
            Err(u) => eprintln!("error: {u}"),
        }
        return Err(e);
    }
    nodes.close().await;
    let _ = crate::events::append(
        &home.lab(&lab),
        &Event::now(
            EventKind::Other("level-started".into()),
            None,
            // The title, not the id: ids name the cause, and `play --random` keeps it secret.
            format!("{} started: {}", level.kind.name(), level.title),
        ),
    );
    print!("{}", briefing(&level, &play));
    Ok(())
}

/// Brings the level's lab up when it is not, or not healthy. A lab found healthy as it was
/// comes back with the nodes' sessions that checked it.
async fn ensure_healthy_lab(
    home: &Home,
    level: &Level,
    lab: &LabName,
    opts: &PlayOptions,
) -> Result<Option<SshNodes>, LevelError> {
    let up = Lab::find(home, lab)?.filter(|l| l.state.phase == LabPhase::Up);
    if let Some(found) = up {
        let nodes = SshNodes::of(&found);
        let problems = health::problems_on(&nodes).await;
        if problems.is_empty() {
            println!("lab {lab} is up and healthy: using it");
            return Ok(Some(nodes));
        }
        nodes.close().await;
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
        dry_run: false,
        restart: vec![],
    };
    crate::lab::up(home, &up).await?;
    let problems = health::problems_after_up(home, lab).await?;
    if problems.is_empty() {
        return Ok(None);
    }
    Err(LevelError::Unhealthy {
        lab: lab.to_string(),
        file: level.lab_path.clone(),
        detail: problems.join("\n"),
    })
}

/// Snapshots the healthy lab for `reset` (the lab's snapshot mechanism, under the reserved name
/// of a level's baseline). A lab that cannot be snapshotted can still be played: `reset` then
/// converges it with `up`, as it did before snapshots.
async fn take_baseline(state: &LabState, nodes: &SshNodes) -> Option<DateTime<Utc>> {
    println!("taking a snapshot of the healthy lab, for `firedrill reset`...");
    let baseline = crate::lab::snapshot::SnapshotName::baseline();
    match crate::lab::snapshot::save_lab(state, nodes, &baseline).await {
        Ok(saved) => {
            let at = Utc::now();
            println!(
                "snapshot taken (the lab was paused for {:.1} s)",
                saved.paused.as_secs_f64()
            );
            for f in saved.clock_failures {
                eprintln!("warning: could not set the clock of {f}");
            }
            Some(at)
        }
        Err(e) => {
            eprintln!(
                "warning: no snapshot of the lab ({e}); `firedrill reset` will converge it with `up` instead"
            );
            None
        }
    }
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
    let (url, cacert) = if level.client.https() {
        let (url, ca) = https_target(nodes, state, level.client.path.as_deref()).await?;
        let file = play.dir.join("lab-ca.pem");
        crate::fsutil::write_atomic(&file, ca.as_bytes(), 0o644).map_err(|source| {
            LevelError::Write {
                path: file.clone(),
                source,
            }
        })?;
        (Some(url), Some(file))
    } else {
        let url = level
            .client
            .path
            .as_deref()
            .and_then(|p| service_url(state, p));
        (url, None)
    };
    let client = client_proc::start(
        &play.lab,
        &level.client,
        url.as_deref(),
        cacert.as_deref(),
        &play.dir,
    )?;
    play.client = Some(client.clone());
    play.save(home)?;
    wait_for_healthy_traffic(&client).await?;

    // The notifications already kept are not this incident's page.
    let page = match &level.page {
        Some(p) => {
            let monitor = monitor_node(state).ok_or_else(|| LevelError::NoMonitor {
                lab: play.lab.to_string(),
                alert: p.alert.value.clone(),
            })?;
            let out = nodes.run(&monitor, &page::count_script()).await?;
            let seen = page::parse_count(&out.stdout_str()).unwrap_or(0);
            Some((monitor, p.alert.value.as_str(), seen))
        }
        None => None,
    };
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
                let target = crate::faults::Target {
                    lab: Some(&play.lab),
                    kind: &kind.value,
                    node: &node.value,
                    params: &params,
                    duration: None,
                    hidden: true,
                };
                let rec = crate::faults::apply(home, target).await?;
                if let Some(last) = play.faults.last_mut() {
                    last.id = Some(rec.id);
                }
            }
            FaultSpec::Script(step) => run_step(nodes, step, "a scripted fault").await?,
        }
    }
    // A fault may have reset a node: the clock starts once every node is back.
    nodes.wait_all_ready().await?;
    play.started_at = Some(Utc::now());
    play.save(home)?;
    if let Some((monitor, alert, seen)) = page {
        println!(
            "the faults are in; waiting for Alertmanager to page {alert} (at most {})...",
            super::duration(page::TIMEOUT.as_secs())
        );
        match page::wait(nodes, &monitor, alert, seen, (page::TIMEOUT, page::POLL)).await? {
            Some(paged) => play.paged = Some(paged),
            None => eprintln!("{}", page::missed(alert, &monitor, page::TIMEOUT)),
        }
        // The learner is briefed now: the incident clock starts with the page.
        play.started_at = Some(Utc::now());
        play.save(home)?;
    }
    Ok(())
}

/// The node whose Alertmanager pages.
fn monitor_node(state: &LabState) -> Option<String> {
    state
        .nodes()
        .find(|n| n.roles.contains(&crate::roles::Role::Monitor))
        .map(|n| n.name.clone())
}

/// The client must see a healthy service before the faults: 5 s at 95% or better.
async fn wait_for_healthy_traffic(
    client: &super::play_state::ClientProc,
) -> Result<(), LevelError> {
    let unhealthy = |detail: String| LevelError::ServiceUnhealthy {
        detail,
        log: client.log.clone(),
    };
    // The client reports each second: looked at four times a second, the window is seen full
    // as soon as it is.
    for _ in 0..120 {
        tokio::time::sleep(Duration::from_millis(250)).await;
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
    let mut out = String::new();
    if let (Some(paged), Some(faults)) = (&play.paged, play.faults_at) {
        let after = (paged.at - faults).to_std().unwrap_or_default();
        out += &page::render(paged, after);
    }
    out += &format!(
        "\n== {} ({}, about {} minutes) ==\n\n{}\n",
        level.title,
        level.difficulty,
        level.minutes,
        level.briefing.value.trim_end()
    );
    out += "\nYour objectives:\n";
    for o in level.objectives.iter().filter(|o| !o.hidden) {
        out += &format!("  - {}\n", o.description.value);
    }
    match level.objectives.iter().filter(|o| o.hidden).count() {
        0 => {}
        1 => out += "  - and one hidden check: `check` shows it once it is met\n",
        n => out += &format!("  - and {n} hidden checks: `check` shows each once it is met\n"),
    }
    out += match level.kind {
        Kind::Incident => "\nThe incident clock is running. The mock client's live view: ",
        Kind::Exercise => {
            "\nThe change window is open; customers are using the service. The mock client's live view: "
        }
    };
    if let Some(c) = &play.client {
        out += &format!("tail -f {}\n", c.log.display());
    } else {
        out += "not running\n";
    }
    out += "  firedrill check     are the objectives met? (never says why not)\n\
            \x20 firedrill hint      the next hint; each costs points\n";
    out += match level.kind {
        Kind::Incident => "  firedrill give-up   the debrief; the faults are reverted\n",
        Kind::Exercise => "  firedrill give-up   the debrief; the lab's preparation is undone\n",
    };
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::levels::level::Difficulty;

    #[test]
    fn random_picks_among_the_incidents_of_the_difficulty_asked_for() {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("labs/levels");
        let files = super::super::level_files(&dir);
        assert_eq!(random_pool(&files, None).len(), files.len());
        let names = |d| -> Vec<String> {
            random_pool(&files, Some(d))
                .iter()
                .filter_map(|f| Some(f.file_stem()?.to_string_lossy().into_owned()))
                .collect()
        };
        let hard = names(Difficulty::Hard);
        for id in ["app-down-b", "db-lock", "missing-index", "slow-disk"] {
            assert!(hard.contains(&id.to_string()), "{id} in {hard:?}");
        }
        assert!(!hard.contains(&"disk-full".to_string()), "{hard:?}");
        let easy = names(Difficulty::Easy);
        assert!(easy.contains(&"disk-full".to_string()), "{easy:?}");
        assert!(!easy.contains(&"db-lock".to_string()), "{easy:?}");
    }
}
