//! firedrill runs as root: a name from the command line never becomes a path, and a second
//! writer is refused. Driven through the real executable against libvirt's test driver, so no
//! daemon and no VM is needed.

use std::os::unix::io::AsRawFd;
use std::path::PathBuf;
use std::process::Output;

struct Home {
    root: PathBuf,
}

impl Home {
    /// A FIREDRILL_HOME with one lab directory, an image cache entry, and a directory beside
    /// it that must survive everything.
    fn new(tag: &str) -> Home {
        let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("safety-{tag}"));
        let _ = std::fs::remove_dir_all(&base);
        let root = base.join("home");
        std::fs::create_dir_all(root.join("labs/minimal")).unwrap();
        std::fs::create_dir_all(root.join("images/debian-12")).unwrap();
        std::fs::write(root.join("images/debian-12/keep"), b"x").unwrap();
        std::fs::create_dir_all(base.join("precious")).unwrap();
        std::fs::write(base.join("precious/keep"), b"x").unwrap();
        Home { root }
    }

    fn precious(&self) -> PathBuf {
        self.root.parent().unwrap().join("precious")
    }

    fn firedrill(&self, args: &[&str]) -> Output {
        super::firedrill(&self.root, args)
    }

    #[track_caller]
    fn assert_intact(&self, what: &str) {
        for p in [
            self.root.clone(),
            self.root.join("labs/minimal"),
            self.root.join("images/debian-12/keep"),
            self.precious().join("keep"),
        ] {
            assert!(p.exists(), "{what} removed {}", p.display());
        }
    }
}

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Every command that takes `--lab`, with a bad name in it.
fn commands_with(lab: &str) -> Vec<Vec<String>> {
    let c = |args: &[&str]| -> Vec<String> {
        args.iter()
            .map(|a| a.to_string())
            // `--lab=NAME`, so a name such as `-x` reaches firedrill as a name.
            .chain([format!("--lab={lab}")])
            .collect()
    };
    vec![
        c(&["down"]),
        c(&["down", "--force"]),
        c(&["status"]),
        c(&["ssh", "web", "--"]),
        c(&["ssh-config"]),
        c(&["secrets"]),
        c(&["console", "web"]),
        c(&["fault", "apply", "disk-full", "web"]),
        c(&["fault", "status"]),
        c(&["fault", "revert", "--all"]),
        c(&["fault", "revert", "f1"]),
        c(&["client", "--duration", "1s"]),
        c(&["snapshot", "save", "before"]),
        c(&["snapshot", "list"]),
        c(&["snapshot", "restore", "before"]),
        c(&["snapshot", "rm", "before"]),
    ]
}

#[test]
fn path_like_and_reserved_snapshot_names_are_refused_before_anything_else() {
    let home = Home::new("snapshots");
    for verb in ["save", "restore", "rm"] {
        for bad in ["..", "../x", "a/b", "", "Before", "x-", ".hidden"] {
            let out = home.firedrill(&["snapshot", verb, bad, "--lab", "minimal"]);
            let shown = text(&out);
            assert_eq!(out.status.code(), Some(2), "{verb} {bad:?}\n{shown}");
            assert!(
                shown.contains(&format!(
                    "`{bad}` is not a snapshot name: use lowercase letters"
                )),
                "{verb} {bad:?}\n{shown}"
            );
        }
        let out = home.firedrill(&["snapshot", verb, "firedrill-baseline"]);
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
        assert!(text(&out).contains("reserved for firedrill's own snapshots"));
    }
    home.assert_intact("snapshot commands with bad names");
}

#[test]
fn path_like_and_empty_lab_names_are_refused_and_nothing_is_deleted() {
    let home = Home::new("names");
    let precious = home.precious().to_string_lossy().into_owned();
    let outside = format!("{}/../precious", home.root.join("labs").display());
    for bad in [
        "..",
        "../x",
        "../..",
        ".",
        "",
        "/",
        precious.as_str(),
        outside.as_str(),
        "a/b",
        "Minimal",
        "minimal/",
        "-x",
        "a-lab-name-longer-than-20",
    ] {
        for mut args in commands_with(bad) {
            // `ssh NODE -- CMD`: the command goes last.
            if args[0] == "ssh" {
                args.retain(|a| a != "--");
                args.extend(["--".to_string(), "true".to_string()]);
            }
            let argv: Vec<&str> = args.iter().map(String::as_str).collect();
            let out = home.firedrill(&argv);
            let shown = text(&out);
            assert_eq!(out.status.code(), Some(2), "firedrill {argv:?}\n{shown}");
            assert!(
                shown.contains("is not a lab name")
                    && shown.contains("lowercase letters, digits and '-'"),
                "firedrill {argv:?} does not give the rule\n{shown}"
            );
            home.assert_intact(&format!("firedrill {argv:?}"));
        }
    }
}

#[test]
fn a_bad_name_lists_the_labs_there_are() {
    let home = Home::new("list");
    let out = home.firedrill(&["down", "--lab", ".."]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: `..` is not a lab name: use lowercase letters, digits and '-' (at most 20), starting and ending with a letter or digit\n  hint: labs on this host: minimal\n"
    );
    home.assert_intact("down --lab ..");
}

/// A state file that cannot be read is reported as damaged, not as a lab without state.
#[test]
fn list_reports_a_damaged_state_as_damaged() {
    let home = Home::new("damaged");
    std::fs::create_dir_all(home.root.join("labs/broken")).unwrap();
    std::fs::write(home.root.join("labs/broken/state.json"), b"{\"name\":").unwrap();
    let out = home.firedrill(&["list"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let state = home.root.join("labs/broken/state.json");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!(
            "LAB                    PHASE        NODES  RUNNING  FILE\n\
             broken                 damaged          ?        0  ({}: `firedrill status --lab broken` says why)\n\
             minimal                orphaned         ?        0  (no state: `firedrill down --lab minimal` cleans it)\n",
            state.display()
        )
    );
}

#[test]
fn a_symlinked_lab_directory_is_not_followed() {
    let home = Home::new("symlink");
    std::os::unix::fs::symlink(home.precious(), home.root.join("labs/evil")).unwrap();
    let out = home.firedrill(&["down", "--force", "--lab", "evil"]);
    assert_ne!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("firedrill did not make it"),
        "{}",
        text(&out)
    );
    home.assert_intact("down --lab evil (a symlink)");
    assert!(home.root.join("labs/evil").exists());
    assert!(
        !home.precious().join("lock").exists(),
        "nothing is written through the symlink"
    );
}

/// Holds the lab's lock as another firedrill process would, with what it writes.
fn hold_lock(home: &Home, lab: &str) -> std::fs::File {
    let path = home.root.join("labs").join(lab).join("lock");
    std::fs::write(&path, "`firedrill up`\n4242\n10:31:07\n").unwrap();
    let f = std::fs::File::open(&path).unwrap();
    // SAFETY: flock on a descriptor this test owns.
    let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    assert_eq!(rc, 0, "take the lock");
    f
}

#[track_caller]
fn assert_busy(out: &Output, what: &str) {
    assert_eq!(out.status.code(), Some(2), "{what}\n{}", text(out));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: lab minimal is busy: `firedrill up` (pid 4242) since 10:31:07\n  hint: wait for it, or if that process is gone, run the command again\n",
        "{what}"
    );
}

#[test]
fn a_second_writer_is_refused_at_once_and_readers_never_wait() {
    let home = Home::new("lock");
    let lock = hold_lock(&home, "minimal");
    let started = std::time::Instant::now();
    assert_busy(&home.firedrill(&["up", "labs/minimal.yaml"]), "up");
    assert_busy(
        &home.firedrill(&["fault", "apply", "disk-full", "web", "--lab", "minimal"]),
        "fault apply",
    );
    assert_busy(
        &home.firedrill(&["fault", "revert", "--all", "--lab", "minimal"]),
        "fault revert",
    );
    assert_busy(&home.firedrill(&["down", "--lab", "minimal"]), "down");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "a busy lab is refused at once, not waited for"
    );
    // Readers do not take the lock: `status` says the lab is not up, not that it is busy.
    let status = home.firedrill(&["status", "--lab", "minimal"]);
    assert!(
        !String::from_utf8_lossy(&status.stderr).contains("busy"),
        "{}",
        text(&status)
    );
    home.assert_intact("commands on a busy lab");
    drop(lock);
    // Once the holder is gone, the next command goes ahead.
    let down = home.firedrill(&["down", "--lab", "minimal"]);
    assert_eq!(down.status.code(), Some(0), "{}", text(&down));
    assert!(!home.root.join("labs/minimal").exists());
    assert!(home.precious().join("keep").exists());
}

#[test]
fn down_leaves_a_directory_it_cannot_identify_as_a_lab() {
    let home = Home::new("unmarked");
    // labs/minimal exists but holds nothing firedrill writes (no state, lock or key).
    std::fs::write(home.root.join("labs/minimal/notes.txt"), b"mine").unwrap();
    let out = home.firedrill(&["down", "--lab", "minimal"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("firedrill cannot tell it made it"),
        "{}",
        text(&out)
    );
    assert!(home.root.join("labs/minimal/notes.txt").exists());
}
