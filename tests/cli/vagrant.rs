//! `firedrill export vagrant`: the executable writes what the repository holds, rewrites its own
//! files, leaves anyone else's, and Vagrant accepts the result.

use super::{firedrill, scratch};
use std::path::Path;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn export_into(name: &str) -> std::path::PathBuf {
    let home = scratch(&format!("{name}-home"));
    let dir = scratch(name);
    let out = firedrill(
        &home,
        &[
            "export",
            "vagrant",
            "labs/three-tier.yaml",
            "--dir",
            dir.to_str().expect("utf-8"),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir
}

#[test]
fn export_vagrant_writes_the_committed_files_and_only_over_its_own() {
    let dir = export_into("export-vagrant");
    for file in [
        "Vagrantfile",
        "provision/db.sh",
        "provision/app1.sh",
        "provision/app2.sh",
        "provision/lb.sh",
    ] {
        assert_eq!(
            std::fs::read(dir.join(file)).expect("written"),
            std::fs::read(repo().join(file)).expect("committed"),
            "{file}: run `firedrill export vagrant labs/three-tier.yaml` at the repository's root"
        );
    }
    // Again: its own files are rewritten.
    let home = scratch("export-vagrant-again");
    let again = firedrill(
        &home,
        &[
            "export",
            "vagrant",
            "three-tier",
            "--dir",
            dir.to_str().expect("utf-8"),
        ],
    );
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    // A Vagrantfile of someone else's is left as it is, and nothing is written.
    let theirs = scratch("export-vagrant-theirs");
    std::fs::write(theirs.join("Vagrantfile"), "Vagrant.configure(\"2\") {}\n").expect("write");
    let refused = firedrill(
        &home,
        &[
            "export",
            "vagrant",
            "three-tier",
            "--dir",
            theirs.to_str().expect("utf-8"),
        ],
    );
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("Vagrantfile was not written by firedrill"),
        "{stderr}"
    );
    assert!(stderr.contains("--dir"), "{stderr}");
    assert!(!theirs.join("provision").exists());
}

/// Vagrant itself reads the Vagrantfile: provider settings vagrant-libvirt knows, provision
/// scripts that exist. Offline, about 6 s.
#[test]
#[ignore = "needs vagrant and vagrant-libvirt (scripts/install-deps): scripts/test"]
fn vagrant_validates_the_exported_vagrantfile() {
    let dir = export_into("vagrant-validate");
    let out = std::process::Command::new("vagrant")
        .arg("validate")
        .current_dir(&dir)
        .env("VAGRANT_HOME", dir.join(".vagrant.d"))
        .env("VAGRANT_CHECKPOINT_DISABLE", "1")
        .output()
        .expect("run vagrant (scripts/install-deps installs it)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("Vagrantfile validated successfully"),
        "{stdout}"
    );
    // The database password was made beside it, readable by its owner only.
    let secret = dir.join(".vagrant/firedrill-db-password");
    let meta = std::fs::metadata(&secret).expect("password file");
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777,
        0o600
    );
    assert_eq!(std::fs::read_to_string(&secret).expect("read").len(), 32);
}
