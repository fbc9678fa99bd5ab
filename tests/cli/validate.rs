//! `firedrill validate` as a user runs it: exit codes and what lands on stderr. Only inputs whose
//! outcome does not depend on this host's routes are used; the checks themselves are unit-tested.

use super::{firedrill, scratch};
use std::path::PathBuf;

fn lab_file(name: &str, text: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::write(&path, text).expect("write test lab");
    path
}

#[test]
fn problems_exit_2_and_are_all_printed() {
    let path = lab_file(
        "validate-tabs.yaml",
        "name: t\nnetworks:\n  - {name: lan, cidr: 10.77.0.0/24}\nnodes:\n  - name: web\n\troles: [app]\n\tmemory: 1\n",
    );
    let out = firedrill(
        &scratch("validate-home-1"),
        &["validate", path.to_str().expect("a UTF-8 path")],
    );
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "");
    let p = path.display();
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "error: {p}:6:1: tab character in indentation: YAML indents with spaces only\n  \
             hint: replace the tab with spaces (for example two per level)\n\
             error: {p}:7:1: tab character in indentation: YAML indents with spaces only\n  \
             hint: replace the tab with spaces (for example two per level)\n\
             2 errors and 0 warnings: fix the errors and run `firedrill validate` again\n"
        )
    );
}

#[test]
fn a_missing_file_exits_2() {
    let out = firedrill(
        &scratch("validate-home-2"),
        &["validate", "labs/does-not-exist.yaml"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: labs/does-not-exist.yaml: cannot read the file: No such file or directory (os error 2)\n  \
         hint: check the path; ready-made labs are in labs/ and levels in labs/levels/\n\
         1 error and 0 warnings: fix the errors and run `firedrill validate` again\n"
    );
}

/// An endless input is refused after its first 4 MiB, at once (it grew to 12 GB before).
#[test]
fn an_endless_file_is_refused_with_a_bound() {
    let out = firedrill(&scratch("validate-home-3"), &["validate", "/dev/zero"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: /dev/zero: cannot read the file: it is larger than 4 MiB, far more than a lab or level file needs\n  \
         hint: check the path; ready-made labs are in labs/ and levels in labs/levels/\n\
         1 error and 0 warnings: fix the errors and run `firedrill validate` again\n"
    );
}
