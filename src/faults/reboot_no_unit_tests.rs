use super::*;
use crate::faults::FaultError;
use crate::faults::engine::Reverted;
use crate::faults::record::{FaultRecord, FaultState};
use crate::faults::testing::{Bench, FakeHost, app1, build, node, sudo};
use crate::faults::timer;
use crate::remote::fake::{FakeRemote, exact, ok};

const PREPARE: &str = r#"echo "enabled=$(systemctl is-enabled todo.service 2>/dev/null)"
echo "active=$(systemctl is-active todo.service 2>/dev/null)"
"#;

const INJECT: &str = r#"set -e
systemctl disable --now --quiet todo.service
cd /var/lib/todo
setsid setpriv --reuid=todo --regid=todo --init-groups nohup /usr/bin/python3 /opt/todo/app.py </dev/null >/dev/null 2>&1 &
echo "pid=$!"
i=0
while [ $i -lt 50 ] && ! curl -s -o /dev/null --max-time 1 http://127.0.0.1:8080/healthz; do sleep 0.2; i=$((i + 1)); done
sync
"#;

const VERIFY: &str = r#"manual() { for p in $(pgrep -u todo -f /opt/todo/app.py); do grep -q todo.service /proc/$p/cgroup 2>/dev/null || echo $p; done; }
echo "enabled=$(systemctl is-enabled todo.service 2>/dev/null)"
echo "active=$(systemctl is-active todo.service 2>/dev/null)"
echo "manual=$(manual | tr '\n' ' ')"
echo "uptime=$(cut -d ' ' -f 1 /proc/uptime)"
"#;

const REVERT: &str = r#"set -e
manual() { for p in $(pgrep -u todo -f /opt/todo/app.py); do grep -q todo.service /proc/$p/cgroup 2>/dev/null || echo $p; done; }
for p in $(manual); do kill $p 2>/dev/null && echo "stopped the manually started app (pid $p)" || true; done
i=0
while [ $i -lt 50 ] && [ -n "$(manual)" ]; do sleep 0.1; i=$((i + 1)); done
if [ "$(systemctl is-enabled todo.service 2>/dev/null)" != enabled ]; then systemctl enable --quiet todo.service; echo "enabled todo.service"; fi
if ! systemctl is-active --quiet todo.service; then systemctl start todo.service; echo "started todo.service"; fi
"#;

fn fake() -> FakeRemote {
    FakeRemote::new("app1")
        .once(
            exact(&sudo(PREPARE)),
            ok("enabled=enabled\nactive=active\n"),
        )
        .once(exact(&sudo(INJECT)), ok("pid=812\n"))
}

#[tokio::test]
async fn inject_disables_starts_by_hand_resets_and_revert_enables() {
    let bench = Bench::new();
    let node = fake()
        .once(
            exact(&sudo(VERIFY)),
            ok("enabled=disabled\nactive=inactive\nmanual=\nuptime=95.31\n"),
        )
        .once(
            exact(&sudo(REVERT)),
            ok("enabled todo.service\nstarted todo.service\n"),
        );
    let engine = bench.engine(&node, "fd-three-tier-app1");
    let mut rec = FaultRecord::new("app1", build("reboot-no-unit", &app1(), &[]).unwrap());
    engine.inject(&mut rec, None).await.unwrap();
    assert_eq!(
        *bench.host.resets.lock().unwrap(),
        [("app1".to_string(), "fd-three-tier-app1".to_string())]
    );
    let Fault::RebootNoUnit(f) = &rec.fault else {
        panic!()
    };
    assert_eq!((f.was_active, f.pid), (Some(true), Some(812)));
    assert_eq!(
        bench.events(),
        [
            (
                "node-rebooted".to_string(),
                "app1 forcibly reset (reboot-no-unit f1)".to_string()
            ),
            (
                "fault-injected".to_string(),
                "fault reboot-no-unit injected on app1 (f1)".to_string()
            ),
        ]
    );
    let mut stored = bench.stored("f1");
    assert_eq!(
        engine.verify(&mut stored).await.unwrap(),
        Verdict {
            active: true,
            detail: "todo.service disabled; app not running; node up 95s".into()
        }
    );
    assert_eq!(
        engine.revert(&mut stored).await.unwrap(),
        Reverted::Done(vec![
            "enabled todo.service".into(),
            "started todo.service".into()
        ])
    );
    node.assert_all_used();
}

#[tokio::test]
async fn a_failed_reset_is_rolled_back() {
    let mut bench = Bench::new();
    bench.host = FakeHost {
        fail: true,
        ..FakeHost::default()
    };
    let node = fake().once(
        exact(&sudo(REVERT)),
        ok("stopped the manually started app (pid 812)\nenabled todo.service\nstarted todo.service\n"),
    );
    let mut rec = FaultRecord::new("app1", build("reboot-no-unit", &app1(), &[]).unwrap());
    let err = bench
        .engine(&node, "fd-three-tier-app1")
        .inject(&mut rec, None)
        .await
        .unwrap_err();
    assert!(matches!(err, FaultError::InjectFailed { .. }), "{err}");
    assert!(
        err.to_string().contains("app1: the forced reset through libvirt failed: libvirt reset domain fd-three-tier-app1: domain is not running"),
        "{err}"
    );
    node.assert_all_used();
    let stored = bench.stored("f1");
    assert_eq!(
        (stored.state, stored.rolled_back),
        (FaultState::Failed, true)
    );
    assert!(bench.events().is_empty());
}

/// The revert timer must survive the reset, so it is written as unit files that start at boot:
/// after the inject, before the reset.
#[tokio::test]
async fn for_writes_a_boot_timer_before_the_reset() {
    let bench = Bench::new();
    let plan = timer::plan("f1", 300, false);
    let node = FakeRemote::new("app1")
        .once(
            exact(&sudo(PREPARE)),
            ok("enabled=enabled\nactive=active\n"),
        )
        .once(exact(&sudo(INJECT)), ok("pid=812\n"))
        .once(
            exact(&sudo(&timer::arm_script(&plan, "f1 (reboot-no-unit)"))),
            ok("armed=fd-f1-revert.timer\n"),
        );
    let mut rec = FaultRecord::new("app1", build("reboot-no-unit", &app1(), &[]).unwrap());
    bench
        .engine(&node, "d")
        .inject(&mut rec, Some(300))
        .await
        .unwrap();
    assert!(rec.auto_revert.unwrap().across_reboot);
    assert_eq!(node.calls()[2].stdin.as_deref(), Some(REVERT.as_bytes()));
    node.assert_all_used();
}

#[test]
fn prepared_refuses_a_unit_that_is_not_enabled_and_build_needs_the_app_role() {
    let Fault::RebootNoUnit(mut f) = build("reboot-no-unit", &app1(), &[]).unwrap() else {
        panic!()
    };
    let err = f
        .prepared(&crate::faults::text::Fields::parse(
            "enabled=disabled\nactive=active\n",
        ))
        .unwrap_err();
    assert_eq!(
        err,
        "todo.service is not enabled (systemctl is-enabled says \"disabled\"), so there is nothing to break: enable it, or revert the fault that disabled it"
    );
    let err = build(
        "reboot-no-unit",
        &node("db", &[crate::spec::Role::Mysql]),
        &[],
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "reboot-no-unit does not fit node db: it disables the todo app's unit, and the node has no app role"
    );
    let err = build("reboot-no-unit", &app1(), &[("hard", "yes")]).unwrap_err();
    assert!(err.to_string().contains("it takes no parameters"), "{err}");
}

#[test]
fn verdict_says_who_runs_the_app() {
    let Fault::RebootNoUnit(f) = build("reboot-no-unit", &app1(), &[]).unwrap() else {
        panic!()
    };
    let v = |s: &str| f.verdict(&crate::faults::text::Fields::parse(s), 0);
    assert_eq!(
        v("enabled=disabled\nactive=inactive\nmanual=812 \n"),
        Verdict {
            active: true,
            detail: "todo.service disabled; app running from a manual start (pid 812)".into()
        }
    );
    assert_eq!(
        v("enabled=enabled\nactive=active\nmanual=\nuptime=30.0\n"),
        Verdict {
            active: false,
            detail: "todo.service enabled; todo.service running; node up 30s".into()
        }
    );
}
