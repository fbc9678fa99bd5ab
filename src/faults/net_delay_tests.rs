use super::*;
use crate::faults::engine::Reverted;
use crate::faults::record::FaultRecord;
use crate::faults::testing::{Bench, FakeHost, app1, build, sudo};
use crate::faults::timer;
use crate::remote::fake::{FakeRemote, exact, ok};

const PREPARE: &str = r#"d=fd-three-tier-app1
mac=52:54:00:00:00:02
if unshare --net tc qdisc add dev lo root netem delay 1ms 2>/dev/null; then echo host_netem=yes; else echo host_netem=no; fi
tap=$(virsh domiflist "$d" 2>/dev/null | awk -v mac="$mac" 'tolower($5) == tolower(mac) { print $1 }')
if [ -z "$tap" ]; then echo "domain $d has no running interface with MAC $mac; is the node up?" >&2; exit 3; fi
echo "tap=$tap"
echo "qdisc=$(tc qdisc show dev "$tap" root | head -n 1)"
"#;
const INJECT: &str = "set -e\ntap=vnet3\ndev=$tap\ntc qdisc replace dev \"$dev\" root netem delay 300ms 50ms loss 5%\n";
const VERIFY: &str = r#"tap=vnet3
dev=$tap
echo "dev=$dev"
echo "qdisc=$(tc qdisc show dev "$dev" 2>/dev/null | grep netem | head -n 1)"
"#;
const REVERT: &str = r#"tap=vnet3
dev=$tap
if tc qdisc show dev "$dev" 2>/dev/null | grep -q netem; then
  tc qdisc del dev "$dev" root
  echo "removed the netem qdisc from $dev"
fi
"#;
/// The node's interface found by the lab's MAC, inside the guest.
const GUEST_DEV: &str = r#"mac=52:54:00:00:00:02
dev=
for i in /sys/class/net/*; do
  if [ "$(cat "$i/address" 2>/dev/null)" = "$mac" ]; then dev=${i##*/}; fi
done
if [ -z "$dev" ]; then echo "no interface with MAC $mac on this node" >&2; exit 1; fi
"#;

fn fault() -> crate::faults::Fault {
    build("net-delay", &app1(), &[("jitter", "50"), ("loss", "5")]).unwrap()
}

const HOST_HAS_NETEM: &str = "tap=vnet3\nqdisc=qdisc noqueue 0: root refcnt 2\nhost_netem=yes\n";

/// On a host whose kernel has netem everything runs on the host: the node is never contacted.
#[tokio::test]
async fn runs_on_the_host_side_only() {
    let mut bench = Bench::new();
    bench.host = FakeHost {
        shell: FakeRemote::new("host")
            .logged_in_as_root()
            .once(exact(PREPARE), ok(HOST_HAS_NETEM))
            .once(exact(INJECT), ok(""))
            .once(
                exact(VERIFY),
                ok("dev=vnet3\nqdisc=qdisc netem 8001: root refcnt 2 limit 1000 delay 300ms  50ms loss 5%\n"),
            )
            .once(exact(REVERT), ok("removed the netem qdisc from vnet3\n")),
        ..FakeHost::default()
    };
    let node = FakeRemote::new("app1");
    let engine = bench.engine(&node, "fd-three-tier-app1");
    let mut rec = FaultRecord::new("app1", fault());
    engine.inject(&mut rec, None).await.unwrap();
    assert_eq!(
        engine.verify(&mut rec).await.unwrap(),
        Verdict {
            active: true,
            detail: "vnet3 (on the host): qdisc netem 8001: root refcnt 2 limit 1000 delay 300ms  50ms loss 5%"
                .into()
        }
    );
    assert_eq!(
        rec.fault.ops().summary(),
        "netem delay 300ms 50ms loss 5% on the host side of the node's link (vnet3)"
    );
    assert_eq!(
        engine.revert(&mut rec).await.unwrap(),
        Reverted::Done(vec!["removed the netem qdisc from vnet3".into()])
    );
    assert!(node.commands().is_empty());
    bench.host.shell.assert_all_used();
}

/// `--for` leaves a sleeping process on this host; a revert before it fires cancels it.
#[tokio::test]
async fn for_starts_a_sleeper_on_the_host() {
    let mut bench = Bench::new();
    let plan = timer::plan("f1", 120, true);
    let mut armed = plan.clone();
    armed.pid = Some(4242);
    bench.host = FakeHost {
        shell: FakeRemote::new("host")
            .logged_in_as_root()
            .once(exact(PREPARE), ok(HOST_HAS_NETEM))
            .once(exact(INJECT), ok(""))
            .once(
                exact(&timer::arm_script(&plan, "f1 (net-delay)")),
                ok("pid=4242\n"),
            )
            .once(
                exact(&timer::disarm_script(&armed)),
                ok("cancelled the revert timer (pid 4242)\n"),
            )
            .once(exact(REVERT), ok("removed the netem qdisc from vnet3\n")),
        ..FakeHost::default()
    };
    let node = FakeRemote::new("app1");
    let engine = bench.engine(&node, "fd-three-tier-app1");
    let mut rec = FaultRecord::new("app1", fault());
    engine.inject(&mut rec, Some(120)).await.unwrap();
    assert_eq!(rec.auto_revert.as_ref().and_then(|t| t.pid), Some(4242));
    assert_eq!(
        bench.host.shell.calls()[2].stdin.as_deref(),
        Some(REVERT.as_bytes())
    );
    engine.revert(&mut rec).await.unwrap();
    bench.host.shell.assert_all_used();
}

/// The sleeper for real: it runs the revert after the delay, and cancelling kills only it.
#[test]
fn the_host_sleeper_reverts_and_can_be_cancelled() {
    let tmp = tempfile::tempdir().unwrap();
    let mark = tmp.path().join("reverted");
    let script = format!("touch {}\n", mark.display());
    let mut plan = timer::plan("f9", 1, true);
    let arm = |plan: &crate::faults::record::AutoRevert| {
        use std::io::Write;
        let mut c = std::process::Command::new("sh")
            .arg("-c")
            .arg(timer::arm_script(plan, "f9 (net-delay)"))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        c.stdin
            .take()
            .unwrap()
            .write_all(script.as_bytes())
            .unwrap();
        let out = c.wait_with_output().unwrap();
        crate::faults::text::Fields::parse(&String::from_utf8_lossy(&out.stdout))
            .number::<u32>("pid")
            .unwrap()
    };
    arm(&plan);
    let fired = (0..50).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(100));
        mark.exists()
    });
    assert!(fired, "the sleeper did not run the revert");

    std::fs::remove_file(&mark).unwrap();
    plan.after_s = 30;
    plan.pid = Some(arm(&plan));
    // Let the exec chain (setsid, nohup, sh) settle, as it has long before any real revert.
    let settled = (0..40).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(50));
        std::fs::read(format!("/proc/{}/cmdline", plan.pid.unwrap()))
            .is_ok_and(|c| c.starts_with(b"sh\0-c\0: fd-f9-revert; sleep 30;"))
    });
    assert!(settled);
    let out = crate::faults::testing::sh(&timer::disarm_script(&plan));
    assert_eq!(
        out.stdout_str(),
        format!("cancelled the revert timer (pid {})\n", plan.pid.unwrap())
    );
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(
        !std::path::Path::new(&format!("/proc/{}", plan.pid.unwrap())).exists() || {
            // A zombie until init reaps it is gone as far as the revert is concerned.
            std::fs::read_to_string(format!("/proc/{}/stat", plan.pid.unwrap()))
                .map(|s| s.contains(") Z "))
                .unwrap_or(true)
        }
    );
    assert!(!mark.exists());
    assert_eq!(
        crate::faults::testing::sh(&timer::disarm_script(&plan)).stdout_str(),
        ""
    );
}

#[test]
fn build_needs_something_to_add() {
    let err = build("net-delay", &app1(), &[("delay", "0")]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "net-delay: --param delay=\"0\" is not valid: with no delay and no loss there is nothing to add"
    );
    let Fault::NetDelay(f) =
        build("net-delay", &app1(), &[("delay", "0"), ("loss", "20")]).unwrap()
    else {
        panic!()
    };
    assert_eq!(f.netem(), "netem loss 20%");
    let Fault::NetDelay(mut f) = fault() else {
        panic!()
    };
    assert_eq!(
        f.prepared(&crate::faults::text::Fields::parse(
            "tap=vnet3\nqdisc=qdisc netem 8001: root\nhost_netem=yes\n"
        )),
        Err("vnet3 already has a netem qdisc; remove it first".into())
    );
    assert!(
        f.prepared(&crate::faults::text::Fields::parse(
            "tap=$(reboot)\nqdisc=\n"
        ))
        .is_err()
    );
}

/// The scripts for real with stand-ins for virsh, unshare and tc (this host has no netem),
/// checking the tap is found by MAC and the qdisc commands are what tc expects.
#[test]
fn finds_the_tap_by_mac_and_calls_tc() {
    let tmp = tempfile::tempdir().unwrap();
    let bin = tmp.path();
    let log = bin.join("log");
    let write = |name: &str, body: &str| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::write(bin.join(name), body).unwrap();
        std::fs::set_permissions(bin.join(name), std::fs::Permissions::from_mode(0o755)).unwrap();
    };
    // `unshare --net CMD` runs CMD here: the probe then meets the stand-in tc, as root or not.
    write("unshare", "#!/bin/sh\nshift\nexec \"$@\"\n");
    write(
        "virsh",
        " #!/bin/sh\necho ' Interface   Type      Source              Model    MAC'\necho '---------------------------------------------'\necho ' vnet7       network   fd-three-tier-lan   virtio   52:54:00:00:00:02'\necho ' vnet8       network   other               virtio   52:54:00:00:00:09'\n"
            .trim_start(),
    );
    write(
        "tc",
        &format!(
            "#!/bin/sh\necho \"tc $*\" >> {}\n[ \"$2\" = show ] && echo 'qdisc noqueue 0: root refcnt 2'\nexit 0\n",
            log.display()
        ),
    );
    let run = |script: &str| {
        std::process::Command::new("sh")
            .arg("-c")
            .arg(script)
            .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
            .output()
            .unwrap()
    };
    let Fault::NetDelay(mut f) = fault() else {
        panic!()
    };
    let out = run(&f.prepare_script());
    assert!(out.status.success(), "{out:?}");
    f.prepared(&crate::faults::text::Fields::parse(
        &String::from_utf8_lossy(&out.stdout),
    ))
    .unwrap();
    assert_eq!(f.tap.as_deref(), Some("vnet7"));
    assert!(run(&f.inject_script()).status.success());
    let logged = std::fs::read_to_string(&log).unwrap();
    assert_eq!(
        logged,
        "tc qdisc add dev lo root netem delay 1ms\ntc qdisc show dev vnet7 root\ntc qdisc replace dev vnet7 root netem delay 300ms 50ms loss 5%\n"
    );
}

/// The prepare's netem check agrees with the kernel: on a kernel without netem (this host's,
/// for one) it refuses before anything changes; on one with netem it never says netem is
/// missing. The ground truth is adding a netem qdisc in a throwaway network namespace.
#[test]
#[ignore = "needs root: scripts/test"]
fn the_netem_check_agrees_with_the_kernel() {
    assert!(
        crate::faults::testing::is_root(),
        "needs root (unshare --net): run scripts/test"
    );
    let kernel_has_netem =
        crate::faults::testing::sh("unshare --net tc qdisc add dev lo root netem delay 1ms")
            .success();
    let Fault::NetDelay(f) = fault() else {
        panic!()
    };
    let out = crate::faults::testing::sh(&f.prepare_script());
    let said = crate::faults::text::Fields::parse(&out.stdout_str());
    assert_eq!(
        said.get("host_netem"),
        Some(if kernel_has_netem { "yes" } else { "no" }),
        "{out:?}"
    );
}

/// Without netem on the host the change goes into the node, and everything after the prepare
/// (inject, verify, revert) runs there; the summary and the verdict say so.
#[tokio::test]
async fn falls_back_to_the_guest_without_host_netem() {
    let mut bench = Bench::new();
    bench.host = FakeHost {
        shell: FakeRemote::new("host").logged_in_as_root().once(
            exact(PREPARE),
            ok("tap=vnet3\nqdisc=qdisc noqueue 0: root refcnt 2\nhost_netem=no\n"),
        ),
        ..FakeHost::default()
    };
    let inject = format!(
        "set -e\n{GUEST_DEV}modprobe sch_netem 2>/dev/null || true\n\
         if tc qdisc show dev \"$dev\" | grep -q netem; then echo \"$dev already has a netem qdisc; remove it first\" >&2; exit 1; fi\n\
         tc qdisc replace dev \"$dev\" root handle 1: prio bands 3 priomap 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1\n\
         tc qdisc add dev \"$dev\" parent 1:2 handle 20: netem delay 300ms 50ms loss 5%\n\
         tc filter add dev \"$dev\" parent 1: protocol ip prio 1 u32 match ip sport 22 0xffff flowid 1:1\n"
    );
    let verify = format!(
        "{GUEST_DEV}echo \"dev=$dev\"\necho \"qdisc=$(tc qdisc show dev \"$dev\" 2>/dev/null | grep netem | head -n 1)\"\n"
    );
    let revert = format!(
        "{GUEST_DEV}if tc qdisc show dev \"$dev\" 2>/dev/null | grep -q netem; then\n  tc qdisc del dev \"$dev\" root\n  echo \"removed the netem qdisc from $dev\"\nfi\n"
    );
    let node = FakeRemote::new("app1")
        .once(exact(&sudo(&inject)), ok(""))
        .once(
            exact(&sudo(&verify)),
            ok("dev=enp1s0\nqdisc=qdisc netem 20: parent 1:2 limit 1000 delay 300ms\n"),
        )
        .once(
            exact(&sudo(&revert)),
            ok("removed the netem qdisc from enp1s0\n"),
        );
    let engine = bench.engine(&node, "fd-three-tier-app1");
    let mut rec = FaultRecord::new("app1", fault());
    engine.inject(&mut rec, None).await.unwrap();
    assert_eq!(
        rec.fault.ops().summary(),
        "netem delay 300ms 50ms loss 5% inside the node (this host's kernel has no netem)"
    );
    assert_eq!(
        engine.verify(&mut rec).await.unwrap(),
        Verdict {
            active: true,
            detail: "enp1s0 (in the node): qdisc netem 20: parent 1:2 limit 1000 delay 300ms"
                .into()
        }
    );
    assert_eq!(
        engine.revert(&mut rec).await.unwrap(),
        Reverted::Done(vec!["removed the netem qdisc from enp1s0".into()])
    );
    node.assert_all_used();
    bench.host.shell.assert_all_used();
}

/// `side=host` on a host without netem is refused before anything changes, saying what to do;
/// `side=guest` skips the host even when it has netem.
#[test]
fn the_side_asked_for_is_kept() {
    let parse = crate::faults::text::Fields::parse;
    let Fault::NetDelay(mut host) = build("net-delay", &app1(), &[("side", "host")]).unwrap()
    else {
        panic!()
    };
    let err = host
        .prepared(&parse("tap=vnet3\nqdisc=\nhost_netem=no\n"))
        .unwrap_err();
    assert!(err.contains("use side=guest"), "{err}");
    let Fault::NetDelay(mut guest) = build("net-delay", &app1(), &[("side", "guest")]).unwrap()
    else {
        panic!()
    };
    guest
        .prepared(&parse("tap=vnet3\nqdisc=\nhost_netem=yes\n"))
        .unwrap();
    assert_eq!(guest.side, Side::Guest);
    assert!(!guest.on_host());
    assert!(build("net-delay", &app1(), &[("side", "both")]).is_err());
    // A record from before the choice existed was on the host.
    let mut old = serde_json::to_value(&guest).unwrap();
    old.as_object_mut().unwrap().remove("side");
    let old: NetDelay = serde_json::from_value(old).unwrap();
    assert_eq!(old.side, Side::Host);
}

/// The guest's scripts for real, on this machine: the interface is found by its address in
/// /sys/class/net (lo's, here) and the tc calls are what tc expects (a stand-in tc records them).
#[test]
fn the_guest_scripts_find_the_interface_by_mac() {
    let tmp = tempfile::tempdir().unwrap();
    let bin = tmp.path();
    let log = bin.join("log");
    for (name, body) in [
        (
            "tc",
            format!(
                "#!/bin/sh\necho \"tc $*\" >> {}\n[ \"$2\" = show ] && echo 'qdisc noqueue 0: root refcnt 2'\nexit 0\n",
                log.display()
            ),
        ),
        ("modprobe", "#!/bin/sh\nexit 0\n".to_string()),
    ] {
        use std::os::unix::fs::PermissionsExt;
        std::fs::write(bin.join(name), body).unwrap();
        std::fs::set_permissions(bin.join(name), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let Fault::NetDelay(mut f) = build("net-delay", &app1(), &[("side", "guest")]).unwrap() else {
        panic!()
    };
    f.mac = std::fs::read_to_string("/sys/class/net/lo/address")
        .unwrap()
        .trim()
        .to_string();
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(f.inject_script())
        .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "tc qdisc show dev lo\n\
         tc qdisc replace dev lo root handle 1: prio bands 3 priomap 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1\n\
         tc qdisc add dev lo parent 1:2 handle 20: netem delay 300ms\n\
         tc filter add dev lo parent 1: protocol ip prio 1 u32 match ip sport 22 0xffff flowid 1:1\n"
    );
    f.mac = "52:54:00:ff:ff:ff".into();
    let out = crate::faults::testing::sh(&f.verify_script());
    assert_eq!(out.status, 1);
    assert_eq!(
        out.stderr_tail(1),
        "no interface with MAC 52:54:00:ff:ff:ff on this node"
    );
}
