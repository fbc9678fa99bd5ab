use super::*;
use crate::faults::testing::{disk_full_fault, lab_dir};

#[test]
fn ids_count_up_and_records_round_trip() {
    let (_tmp, lab) = lab_dir();
    let store = Store::new(&lab);
    assert!(store.all().unwrap().is_empty());
    let mut a = FaultRecord::new("app1", disk_full_fault());
    store.create(&mut a).unwrap();
    let mut b = FaultRecord::new("app2", disk_full_fault());
    store.create(&mut b).unwrap();
    assert_eq!((a.id.as_str(), b.id.as_str()), ("f1", "f2"));
    let mut loaded = store.load("f1").unwrap().unwrap();
    loaded.updated = a.updated.clone();
    assert_eq!(loaded, a);
    let ids: Vec<String> = store.all().unwrap().into_iter().map(|r| r.id).collect();
    assert_eq!(ids, ["f1", "f2"]);
    assert_eq!(store.load("f9").unwrap(), None);
}

#[test]
fn ids_sort_by_number_and_skip_gaps() {
    let (_tmp, lab) = lab_dir();
    let store = Store::new(&lab);
    for _ in 0..10 {
        store
            .create(&mut FaultRecord::new("app1", disk_full_fault()))
            .unwrap();
    }
    store.discard("f10").unwrap();
    store.discard("f3").unwrap();
    let ids: Vec<String> = store.all().unwrap().into_iter().map(|r| r.id).collect();
    assert_eq!(ids, ["f1", "f2", "f4", "f5", "f6", "f7", "f8", "f9"]);
    let mut next = FaultRecord::new("app1", disk_full_fault());
    store.create(&mut next).unwrap();
    assert_eq!(next.id, "f10");
}

#[test]
fn save_is_atomic_and_leaves_no_temp_file() {
    let (_tmp, lab) = lab_dir();
    let store = Store::new(&lab);
    let mut r = FaultRecord::new("app1", disk_full_fault());
    store.create(&mut r).unwrap();
    r.state = FaultState::Active;
    store.save(&r).unwrap();
    let names: Vec<String> = std::fs::read_dir(lab.faults_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, ["f1.json"]);
    assert_eq!(store.load("f1").unwrap().unwrap().state, FaultState::Active);
    let text = std::fs::read_to_string(lab.faults_dir().join("f1.json")).unwrap();
    assert!(text.contains("\"state\": \"active\""), "{text}");
    assert!(text.contains("\"kind\": \"disk-full\""), "{text}");
}

#[test]
fn an_empty_reservation_is_skipped_and_a_torn_record_is_reported() {
    let (_tmp, lab) = lab_dir();
    let store = Store::new(&lab);
    std::fs::create_dir_all(lab.faults_dir()).unwrap();
    std::fs::write(lab.faults_dir().join("f1.json"), "").unwrap();
    assert!(store.all().unwrap().is_empty());
    let mut r = FaultRecord::new("app1", disk_full_fault());
    store.create(&mut r).unwrap();
    assert_eq!(r.id, "f2", "an empty reservation still holds its id");
    std::fs::write(lab.faults_dir().join("f3.json"), "{ \"id\": ").unwrap();
    let err = store.load("f3").unwrap_err().to_string();
    assert!(err.starts_with("the fault record "), "{err}");
    assert!(err.contains("f3.json is damaged"), "{err}");
    // One damaged record does not hide or block the others.
    let scan = store.scan().unwrap();
    let ids: Vec<&str> = scan.records.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["f2"]);
    assert_eq!(scan.damaged.len(), 1);
    assert_eq!(scan.damaged[0].id, "f3");
}

#[test]
fn ids_that_could_build_a_path_are_refused_and_contents_must_match_the_file() {
    let (_tmp, lab) = lab_dir();
    let store = Store::new(&lab);
    for bad in [
        "../x",
        "f1/../../f2",
        "",
        "f",
        "F1",
        "f-1",
        "f01",
        "f1.json",
        "/etc/passwd",
    ] {
        assert!(
            matches!(store.load(bad), Err(FaultError::BadId { .. })),
            "{bad:?}"
        );
        assert!(matches!(store.forget(bad), Err(FaultError::BadId { .. })));
    }
    let mut r = FaultRecord::new("app1", disk_full_fault());
    store.create(&mut r).unwrap();
    // A record copied to another id, and one whose node name could reach a shell.
    let text = std::fs::read_to_string(lab.faults_dir().join("f1.json")).unwrap();
    std::fs::write(lab.faults_dir().join("f2.json"), &text).unwrap();
    let evil = text.replace("\"node\": \"app1\"", "\"node\": \"app1; rm -rf /\"");
    let evil = evil.replace("\"id\": \"f1\"", "\"id\": \"f3\"");
    std::fs::write(lab.faults_dir().join("f3.json"), evil).unwrap();
    let scan = store.scan().unwrap();
    assert_eq!(scan.records.len(), 1);
    let problems: Vec<(&str, &str)> = scan
        .damaged
        .iter()
        .map(|d| (d.id.as_str(), d.problem.as_str()))
        .collect();
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(
        problems[0].1.ends_with("it says it is fault `f1`"),
        "{problems:?}"
    );
    assert!(
        problems[1]
            .1
            .ends_with("node name `app1; rm -rf /` is not valid"),
        "{problems:?}"
    );
    // Forgetting sets the file aside; the others stay.
    let kept = store.forget("f2").unwrap();
    assert!(kept.exists());
    assert_eq!(store.scan().unwrap().damaged.len(), 1);
    assert_eq!(store.all().unwrap().len(), 1);
}

#[test]
fn which_states_still_need_a_revert() {
    let mut r = FaultRecord::new("app1", disk_full_fault());
    for (state, rolled_back, needs) in [
        (FaultState::Injecting, false, true),
        (FaultState::Active, false, true),
        (FaultState::Reverted, false, false),
        (FaultState::Failed, true, false),
        (FaultState::Failed, false, true),
    ] {
        r.state = state;
        r.rolled_back = rolled_back;
        assert_eq!(r.needs_revert(), needs, "{state} rolled_back={rolled_back}");
    }
}
