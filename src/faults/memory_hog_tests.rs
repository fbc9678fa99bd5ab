use super::*;
use crate::faults::engine::Reverted;
use crate::faults::record::{FaultRecord, FaultState};
use crate::faults::testing::{Bench, Spawned, app1, build, sudo};
use crate::faults::text::base64;
use crate::remote::fake::{FakeRemote, exact, ok};

const PREPARE: &str = r#"if [ "$(systemctl show -p LoadState --value report-cache.service)" = loaded ]; then echo "a unit report-cache.service already exists on this node; firedrill will not replace it" >&2; exit 3; fi
for p in $(pgrep -x sshd); do echo "sshd=$p $(cat /proc/$p/oom_score_adj)"; done
echo "available_kib=$(awk '/^MemAvailable:/ {print $2}' /proc/meminfo)"
"#;

const PROGRAM: &str = "import ctypes
ctypes.CDLL(None).prctl(15, b\"java\", 0, 0, 0)
import time
LEAVE_KIB = 49152
CHUNK = 8 << 20
held = []
def available_kib():
    with open('/proc/meminfo') as f:
        for line in f:
            if line.startswith('MemAvailable:'):
                return int(line.split()[1])
    return 0
while True:
    spare = (available_kib() - LEAVE_KIB) * 1024
    if spare >= 1 << 20:
        held.append(b'Z' * min(CHUNK, spare))
    else:
        time.sleep(1)
";

fn inject() -> String {
    format!(
        r#"set -e
if [ "$(cat /proc/412/comm 2>/dev/null)" = sshd ]; then echo -1000 > /proc/412/oom_score_adj; fi
if [ "$(cat /proc/980/comm 2>/dev/null)" = sshd ]; then echo -1000 > /proc/980/oom_score_adj; fi
systemd-run --quiet --collect --unit=report-cache.service --description='Report cache warm-up' --uid=nobody -p StandardInput=data -p StandardInputData={} /bin/bash -c 'exec -a '\''java -Xms256m -jar /opt/reports/report-cache.jar --warm'\'' /usr/bin/python3'
i=0
while [ "$(awk '/^MemAvailable:/ {{print $2}}' /proc/meminfo)" -gt 114688 ] && [ $i -lt 180 ]; do sleep 1; i=$((i + 1)); done
"#,
        base64(PROGRAM.as_bytes())
    )
}

const VERIFY: &str = r#"echo "state=$(systemctl is-active report-cache.service 2>/dev/null)"
echo "tasks=$(systemctl show -p TasksCurrent --value report-cache.service 2>/dev/null)"
echo "available_kib=$(awk '/^MemAvailable:/ {print $2}' /proc/meminfo)"
"#;

const REVERT: &str = r#"case "$(systemctl is-active report-cache.service 2>/dev/null)" in
  active|activating|reloading) systemctl stop report-cache.service; echo "stopped report-cache.service" ;;
esac
systemctl reset-failed report-cache.service 2>/dev/null || true
if [ "$(cat /proc/412/comm 2>/dev/null)" = sshd ] && [ "$(cat /proc/412/oom_score_adj)" != 0 ]; then echo 0 > /proc/412/oom_score_adj; echo "restored oom_score_adj 0 of sshd 412"; fi
if [ "$(cat /proc/980/comm 2>/dev/null)" = sshd ] && [ "$(cat /proc/980/oom_score_adj)" != -17 ]; then echo -17 > /proc/980/oom_score_adj; echo "restored oom_score_adj -17 of sshd 980"; fi
"#;

#[test]
fn the_program_is_exactly_this() {
    assert_eq!(
        Hog {
            unit: UNIT,
            description: "",
            title: "",
            comm: "java",
            properties: &[],
            program: &program(48),
        }
        .source(),
        PROGRAM
    );
    assert_eq!(
        start_command(48),
        inject().lines().nth(3).unwrap().to_string() + "\n"
    );
}

#[tokio::test]
async fn inject_shields_sshd_and_starts_the_unit_then_revert_undoes_both() {
    let bench = Bench::new();
    let node = FakeRemote::new("app1")
        .once(
            exact(&sudo(PREPARE)),
            ok("sshd=412 0\nsshd=980 -17\navailable_kib=300000\n"),
        )
        .once(exact(&sudo(&inject())), ok(""))
        .once(
            exact(&sudo(VERIFY)),
            ok("state=active\ntasks=1\navailable_kib=50000\n"),
        )
        .once(
            exact(&sudo(REVERT)),
            ok("stopped report-cache.service\nrestored oom_score_adj 0 of sshd 412\nrestored oom_score_adj -17 of sshd 980\n"),
        );
    let engine = bench.engine(&node, "d");
    let mut rec = FaultRecord::new("app1", build("memory-hog", &app1(), &[]).unwrap());
    engine.inject(&mut rec, None).await.unwrap();
    let Fault::MemoryHog(f) = &rec.fault else {
        panic!()
    };
    assert_eq!(
        f.sshd,
        Some(vec![
            SshdAdj {
                pid: 412,
                oom_score_adj: 0
            },
            SshdAdj {
                pid: 980,
                oom_score_adj: -17
            }
        ])
    );
    let mut stored = bench.stored("f1");
    assert_eq!(
        engine.verify(&mut stored).await.unwrap(),
        Verdict {
            active: true,
            detail: "report-cache.service active; 48 MiB available".into()
        }
    );
    assert_eq!(
        engine.revert(&mut stored).await.unwrap(),
        Reverted::Done(vec![
            "stopped report-cache.service".into(),
            "restored oom_score_adj 0 of sshd 412".into(),
            "restored oom_score_adj -17 of sshd 980".into()
        ])
    );
    assert_eq!(bench.stored("f1").state, FaultState::Reverted);
    node.assert_all_used();
}

#[test]
fn verdict_needs_the_unit_and_low_memory() {
    let f = MemoryHog {
        leave_mib: 48,
        sshd: Some(vec![]),
    };
    let v = |s: &str| f.verdict(&crate::faults::text::Fields::parse(s), 0);
    assert!(!v("state=inactive\navailable_kib=50000\n").active);
    assert!(!v("state=active\navailable_kib=500000\n").active);
    assert_eq!(
        v("state=failed\navailable_kib=400000\n").detail,
        "report-cache.service failed; 390 MiB available"
    );
}

#[test]
fn prepare_refuses_when_memory_is_already_short() {
    let mut f = MemoryHog {
        leave_mib: 48,
        sshd: None,
    };
    let err = f
        .prepared(&crate::faults::text::Fields::parse("available_kib=40000\n"))
        .unwrap_err();
    assert_eq!(
        err,
        "only 39 MiB are available already, not more than the 48 MiB to leave"
    );
    assert!(
        f.prepared(&crate::faults::text::Fields::parse(
            "sshd=x 0\navailable_kib=400000\n"
        ))
        .is_err()
    );
}

/// The program for real against a stand-in /proc/meminfo that always offers more: it keeps
/// allocating, and the memory is really touched (resident), under the name `java`.
#[test]
fn the_program_touches_the_memory_it_takes() {
    let tmp = tempfile::tempdir().unwrap();
    let meminfo = tmp.path().join("meminfo");
    std::fs::write(
        &meminfo,
        "MemTotal: 999999999 kB\nMemAvailable: 10000000 kB\n",
    )
    .unwrap();
    let hog = Hog {
        unit: UNIT,
        description: "",
        title: "java -jar x.jar",
        comm: "java",
        properties: &[],
        program: &program_for_test(48, meminfo.to_str().unwrap()),
    };
    let p = Spawned::python(hog.title, &hog.source());
    let rss_kib = |s: &Spawned| -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", s.pid()))
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    assert!(
        p.wait_for(10, |s| rss_kib(s) > 40 * 1024),
        "RSS stayed at {} KiB",
        rss_kib(&p)
    );
    assert_eq!(p.group_members("java"), vec![p.pid()]);
}
