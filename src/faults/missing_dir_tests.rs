use super::*;
use crate::faults::engine::Reverted;
use crate::faults::record::FaultRecord;
use crate::faults::testing::{Bench, app1, build, is_root, sh, sudo};
use crate::faults::text::Fields;
use crate::remote::fake::{FakeRemote, exact, ok};

const PREPARE: &str = r#"p=/var/lib/todo/uploads
s=/var/lib/todo/.uploads.old
if [ ! -d "$p" ]; then echo "$p is not there to remove" >&2; exit 3; fi
if [ -e "$s" ] || [ -L "$s" ]; then echo "$s exists; firedrill needs that name to keep the uploads safe" >&2; exit 3; fi
echo "perm=$(stat -c '%a %U %G' "$p")"
echo "dev=$(stat -c %d "$p") $(stat -c %d "$(dirname "$s")")"
"#;

const INJECT: &str =
    "set -e\np=/var/lib/todo/uploads\ns=/var/lib/todo/.uploads.old\nmv -T \"$p\" \"$s\"\n";

const VERIFY: &str =
    "p=/var/lib/todo/uploads\nif [ -d \"$p\" ]; then echo present=yes; else echo present=no; fi\n";

const REVERT: &str = r#"set -e
p=/var/lib/todo/uploads
s=/var/lib/todo/.uploads.old
if [ ! -d "$s" ]; then :
elif [ ! -e "$p" ] && [ ! -L "$p" ]; then mv -T "$s" "$p"; echo "moved $p back into place"
else
  find "$s" -mindepth 1 -maxdepth 1 -exec mv -n -t "$p" {} +
  if rmdir "$s" 2>/dev/null; then echo "moved the files back into the new $p"
  else echo "kept $s: some of its files have namesakes in $p"; fi
fi
if [ -d "$p" ]; then
if [ "$(stat -c '%a %U %G' "$p")" != '755 todo todo' ]; then
  chown todo:todo "$p"
  chmod 755 "$p"
  echo "restored $p to mode 755, owner todo:todo"
fi
fi
"#;

#[tokio::test]
async fn inject_verify_revert_run_exactly_these_commands() {
    let bench = Bench::new();
    let node = FakeRemote::new("app1")
        .once(
            exact(&sudo(PREPARE)),
            ok("perm=755 todo todo\ndev=2049 2049\n"),
        )
        .once(exact(&sudo(INJECT)), ok(""))
        .once(exact(&sudo(VERIFY)), ok("present=no\n"))
        .once(
            exact(&sudo(REVERT)),
            ok("moved /var/lib/todo/uploads back into place\n"),
        );
    let engine = bench.engine(&node, "d");
    let mut rec = FaultRecord::new("app1", build("missing-dir", &app1(), &[]).unwrap());
    engine.inject(&mut rec, None).await.unwrap();
    assert_eq!(
        engine.verify(&mut rec).await.unwrap(),
        Verdict {
            active: true,
            detail: "/var/lib/todo/uploads is missing".into()
        }
    );
    assert_eq!(
        engine.revert(&mut rec).await.unwrap(),
        Reverted::Done(vec!["moved /var/lib/todo/uploads back into place".into()])
    );
    node.assert_all_used();
}

#[test]
fn another_filesystem_is_refused() {
    let Fault::MissingDir(mut f) = build("missing-dir", &app1(), &[]).unwrap() else {
        panic!()
    };
    assert_eq!(
        f.prepared(&Fields::parse("perm=755 todo todo\ndev=2049 45\n")),
        Err("/var/lib/todo/uploads is a mount point or on another filesystem than /var/lib/todo/.uploads.old; moving it would copy the files".into())
    );
}

/// For real in a temp dir: the files survive, whether the learner made a new directory
/// meanwhile or not, and a name clash keeps the stash rather than overwrite.
#[test]
#[ignore = "needs root: scripts/test"]
fn the_uploads_come_back_in_every_case() {
    assert!(
        is_root(),
        "needs root (chown in the revert): run scripts/test"
    );
    let setup = || {
        let tmp = tempfile::tempdir().unwrap();
        let t = tmp.path().to_str().unwrap().to_string();
        assert!(
            sh(&format!(
                "mkdir {t}/uploads && echo a > {t}/uploads/a.bin && chmod 750 {t}/uploads"
            ))
            .success()
        );
        let mut f = MissingDir {
            path: format!("{t}/uploads"),
            stash: format!("{t}/.uploads.old"),
            previous: None,
        };
        f.prepared(&Fields::parse(&sh(&f.prepare_script()).stdout_str()))
            .unwrap();
        assert!(sh(&f.inject_script()).success());
        assert!(
            f.verdict(&Fields::parse(&sh(&f.verify_script()).stdout_str()), 0)
                .active
        );
        (tmp, t, f)
    };

    let (_tmp, t, f) = setup();
    assert_eq!(
        sh(&f.revert_script(None)).stdout_str(),
        format!("moved {t}/uploads back into place\n")
    );
    assert_eq!(
        std::fs::read_to_string(format!("{t}/uploads/a.bin")).unwrap(),
        "a\n"
    );
    assert_eq!(sh(&f.revert_script(None)).stdout_str(), "");

    let (_tmp, t, f) = setup();
    assert!(sh(&format!("mkdir {t}/uploads && echo b > {t}/uploads/b.bin")).success());
    assert_eq!(
        sh(&f.revert_script(None)).stdout_str(),
        format!(
            "moved the files back into the new {t}/uploads\nrestored {t}/uploads to mode 750, owner root:root\n"
        )
    );
    assert_eq!(sh(&format!("ls -A {t}")).stdout_str(), "uploads\n");
    assert_eq!(
        sh(&format!("cat {t}/uploads/a.bin {t}/uploads/b.bin")).stdout_str(),
        "a\nb\n"
    );

    let (_tmp, t, f) = setup();
    assert!(
        sh(&format!(
            "mkdir -m 750 {t}/uploads && echo new > {t}/uploads/a.bin"
        ))
        .success()
    );
    assert_eq!(
        sh(&f.revert_script(None)).stdout_str(),
        format!("kept {t}/.uploads.old: some of its files have namesakes in {t}/uploads\n")
    );
    assert_eq!(
        std::fs::read_to_string(format!("{t}/.uploads.old/a.bin")).unwrap(),
        "a\n"
    );
    assert_eq!(
        std::fs::read_to_string(format!("{t}/uploads/a.bin")).unwrap(),
        "new\n"
    );
}
