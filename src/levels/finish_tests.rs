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
