use super::*;
use crate::faults::engine::Reverted;
use crate::faults::record::FaultRecord;
use crate::faults::testing::{Bench, app1, build, is_root, node, sudo};
use crate::remote::fake::{FakeRemote, exact, ok};

const PREPARE: &str = r#"p=/var/lib/todo/uploads
img=/srv/todo-uploads.img
if [ ! -d "$p" ]; then echo "$p does not exist: the todo app is not installed here" >&2; exit 3; fi
if mountpoint -q "$p"; then echo "$p is a mount point already; firedrill mounts its volume only on a plain directory" >&2; exit 3; fi
if [ -e "$img" ] || [ -L "$img" ]; then echo "$img already exists, and firedrill only removes files it made" >&2; exit 3; fi
if [ ! -d "$(dirname "$img")" ]; then echo "$(dirname "$img") does not exist" >&2; exit 3; fi
echo "perm=$(stat -c '%a %U %G' "$p")"
"#;

const INJECT: &str = r#"set -e
p=/var/lib/todo/uploads
img=/srv/todo-uploads.img
d=/var/lib/todo/uploads/.partial
if [ -e "$img" ] || [ -L "$img" ]; then echo "$img appeared after firedrill checked; not touching it" >&2; exit 3; fi
truncate -s 64M "$img"
echo "image_inode=$(stat -c %i "$img")"
mkfs.ext4 -q -F -N 1024 -m 0 -L todo-uploads "$img"
mount -o loop,nodev,nosuid,noexec "$img" "$p"
chown todo:todo "$p"
chmod 755 "$p"
mkdir "$d"
n=0
while { true > "$d/upload-$n.part"; } 2>/dev/null; do n=$((n + 1)); done
chown -R todo:todo "$d"
echo "files=$n"
echo "ifree=$(df --output=iavail "$p" | tail -n 1 | tr -d ' ')"
"#;

const OURS: &str = "ours() { src=$(findmnt -n -o SOURCE --mountpoint \"$p\" 2>/dev/null | tail -n 1); case \"$src\" in /dev/loop*) [ \"$(losetup -n -O BACK-FILE \"$src\" 2>/dev/null)\" = \"$img\" ] && echo yes ;; esac; }\n";

fn verify() -> String {
    format!(
        r#"p=/var/lib/todo/uploads
img=/srv/todo-uploads.img
{OURS}if [ "$(ours)" = yes ]; then
  echo mounted=yes
  echo "ifree=$(df --output=iavail "$p" | tail -n 1 | tr -d ' ')"
  echo "avail=$(df -B1 --output=avail "$p" | tail -n 1 | tr -d ' ')"
else echo mounted=no; fi
"#
    )
}

fn revert(ino: &str) -> String {
    format!(
        r#"set -e
p=/var/lib/todo/uploads
img=/srv/todo-uploads.img
ino={ino}
{OURS}m=
if [ "$(ours)" = yes ]; then m=$p
elif [ -f "$img" ] && {{ [ -z "$ino" ] || [ "$(stat -c %i "$img")" = "$ino" ]; }} && [ "$(blkid -o value -s LABEL "$img" 2>/dev/null)" = todo-uploads ]; then
  m=$(mktemp -d /run/firedrill-volume.XXXXXX); mount -o loop,nodev,nosuid,noexec "$img" "$m"
fi
if [ -n "$m" ]; then
  n=0
  for f in "$m/.partial"/upload-*.part; do
    case "${{f##*/}}" in upload-*[!0-9]*.part) continue ;; esac
    if [ -f "$f" ] && [ ! -L "$f" ] && [ ! -s "$f" ]; then rm -f "$f"; n=$((n + 1)); fi
  done
  rmdir "$m/.partial" 2>/dev/null || true
  [ "$n" -eq 0 ] || echo "removed $n empty partial uploads"
  rmdir "$m/lost+found" 2>/dev/null || true
  s=
  if [ -n "$(ls -A "$m")" ]; then
    s=$(mktemp -d "$(dirname "$p")/.uploads-from-volume.XXXXXX")
    find "$m" -mindepth 1 -maxdepth 1 -exec mv -t "$s" {{}} +
  fi
  umount "$m" 2>/dev/null || umount -l "$m"
  echo "unmounted the volume from $m"
  [ "$m" = "$p" ] || rmdir "$m"
  if [ -n "$s" ]; then
    find "$s" -mindepth 1 -maxdepth 1 -exec mv -n -t "$p" {{}} +
    if rmdir "$s" 2>/dev/null; then echo "moved the files written to the volume into $p"
    else echo "kept $s: some of the files written to the volume have namesakes in $p"; fi
  fi
fi
if [ ! -f "$img" ]; then :
elif [ -n "$ino" ] && [ "$(stat -c %i "$img")" != "$ino" ]; then echo "left $img: it is not the file firedrill made (another inode)"
else rm -f "$img"; echo "removed $img"; fi
"#
    )
}

#[tokio::test]
async fn inject_verify_revert_run_exactly_these_commands() {
    let bench = Bench::new();
    let app = FakeRemote::new("app1")
        .once(exact(&sudo(PREPARE)), ok("perm=755 todo todo\n"))
        .once(
            exact(&sudo(INJECT)),
            ok("image_inode=391\nfiles=1012\nifree=0\n"),
        )
        .once(
            exact(&sudo(&verify())),
            ok("mounted=yes\nifree=0\navail=61295616\n"),
        )
        .once(
            exact(&sudo(&revert("391"))),
            ok("removed 1012 empty partial uploads\nunmounted the volume from /var/lib/todo/uploads\nremoved /srv/todo-uploads.img\n"),
        );
    let engine = bench.engine(&app, "d");
    let mut rec = FaultRecord::new("app1", build("inode-exhaustion", &app1(), &[]).unwrap());
    engine.inject(&mut rec, None).await.unwrap();
    let Fault::InodeExhaustion(f) = &bench.stored(&rec.id).fault else {
        panic!()
    };
    assert_eq!((f.image_inode, f.files), (Some(391), Some(1012)));
    assert_eq!(
        engine.verify(&mut rec).await.unwrap(),
        Verdict {
            active: true,
            detail: "/var/lib/todo/uploads (/srv/todo-uploads.img): 0 inodes free, 58 MiB free"
                .into()
        }
    );
    assert_eq!(
        engine.revert(&mut rec).await.unwrap(),
        Reverted::Done(vec![
            "removed 1012 empty partial uploads".into(),
            "unmounted the volume from /var/lib/todo/uploads".into(),
            "removed /srv/todo-uploads.img".into()
        ])
    );
    app.assert_all_used();
}

#[test]
fn only_an_app_node_fits_and_an_unmounted_volume_does_not_hold() {
    let err = build("inode-exhaustion", &node("db", &[Role::Mysql]), &[]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "inode-exhaustion does not fit node db: it fills the todo app's upload filesystem, and the node has no app role"
    );
    let Fault::InodeExhaustion(f) = build("inode-exhaustion", &app1(), &[]).unwrap() else {
        panic!()
    };
    assert_eq!(
        f.verdict(&Fields::parse("mounted=no\n"), 0),
        Verdict {
            active: false,
            detail: "/srv/todo-uploads.img is not mounted on /var/lib/todo/uploads".into()
        }
    );
    assert!(
        !f.verdict(&Fields::parse("mounted=yes\nifree=3\navail=1\n"), 0)
            .active
    );
}

/// The scripts for real, as root, in a private mount namespace, on a temp dir standing in for
/// /var/lib/todo and /srv: the app user gets "No space left on device" with megabytes free;
/// after the learner frees a few inodes an upload lands on the volume; revert brings that
/// upload into the real directory beside the old one and leaves nothing of the volume. A
/// second round is unmounted first (a reboot): revert mounts the image for a moment.
#[test]
#[ignore = "needs root: scripts/test"]
fn exhausts_the_inodes_of_a_real_volume_and_leaves_only_the_uploads() {
    assert!(
        is_root(),
        "needs root (a private mount namespace and a loop device): run scripts/test"
    );
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path().to_str().unwrap().to_string();
    let fault = |t: &str| InodeExhaustion {
        path: format!("{t}/todo/uploads"),
        image: format!("{t}/srv/todo-uploads.img"),
        previous: None,
        image_inode: None,
        files: None,
    };
    let mut f = fault(&t);
    let mut g = fault(&t);
    let prepared = Fields::parse("perm=750 nobody nogroup\n");
    f.prepared(&prepared).unwrap();
    g.prepared(&prepared).unwrap();
    let as_nobody = "setpriv --reuid=nobody --regid=nogroup --clear-groups";
    let driver = format!(
        "set -e\n\
         mkdir -p {t}/todo/uploads {t}/srv\n\
         chown nobody:nogroup {t}/todo/uploads; chmod 750 {t}/todo/uploads\n\
         echo old > {t}/todo/uploads/old.bin\n\
         echo ---prepare; sh -c \"$PREPARE\"\n\
         echo ---inject; sh -c \"$INJECT\"\n\
         echo ---write\n\
         {as_nobody} sh -c 'echo new > {t}/todo/uploads/new.bin' 2>&1 || echo write-failed\n\
         df -B1 --output=avail {t}/todo/uploads | tail -n 1 | tr -d ' '\n\
         echo ---verify; sh -c \"$VERIFY\"\n\
         rm {t}/todo/uploads/.partial/upload-0.part {t}/todo/uploads/.partial/upload-1.part\n\
         {as_nobody} sh -c 'echo new > {t}/todo/uploads/new.bin'\n\
         echo ---revert; sh -c \"$REVERT\"; echo ---again; sh -c \"$REVERT\"\n\
         echo ---after; ls -A {t}/todo/uploads {t}/srv; cat {t}/todo/uploads/new.bin; stat -c '%a %U' {t}/todo/uploads\n\
         echo ---inject2; sh -c \"$INJECT\" >/dev/null; umount {t}/todo/uploads\n\
         echo ---revert2; sh -c \"$REVERT2\"\n\
         echo ---after2; ls -A {t}/todo/uploads {t}/srv; ls /run | grep -c firedrill-volume || true\n"
    );
    let out = std::process::Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", &driver])
        .env("PREPARE", f.prepare_script())
        .env("INJECT", f.inject_script())
        .env("VERIFY", f.verify_script())
        .env("REVERT", f.revert_script(None))
        .env("REVERT2", g.revert_script(None))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    let section = |name: &str| {
        let start = stdout.find(&format!("---{name}\n")).unwrap() + name.len() + 4;
        let rest = &stdout[start..];
        rest[..rest.find("---").unwrap_or(rest.len())].to_string()
    };
    assert_eq!(
        Fields::parse(&section("prepare")).get("perm"),
        Some("750 nobody nogroup")
    );
    let injected = Fields::parse(&section("inject"));
    assert_eq!(injected.get("ifree"), Some("0"), "{stdout}");
    let files: u64 = injected.number("files").unwrap();
    assert!((1000..1024).contains(&files), "{stdout}");
    f.injected(&injected).unwrap();
    let write = section("write");
    assert!(write.contains("No space left on device"), "{stdout}");
    assert!(write.contains("write-failed"), "{stdout}");
    let free: u64 = write.lines().last().unwrap().parse().unwrap();
    assert!(free > 50 << 20, "{stdout}");
    let verdict = f.verdict(&Fields::parse(&section("verify")), 0);
    assert!(verdict.active, "{verdict:?}");
    assert_eq!(
        section("revert"),
        format!(
            "removed {} empty partial uploads\nunmounted the volume from {t}/todo/uploads\n\
             moved the files written to the volume into {t}/todo/uploads\nremoved {t}/srv/todo-uploads.img\n",
            files - 2
        )
    );
    assert_eq!(section("again"), "");
    assert_eq!(
        section("after"),
        format!("{t}/srv:\n\n{t}/todo/uploads:\nnew.bin\nold.bin\nnew\n750 nobody\n")
    );
    let revert2 = section("revert2");
    assert!(
        revert2.starts_with(&format!("removed {files} empty partial uploads\nunmounted the volume from /run/firedrill-volume.")),
        "{stdout}"
    );
    assert!(
        revert2.ends_with(&format!("removed {t}/srv/todo-uploads.img\n")),
        "{stdout}"
    );
    assert_eq!(
        section("after2"),
        format!("{t}/srv:\n\n{t}/todo/uploads:\nnew.bin\nold.bin\n0\n")
    );
}
