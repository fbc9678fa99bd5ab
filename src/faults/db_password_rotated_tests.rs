use super::*;
use crate::faults::testing::{build, node, sh};
use crate::remote::Output;
use crate::spec::Role;

/// A stand-in for the MariaDB client: the account's hash lives in `$state`; `IDENTIFIED BY
/// 'pw'` stores `*` and pw's sha1 as the server would store a hash, `IDENTIFIED BY PASSWORD`
/// stores the hash given.
const MYSQL_STUB: &str = r#"mysql() {
  if [ "$1" = -NB ] && [ "$2" = -e ]; then
    case "$3" in
      *"SELECT Host"*) echo 10.0.0.0/255.255.255.0 ;;
      *"SELECT plugin"*) echo mysql_native_password ;;
      *"SELECT authentication_string"*) cat "$state" ;;
    esac
    return
  fi
  sql=$(cat)
  case "$sql" in
    *"IDENTIFIED BY PASSWORD '"*) h=${sql#*PASSWORD \'}; printf '%s\n' "${h%\';}" > "$state" ;;
    *"IDENTIFIED BY '"*) p=${sql#*BY \'}; p=${p%\';}; echo "*$(printf %s "$p" | sha1sum | cut -c1-40)" > "$state" ;;
  esac
}
"#;

struct Stub {
    _tmp: tempfile::TempDir,
    state: std::path::PathBuf,
    backup: String,
}

impl Stub {
    fn new() -> Stub {
        let tmp = tempfile::tempdir().unwrap();
        let state = tmp.path().join("hash");
        std::fs::write(&state, "*ORIGINALHASH\n").unwrap();
        let backup = tmp
            .path()
            .join("fd/backup.hash")
            .to_str()
            .unwrap()
            .to_string();
        Stub {
            _tmp: tmp,
            state,
            backup,
        }
    }

    fn run(&self, script: &str) -> Output {
        sh(&format!(
            "state={}\n{MYSQL_STUB}{script}",
            crate::ssh::quote(self.state.to_str().unwrap())
        ))
    }

    fn hash(&self) -> String {
        std::fs::read_to_string(&self.state).unwrap()
    }
}

fn fault(stub: &Stub) -> DbPasswordRotated {
    let Fault::DbPasswordRotated(mut f) =
        build("db-password-rotated", &node("db", &[Role::Mysql]), &[]).unwrap()
    else {
        panic!()
    };
    f.backup = stub.backup.clone();
    f
}

/// The whole life of the fault against the stand-in: the hash changes, the old one waits in
/// the backup, verify says it holds, revert puts the old hash back and removes the backup, a
/// second revert does nothing.
#[test]
fn rotates_and_gives_the_old_hash_back() {
    let stub = Stub::new();
    let mut f = fault(&stub);
    let out = stub.run(&f.prepare_script());
    assert!(out.success(), "{out:?}");
    f.prepared(&Fields::parse(&out.stdout_str())).unwrap();
    assert_eq!(f.host.as_deref(), Some("10.0.0.0/255.255.255.0"));
    let out = stub.run(&f.inject_script());
    assert!(out.success(), "{out:?}");
    f.injected(&Fields::parse(&out.stdout_str())).unwrap();
    assert_ne!(stub.hash(), "*ORIGINALHASH\n");
    assert!(!out.stdout_str().contains(stub.hash().trim()), "{out:?}");
    assert_eq!(
        std::fs::read_to_string(&stub.backup).unwrap(),
        "*ORIGINALHASH\n"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&stub.backup)
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    let verify = stub.run(&f.verify_script());
    let v = f.verdict(&Fields::parse(&verify.stdout_str()), 0);
    assert_eq!(
        v,
        Verdict {
            active: true,
            detail: "todo's password is not the one the app's config holds".into()
        }
    );
    // Prepared again while it is active: refused, the backup would be lost.
    let again = stub.run(&fault(&stub).prepare_script());
    assert_eq!(again.status, 3, "{again:?}");

    let out = stub.run(&f.revert_script(None));
    assert!(out.success(), "{out:?}");
    assert_eq!(
        out.stdout_str(),
        format!(
            "gave todo back the password the app's config holds\nremoved {}\n",
            stub.backup
        )
    );
    assert_eq!(stub.hash(), "*ORIGINALHASH\n");
    let v = f.verdict(
        &Fields::parse(&stub.run(&f.verify_script()).stdout_str()),
        0,
    );
    assert!(!v.active, "{v:?}");
    assert_eq!(stub.run(&f.revert_script(None)).stdout_str(), "");
}

/// A password the learner set since (in the database and the app's config) is theirs: revert
/// leaves it and only removes the backup.
#[test]
fn a_password_changed_again_is_left_alone() {
    let stub = Stub::new();
    let mut f = fault(&stub);
    f.prepared(&Fields::parse(&stub.run(&f.prepare_script()).stdout_str()))
        .unwrap();
    let out = stub.run(&f.inject_script());
    f.injected(&Fields::parse(&out.stdout_str())).unwrap();
    std::fs::write(&stub.state, "*LEARNERSHASH\n").unwrap();
    let v = f.verdict(
        &Fields::parse(&stub.run(&f.verify_script()).stdout_str()),
        0,
    );
    assert_eq!(
        v.detail,
        "todo's password was changed again since the fault"
    );
    assert!(!v.active);
    let out = stub.run(&f.revert_script(None));
    assert_eq!(
        out.stdout_str(),
        format!(
            "left todo's password alone: it was changed again since the fault\nremoved {}\n",
            stub.backup
        )
    );
    assert_eq!(stub.hash(), "*LEARNERSHASH\n");
}

#[test]
fn fits_database_nodes_with_their_login() {
    let Fault::DbPasswordRotated(mut f) =
        build("db-password-rotated", &node("db", &[Role::Postgres]), &[]).unwrap()
    else {
        panic!()
    };
    assert_eq!(f.engine, Engine::Postgres);
    assert_eq!(
        f.prepared(&Fields::parse("plugin=md5abc\nbefore=00\n")),
        Err(
            "the database user todo does not log in with a SCRAM-SHA-256 password (\"md5abc\")"
                .into()
        )
    );
    let err = build("db-password-rotated", &crate::faults::testing::app1(), &[]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "db-password-rotated does not fit node app1: it changes the todo user's database password, and the node has no database role"
    );
}

/// The PostgreSQL SQL for real against a private cluster on this host (a temp data dir, a
/// unix socket, no network): the SCRAM verifier changes, and revert gives back exactly the
/// verifier the role had, which is the password the app's config holds.
#[test]
#[ignore = "needs root and postgresql: scripts/test"]
fn postgres_rotates_and_restores_the_verifier_for_real() {
    assert!(
        crate::faults::testing::is_root(),
        "needs root and postgresql: run scripts/test"
    );
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path().to_str().unwrap().to_string();
    let bin = "/usr/lib/postgresql/15/bin";
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let init = sh(&format!(
        "chown postgres {t} && timeout 120 runuser -u postgres -- {bin}/initdb -D {t}/data -A trust >/dev/null && \
         timeout 60 runuser -u postgres -- {bin}/pg_ctl -D {t}/data -w -l {t}/log \
         -o \"-k {t} -p {port} -c listen_addresses=''\" start >/dev/null"
    ));
    assert!(init.success(), "{init:?}");
    struct Stop(String);
    impl Drop for Stop {
        fn drop(&mut self) {
            sh(&format!(
                "runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_ctl -D {}/data -m immediate stop >/dev/null 2>&1",
                self.0
            ));
        }
    }
    let _stop = Stop(t.clone());
    let env = format!("export PGHOST={t} PGPORT={port}\n");
    let run = |script: &str| sh(&format!("{env}{script}"));
    let verifier = || {
        run("runuser -u postgres -- psql -X -A -t -q -c \"SELECT rolpassword FROM pg_authid WHERE rolname = 'todo'\"")
            .stdout_str()
    };
    let made = run(
        "runuser -u postgres -- psql -X -q -c \"CREATE ROLE todo LOGIN PASSWORD 'AppPassw0rdFromConfig'\"",
    );
    assert!(made.success(), "{made:?}");
    let original = verifier();
    assert!(original.starts_with("SCRAM-SHA-256$"), "{original}");

    let Fault::DbPasswordRotated(mut f) =
        build("db-password-rotated", &node("db", &[Role::Postgres]), &[]).unwrap()
    else {
        panic!()
    };
    f.backup = format!("{t}/backup.hash");
    let out = run(&f.prepare_script());
    assert!(out.success(), "{out:?}");
    f.prepared(&Fields::parse(&out.stdout_str())).unwrap();
    let out = run(&f.inject_script());
    assert!(out.success(), "{out:?}");
    f.injected(&Fields::parse(&out.stdout_str())).unwrap();
    let rotated = verifier();
    assert!(rotated.starts_with("SCRAM-SHA-256$"), "{rotated}");
    assert_ne!(rotated, original);
    assert!(
        f.verdict(&Fields::parse(&run(&f.verify_script()).stdout_str()), 0)
            .active
    );

    let out = run(&f.revert_script(None));
    assert!(out.success(), "{out:?}");
    assert_eq!(
        out.stdout_str(),
        format!("gave todo back the password the app's config holds\nremoved {t}/backup.hash\n")
    );
    assert_eq!(verifier(), original);
    assert!(
        !f.verdict(&Fields::parse(&run(&f.verify_script()).stdout_str()), 0)
            .active
    );
}
