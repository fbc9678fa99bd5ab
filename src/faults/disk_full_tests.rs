use super::*;
use crate::faults::engine::Reverted;
use crate::faults::record::{FaultRecord, FaultState};
use crate::faults::testing::{Bench, disk_full_fault, is_root, sudo};
use crate::faults::{FaultError, timer};
use crate::remote::fake::{FakeRemote, exact, exit, ok};

const PREPARE: &str = r#"set -e
d=/var/lib/todo
avail() { df -B1 --output=avail "$1" | tail -n 1 | tr -d ' '; }
if [ ! -d "$d" ]; then echo "$d does not exist: the todo app is not installed here" >&2; exit 3; fi
dev=$(stat -c %d "$d")
f=/var/backups/todo-uploads.tar
if [ "$(stat -c %d "$(dirname "$f")" 2>/dev/null)" != "$dev" ]; then f="$d/.todo-uploads.tar"; fi
if [ -e "$f" ] || [ -L "$f" ]; then echo "$f already exists, and firedrill only removes files it made: choose another filler with --param path=" >&2; exit 3; fi
echo "filler=$f"
echo "mount=$(df --output=target "$d" | tail -n 1)"
echo "avail=$(avail "$d")"
"#;

const INJECT: &str = r#"set -e
f=/var/backups/todo-uploads.tar
leave=0
avail() { df -B1 --output=avail "$1" | tail -n 1 | tr -d ' '; }
if [ -e "$f" ] || [ -L "$f" ]; then echo "$f appeared after firedrill checked; not touching it" >&2; exit 3; fi
(umask 077; : > "$f")
size=0
for round in 1 2 3 4 5; do
  a=$(avail "$f")
  [ "$a" -gt "$leave" ] || break
  size=$((size + a - leave))
  fallocate -l "$size" "$f" || break
done
a=$(avail "$f")
if [ "$a" -gt $((leave + 4194304)) ]; then echo "could not fill the filesystem: $a bytes are still free" >&2; exit 1; fi
echo "inode=$(stat -c %i "$f")"
echo "size=$(stat -c %s "$f")"
echo "avail=$a"
"#;

const VERIFY: &str = r#"f=/var/backups/todo-uploads.tar
d=/var/lib/todo
avail() { df -B1 --output=avail "$1" | tail -n 1 | tr -d ' '; }
if [ -e "$f" ]; then echo "inode=$(stat -c %i "$f")"; echo "size=$(stat -c %s "$f")"; fi
echo "avail=$(avail "$d")"
"#;

fn revert(inode: &str) -> String {
    format!(
        r#"f=/var/backups/todo-uploads.tar
ino={inode}
if [ ! -e "$f" ] && [ ! -L "$f" ]; then :
elif [ -n "$ino" ] && [ "$(stat -c %i "$f")" != "$ino" ]; then
  echo "left $f: it is not the file firedrill made (another inode)"
else
  rm -f "$f"
  echo "removed $f"
fi
"#
    )
}

const PREPARED: &str = "filler=/var/backups/todo-uploads.tar\nmount=/\navail=6442450944\n";
const INJECTED: &str = "inode=131\nsize=6442450944\navail=0\n";

/// app1 as a fault is injected, verified (when `verify`) and reverted.
fn app1_filled(verify: bool) -> FakeRemote {
    let node = FakeRemote::new("app1")
        .once(exact(&sudo(PREPARE)), ok(PREPARED))
        .once(exact(&sudo(INJECT)), ok(INJECTED));
    let node = if verify {
        node.once(exact(&sudo(VERIFY)), ok(INJECTED))
    } else {
        node
    };
    node.once(
        exact(&sudo(&revert("131"))),
        ok("removed /var/backups/todo-uploads.tar\n"),
    )
}

#[tokio::test]
async fn inject_verify_revert_run_exactly_these_commands() {
    let bench = Bench::new();
    let node = app1_filled(true);
    let engine = bench.engine(&node, "fd-three-tier-app1");
    let mut rec = FaultRecord::new("app1", disk_full_fault());
    engine.inject(&mut rec, None).await.unwrap();
    assert_eq!(node.commands(), [sudo(PREPARE), sudo(INJECT)]);
    assert_eq!(rec.id, "f1");
    assert_eq!(rec.state, FaultState::Active);
    let Fault::DiskFull(f) = &rec.fault else {
        panic!("{rec:?}")
    };
    assert_eq!(f.filler.as_deref(), Some("/var/backups/todo-uploads.tar"));
    assert_eq!((f.inode, f.filled_bytes), (Some(131), Some(6_442_450_944)));
    let mut stored = bench.stored("f1");
    assert_eq!((stored.state, stored.prepared), (FaultState::Active, true));

    let verdict = engine.verify(&mut stored).await.unwrap();
    assert_eq!(
        verdict,
        Verdict {
            active: true,
            detail: "filler /var/backups/todo-uploads.tar (6.0 GiB) present; 0 MiB free".into()
        }
    );
    let done = engine.revert(&mut stored).await.unwrap();
    assert_eq!(
        done,
        Reverted::Done(vec!["removed /var/backups/todo-uploads.tar".into()])
    );
    assert_eq!(bench.stored("f1").state, FaultState::Reverted);
    // Twice in a row: the second runs nothing and says so.
    assert_eq!(engine.revert(&mut stored).await.unwrap(), Reverted::Already);
    node.assert_all_used();
    assert_eq!(node.commands().len(), 4);
    assert_eq!(
        bench.events(),
        [
            (
                "fault-injected".to_string(),
                "fault disk-full injected on app1 (f1)".to_string()
            ),
            (
                "fault-reverted".to_string(),
                "fault disk-full reverted on app1 (f1)".to_string()
            ),
        ]
    );
}

/// After the node went back to a snapshot from before the fault, the record is closed with no
/// command (a FakeRemote with nothing expected fails on any), and says why.
#[tokio::test]
async fn a_fault_undone_by_a_snapshot_restore_is_closed_without_a_command() {
    let bench = Bench::new();
    let node = FakeRemote::new("app1")
        .once(exact(&sudo(PREPARE)), ok(PREPARED))
        .once(exact(&sudo(INJECT)), ok(INJECTED));
    let mut rec = FaultRecord::new("app1", disk_full_fault());
    bench
        .engine(&node, "fd-three-tier-app1")
        .inject(&mut rec, None)
        .await
        .unwrap();
    node.assert_all_used();
    let untouched = FakeRemote::new("app1");
    let engine = bench.engine(&untouched, "fd-three-tier-app1");
    let mut stored = bench.stored("f1");
    assert_eq!(engine.restored(&mut stored).unwrap(), Reverted::Restored);
    let closed = bench.stored("f1");
    assert_eq!(closed.state, FaultState::Reverted);
    assert_eq!(
        closed.reverted,
        ["the node went back to its snapshot from before the fault"]
    );
    assert_eq!(engine.restored(&mut stored).unwrap(), Reverted::Already);
    assert!(untouched.commands().is_empty());
    assert_eq!(
        bench.events().last().unwrap(),
        &(
            "fault-reverted".to_string(),
            "fault disk-full reverted on app1 (f1)".to_string()
        )
    );
}

/// A level's fault: the event log (which the learner's client shows) names neither the kind
/// nor the node, and the record still holds everything needed to revert it.
#[tokio::test]
async fn a_hidden_fault_leaves_no_clue_in_the_event_log() {
    let bench = Bench::new();
    let node = app1_filled(false);
    let engine = bench.engine(&node, "fd-three-tier-app1");
    let mut rec = FaultRecord::new("app1", disk_full_fault());
    rec.hidden = true;
    engine.inject(&mut rec, None).await.unwrap();
    let mut stored = bench.stored("f1");
    assert!(stored.hidden && stored.secret());
    engine.revert(&mut stored).await.unwrap();
    assert!(
        !bench.stored("f1").secret(),
        "a reverted fault is no secret"
    );
    node.assert_all_used();
    let hidden = (
        "level-fault".to_string(),
        "a fault of the level changed a node (f1)".to_string(),
    );
    assert_eq!(bench.events(), [hidden.clone(), hidden]);
    let log = std::fs::read_to_string(bench.lab.events_file()).unwrap();
    assert!(!log.contains("app1") && !log.contains("disk"), "{log}");
}

/// A crash after the undo data was written but before `active`: a new process reverts from
/// the file alone. The inode was never learnt, so the filler goes by its path.
#[tokio::test]
async fn a_crash_between_injecting_and_active_is_revertable_from_the_record() {
    let bench = Bench::new();
    let mut rec = FaultRecord::new("app1", disk_full_fault());
    rec.fault
        .ops()
        .prepared(&crate::faults::text::Fields::parse(PREPARED))
        .unwrap();
    rec.prepared = true;
    bench.store.create(&mut rec).unwrap();

    let mut reloaded = bench.stored(&rec.id);
    assert_eq!(reloaded.state, FaultState::Injecting);
    let node = FakeRemote::new("app1").once(
        exact(&sudo(&revert(""))),
        ok("removed /var/backups/todo-uploads.tar\n"),
    );
    let done = bench
        .engine(&node, "fd-three-tier-app1")
        .revert(&mut reloaded)
        .await
        .unwrap();
    assert_eq!(
        done,
        Reverted::Done(vec!["removed /var/backups/todo-uploads.tar".into()])
    );
    node.assert_all_used();
    assert_eq!(bench.stored(&rec.id).state, FaultState::Reverted);
}

/// A crash right after the first write: nothing was read from or changed on the node, so the
/// revert contacts nobody.
#[tokio::test]
async fn a_record_that_never_got_its_undo_data_reverts_without_the_node() {
    let bench = Bench::new();
    let mut rec = FaultRecord::new("app1", disk_full_fault());
    bench.store.create(&mut rec).unwrap();
    let node = FakeRemote::new("app1");
    let mut reloaded = bench.stored(&rec.id);
    let done = bench
        .engine(&node, "d")
        .revert(&mut reloaded)
        .await
        .unwrap();
    assert_eq!(done, Reverted::NothingChanged);
    assert!(node.commands().is_empty());
    assert_eq!(
        bench.stored(&rec.id).reverted,
        ["nothing had changed on the node"]
    );
}

#[tokio::test]
async fn a_node_that_does_not_fit_changes_nothing_and_keeps_no_record() {
    let bench = Bench::new();
    let node = FakeRemote::new("app1").once(
        exact(&sudo(PREPARE)),
        exit(3, "/var/backups/todo-uploads.tar already exists, and firedrill only removes files it made: choose another filler with --param path=\n"),
    );
    let mut rec = FaultRecord::new("app1", disk_full_fault());
    let err = bench
        .engine(&node, "d")
        .inject(&mut rec, None)
        .await
        .unwrap_err();
    assert!(err.is_usage());
    assert_eq!(
        err.to_string(),
        "disk-full does not fit node app1: /var/backups/todo-uploads.tar already exists, and firedrill only removes files it made: choose another filler with --param path="
    );
    assert_eq!(node.commands(), [sudo(PREPARE)]);
    assert!(bench.store.all().unwrap().is_empty());
}

#[tokio::test]
async fn a_failed_inject_is_rolled_back_and_the_record_says_so() {
    let bench = Bench::new();
    let node = FakeRemote::new("app1")
        .once(exact(&sudo(PREPARE)), ok(PREPARED))
        .once(
            exact(&sudo(INJECT)),
            exit(1, "fallocate: fallocate failed: Operation not supported\ncould not fill the filesystem: 6442450944 bytes are still free\n"),
        )
        .once(exact(&sudo(&revert(""))), ok("removed /var/backups/todo-uploads.tar\n"));
    let mut rec = FaultRecord::new("app1", disk_full_fault());
    let err = bench
        .engine(&node, "d")
        .inject(&mut rec, None)
        .await
        .unwrap_err();
    assert!(matches!(err, FaultError::InjectFailed { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.starts_with("fault f1 (disk-full on app1) failed: app1: disk-full: inject failed (exit 1): fallocate: fallocate failed: Operation not supported\ncould not fill the filesystem: 6442450944 bytes are still free\n"),
        "{msg}"
    );
    assert!(
        msg.ends_with(
            "  every change was rolled back; `firedrill fault status` shows the record (f1)"
        ),
        "{msg}"
    );
    node.assert_all_used();
    let stored = bench.stored("f1");
    assert_eq!(
        (stored.state, stored.rolled_back),
        (FaultState::Failed, true)
    );
    assert!(!stored.needs_revert());
    assert_eq!(stored.reverted, ["removed /var/backups/todo-uploads.tar"]);
    assert!(stored.error.unwrap().ends_with("\n(rolled back)"));
    assert!(bench.events().is_empty());
}

#[tokio::test]
async fn a_failed_rollback_leaves_a_record_that_still_needs_a_revert() {
    let bench = Bench::new();
    let node = FakeRemote::new("app1")
        .once(exact(&sudo(PREPARE)), ok(PREPARED))
        .fail(exact(&sudo(INJECT)), "connection reset by peer")
        .fail(exact(&sudo(&revert(""))), "connection reset by peer");
    let mut rec = FaultRecord::new("app1", disk_full_fault());
    let err = bench
        .engine(&node, "d")
        .inject(&mut rec, None)
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("the rollback failed too: app1: connection reset by peer"),
        "{msg}"
    );
    assert!(
        msg.ends_with("hint: fix the cause, then run `firedrill fault revert f1`"),
        "{msg}"
    );
    let stored = bench.stored("f1");
    assert_eq!(
        (stored.state, stored.rolled_back),
        (FaultState::Failed, false)
    );
    assert!(stored.needs_revert());
}

/// `--for`: the timer is armed (with the revert script as its input) once the change is in
/// place, never before it, and a manual revert cancels it first.
#[tokio::test]
async fn for_arms_a_timer_with_the_revert_script_and_revert_cancels_it() {
    let bench = Bench::new();
    let plan = timer::plan("f1", 600, false);
    let arm = timer::arm_script(&plan, "f1 (disk-full)");
    let disarm = timer::disarm_script(&plan);
    let node = FakeRemote::new("app1")
        .once(exact(&sudo(PREPARE)), ok(PREPARED))
        .once(exact(&sudo(INJECT)), ok(INJECTED))
        .once(exact(&sudo(&arm)), ok("armed=fd-f1-revert.timer\n"))
        .once(
            exact(&sudo(&disarm)),
            ok("cancelled the revert timer fd-f1-revert.timer\n"),
        )
        .once(
            exact(&sudo(&revert("131"))),
            ok("removed /var/backups/todo-uploads.tar\n"),
        );
    let engine = bench.engine(&node, "d");
    let mut rec = FaultRecord::new("app1", disk_full_fault());
    engine.inject(&mut rec, Some(600)).await.unwrap();
    let calls = node.calls();
    // Armed after the inject, the timer reverts exactly what it made (its inode).
    assert_eq!(calls[2].stdin.as_deref(), Some(revert("131").as_bytes()));
    let t = rec.auto_revert.clone().unwrap();
    assert_eq!(
        (t.unit.as_str(), t.after_s, t.across_reboot),
        ("fd-f1-revert", 600, true)
    );
    let done = engine.revert(&mut rec).await.unwrap();
    assert_eq!(
        done,
        Reverted::Done(vec![
            "cancelled the revert timer fd-f1-revert.timer".into(),
            "removed /var/backups/todo-uploads.tar".into()
        ])
    );
    node.assert_all_used();
}

#[test]
fn build_checks_role_and_params() {
    use crate::faults::testing::{build, node};
    use crate::spec::Role;
    let err = build("disk-full", &node("db", &[Role::Mysql]), &[]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "disk-full does not fit node db: it fills the app's data filesystem, and the node has no app role"
    );
    let app1 = node("app1", &[Role::App]);
    let err = build("disk-full", &app1, &[("path", "tmp/x")]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "disk-full: --param path=\"tmp/x\" is not valid: write an absolute file path"
    );
    let Fault::DiskFull(f) = build(
        "disk-full",
        &app1,
        &[("leave", "100"), ("path", "/srv/a.tar")],
    )
    .unwrap() else {
        panic!()
    };
    assert_eq!((f.leave_mib, f.path.as_deref()), (100, Some("/srv/a.tar")));
    assert!(f.prepare_script().contains("f=/srv/a.tar\nif [ \"$(stat -c %d \"$(dirname \"$f\")\" 2>/dev/null)\" != \"$dev\" ]; then echo"));
}

/// The scripts for real, as root, in a private mount namespace on an 8 MiB tmpfs: the app user
/// gets ENOSPC, verify sees it, and revert removes the filler and nothing else.
#[test]
#[ignore = "needs root: scripts/test"]
fn fills_a_small_tmpfs_for_real_and_removes_only_the_filler() {
    assert!(
        is_root(),
        "needs root (a private mount namespace and a tmpfs): run scripts/test"
    );
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path().to_str().unwrap().to_string();
    let mut f = DiskFull {
        leave_mib: 0,
        data_dir: format!("{t}/var/lib/todo"),
        path: Some(format!("{t}/var/backups/todo-uploads.tar")),
        filler: None,
        inode: None,
        filled_bytes: None,
    };
    let prepare = f.prepare_script();
    f.prepared(&crate::faults::text::Fields::parse(&format!(
        "filler={t}/var/backups/todo-uploads.tar\navail=8388608\n"
    )))
    .unwrap();
    let driver = format!(
        "set -e\n\
         mount -t tmpfs -o size=8m tmpfs {t}\n\
         mkdir -p {t}/var/lib/todo/uploads {t}/var/backups\n\
         chown nobody {t}/var/lib/todo/uploads\n\
         echo keep > {t}/var/lib/todo/uploads/old.bin\n\
         echo ---prepare; sh -c \"$PREPARE\"\n\
         echo ---inject; sh -c \"$INJECT\"\n\
         echo ---write\n\
         setpriv --reuid=nobody --regid=nogroup --clear-groups sh -c 'head -c 100000 /dev/zero > {t}/var/lib/todo/uploads/new.bin' 2>&1 || echo write-failed\n\
         echo ---verify; sh -c \"$VERIFY\"\n\
         echo ---revert; sh -c \"$REVERT\"; sh -c \"$REVERT\"\n\
         echo ---after; ls {t}/var/backups; cat {t}/var/lib/todo/uploads/old.bin\n\
         df -B1 --output=avail {t} | tail -n 1 | tr -d ' '\n"
    );
    let out = std::process::Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", &driver])
        .env("PREPARE", &prepare)
        .env("INJECT", f.inject_script())
        .env("VERIFY", f.verify_script())
        .env("REVERT", f.revert_script(None))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    let section = |name: &str| {
        let start = stdout.find(&format!("---{name}\n")).unwrap() + name.len() + 4;
        let rest = &stdout[start..];
        rest[..rest.find("---").unwrap_or(rest.len())].to_string()
    };
    let prepared = crate::faults::text::Fields::parse(&section("prepare"));
    assert_eq!(
        prepared.get("filler"),
        Some(format!("{t}/var/backups/todo-uploads.tar").as_str())
    );
    assert_eq!(prepared.get("mount"), Some(t.as_str()));
    let injected = crate::faults::text::Fields::parse(&section("inject"));
    assert_eq!(injected.get("avail"), Some("0"));
    assert!(
        injected.number::<u64>("size").unwrap() > 7 << 20,
        "{stdout}"
    );
    assert!(
        section("write").contains("No space left on device"),
        "{stdout}"
    );
    assert!(section("write").contains("write-failed"), "{stdout}");
    f.injected(&injected).unwrap();
    let verdict = f.verdict(&crate::faults::text::Fields::parse(&section("verify")), 0);
    assert!(verdict.active, "{verdict:?}");
    assert_eq!(
        section("revert"),
        format!("removed {t}/var/backups/todo-uploads.tar\n")
    );
    let after = section("after");
    let after: Vec<&str> = after.lines().collect();
    assert_eq!(after[0], "keep", "{stdout}");
    let free: u64 = after[1].parse().unwrap();
    assert!(free > 7 << 20, "{stdout}");
}
