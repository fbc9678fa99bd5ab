use super::*;
use crate::faults::testing::{app1, build, gw_with_views, node};
use crate::faults::text::Fields;
use crate::roles::Role;

/// named.conf.local as the dns role writes it for a server with one split-horizon view.
const CONF: &str = include_str!("../../tests/golden/roles/dns-named.conf.local-split");

fn fault(params: &[(&str, &str)]) -> DnsViewOrder {
    let Fault::DnsViewOrder(f) =
        build("dns-view-order", &gw_with_views(&["inside", "lab"]), params).expect("builds")
    else {
        panic!()
    };
    f
}

#[test]
fn build_needs_a_node_with_views_and_takes_the_first_by_default() {
    let err = build("dns-view-order", &app1(), &[])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("its dns role has no split-horizon views"),
        "{err}"
    );
    let err = build("dns-view-order", &node("gw", &[Role::Dns]), &[])
        .unwrap_err()
        .to_string();
    assert!(err.contains("give it `views:` in the lab file"), "{err}");
    assert_eq!(fault(&[]).view, "inside");
    assert_eq!(fault(&[("view", "lab")]).view, "lab");
    let err = build(
        "dns-view-order",
        &gw_with_views(&["inside"]),
        &[("view", "outside")],
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("gw's views are: inside"), "{err}");
}

#[test]
fn prepared_keeps_the_next_view_and_the_catch_all() {
    let mut f = fault(&[]);
    f.prepared(&Fields::parse("views=authority inside resolver \n"))
        .expect("fits");
    assert_eq!(
        (f.before.as_str(), f.behind.as_str()),
        ("resolver", "resolver")
    );
    assert_eq!(
        f.summary(),
        "move view inside below resolver in named.conf.local"
    );
    let mut f = fault(&[]);
    let err = f
        .prepared(&Fields::parse("views=authority resolver inside \n"))
        .unwrap_err();
    assert_eq!(
        err,
        "view inside is already the last one in named.conf.local: no view matches after it"
    );
    let err = fault(&[])
        .prepared(&Fields::parse("views=authority resolver \n"))
        .unwrap_err();
    assert_eq!(err, "named.conf.local has no view inside");
}

/// Stand-ins for named-checkconf and rndc that log their arguments.
fn bench(dir: &std::path::Path) -> std::path::PathBuf {
    let log = dir.join("log");
    for name in ["named-checkconf", "rndc"] {
        use std::os::unix::fs::PermissionsExt;
        let body = format!("#!/bin/sh\necho \"{name} $*\" >> {}\n", log.display());
        std::fs::write(dir.join(name), body).expect("write");
        std::fs::set_permissions(dir.join(name), std::fs::Permissions::from_mode(0o755))
            .expect("chmod");
    }
    log
}

#[test]
fn the_view_moves_below_the_catch_all_and_back_to_the_same_bytes() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path();
    let conf = dir.join("named.conf.local");
    std::fs::write(&conf, CONF).expect("write");
    let log = bench(dir);
    let run = |script: &str| {
        let script = script.replace(LOCAL_CONF, &conf.display().to_string());
        let out = std::process::Command::new("dash")
            .arg("-c")
            .arg(&script)
            .env("PATH", format!("{}:/usr/bin:/bin", dir.display()))
            .output()
            .expect("dash");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let read = || std::fs::read_to_string(&conf).expect("read");

    let mut f = fault(&[]);
    let (code, out, err) = run(&f.prepare_script());
    assert_eq!(
        (code, out.as_str()),
        (Some(0), "views=authority inside resolver \n"),
        "{err}"
    );
    f.prepared(&Fields::parse(&out)).expect("fits");

    let (code, out, err) = run(&f.inject_script());
    assert_eq!((code, out.as_str()), (Some(0), "moved=yes\n"), "{err}");
    let inside = &CONF[CONF.find("view \"inside\"").expect("inside")
        ..CONF.find("view \"resolver\"").expect("resolver")];
    assert_eq!(
        read(),
        format!(
            "{}\n{}",
            CONF.replace(inside, ""),
            inside.trim_end_matches('\n')
        ) + "\n"
    );
    assert_eq!(
        std::fs::read_to_string(&log).expect("log"),
        "named-checkconf \nrndc reconfig\n"
    );
    let (_, out, _) = run(&f.verify_script());
    assert_eq!(out, "views=authority resolver inside \n");
    let verdict = f.verdict(&Fields::parse(&out), 0);
    assert_eq!(
        (verdict.active, verdict.detail.as_str()),
        (
            true,
            "view inside comes after resolver in named.conf.local (authority, resolver, inside): \
             its nodes get resolver's answers"
        )
    );
    // A second inject finds nothing to move.
    let (_, out, _) = run(&f.inject_script());
    assert_eq!(out, "moved=no\n");

    let (code, out, err) = run(&f.revert_script(None));
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        out,
        format!(
            "view inside is in front of resolver again in {}\n",
            conf.display()
        )
    );
    assert_eq!(read(), CONF);
    let (_, out, _) = run(&f.verify_script());
    assert!(!f.verdict(&Fields::parse(&out), 0).active);
    // Reverted twice, or after the learner's own fix: nothing to do.
    std::fs::write(&log, "").expect("clear the log");
    let (code, out, _) = run(&f.revert_script(Some(1)));
    assert_eq!(
        (
            code,
            out.as_str(),
            std::fs::read_to_string(&log).expect("log").as_str()
        ),
        (Some(0), "", "")
    );
    assert_eq!(read(), CONF);
}

#[test]
fn a_node_without_the_view_does_not_fit() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let conf = tmp.path().join("named.conf.local");
    std::fs::write(&conf, "view \"resolver\" {\n};\n").expect("write");
    let script = fault(&[])
        .prepare_script()
        .replace(LOCAL_CONF, &conf.display().to_string());
    let out = std::process::Command::new("dash")
        .args(["-c", &script])
        .output()
        .expect("dash");
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "{} has no view inside: is this the dns node, and is the lab's dns role given views:?\n",
            conf.display()
        )
    );
}
