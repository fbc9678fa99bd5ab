use super::*;
use crate::faults::engine::Reverted;
use crate::faults::record::FaultRecord;
use crate::faults::testing::{Bench, build, node, sh};
use crate::remote::fake::{FakeRemote, contains, ok};

#[tokio::test]
async fn throttles_the_disk_under_the_data_directory() {
    let bench = Bench::new();
    let db = node("db", &[Role::Mysql]);
    let fault = build("slow-disk", &db, &[]).unwrap();
    let remote = FakeRemote::new("db")
        .once(
            contains("findmnt"),
            ok("dir=absent\nactive=active\ndevice=/dev/vda\nmajmin=254:0\n"),
        )
        .once(contains("IOWriteIOPSMax=/dev/vda 2"), ok(""))
        .once(
            contains("io_max="),
            ok("dropin=present\nio_max=254:0 rbps=131072 wbps=131072 riops=2 wiops=2\n"),
        )
        .once(
            contains("rm -f"),
            ok("removed /etc/systemd/system/mariadb.service.d/50-io.conf\n"),
        );
    let engine = bench.engine(&remote, "d");
    let mut rec = FaultRecord::new("db", fault);
    engine.inject(&mut rec, None).await.unwrap();
    let inject = &remote.commands()[1];
    assert!(
        inject.contains("IOReadBandwidthMax=/dev/vda 131072"),
        "{inject}"
    );
    assert!(inject.contains("mariadb.service.d/50-io.conf"), "{inject}");
    assert_eq!(
        engine.verify(&mut rec).await.unwrap(),
        Verdict {
            active: true,
            detail: "mariadb.service's io.max: 254:0 rbps=131072 wbps=131072 riops=2 wiops=2"
                .into()
        }
    );
    assert_eq!(
        engine.revert(&mut rec).await.unwrap(),
        Reverted::Done(vec![
            "removed /etc/systemd/system/mariadb.service.d/50-io.conf".into()
        ])
    );
    remote.assert_all_used();
}

#[test]
fn postgres_throttles_the_clusters_unit() {
    let Fault::SlowDisk(f) = build("slow-disk", &node("db", &[Role::Postgres]), &[]).unwrap()
    else {
        panic!()
    };
    assert_eq!(f.dropin.unit, "postgresql@15-main.service");
    assert_eq!(f.data_dir, "/var/lib/postgresql");
    let err = build("slow-disk", &crate::faults::testing::app1(), &[]).unwrap_err();
    assert!(err.to_string().contains("no database role"), "{err}");
}

#[test]
fn prepared_wants_a_block_device() {
    let Fault::SlowDisk(mut f) = build("slow-disk", &node("db", &[Role::Mysql]), &[]).unwrap()
    else {
        panic!()
    };
    assert_eq!(
        f.prepared(&Fields::parse(
            "dir=absent\nactive=active\ndevice=tmpfs\nmajmin=\n"
        )),
        Err("`tmpfs` () is not a block device".into())
    );
    let v = f.verdict(&Fields::parse("dropin=absent\nio_max=\n"), 0);
    assert!(!v.active);
}

/// The revert for real against a file standing in for the cgroup's io.max: a limit left there
/// is cleared, and a second run changes nothing.
#[test]
fn revert_clears_a_limit_left_in_io_max() {
    let tmp = tempfile::tempdir().unwrap();
    let cg = tmp.path().to_str().unwrap();
    let io_max = tmp.path().join("io.max");
    std::fs::write(&io_max, "254:0 rbps=131072 wbps=131072 riops=2 wiops=2\n").unwrap();
    let Fault::SlowDisk(mut f) = build("slow-disk", &node("db", &[Role::Mysql]), &[]).unwrap()
    else {
        panic!()
    };
    f.prepared(&Fields::parse(
        "dir=existed\nactive=active\ndevice=/dev/vda\nmajmin=254:0\n",
    ))
    .unwrap();
    f.dropin.path = format!("{cg}/absent.conf");
    let stub = "systemctl() { case \"$*\" in *ControlGroup*) echo ;; *) : ;; esac; }\n";
    let script = f
        .revert_script(None)
        .replace("cg=/sys/fs/cgroup$(", &format!("cg={cg}$("));
    let out = sh(&format!("{stub}{script}"));
    assert!(out.success(), "{out:?}");
    assert_eq!(
        out.stdout_str(),
        format!("cleared the I/O limit in {cg}/io.max\n")
    );
    assert_eq!(
        std::fs::read_to_string(&io_max).unwrap(),
        "254:0 rbps=max wbps=max riops=max wiops=max\n"
    );
    // The kernel shows a cleared device as absent; a file that still says max is not a limit.
    assert_eq!(sh(&format!("{stub}{script}")).stdout_str(), "");
}
