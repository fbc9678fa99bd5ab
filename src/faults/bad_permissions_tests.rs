use super::*;
use crate::faults::engine::Reverted;
use crate::faults::record::FaultRecord;
use crate::faults::testing::{Bench, app1, build, is_root, node, sh, sudo};
use crate::faults::text::Fields;
use crate::remote::fake::{FakeRemote, exact, ok};

const PREPARE: &str = r#"p=/var/lib/todo/uploads
if [ ! -e "$p" ]; then echo "$p does not exist" >&2; exit 3; fi
echo "perm=$(stat -c '%a %U %G' "$p")"
if runuser -u todo -- test -w "$p"; then echo access=yes; else echo access=no; fi
"#;

const INJECT: &str = r#"set -e
p=/var/lib/todo/uploads
chown root:root "$p"
if runuser -u todo -- test -w "$p"; then echo access=yes; else echo access=no; fi
"#;

const VERIFY: &str = r#"p=/var/lib/todo/uploads
echo "perm=$(stat -c '%a %U %G' "$p")"
if runuser -u todo -- test -w "$p"; then echo access=yes; else echo access=no; fi
"#;

const REVERT: &str = r#"set -e
p=/var/lib/todo/uploads
if [ "$(stat -c '%a %U %G' "$p")" != '755 todo todo' ]; then
  chown todo:todo "$p"
  chmod 755 "$p"
  echo "restored $p to mode 755, owner todo:todo"
fi
"#;

#[tokio::test]
async fn uploads_owner_inject_verify_revert_run_exactly_these_commands() {
    let bench = Bench::new();
    let node = FakeRemote::new("app1")
        .once(
            exact(&sudo(PREPARE)),
            ok("perm=755 todo todo\naccess=yes\n"),
        )
        .once(exact(&sudo(INJECT)), ok("access=no\n"))
        .once(exact(&sudo(VERIFY)), ok("perm=755 root root\naccess=no\n"))
        .once(
            exact(&sudo(REVERT)),
            ok("restored /var/lib/todo/uploads to mode 755, owner todo:todo\n"),
        );
    let engine = bench.engine(&node, "d");
    let mut rec = FaultRecord::new("app1", build("bad-permissions", &app1(), &[]).unwrap());
    engine.inject(&mut rec, None).await.unwrap();
    assert_eq!(
        engine.verify(&mut rec).await.unwrap(),
        Verdict {
            active: true,
            detail: "/var/lib/todo/uploads 755 root root; todo cannot write it".into()
        }
    );
    assert_eq!(
        engine.revert(&mut rec).await.unwrap(),
        Reverted::Done(vec![
            "restored /var/lib/todo/uploads to mode 755, owner todo:todo".into()
        ])
    );
    node.assert_all_used();
}

#[test]
fn config_mode_restarts_the_app_both_ways() {
    let Fault::BadPermissions(mut f) = build(
        "bad-permissions",
        &app1(),
        &[("target", "config"), ("how", "mode")],
    )
    .unwrap() else {
        panic!()
    };
    assert_eq!(f.path, "/etc/todo/config.ini");
    assert!(f.prepare_script().ends_with(
        "if runuser -u todo -- test -r \"$p\"; then echo access=yes; else echo access=no; fi\n\
         echo \"app=$(systemctl is-active todo.service 2>/dev/null)\"\n"
    ));
    f.prepared(&Fields::parse(
        "perm=640 root todo\naccess=yes\napp=active\n",
    ))
    .unwrap();
    assert_eq!(
        f.inject_script(),
        "set -e\np=/etc/todo/config.ini\nchmod 600 \"$p\"\nsystemctl restart todo.service || true\n\
         if runuser -u todo -- test -r \"$p\"; then echo access=yes; else echo access=no; fi\n"
    );
    assert_eq!(
        f.revert_script(None),
        "set -e\np=/etc/todo/config.ini\n\
         if [ \"$(stat -c '%a %U %G' \"$p\")\" != '640 root todo' ]; then\n  chown root:todo \"$p\"\n  chmod 640 \"$p\"\n\
         \x20 echo \"restored $p to mode 640, owner root:todo\"\nfi\n\
         systemctl reset-failed todo.service 2>/dev/null || true\nsystemctl restart todo.service\necho 'restarted todo.service'\n"
    );
    assert_eq!(
        f.injected(&Fields::parse("access=yes\n")),
        Err("todo can still get at /etc/todo/config.ini after the change".into())
    );
}

#[test]
fn build_and_prepare_refuse_what_would_not_teach_anything() {
    let err = build(
        "bad-permissions",
        &node("lb", &[crate::spec::Role::Haproxy]),
        &[],
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "bad-permissions does not fit node lb: it breaks the todo app's files, and the node has no app role"
    );
    let err = build("bad-permissions", &app1(), &[("target", "logs")]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "bad-permissions: --param target=\"logs\" is not valid: choose one of: uploads, config"
    );
    let Fault::BadPermissions(mut f) = build("bad-permissions", &app1(), &[]).unwrap() else {
        panic!()
    };
    assert_eq!(
        f.prepared(&Fields::parse("perm=755 root root\naccess=no\n")),
        Err(
            "todo already cannot get at /var/lib/todo/uploads (755 root:root); fix that first"
                .into()
        )
    );
    assert_eq!(Perm::parse("2775 a b").unwrap().mode, "2775");
    assert!(Perm::parse("rwx a b").is_err());
    assert!(Perm::parse("755 a").is_err());
}

/// The scripts for real on a temp directory owned by `nobody`, for both ways of breaking it.
#[test]
#[ignore = "needs root: scripts/test"]
fn owner_and_mode_changes_are_made_and_undone_for_real() {
    assert!(is_root(), "needs root (chown): run scripts/test");
    for how in [How::Owner, How::Mode] {
        let tmp = tempfile::tempdir().unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let dir = tmp.path().join("uploads");
        std::fs::create_dir(&dir).unwrap();
        let d = dir.to_str().unwrap().to_string();
        assert!(sh(&format!("chown nobody:nogroup {d} && chmod 755 {d}")).success());
        let mut f = BadPermissions {
            target: Target::Uploads,
            how,
            path: d.clone(),
            user: "nobody".into(),
            previous: None,
            app_was_active: None,
        };
        let fields = |s: &str| Fields::parse(&sh(s).stdout_str());
        f.prepared(&fields(&f.prepare_script())).unwrap();
        assert_eq!(f.previous.as_ref().unwrap().owner, "nobody");
        let out = sh(&f.inject_script());
        assert!(out.success(), "{out:?}");
        f.injected(&Fields::parse(&out.stdout_str())).unwrap();
        assert!(f.verdict(&fields(&f.verify_script()), 0).active, "{how:?}");
        let out = sh(&f.revert_script(None));
        assert_eq!(
            out.stdout_str(),
            format!("restored {d} to mode 755, owner nobody:nogroup\n")
        );
        assert_eq!(
            sh(&format!("stat -c '%a %U %G' {d}")).stdout_str(),
            "755 nobody nogroup\n"
        );
        assert!(!f.verdict(&fields(&f.verify_script()), 0).active);
        assert_eq!(sh(&f.revert_script(None)).stdout_str(), "");
    }
}
