use super::*;
use crate::faults::engine::Reverted;
use crate::faults::record::FaultRecord;
use crate::faults::testing::{Bench, app1, build, node, sudo};
use crate::faults::text::Fields;
use crate::remote::fake::{FakeRemote, contains, exact, ok};
use crate::roles::Role;

fn gw() -> crate::plan::NodePlan {
    node("gw", &[Role::Router, Role::Dns])
}

fn fault(params: &[(&str, &str)]) -> DnsWrongRecord {
    let Fault::DnsWrongRecord(f) = build("dns-wrong-record", &gw(), params).unwrap() else {
        panic!()
    };
    f
}

/// The zone the dns role writes (templates/dns), for the scripts to edit.
const ZONE: &str = "; Zone network.lab of firedrill lab \"network\", served by gw.
$ORIGIN network.lab.
$TTL 300
@\tIN\tSOA\tgw.network.lab. hostmaster.network.lab. (
\t\t7\t; serial
\t\t3600\t; refresh
\t\t600\t; retry
\t\t86400\t; expire
\t\t300 )\t; negative answers
@\tIN\tNS\tgw.network.lab.
gw\tIN\tA\t10.85.0.2
app1\tIN\tA\t10.85.0.11
db\tIN\tA\t10.85.0.20
";

#[test]
fn build_checks_the_node_and_the_name() {
    let err = build("dns-wrong-record", &app1(), &[("name", "db")]).unwrap_err();
    assert!(
        err.to_string()
            .contains("app1 serves no zone: apply dns-wrong-record to the node with the dns role"),
        "{err}"
    );
    let err = build("dns-wrong-record", &gw(), &[]).unwrap_err();
    assert!(err.to_string().contains("--param name=db"), "{err}");
    assert!(build("dns-wrong-record", &gw(), &[("name", "db; reboot")]).is_err());
    assert!(build("dns-wrong-record", &gw(), &[("name", "db"), ("to", "db2")]).is_err());
    assert_eq!(fault(&[("name", "DB")]).name, "db");
}

#[test]
fn prepared_keeps_the_zone_and_refuses_a_file_elsewhere() {
    let mut f = fault(&[("name", "db")]);
    f.prepared(&Fields::parse(
        "zone=network.lab\nfile=/etc/bind/db.network.lab\nwas=10.85.0.20\nto=10.85.0.2\n",
    ))
    .unwrap();
    assert_eq!(
        f.summary(),
        "point db in network.lab at 10.85.0.2 instead of 10.85.0.20"
    );
    let mut f = fault(&[("name", "db")]);
    assert!(
        f.prepared(&Fields::parse(
            "zone=network.lab\nfile=/etc/passwd\nwas=10.85.0.20\nto=10.85.0.2\n"
        ))
        .unwrap_err()
        .contains("not under /etc/bind")
    );
}

/// Through the engine: read, edit and reload on the dns node, verify by asking the server,
/// revert only while the record is still the fault's.
#[tokio::test]
async fn edits_the_zone_on_the_dns_node() {
    let bench = Bench::new();
    let f = fault(&[("name", "db")]);
    let gw = FakeRemote::new("gw")
        .once(
            exact(&sudo(&f.prepare_script())),
            ok("zone=network.lab\nfile=/etc/bind/db.network.lab\nwas=10.85.0.20\nto=10.85.0.2\n"),
        )
        .once(
            contains("out=$(rewrite 10.85.0.20 10.85.0.2)\n"),
            ok("changed=yes\n"),
        )
        .once(contains("dig +short"), ok("answer=10.85.0.2\n"))
        .once(
            contains("out=$(rewrite 10.85.0.2 10.85.0.20)"),
            ok("db points at 10.85.0.20 again in network.lab\n"),
        );
    let engine = bench.engine(&gw, "d");
    let mut rec = FaultRecord::new("gw", Fault::DnsWrongRecord(f));
    engine.inject(&mut rec, None).await.unwrap();
    assert_eq!(
        engine.verify(&mut rec).await.unwrap(),
        Verdict {
            active: true,
            detail: "the server answers 10.85.0.2 for db.network.lab".into()
        }
    );
    assert!(gw.commands()[2].contains("@127.0.0.1 db.network.lab A"));
    assert_eq!(
        engine.revert(&mut rec).await.unwrap(),
        Reverted::Done(vec!["db points at 10.85.0.20 again in network.lab".into()])
    );
    gw.assert_all_used();
}

/// The scripts for real on a copy of a zone, with stand-ins for named-checkzone and rndc:
/// the record and the serial change, nothing else; a record the learner fixed is left alone.
#[test]
fn the_scripts_edit_only_the_record_and_the_serial() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let zf = dir.join("db.network.lab");
    std::fs::write(&zf, ZONE).unwrap();
    let conf = dir.join("named.conf.local");
    std::fs::write(
        &conf,
        format!(
            "// header\nzone \"network.lab\" {{\n\ttype primary;\n\tfile \"{}\";\n}};\n",
            zf.display()
        ),
    )
    .unwrap();
    let log = dir.join("log");
    for (name, body) in [
        (
            "named-checkzone",
            format!(
                "#!/bin/sh\necho \"named-checkzone $*\" >> {}\n",
                log.display()
            ),
        ),
        (
            "rndc",
            format!("#!/bin/sh\necho \"rndc $*\" >> {}\n", log.display()),
        ),
        // The server as loaded: what the zone file says now.
        (
            "dig",
            format!(
                "#!/bin/sh\nawk '$1 == \"db\" && $3 == \"A\" {{ print $4 }}' {}\n",
                zf.display()
            ),
        ),
    ] {
        use std::os::unix::fs::PermissionsExt;
        std::fs::write(dir.join(name), body).unwrap();
        std::fs::set_permissions(dir.join(name), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let run = |script: &str| {
        let script = script.replace(zone_edit::LOCAL_CONF, &conf.display().to_string());
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(&script)
            .env("PATH", format!("{}:/usr/bin:/bin", dir.display()))
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };

    // Prepare: the default wrong address is another node's.
    let mut f = fault(&[("name", "db")]);
    let (code, out, err) = run(&f.prepare_script());
    assert_eq!(code, Some(0), "{err}");
    let fields = Fields::parse(&out);
    assert_eq!(fields.get("zone"), Some("network.lab"));
    assert_eq!(fields.get("was"), Some("10.85.0.20"));
    assert_eq!(fields.get("to"), Some("10.85.0.2"));
    // The temporary zone file is not under /etc/bind: set what `prepared` would.
    f.zone = "network.lab".into();
    f.file = zf.display().to_string();
    f.was = Some("10.85.0.20".parse().unwrap());
    f.to = Some("10.85.0.2".parse().unwrap());

    let (code, out, err) = run(&f.inject_script());
    assert_eq!((code, out.as_str()), (Some(0), "changed=yes\n"), "{err}");
    let edited = std::fs::read_to_string(&zf).unwrap();
    assert_eq!(
        edited,
        ZONE.replace("\t\t7\t; serial", "\t\t8\t; serial")
            .replace("db\tIN\tA\t10.85.0.20", "db\tIN\tA\t10.85.0.2")
    );
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        format!(
            "named-checkzone -q network.lab {}.firedrill-new\nrndc reload network.lab IN authority\n\
             rndc flushname db.network.lab\n",
            zf.display()
        )
    );
    // A second inject finds nothing to change.
    let (_, out, _) = run(&f.inject_script());
    assert_eq!(out, "changed=no\n");

    let (code, out, err) = run(&f.revert_script(None));
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out, "db points at 10.85.0.20 again in network.lab\n");
    assert_eq!(
        std::fs::read_to_string(&zf).unwrap(),
        ZONE.replace("\t\t7\t; serial", "\t\t9\t; serial")
    );
    // Reverted twice, or after the learner fixed it: nothing to change in the zone, and the
    // server's cache forgets the name each time.
    std::fs::write(&log, "").unwrap();
    let (code, out, _) = run(&f.revert_script(None));
    assert_eq!((code, out.as_str()), (Some(0), ""));
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "rndc flushname db.network.lab\n"
    );

    // A name the zone lacks is refused before anything changes, naming the ones it has.
    let (code, _, err) = run(&fault(&[("name", "web")]).prepare_script());
    assert_eq!(code, Some(3));
    assert!(
        err.contains("network.lab has no A record named web; the names are: gw app1 db"),
        "{err}"
    );
}
