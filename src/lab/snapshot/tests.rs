use super::command::render;
use super::sizes::DiskSizes;
use super::take::{self, LabSnapshot, Member};
use super::{SnapshotError, SnapshotName};
use crate::hypervisor::{DomainState, Hypervisor, Libvirt, test_domain, test_network, xml};

/// Two running nodes of lab `lab` on libvirt's test driver (shared within the process: each test
/// has its own lab name and subnet).
fn lab(hv: &Libvirt, lab: &str, octet: u8) -> Vec<Member> {
    let net = format!("fd-{lab}-lan");
    hv.define_network(&xml::network_xml(&test_network(&net, lab, octet)))
        .unwrap();
    hv.start_network(&net).unwrap();
    ["app", "db"]
        .iter()
        .map(|node| {
            let domain = format!("fd-{lab}-{node}");
            hv.define_domain(&xml::domain_xml(&test_domain(&domain, lab, &net)))
                .unwrap();
            hv.start_domain(&domain, false).unwrap();
            Member {
                node: node.to_string(),
                domain,
            }
        })
        .collect()
}

fn remove_lab(hv: &Libvirt, lab: &str, members: &[Member]) {
    for m in members {
        hv.remove_domain(&m.domain, lab).unwrap();
    }
    hv.remove_network(&format!("fd-{lab}-lan"), lab).unwrap();
}

fn state_of(hv: &Libvirt, d: &str) -> DomainState {
    hv.domain(d).unwrap().unwrap().state
}

fn name(s: &str) -> SnapshotName {
    SnapshotName::parse(s).unwrap()
}

#[test]
fn names_are_labels_and_firedrills_own_are_reserved() {
    for good in ["before-upgrade", "a", "v2", &"x".repeat(40)] {
        assert_eq!(name(good).as_str(), good);
    }
    for bad in [
        "",
        "../x",
        "a/b",
        "Upper",
        "-a",
        "a-",
        "a b",
        ".hidden",
        &"x".repeat(41),
    ] {
        let e = SnapshotName::parse(bad).unwrap_err();
        assert!(matches!(e, SnapshotError::BadName(_)), "{bad}: {e}");
        assert!(e.is_usage());
    }
    let e = SnapshotName::parse("firedrill-baseline").unwrap_err();
    assert!(matches!(e, SnapshotError::Reserved(_)), "{e}");
    assert_eq!(SnapshotName::baseline().as_str(), "firedrill-baseline");
}

/// What `restore_lab` does on the hypervisor: the check, then every node reverted.
fn restore(
    hv: &Libvirt,
    lab: &str,
    members: &[take::Member],
    name: &SnapshotName,
) -> Result<(), SnapshotError> {
    take::restorable(hv, lab, members, name)?;
    for m in members {
        take::revert(hv, m, name)?;
    }
    Ok(())
}

#[test]
fn save_leaves_every_node_running_and_restore_returns_every_node() {
    let hv = Libvirt::open(Some("test:///default")).unwrap();
    let members = lab(&hv, "sn1", 51);
    let before = name("before");
    let err = restore(&hv, "sn1", &members, &before).unwrap_err();
    assert_eq!(
        err.to_string(),
        "lab sn1 has no snapshot `before`\n  hint: it has none; `firedrill snapshot save NAME` takes one"
    );
    take::take(&hv, &members, &before).unwrap();
    take::take(&hv, &members, &SnapshotName::baseline()).unwrap();
    for m in &members {
        assert_eq!(state_of(&hv, &m.domain), DomainState::Running, "{m:?}");
    }
    let all = take::list(&hv, &members).unwrap();
    let names: Vec<&str> = all.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["before", "firedrill-baseline"]);
    assert_eq!(all[0].nodes, ["app", "db"]);

    hv.suspend_domain(&members[1].domain).unwrap();
    restore(&hv, "sn1", &members, &before).unwrap();
    for m in &members {
        assert_eq!(state_of(&hv, &m.domain), DomainState::Running, "{m:?}");
    }
    // An unknown name lists the learner's snapshots, not firedrill's own.
    let err = restore(&hv, "sn1", &members, &name("after")).unwrap_err();
    assert!(err.is_usage());
    assert!(
        err.to_string()
            .ends_with("hint: its snapshots: before (`firedrill snapshot list`)"),
        "{err}"
    );
    assert_eq!(take::remove(&hv, &members, "before").unwrap(), 2);
    assert_eq!(take::remove(&hv, &members, "before").unwrap(), 0);
    assert_eq!(take::list(&hv, &members).unwrap().len(), 1);
    remove_lab(&hv, "sn1", &members);
}

#[test]
fn a_snapshot_missing_on_a_node_restores_nothing() {
    let hv = Libvirt::open(Some("test:///default")).unwrap();
    let members = lab(&hv, "sn2", 52);
    let before = name("before");
    take::take(&hv, &members, &before).unwrap();
    // db was rebuilt since: its part of the snapshot is gone.
    assert!(hv.delete_snapshot(&members[1].domain, "before").unwrap());
    hv.suspend_domain(&members[0].domain).unwrap();
    let err = restore(&hv, "sn2", &members, &before).unwrap_err();
    assert!(
        matches!(&err, SnapshotError::Incomplete { nodes, .. } if nodes == &["db"]),
        "{err}"
    );
    assert!(err.to_string().contains("nothing was restored"), "{err}");
    // app was not reverted (a revert leaves a domain running).
    assert_eq!(state_of(&hv, &members[0].domain), DomainState::Paused);
    hv.resume_domain(&members[0].domain).unwrap();
    let listed = take::list(&hv, &members).unwrap();
    assert_eq!(listed[0].nodes, ["app"]);
    remove_lab(&hv, "sn2", &members);
}

#[test]
fn a_failed_save_still_resumes_what_it_paused() {
    let hv = Libvirt::open(Some("test:///default")).unwrap();
    let mut members = lab(&hv, "sn3", 53);
    members.push(Member {
        node: "gone".to_string(),
        domain: "fd-sn3-gone".to_string(),
    });
    let err = take::take(&hv, &members, &name("x")).unwrap_err();
    assert!(err.to_string().contains("fd-sn3-gone"), "{err}");
    for m in &members[..2] {
        assert_eq!(state_of(&hv, &m.domain), DomainState::Running, "{m:?}");
    }
    members.pop();
    remove_lab(&hv, "sn3", &members);
}

#[test]
fn list_shows_times_nodes_memory_and_the_disks_room() {
    let snapshots = [
        LabSnapshot {
            name: "firedrill-baseline".into(),
            created: 1_764_523_800,
            nodes: vec!["web".into(), "db".into()],
        },
        LabSnapshot {
            name: "before-upgrade".into(),
            created: 1_764_527_400,
            nodes: vec!["web".into()],
        },
    ];
    let disk = |on_host: u64, base: u64, before: Option<u64>| DiskSizes {
        on_host,
        memory: [
            ("firedrill-baseline", Some(base)),
            ("before-upgrade", before),
        ]
        .into_iter()
        .filter_map(|(n, s)| Some((n.to_string(), s?)))
        .collect(),
    };
    let mib = 1024 * 1024;
    let disks = [
        disk(700 * mib, 150 * mib, Some(160 * mib)),
        disk(900 * mib, 250 * mib, None),
    ];
    assert_eq!(
        render("minimal", &snapshots, &disks, 2),
        "\
NAME                     TAKEN (UTC)          NODES     MEMORY
firedrill-baseline       2025-11-30 17:30:00      2    400 MiB  (the level's baseline, for `firedrill reset`)
before-upgrade           2025-11-30 18:30:00    1/2    160 MiB
the lab's disks take 1.6 GiB on this host, with every snapshot's disk state in them
"
    );
    assert_eq!(
        render("minimal", &[], &disks, 2),
        "lab minimal has no snapshots; `firedrill snapshot save NAME` takes one\n"
    );
}

/// The lab `restore_lab` works on: three-tier renamed, its nodes' domains running in libvirt's
/// test driver with a snapshot `before`. The test driver forgets everything when its last
/// connection closes: the caller keeps this one open.
fn restorable_lab(lab_name: &str, octet: u8) -> (crate::state::LabState, Vec<Member>, Libvirt) {
    let plan = crate::plan::testing::plan_of("labs/three-tier.yaml", |l| {
        l.name = crate::paths::LabName::parse(lab_name).expect("a lab name")
    });
    let state = crate::state::of_plan(plan);
    let hv = Libvirt::open(Some(&state.uri)).unwrap();
    let net = format!("fd-{lab_name}-lan");
    hv.define_network(&xml::network_xml(&test_network(&net, lab_name, octet)))
        .unwrap();
    hv.start_network(&net).unwrap();
    let members = take::members(&state);
    for m in &members {
        hv.define_domain(&xml::domain_xml(&test_domain(&m.domain, lab_name, &net)))
            .unwrap();
        hv.start_domain(&m.domain, false).unwrap();
    }
    take::take(&hv, &members, &name("before")).unwrap();
    (state, members, hv)
}

#[tokio::test]
async fn restore_lab_reverts_every_node_then_sets_its_clock_over_its_first_login() {
    use crate::remote::fake::{FakeRemote, exact, ok, prefix};
    let (state, members, hv) = restorable_lab("sn4", 54);
    let nodes = crate::lab::FakeNodes::new(
        members
            .iter()
            .map(|m| {
                FakeRemote::new(&m.node)
                    .logged_in_as_root()
                    .once(exact("sh -c true"), ok(""))
                    .once(prefix("sh -c 'date -u -s @"), ok(""))
            })
            .collect(),
    );
    hv.suspend_domain(&members[0].domain).unwrap();
    let restored = super::restore_lab(&state, &nodes, &name("before"))
        .await
        .unwrap();
    assert!(restored.clock_failures.is_empty());
    for m in &members {
        assert_eq!(state_of(&hv, &m.domain), DomainState::Running, "{m:?}");
    }
    for n in nodes.nodes.values() {
        n.assert_all_used();
    }
    remove_lab(&hv, "sn4", &members);
}

#[tokio::test]
async fn restore_lab_with_a_part_missing_reverts_nothing_and_runs_nothing() {
    let (state, members, hv) = restorable_lab("sn5", 55);
    assert!(hv.delete_snapshot(&members[2].domain, "before").unwrap());
    hv.suspend_domain(&members[0].domain).unwrap();
    let nodes = crate::lab::FakeNodes::new(
        members
            .iter()
            .map(|m| crate::remote::fake::FakeRemote::new(&m.node))
            .collect(),
    );
    let err = super::restore_lab(&state, &nodes, &name("before"))
        .await
        .err()
        .expect("a part is missing");
    assert!(
        matches!(&err, SnapshotError::Incomplete { nodes, .. } if nodes == &[members[2].node.clone()]),
        "{err}"
    );
    // Not reverted: the paused node is still paused.
    assert_eq!(state_of(&hv, &members[0].domain), DomainState::Paused);
    for n in nodes.nodes.values() {
        assert!(n.commands().is_empty(), "{:?}", n.commands());
    }
    remove_lab(&hv, "sn5", &members);
}
