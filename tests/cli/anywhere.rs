//! firedrill as an installed program: run from a directory that has no `labs/`, it plays, lists
//! and validates the levels, exercises and labs built into it, written out once under its home.

use super::{command, scratch};
use std::path::{Path, PathBuf};

/// The ids of the shipped levels (or exercises) in `labs/SUB`, as `play` names them.
fn shipped(sub: &str) -> Vec<String> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("labs")
        .join(sub);
    let mut ids: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .filter_map(|p| p.file_name()?.to_str().map(str::to_string))
        .filter(|n| !n.ends_with(".lab.yaml") && !n.ends_with(".streams.yaml"))
        .map(|n| n.trim_end_matches(".yaml").to_string())
        .collect();
    ids.sort();
    ids
}

fn run(cwd: &Path, home: &Path, args: &[&str]) -> (i32, String, String) {
    let out = command(home).current_dir(cwd).args(args).output();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The one directory under `home` holding the built-in files.
fn builtin_dirs(home: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(home.join("share/labs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    dirs.sort();
    dirs
}

#[test]
fn play_list_works_from_any_directory() {
    let root = scratch("anywhere");
    let (cwd, home) = (root.join("cwd"), root.join("home"));
    std::fs::create_dir_all(&cwd).unwrap();

    let (code, out, err) = run(&cwd, &home, &["play", "--list"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(err, "");
    let rows: Vec<&str> = out.lines().skip(1).take_while(|l| !l.is_empty()).collect();
    let ids: Vec<&str> = rows.iter().filter_map(|r| r.split(' ').next()).collect();
    let (levels, exercises) = (shipped("levels"), shipped("exercises"));
    assert!(levels.len() >= 12, "{levels:?}");
    let expected: Vec<&str> = levels
        .iter()
        .chain(&exercises)
        .map(String::as_str)
        .collect();
    assert_eq!(ids, expected, "{out}");
    for r in &rows {
        assert!(r.ends_with("  (built in)"), "{r}");
        assert!(!r.contains("invalid"), "{r}");
    }
    let dirs = builtin_dirs(&home);
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    let built = &dirs[0];
    assert!(
        out.contains(&format!(
            "\nfrom, first found wins:\n  {:>3}  {}/levels (built in)\n  {:>3}  {}/exercises (built in)\n",
            levels.len(),
            built.display(),
            exercises.len(),
            built.display()
        )),
        "{out}"
    );
    assert!(built.join(".firedrill-builtin").is_file());
    assert!(
        built.join("levels/README.md").is_file() && built.join("exercises/README.md").is_file()
    );
    assert!(
        !cwd.join("labs").exists(),
        "nothing is written where it runs"
    );

    // Again: the same directory, not another.
    let (code, again, _) = run(&cwd, &home, &["play", "--list"]);
    assert_eq!((code, &again), (0, &out));
    assert_eq!(builtin_dirs(&home), dirs);

    // A shipped lab by its name.
    let (code, out, err) = run(&cwd, &home, &["validate", "three-tier"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.starts_with(&format!(
            "{}/three-tier.yaml: lab `three-tier` is valid\n",
            built.display()
        )),
        "{out}"
    );
    let (code, _, err) = run(&cwd, &home, &["up", "three-teir"]);
    assert_eq!(code, 2);
    // Every lab file of the source tree ships, by name, in order.
    let mut shipped: Vec<String> = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/labs"))
        .expect("labs/")
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            Some(name.strip_suffix(".yaml")?.to_string())
        })
        .collect();
    shipped.sort();
    assert!(shipped.contains(&"three-tier".to_string()), "{shipped:?}");
    assert!(
        err.starts_with(&format!(
            "error: no lab file `three-teir`, and no built-in lab of that name; built-in labs: {}",
            shipped.join(", ")
        )),
        "{err}"
    );

    // FIREDRILL_LEVELS comes first: its disk-full is listed, once, instead of the built-in one.
    let mine = root.join("mine/levels");
    std::fs::create_dir_all(&mine).unwrap();
    std::fs::copy(
        built.join("three-tier.yaml"),
        root.join("mine/three-tier.yaml"),
    )
    .unwrap();
    let level = std::fs::read_to_string(built.join("levels/disk-full.yaml")).unwrap();
    let title = "title: Attachments fail about half the time";
    assert!(level.contains(title));
    std::fs::write(
        mine.join("disk-full.yaml"),
        level.replace(title, "title: My own disk-full"),
    )
    .unwrap();
    let out = command(&home)
        .current_dir(&cwd)
        .env("FIREDRILL_LEVELS", &mine)
        .args(["play", "--list"])
        .output();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let out = String::from_utf8_lossy(&out.stdout);
    let disk: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("disk-full "))
        .collect();
    assert_eq!(disk.len(), 1, "{out}");
    assert!(disk[0].ends_with("  My own disk-full"), "{out}");
    assert!(
        out.contains(&format!("\n    1  {} (FIREDRILL_LEVELS)\n", mine.display())),
        "{out}"
    );
}
