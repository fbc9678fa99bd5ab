use super::*;
use crate::faults::engine::Reverted;
use crate::faults::record::FaultRecord;
use crate::faults::testing::{Bench, Spawned, build, node, sudo};
use crate::faults::text::base64;
use crate::remote::fake::{FakeRemote, exact, ok};
use crate::spec::Role;

const PREPARE: &str = r#"if [ "$(systemctl show -p LoadState --value backup-compress.service)" = loaded ]; then echo "a unit backup-compress.service already exists on this node; firedrill will not replace it" >&2; exit 3; fi
echo "cpus=$(nproc)"
"#;

const PROGRAM: &str = "import ctypes
ctypes.CDLL(None).prctl(15, b\"xz\", 0, 0, 0)
import os
for _ in range(2 - 1):
    if os.fork() == 0:
        break
while True:
    pass
";

fn inject() -> String {
    format!(
        r#"set -e
systemd-run --quiet --collect --unit=backup-compress.service --description='Compress the nightly database backup' --uid=nobody -p StandardInput=data -p StandardInputData={} /bin/bash -c 'exec -a '\''xz -9 -T0 /var/backups/todo-db.sql'\'' /usr/bin/python3'
echo started=yes
"#,
        base64(PROGRAM.as_bytes())
    )
}

const VERIFY: &str = r#"echo "state=$(systemctl is-active backup-compress.service 2>/dev/null)"
echo "tasks=$(systemctl show -p TasksCurrent --value backup-compress.service 2>/dev/null)"
"#;

const REVERT: &str = r#"case "$(systemctl is-active backup-compress.service 2>/dev/null)" in
  active|activating|reloading) systemctl stop backup-compress.service; echo "stopped backup-compress.service" ;;
esac
systemctl reset-failed backup-compress.service 2>/dev/null || true
"#;

#[tokio::test]
async fn inject_verify_revert_run_exactly_these_commands() {
    let bench = Bench::new();
    let node2 = FakeRemote::new("app2")
        .once(exact(&sudo(PREPARE)), ok("cpus=1\n"))
        .once(exact(&sudo(&inject())), ok("started=yes\n"))
        .once(exact(&sudo(VERIFY)), ok("state=active\ntasks=2\n"))
        .once(
            exact(&sudo(REVERT)),
            ok("stopped backup-compress.service\n"),
        );
    let engine = bench.engine(&node2, "d");
    let fault = build("cpu-hog", &node("app2", &[Role::App]), &[("workers", "2")]).unwrap();
    let mut rec = FaultRecord::new("app2", fault);
    engine.inject(&mut rec, None).await.unwrap();
    assert_eq!(
        engine.verify(&mut rec).await.unwrap(),
        Verdict {
            active: true,
            detail: "backup-compress.service active (2 processes)".into()
        }
    );
    assert_eq!(
        engine.revert(&mut rec).await.unwrap(),
        Reverted::Done(vec!["stopped backup-compress.service".into()])
    );
    node2.assert_all_used();
    assert_eq!(
        start_command(2) + "echo started=yes\n",
        inject()["set -e\n".len()..]
    );
}

#[test]
fn workers_default_to_the_nodes_cpus_and_are_bounded() {
    let mut n = node("lb", &[Role::Haproxy]);
    n.domain.cpus = 2;
    let Fault::CpuHog(f) = build("cpu-hog", &n, &[]).unwrap() else {
        panic!()
    };
    assert_eq!(f.workers, 2);
    let err = build("cpu-hog", &n, &[("workers", "0")]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "cpu-hog: --param workers=\"0\" is not valid: it must be between 1 and 256"
    );
}

/// The program for real: two busy processes named `xz`, each burning CPU.
#[test]
fn the_program_burns_one_process_per_worker_under_the_name_xz() {
    let p = Spawned::python("xz -9 -T0 /var/backups/todo-db.sql", &{
        let hog = Hog {
            unit: UNIT,
            description: "",
            title: "",
            comm: "xz",
            properties: &[],
            program: &program_for_test(2),
        };
        hog.source()
    });
    assert!(
        p.wait_for(10, |s| s.group_members("xz").len() == 2),
        "{:?}",
        p.group_members("xz")
    );
    let cpu_ticks = |pid: u32| -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let after = stat
            .rsplit_once(')')
            .map(|(_, r)| r.to_string())
            .unwrap_or_default();
        // utime is field 14 of stat, the 12th after the comm.
        after
            .split_whitespace()
            .nth(11)
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let pids = p.group_members("xz");
    assert!(
        p.wait_for(10, |_| pids.iter().all(|pid| cpu_ticks(*pid) >= 20)),
        "{:?}",
        pids.iter().map(|pid| cpu_ticks(*pid)).collect::<Vec<_>>()
    );
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", p.pid())).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&cmdline),
        "xz -9 -T0 /var/backups/todo-db.sql\0"
    );
}
