use super::*;
use crate::faults::engine::Reverted;
use crate::faults::record::FaultRecord;
use crate::faults::testing::{Bench, app1, build, sudo};
use crate::remote::fake::{FakeRemote, exact, ok, prefix};

const PREPARE: &str = r#"for u in chrony.service systemd-timesyncd.service; do
  echo "sync=$u $(systemctl is-active $u 2>/dev/null)"
done
echo "now=$(date +%s)"
"#;

const INJECT: &str = r#"set -e
systemctl stop chrony.service
step() { ns=$(date +%s%N); ns=$((ns + $1)); date -s "@$((ns / 1000000000)).$(printf %09d $((ns % 1000000000)))" >/dev/null; }
step 172800000000000
echo "now=$(date +%s)"
"#;

#[tokio::test]
async fn jumps_two_days_ahead_and_back_to_the_hosts_time() {
    let bench = Bench::new();
    let host_now = crate::faults::text::unix_now();
    let node_now = host_now + 172_800;
    let node = FakeRemote::new("app1")
        .once(
            exact(&sudo(PREPARE)),
            ok(&format!(
                "sync=chrony.service active\nsync=systemd-timesyncd.service inactive\nnow={host_now}\n"
            )),
        )
        .once(exact(&sudo(INJECT)), ok(&format!("now={node_now}\n")))
        .once(
            prefix("sudo -n sh -c 'echo \"now=$(date +%s)\"\n"),
            ok(&format!(
                "now={node_now}\nsync=chrony.service inactive\nsync=systemd-timesyncd.service inactive\n"
            )),
        )
        .once(
            prefix("sudo -n sh -c 'set -e\noff=172800\nref="),
            ok("stepped the clock back by -2d\nstarted chrony.service\n"),
        );
    let engine = bench.engine(&node, "d");
    let mut rec = FaultRecord::new("app1", build("clock-jump", &app1(), &[]).unwrap());
    engine.inject(&mut rec, None).await.unwrap();
    assert_eq!(
        serde_json::to_value(&bench.stored(&rec.id).fault).unwrap(),
        serde_json::json!({"kind": "clock-jump", "offset_s": 172_800, "sync_units": ["chrony.service"]})
    );
    let v = engine.verify(&mut rec).await.unwrap();
    assert!(v.active, "{v:?}");
    assert!(
        v.detail
            .ends_with(" from firedrill's host (stepped +2d); chrony.service inactive"),
        "{}",
        v.detail
    );
    assert_eq!(
        engine.revert(&mut rec).await.unwrap(),
        Reverted::Done(vec![
            "stepped the clock back by -2d".into(),
            "started chrony.service".into()
        ])
    );
    // The revert's reference is this host's clock when it runs.
    let revert = &node.commands()[3];
    let reference: i64 = revert
        .split("\nref=")
        .nth(1)
        .and_then(|r| r.split('\n').next())
        .and_then(|r| r.parse().ok())
        .unwrap();
    assert!((reference - crate::faults::text::unix_now()).abs() <= 5);
    node.assert_all_used();
}

#[test]
fn the_jump_is_forward_and_at_least_an_hour() {
    let Fault::ClockJump(f) = build("clock-jump", &app1(), &[("by", "36h")]).unwrap() else {
        panic!()
    };
    assert_eq!(f.clock.offset_s, 129_600);
    assert_eq!(f.summary(), "stop time sync and step the clock +1d12h");
    for (by, why) in [
        (
            "-2d",
            "\"-2d\" is not a duration: write a number and a unit (s, m, h, d), like 90s, 10m or 1h30m",
        ),
        (
            "30m",
            "a jump is between 1h and 3650d ahead (for smaller steps, either way, use time-drift mode=clock)",
        ),
        (
            "3651d",
            "a jump is between 1h and 3650d ahead (for smaller steps, either way, use time-drift mode=clock)",
        ),
    ] {
        let err = build("clock-jump", &app1(), &[("by", by)]).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("clock-jump: --param by={by:?} is not valid: {why}")
        );
    }
    // The longest jump stays inside the shell's 64-bit nanoseconds.
    let Fault::ClockJump(f) = build("clock-jump", &app1(), &[("by", "3650d")]).unwrap() else {
        panic!()
    };
    let ns = (crate::faults::text::unix_now() + f.clock.offset_s) as i128 * 1_000_000_000;
    assert!(ns < i64::MAX as i128);
}
