use super::names_moved;
use crate::host::HostFacts;
use crate::plan::testing::plan_of;

fn lab(file: &str) -> crate::spec::ValidLab {
    let host = HostFacts {
        mem_total_mib: 16 * 1024,
        images: vec!["debian-12".into()],
        ..HostFacts::default()
    };
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
    crate::spec::check(&path, &host, false)
        .expect("shipped lab is valid")
        .0
}

#[test]
fn a_repointed_dns_name_is_a_change_reset_must_undo() {
    let before = "labs/dns-cutover.yaml";
    let after = "labs/exercises/dns-cutover-db2.lab.yaml";
    // The exercise converged the lab to `after`; reset goes back to the level's lab file.
    assert!(names_moved(&plan_of(after, |_| {}), &lab(before)));
    assert!(names_moved(&plan_of(before, |_| {}), &lab(after)));
    assert!(!names_moved(&plan_of(before, |_| {}), &lab(before)));
    assert!(!names_moved(&plan_of(after, |_| {}), &lab(after)));
}

#[test]
fn a_name_added_or_removed_is_a_change_and_a_lab_without_names_is_none() {
    let file = "labs/dns-cutover.yaml";
    let without = plan_of(file, |l| l.networks[0].dns.clear());
    assert!(names_moved(&without, &lab(file)));
    assert!(!names_moved(
        &plan_of("labs/three-tier.yaml", |_| {}),
        &lab("labs/three-tier.yaml")
    ));
}

/// The test level with a setup step and a scripted fault instead of its disk-full, each with a
/// revert, played on app1.
fn scripted() -> crate::levels::level::Level {
    crate::levels::testutil::valid(&crate::levels::testutil::edit(
        "faults:\n  - kind: disk-full\n    node: app1\n    params: {leave: 0}\n",
        "setup:\n  - {node: app1, run: echo set up, revert: echo setup undone}\n\
         faults:\n  - {node: app1, run: echo broken, revert: echo fault undone}\n",
    ))
}

/// The undo of a play of `scripted()` whose setup and fault ran; the commands app1 got.
async fn undo_scripted(restored: bool, app1: crate::remote::fake::FakeRemote) -> Vec<String> {
    use crate::levels::play_state::AppliedFault;
    let level = scripted();
    let tmp = tempfile::tempdir().unwrap();
    let home = crate::paths::Home::at(tmp.path());
    let mut play = crate::levels::testutil::played();
    play.setup_done = 1;
    play.faults = vec![AppliedFault { index: 0, id: None }];
    let nodes = crate::lab::FakeNodes::new(vec![app1]);
    super::undo(&home, &level, &mut play, &nodes, restored)
        .await
        .expect("undone");
    let app1 = &nodes.nodes["app1"];
    app1.assert_all_used();
    app1.commands()
}

#[tokio::test]
async fn undo_runs_the_reverts_of_the_fault_then_the_setup() {
    use crate::remote::fake::{FakeRemote, ok, prefix};
    let app1 = FakeRemote::new("app1")
        .logged_in_as_root()
        .once(prefix("sh -c 'echo fault undone"), ok("fault undone\n"))
        .once(prefix("sh -c 'echo setup undone"), ok("setup undone\n"));
    assert_eq!(undo_scripted(false, app1).await.len(), 2);
}

/// After a restore of the snapshot from before the setup, nothing of either is left on the
/// node: nothing is run (a FakeRemote fails on any command it does not expect).
#[tokio::test]
async fn undo_after_a_restore_runs_nothing_on_the_nodes() {
    let app1 = crate::remote::fake::FakeRemote::new("app1").logged_in_as_root();
    assert_eq!(undo_scripted(true, app1).await, Vec::<String>::new());
}
