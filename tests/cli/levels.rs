//! The level commands as a user runs them, where no VM is needed: `validate` on level files,
//! and the commands that need a play when there is none.

use super::{firedrill, scratch};
use std::path::PathBuf;
use std::process::Command;

fn home(name: &str) -> PathBuf {
    scratch(name)
}

#[test]
fn validate_accepts_a_shipped_level() {
    let out = firedrill(&home("lv-ok"), &["validate", "labs/levels/disk-full.yaml"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    // The level's lab is checked as `validate` checks a lab; in an empty home no image is built.
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "warning: labs/levels/../three-tier.yaml:5:10: defaults.image: image `debian-12` is not built yet\n  \
         hint: `firedrill up` builds it, or run `firedrill image build --name debian-12`\n"
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "labs/levels/disk-full.yaml: level `disk-full` is valid\n\
         Attachments fail about half the time (easy, about 15 minutes) on lab labs/levels/../three-tier.yaml: \
         1 fault(s), 2 objective(s), 4 guard(s), 3 hint(s)\n"
    );
}

#[test]
fn validate_prints_every_problem_of_a_level_file() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("levels");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("broken.yaml");
    std::fs::write(
        &path,
        "id: broken\ntitle: t\ndifficulty: easy\nminutes: 5\nlab: nowhere.yaml\nbriefing: b\n\
         faults: [{kind: disk-full, node: web}]\nobjectives:\n  - {id: a, description: d, check: {state: {node: web, command: 'true', expect: {exit: 0}}}}\n\
         hints: [{text: h, cost: 1}]\ndebrief: d\nsolution: [{node: web, run: 'true'}]\n",
    )
    .unwrap();
    let out = firedrill(&home("lv-bad"), &["validate", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let p = path.display();
    let lab = dir.join("nowhere.yaml");
    let lab = lab.display();
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "error: {p}:5:6: lab: cannot use lab `nowhere.yaml` ({lab}): cannot read the lab file: No such file or directory (os error 2)\n  \
             hint: give a lab file relative to this level file, e.g. `../three-tier.yaml`\n\
             1 error and 0 warnings: fix the errors and run `firedrill validate` again\n"
        )
    );
}

#[test]
fn commands_on_a_play_say_how_to_start_one() {
    let h = home("lv-none");
    let commands: [&[&str]; 6] = [
        &["hint"],
        &["check"],
        &["give-up"],
        &["report"],
        &["gm", "inject", "cpu-hog", "db"],
        &["gm", "status"],
    ];
    for cmd in commands {
        let out = firedrill(&h, cmd);
        assert_eq!(out.status.code(), Some(2), "{cmd:?}: {out:?}");
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            "error: no level is being played\n  hint: start one with `firedrill play LEVEL` or `firedrill play --random`\n",
            "{cmd:?}"
        );
    }
    let out = firedrill(&h, &["score"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "no plays yet: start one with `firedrill play LEVEL` or `firedrill play --random`\n"
    );
}

#[test]
fn play_names_the_levels_when_one_is_unknown() {
    let out = firedrill(&home("lv-unknown"), &["play", "disk-ful"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("error: no level `disk-ful` in labs/levels, labs/exercises, the built-in levels and exercises; levels: app-down-a, app-down-b, "),
        "{err}"
    );
    assert!(err.contains(", disk-full, "), "{err}");
}

/// A play whose lab was removed (`down --force` while it was played) can still be ended:
/// `give-up` stops its mock client, records the end and says what it could not revert.
#[test]
fn give_up_ends_a_play_whose_lab_is_gone() {
    let h = home("lv-gone");
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let play_dir = h.join("play/20261130T070000Z");
    std::fs::create_dir_all(&play_dir).unwrap();
    let report = play_dir.join("client.jsonl");
    // Stands in for the mock client: a process whose command line names the report.
    let mut client = Command::new("python3")
        .args(["-c", "import time; time.sleep(300)"])
        .arg(&report)
        .spawn()
        .expect("start a stand-in client");
    let play = serde_json::json!({
        "level": "disk-full",
        "title": "t",
        "difficulty": "easy",
        "file": root.join("labs/levels/disk-full.yaml"),
        "lab": "three-tier",
        "lab_file": root.join("labs/three-tier.yaml"),
        "dir": play_dir,
        "prepared_at": "2026-11-30T07:00:00Z",
        "started_at": "2026-11-30T07:01:00Z",
        "client": {"pid": client.id(), "report": report, "log": play_dir.join("client.log")},
    });
    std::fs::write(h.join("play/current.json"), play.to_string()).unwrap();
    let out = firedrill(&h, &["give-up"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(
        err.contains("lab three-tier is gone (removed while the level was played)"),
        "{err}"
    );
    let status = client.wait().expect("the client was stopped");
    assert!(!status.success(), "stopped by a signal: {status:?}");
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(h.join("play/current.json")).unwrap())
            .unwrap();
    assert_eq!(saved["end"]["outcome"], "gave-up", "{saved}");
    // The next play is not blocked by this one.
    let out = firedrill(&h, &["check"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("ended"),
        "{out:?}"
    );
}

/// `report --html` of a level being played: the page, from the play and its client's report,
/// naming neither the level's id nor its fault (both name the cause).
#[test]
fn report_html_writes_the_timeline_of_the_play() {
    let h = home("lv-html");
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let play_dir = h.join("play/20261130T070000Z");
    std::fs::create_dir_all(&play_dir).unwrap();
    let report = play_dir.join("client.jsonl");
    let second = |n: u32, ok: u32, failed: u32| {
        format!(
            r#"{{"type":"second","second":{n},"ts":"2026-11-30T07:01:{n:02}.000Z","sent":{},"ok":{ok},"failed":{failed},"dropped":0,"classes":{{"refused":0,"timeout":{failed},"reset":0,"5xx":0,"4xx":0,"413":0,"json":0,"other":0}},"p50_ms":5.0,"p99_ms":20.0,"max_ms":20.0,"success_ratio":null,"inflight":0,"lag_max_ms":0.1}}"#,
            ok + failed
        )
    };
    let lines: Vec<String> = (0..40)
        .map(|n| match n {
            10..20 => second(n, 3, 2),
            _ => second(n, 5, 0),
        })
        .collect();
    std::fs::write(&report, lines.join("\n") + "\n").unwrap();
    let play = serde_json::json!({
        "level": "disk-full",
        "title": "t",
        "difficulty": "easy",
        "file": root.join("labs/levels/disk-full.yaml"),
        "lab": "three-tier",
        "lab_file": root.join("labs/three-tier.yaml"),
        "dir": play_dir,
        "prepared_at": "2026-11-30T07:00:30Z",
        "faults_at": "2026-11-30T07:01:05Z",
        "started_at": "2026-11-30T07:01:06Z",
        "hints": ["2026-11-30T07:01:15Z"],
        "client": {"pid": 1, "report": report, "log": play_dir.join("client.log")},
    });
    std::fs::write(h.join("play/current.json"), play.to_string()).unwrap();
    let page = h.join("timeline.html");
    let out = firedrill(
        &h,
        &[
            "report",
            "--html",
            "--out",
            page.to_str().expect("a UTF-8 path"),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("wrote {}\n", page.display())
    );
    let html = std::fs::read_to_string(&page).expect("the page");
    assert!(
        html.contains("<h1>Incident: Attachments fail about half the time</h1>"),
        "{html}"
    );
    assert!(
        html.contains("Level: <b>easy, about 15 minutes</b>"),
        "{html}"
    );
    assert!(!html.contains("disk-full"), "{html}");
    // 10 s of failures from 07:01:10, 20 of the 175 requests since the fault.
    assert!(
        html.contains("<div class=\"value\">20 (11.43%)</div>"),
        "{html}"
    );
    assert!(
        html.contains("07:01:10 to 07:01:20: every second had a failure"),
        "{html}"
    );
    assert!(html.contains("hint 1 taken"), "{html}");
}
