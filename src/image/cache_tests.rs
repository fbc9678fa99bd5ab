use super::*;
use crate::image::recipe;

/// A scratch FIREDRILL_HOME, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("fd-cache-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch dir");
        Scratch(dir)
    }
    fn home(&self) -> Home {
        Home::at(&self.0)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn manifest(name: &str, recipe_hash: &str) -> Manifest {
    Manifest {
        name: name.to_string(),
        created: "2026-11-22T03:00:00Z".into(),
        recipe_version: recipe::RECIPE_VERSION,
        recipe_hash: recipe_hash.into(),
        suite: "bookworm".into(),
        packages: vec!["bash=5.2.15-2+b13".into()],
        disk: "disk.qcow2".into(),
        kernel: "vmlinuz".into(),
        initrd: "initrd.img".into(),
        disk_sha256: "00".into(),
        kernel_sha256: "11".into(),
        initrd_sha256: "22".into(),
        disk_bytes: 3,
        virtual_size: 2 << 30,
        kernel_release: "6.1.0-50-amd64".into(),
        cmdline: recipe::CMDLINE.into(),
        first_boot: true,
    }
}

fn put_image(home: &Home, name: &str, m: &Manifest) -> PathBuf {
    let dir = home.images().join(name);
    std::fs::create_dir_all(&dir).expect("image dir");
    for f in ["disk.qcow2", "vmlinuz", "initrd.img"] {
        std::fs::write(dir.join(f), b"x").expect("file");
    }
    std::fs::write(
        dir.join(MANIFEST),
        serde_json::to_vec(m).expect("serialize"),
    )
    .expect("manifest");
    dir
}

/// A qcow2 header naming `backing`, as `qemu-img create -b` writes it.
fn put_overlay(path: &Path, backing: &Path) {
    let b = backing.to_string_lossy();
    let mut h = vec![0u8; 512];
    h[..4].copy_from_slice(b"QFI\xfb");
    h[4..8].copy_from_slice(&3u32.to_be_bytes());
    h[8..16].copy_from_slice(&112u64.to_be_bytes());
    h[16..20].copy_from_slice(&(b.len() as u32).to_be_bytes());
    h[112..112 + b.len()].copy_from_slice(b.as_bytes());
    std::fs::create_dir_all(path.parent().expect("parent")).expect("node dir");
    std::fs::write(path, h).expect("overlay");
}

#[test]
fn scan_reports_images_and_broken_dirs_and_skips_dot_names() {
    let s = Scratch::new("scan");
    let home = s.home();
    assert!(scan(&home).expect("scan of a missing cache").is_empty());

    put_image(&home, "debian-12", &manifest("debian-12", "h"));
    let half = put_image(&home, "half", &manifest("half", "h"));
    std::fs::remove_file(half.join("initrd.img")).expect("rm");
    std::fs::create_dir_all(home.images().join("stray")).expect("stray");
    std::fs::create_dir_all(home.images().join(".cache/debootstrap")).expect("cache");
    std::fs::create_dir_all(home.images().join(".debian-12.build")).expect("tmp");

    let entries = scan(&home).expect("scan");
    let summary: Vec<String> = entries
        .iter()
        .map(|e| match e {
            Entry::Ok(i) => format!("ok {}", i.name),
            Entry::Broken { name, problem, .. } => format!("broken {name}: {problem}"),
        })
        .collect();
    let images = home.images();
    assert_eq!(
        summary,
        vec![
            "ok debian-12".to_string(),
            format!(
                "broken half: {}/half/initrd.img is missing",
                images.display()
            ),
            "broken stray: no manifest.json: not a firedrill image".to_string(),
        ]
    );
    let names: Vec<String> = list(&home)
        .expect("list")
        .into_iter()
        .map(|i| i.name)
        .collect();
    assert_eq!(names, vec!["debian-12"]);
}

#[test]
fn find_distinguishes_missing_usable_and_broken() {
    let s = Scratch::new("find");
    let home = s.home();
    assert!(find(&home, "debian-12").expect("find").is_none());

    let dir = put_image(&home, "debian-12", &manifest("debian-12", "h"));
    let image = find(&home, "debian-12").expect("find").expect("built");
    assert_eq!(image.disk, dir.join("disk.qcow2"));
    assert_eq!(image.kernel, dir.join("vmlinuz"));
    assert_eq!(image.initrd, dir.join("initrd.img"));
    assert_eq!(image.manifest.kernel_release, "6.1.0-50-amd64");

    std::fs::write(dir.join(MANIFEST), b"{").expect("corrupt");
    let err = find(&home, "debian-12").expect_err("broken");
    assert!(
        err.to_string().starts_with(&format!(
            "image `debian-12` in {} is broken: {}/manifest.json is not valid:",
            dir.display(),
            dir.display()
        )),
        "{err}"
    );
    assert!(
        err.to_string()
            .ends_with("rebuild it with `sudo firedrill image build --name debian-12 --rebuild`")
    );
    assert!(matches!(
        find(&home, "../etc"),
        Err(ImageError::InvalidName { .. })
    ));
}

#[test]
fn recipe_freshness_compares_hashes() {
    let current = recipe::recipe("debian-12").expect("recipe").hash();
    assert_eq!(is_current(&manifest("debian-12", &current)), Some(true));
    assert_eq!(is_current(&manifest("debian-12", "old")), Some(false));
    assert_eq!(is_current(&manifest("custom", &current)), None);
}

#[test]
fn remove_deletes_images_but_refuses_foreign_dirs() {
    let s = Scratch::new("rm");
    let home = s.home();
    let dir = put_image(&home, "debian-12", &manifest("debian-12", "h"));
    assert_eq!(remove(&home, "debian-12").expect("rm"), dir);
    assert!(!dir.exists());

    let err = remove(&home, "debian-12").expect_err("gone");
    assert_eq!(
        err.to_string(),
        format!(
            "there is no image `debian-12` in {}: `firedrill image list` shows the images",
            home.images().display()
        )
    );

    let foreign = home.images().join("photos");
    std::fs::create_dir_all(&foreign).expect("foreign");
    std::fs::write(foreign.join("a.jpg"), b"x").expect("file");
    let err = remove(&home, "photos").expect_err("foreign");
    assert_eq!(
        err.to_string(),
        format!(
            "{} is not a firedrill image (no readable manifest.json naming `photos`); refusing to touch it, remove it by hand if you are sure",
            foreign.display()
        )
    );
    assert!(foreign.join("a.jpg").exists());

    // A manifest naming another image is not this image's.
    put_image(&home, "copy", &manifest("debian-12", "h"));
    assert!(matches!(
        remove(&home, "copy"),
        Err(ImageError::NotAnImage { .. })
    ));
}

#[test]
fn remove_refuses_an_image_backing_a_node_disk() {
    let s = Scratch::new("inuse");
    let home = s.home();
    let dir = put_image(&home, "debian-12", &manifest("debian-12", "h"));
    put_overlay(
        &home.lab(&"minimal".into()).disk("web"),
        &dir.join("disk.qcow2"),
    );
    put_overlay(
        &home.lab(&"minimal".into()).disk("db"),
        &dir.join("disk.qcow2"),
    );
    put_overlay(
        &home.lab(&"other".into()).disk("x"),
        Path::new("/elsewhere/disk.qcow2"),
    );

    let err = remove(&home, "debian-12").expect_err("in use");
    assert_eq!(
        err.to_string(),
        "image `debian-12` is the backing file of lab minimal (node db), lab minimal (node web)\n  hint: run `firedrill down --lab LAB` for those labs first"
    );
    assert!(dir.join("disk.qcow2").exists());

    std::fs::remove_dir_all(home.lab(&"minimal".into()).dir()).expect("down");
    remove(&home, "debian-12").expect("rm after down");
}

#[test]
fn a_second_build_of_the_same_name_is_refused_while_the_first_runs() {
    let s = Scratch::new("lock");
    let home = s.home();
    let held = lock(&home, "debian-12").expect("first lock");
    let err = lock(&home, "debian-12").err().expect("second lock refused");
    assert_eq!(
        err.to_string(),
        format!(
            "another `image build --name debian-12` is running (it holds {}/.debian-12.lock); wait for it to finish",
            home.images().display()
        )
    );
    lock(&home, "other").expect("other names are independent");
    drop(held);
    lock(&home, "debian-12").expect("lock again after release");
}

#[test]
fn install_puts_a_build_in_place_and_replaces_an_unused_image() {
    let s = Scratch::new("install");
    let home = s.home();
    let work = put_image(&home, ".debian-12.build", &manifest("debian-12", "new"));
    let image = install(&home, "debian-12", &work).expect("first install");
    assert_eq!(image.dir, home.images().join("debian-12"));
    assert!(!work.exists());

    let work = put_image(&home, ".debian-12.build", &manifest("debian-12", "newer"));
    let image = install(&home, "debian-12", &work).expect("replace");
    assert_eq!(image.manifest.recipe_hash, "newer");
    assert!(!home.images().join(".debian-12.old").exists());
    let names: Vec<String> = scan(&home)
        .expect("scan")
        .iter()
        .map(|e| entry_name(e).to_string())
        .collect();
    assert_eq!(names, vec!["debian-12"]);
}

#[test]
fn install_refuses_to_replace_an_image_in_use_or_a_foreign_dir() {
    let s = Scratch::new("install-refuse");
    let home = s.home();
    let dir = put_image(&home, "debian-12", &manifest("debian-12", "old"));
    put_overlay(
        &home.lab(&"minimal".into()).disk("web"),
        &dir.join("disk.qcow2"),
    );
    let work = put_image(&home, ".debian-12.build", &manifest("debian-12", "new"));
    assert!(matches!(
        install(&home, "debian-12", &work),
        Err(ImageError::InUse { .. })
    ));
    assert_eq!(
        find(&home, "debian-12")
            .expect("find")
            .expect("kept")
            .manifest
            .recipe_hash,
        "old"
    );

    let foreign = home.images().join("mine");
    std::fs::create_dir_all(&foreign).expect("foreign");
    let work = put_image(&home, ".mine.build", &manifest("mine", "new"));
    assert!(matches!(
        install(&home, "mine", &work),
        Err(ImageError::NotAnImage { .. })
    ));
}

#[test]
fn build_is_a_no_op_when_the_cached_image_matches_the_recipe() {
    let s = Scratch::new("noop");
    let home = s.home();
    let hash = recipe::recipe("debian-12").expect("recipe").hash();
    put_image(&home, "debian-12", &manifest("debian-12", &hash));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut lines = Vec::new();
    let image = runtime
        .block_on(crate::image::build(&home, "debian-12", false, &mut |l| {
            lines.push(l.to_string())
        }))
        .expect("no-op build");
    assert_eq!(image.manifest.recipe_hash, hash);
    assert_eq!(
        lines,
        vec![format!(
            "image debian-12 is up to date (built 2026-11-22T03:00:00Z, recipe {}): nothing to do; --rebuild builds it again",
            &hash[..12]
        )]
    );
    let err = runtime
        .block_on(crate::image::build(&home, "arch", false, &mut |_| {}))
        .expect_err("unknown recipe");
    assert_eq!(
        err.to_string(),
        "no image recipe is called `arch`: the known names are debian-12"
    );
}
