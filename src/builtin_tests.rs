use super::*;

const V1: &[File] = &[
    ("three-tier.yaml", b"name: three-tier\n"),
    (
        "levels/disk-full.yaml",
        b"id: disk-full\nlab: ../three-tier.yaml\n",
    ),
    ("levels/README.md", b"# Levels\n"),
];

const V2: &[File] = &[
    ("three-tier.yaml", b"name: three-tier\n"),
    (
        "levels/disk-full.yaml",
        b"id: disk-full\nlab: ../three-tier.yaml\nminutes: 20\n",
    ),
];

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn names_must_be_plain_relative_paths() {
    for good in [
        "three-tier.yaml",
        "levels/disk-full.yaml",
        "exercises/a/b.yaml",
    ] {
        assert_eq!(checked_name(good).unwrap(), PathBuf::from(good));
    }
    for bad in [
        "",
        "/etc/passwd",
        "../x.yaml",
        "levels/../../x",
        "levels/./x",
        "levels//x",
        "levels/",
        ".firedrill-builtin",
        "levels/.hidden",
        "a\0b",
    ] {
        let err = checked_name(bad).unwrap_err();
        assert!(
            matches!(err, BuiltinError::BadName(ref n) if n == bad),
            "{bad:?}: {err}"
        );
    }
}

#[test]
fn the_shipped_files_have_good_names_and_include_levels_and_labs() {
    for (name, _) in FILES {
        checked_name(name).unwrap();
    }
    let has = |n: &str| FILES.iter().any(|(name, _)| *name == n);
    assert!(has("three-tier.yaml") && has("levels/disk-full.yaml") && has("levels/README.md"));
    assert!(has("exercises/README.md"));
    assert!(lab_names().contains(&"three-tier") && lab_names().contains(&"minimal"));
    assert!(!lab_names().iter().any(|n| n.contains('/')));
}

#[test]
fn a_bad_name_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().join("share/labs");
    let files: &[File] = &[("ok.yaml", b"x"), ("../escape.yaml", b"x")];
    let err = materialise(&base, files).unwrap_err();
    assert_eq!(
        err.to_string(),
        "built-in file `../escape.yaml` does not have a plain relative name\n  hint: this firedrill was built from a broken labs/ directory; rebuild it from a clean checkout"
    );
    assert!(!base.exists());
    assert!(!tmp.path().join("share/escape.yaml").exists());
}

#[test]
fn written_once_then_reused_and_a_new_content_gets_its_own_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().join("share/labs");
    let one = materialise(&base, V1).unwrap();
    assert_eq!(one, base.join(dir_name(V1)));
    assert!(
        dir_name(V1).starts_with(concat!(env!("CARGO_PKG_VERSION"), "-")),
        "{}",
        dir_name(V1)
    );
    assert_eq!(
        entries(&one),
        [".firedrill-builtin", "levels", "three-tier.yaml"]
    );
    assert_eq!(
        entries(&one.join("levels")),
        ["README.md", "disk-full.yaml"]
    );
    assert_eq!(
        fs::read(one.join("levels/disk-full.yaml")).unwrap(),
        V1[1].1
    );
    // Nothing but the copy is left beside it (no temp directory).
    assert_eq!(entries(&base), [dir_name(V1)]);

    // Reused as it is: the same path, the file not written again.
    let written = fs::metadata(one.join("three-tier.yaml"))
        .unwrap()
        .modified()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    assert_eq!(materialise(&base, V1).unwrap(), one);
    let again = fs::metadata(one.join("three-tier.yaml"))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(written, again);

    // Another build: a second directory; the first stays as it was for a play that uses it.
    let two = materialise(&base, V2).unwrap();
    assert_ne!(one, two);
    assert_eq!(
        fs::read(two.join("levels/disk-full.yaml")).unwrap(),
        V2[1].1
    );
    assert_eq!(
        fs::read(one.join("levels/disk-full.yaml")).unwrap(),
        V1[1].1
    );
    let mut both = vec![dir_name(V1), dir_name(V2)];
    both.sort();
    assert_eq!(entries(&base), both);
}

#[test]
fn a_directory_firedrill_did_not_create_is_never_written_to() {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().join("share/labs");
    let theirs = base.join(dir_name(V1));
    fs::create_dir_all(&theirs).unwrap();
    fs::write(theirs.join("three-tier.yaml"), b"mine\n").unwrap();
    let err = materialise(&base, V1).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{} exists and was not written by firedrill (it has no .firedrill-builtin)\n  hint: move it away; firedrill writes its built-in labs there and never changes what it did not create",
            theirs.display()
        )
    );
    assert_eq!(fs::read(theirs.join("three-tier.yaml")).unwrap(), b"mine\n");
    assert_eq!(entries(&theirs), ["three-tier.yaml"]);
    assert_eq!(entries(&base), [dir_name(V1)], "no temp directory left");

    // An empty directory, a file or a symlink in its place is left alone too.
    fs::remove_dir_all(&theirs).unwrap();
    fs::create_dir(&theirs).unwrap();
    assert!(matches!(
        materialise(&base, V1),
        Err(BuiltinError::Foreign(_))
    ));
    assert!(entries(&theirs).is_empty());
    fs::remove_dir(&theirs).unwrap();
    fs::write(&theirs, b"a file\n").unwrap();
    assert!(matches!(
        materialise(&base, V1),
        Err(BuiltinError::Foreign(_))
    ));
    assert_eq!(fs::read(&theirs).unwrap(), b"a file\n");
    fs::remove_file(&theirs).unwrap();
    let elsewhere = tmp.path().join("elsewhere");
    fs::create_dir(&elsewhere).unwrap();
    fs::write(elsewhere.join(".firedrill-builtin"), b"x").unwrap();
    std::os::unix::fs::symlink(&elsewhere, &theirs).unwrap();
    assert!(matches!(
        materialise(&base, V1),
        Err(BuiltinError::Foreign(_))
    ));
    assert_eq!(entries(&elsewhere), [".firedrill-builtin"]);
}

#[test]
fn a_changed_copy_is_reported_not_rewritten() {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().join("share/labs");
    let dir = materialise(&base, V1).unwrap();
    let level = dir.join("levels/disk-full.yaml");
    fs::write(&level, b"id: disk-full\nedited: true\n").unwrap();
    let err = materialise(&base, V1).unwrap_err();
    assert!(
        matches!(&err, BuiltinError::Changed { file, .. } if file == "levels/disk-full.yaml"),
        "{err}"
    );
    assert_eq!(fs::read(&level).unwrap(), b"id: disk-full\nedited: true\n");
    fs::remove_file(&level).unwrap();
    assert!(matches!(
        materialise(&base, V1),
        Err(BuiltinError::Changed { .. })
    ));
    assert!(
        !level.exists(),
        "a missing file is not written again either"
    );
}

#[test]
fn placing_never_replaces_what_is_there() {
    let tmp = tempfile::tempdir().unwrap();
    let (from, to) = (tmp.path().join("from"), tmp.path().join("to"));
    fs::create_dir(&from).unwrap();
    fs::create_dir(&to).unwrap();
    let err = rename_noreplace(&from, &to).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::AlreadyExists);
    assert!(from.exists() && to.exists());
    fs::remove_dir(&to).unwrap();
    rename_noreplace(&from, &to).unwrap();
    assert!(!from.exists() && to.is_dir());
}

#[test]
fn a_bare_lab_name_is_the_shipped_lab() {
    let tmp = tempfile::tempdir().unwrap();
    let home = Home::at(tmp.path());
    // Paths, and names of files that exist, are left to the lab loader.
    for given in ["labs/three-tier.yaml", "nowhere.yaml", "a/b", "../x"] {
        assert_eq!(
            lab_file(&home, Path::new(given)).unwrap(),
            PathBuf::from(given)
        );
    }
    assert!(
        !tmp.path().join("share").exists(),
        "nothing written for a path"
    );
    // Tests run in the project directory, so its labs/ comes first.
    assert_eq!(
        lab_file(&home, Path::new("three-tier")).unwrap(),
        PathBuf::from("labs/three-tier.yaml")
    );
    let err = lab_file(&home, Path::new("three-teir")).unwrap_err();
    assert!(err.is_usage());
    let msg = err.to_string();
    assert!(
        msg.starts_with(
            "no lab file `three-teir`, and no built-in lab of that name; built-in labs: "
        ),
        "{msg}"
    );
    assert!(
        msg.contains("three-tier") && msg.contains("minimal"),
        "{msg}"
    );
}

#[test]
fn firedrills_racing_share_one_copy() {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().join("share/labs");
    let dirs: Vec<PathBuf> = std::thread::scope(|s| {
        let runs: Vec<_> = (0..8)
            .map(|_| s.spawn(|| materialise(&base, V1).unwrap()))
            .collect();
        runs.into_iter().map(|r| r.join().unwrap()).collect()
    });
    assert!(
        dirs.iter().all(|d| *d == base.join(dir_name(V1))),
        "{dirs:?}"
    );
    assert_eq!(
        entries(&base),
        [dir_name(V1)],
        "the losers removed their temp directories"
    );
    assert_eq!(fs::read(dirs[0].join("three-tier.yaml")).unwrap(), V1[0].1);
}
