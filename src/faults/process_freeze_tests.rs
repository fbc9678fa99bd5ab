use super::*;
use crate::faults::engine::Reverted;
use crate::faults::record::FaultRecord;
use crate::faults::testing::{Bench, build, node, sh, sudo};
use crate::faults::text::Fields;
use crate::remote::fake::{FakeRemote, exact, ok};

const LOOK: &str = "look() { state=; start=; st=$(cat /proc/$1/stat 2>/dev/null) || return 0; set -- ${st##*) }; state=$1; start=${20}; }\n";

fn prepare() -> String {
    format!(
        r#"u=todo.service
if [ "$(systemctl is-active $u 2>/dev/null)" != active ]; then echo "$u is not running, so there is nothing to freeze" >&2; exit 3; fi
echo "main=$(systemctl show -p MainPID --value $u)"
cg=$(systemctl show -p ControlGroup --value $u)
{LOOK}for p in $(cat "/sys/fs/cgroup$cg/cgroup.procs" 2>/dev/null); do
  look $p; [ -n "$start" ] && echo "proc=$p $start $state"
done
"#
    )
}

fn inject() -> String {
    format!(
        r#"{LOOK}each() {{ look $1; if [ "$start" = "$2" ]; then kill -STOP $1 && echo "stopped=$1"; fi; }}
each 812 4711
each 815 4790
for i in 1 2 3 4 5 6 7 8 9 10; do look 812; [ "$state" = T ] && break; sleep 0.5; done
echo "state=$state"
"#
    )
}

fn verify() -> String {
    format!(
        r#"{LOOK}each() {{ look $1; if [ "$start" = "$2" ]; then echo "proc=$1 $state"; else echo "proc=$1 gone"; fi; }}
each 812 4711
each 815 4790
echo "active=$(systemctl is-active todo.service 2>/dev/null)"
"#
    )
}

fn revert() -> String {
    format!(
        r#"{LOOK}each() {{ look $1; if [ "$start" = "$2" ] && [ "$state" = T ]; then kill -CONT $1 && echo "resumed todo.service process $1"; fi; }}
each 812 4711
each 815 4790
"#
    )
}

/// The main process comes first whatever order the cgroup lists them in.
const PREPARED: &str = "main=812\nproc=815 4790 S\nproc=812 4711 S\n";

#[tokio::test]
async fn inject_verify_revert_run_exactly_these_commands() {
    let bench = Bench::new();
    let app1 = FakeRemote::new("app1")
        .once(exact(&sudo(&prepare())), ok(PREPARED))
        .once(
            exact(&sudo(&inject())),
            ok("stopped=812\nstopped=815\nstate=T\n"),
        )
        .once(
            exact(&sudo(&verify())),
            ok("proc=812 T\nproc=815 T\nactive=active\n"),
        )
        .once(
            exact(&sudo(&revert())),
            ok("resumed todo.service process 812\nresumed todo.service process 815\n"),
        );
    let engine = bench.engine(&app1, "d");
    let fault = build("process-freeze", &node("app1", &[Role::App]), &[]).unwrap();
    let mut rec = FaultRecord::new("app1", fault);
    engine.inject(&mut rec, None).await.unwrap();
    let Fault::ProcessFreeze(f) = &bench.stored(&rec.id).fault else {
        panic!("{rec:?}")
    };
    assert_eq!(
        f.processes,
        Some(vec![
            Proc {
                pid: 812,
                start: 4711
            },
            Proc {
                pid: 815,
                start: 4790
            }
        ])
    );
    assert_eq!(
        engine.verify(&mut rec).await.unwrap(),
        Verdict {
            active: true,
            detail: "todo.service: main process 812 in state T, 2 of 2 processes stopped; systemd says active".into()
        }
    );
    assert_eq!(
        engine.revert(&mut rec).await.unwrap(),
        Reverted::Done(vec![
            "resumed todo.service process 812".into(),
            "resumed todo.service process 815".into()
        ])
    );
    app1.assert_all_used();
}

#[test]
fn the_service_defaults_to_the_app_and_must_be_one_of_the_nodes() {
    let server = node("server", &[Role::Mysql, Role::App]);
    let Fault::ProcessFreeze(f) = build("process-freeze", &server, &[]).unwrap() else {
        panic!()
    };
    assert_eq!(f.service, "todo.service");
    let Fault::ProcessFreeze(f) =
        build("process-freeze", &server, &[("service", "mariadb")]).unwrap()
    else {
        panic!()
    };
    assert_eq!(f.service, "mariadb.service");
    let Fault::ProcessFreeze(f) =
        build("process-freeze", &node("lb", &[Role::Haproxy]), &[]).unwrap()
    else {
        panic!()
    };
    assert_eq!(f.service, "haproxy.service");
    let err = build("process-freeze", &server, &[("service", "sshd")]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "process-freeze: --param service=\"sshd\" is not valid: server runs: mariadb.service, todo.service"
    );
    let err = build("process-freeze", &node("bare", &[]), &[]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "process-freeze does not fit node bare: the node has no role, so no service to freeze"
    );
}

#[test]
fn a_process_stopped_by_someone_else_or_no_main_process_does_not_fit() {
    let Fault::ProcessFreeze(mut f) =
        build("process-freeze", &crate::faults::testing::app1(), &[]).unwrap()
    else {
        panic!()
    };
    assert_eq!(
        f.prepared(&Fields::parse("main=812\nproc=812 4711 T\n")),
        Err("todo.service (pid 812) is already stopped (state T); firedrill only resumes what it stopped".into())
    );
    assert_eq!(
        f.prepared(&Fields::parse("main=0\nproc=815 4790 S\n")),
        Err("systemd names no running main process of todo.service (MainPID=0)".into())
    );
    assert_eq!(f.processes, None);
}

#[test]
fn a_gone_main_process_is_not_frozen() {
    let f = ProcessFreeze {
        service: "todo.service".into(),
        processes: Some(vec![Proc { pid: 812, start: 1 }]),
    };
    let v = f.verdict(&Fields::parse("proc=812 gone\nactive=active\n"), 0);
    assert_eq!(
        v,
        Verdict {
            active: false,
            detail: "todo.service: main process 812 is gone, 0 of 1 processes stopped; systemd says active".into()
        }
    );
}

/// The scripts for real on this machine, against a child process (no root needed to signal
/// it): it is stopped, seen stopped, resumed; a record whose start time names another process
/// (the PID was reused) signals nothing.
#[test]
fn stops_and_resumes_a_real_process_and_never_a_reused_pid() {
    let mut child = std::process::Command::new("sleep")
        .arg("60")
        .spawn()
        .expect("sleep");
    let pid = child.id();
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let start: u64 = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .nth(19)
        .unwrap()
        .parse()
        .unwrap();
    let state = || {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap()
            .rsplit_once(')')
            .unwrap()
            .1
            .split_whitespace()
            .next()
            .unwrap()
            .to_string()
    };

    let reused = ProcessFreeze {
        service: "todo.service".into(),
        processes: Some(vec![Proc {
            pid,
            start: start + 1,
        }]),
    };
    let out = sh(&reused.inject_script());
    assert!(!out.stdout_str().contains("stopped="), "{out:?}");
    assert_eq!(state(), "S");

    let f = ProcessFreeze {
        service: "todo.service".into(),
        processes: Some(vec![Proc { pid, start }]),
    };
    let out = sh(&f.inject_script());
    assert_eq!(
        out.stdout_str(),
        format!("stopped={pid}\nstate=T\n"),
        "{out:?}"
    );
    assert_eq!(state(), "T");
    let v = f.verdict(&Fields::parse(&sh(&f.verify_script()).stdout_str()), 0);
    assert!(v.active, "{v:?}");
    assert_eq!(sh(&reused.revert_script(None)).stdout_str(), "");
    assert_eq!(state(), "T");
    assert_eq!(
        sh(&f.revert_script(None)).stdout_str(),
        format!("resumed todo.service process {pid}\n")
    );
    assert_ne!(state(), "T");
    // Twice: nothing left to resume.
    assert_eq!(sh(&f.revert_script(None)).stdout_str(), "");
    let v = f.verdict(&Fields::parse(&sh(&f.verify_script()).stdout_str()), 0);
    assert!(!v.active, "{v:?}");
    let _ = child.kill();
    let _ = child.wait();
}
