use super::*;
use crate::roles::Step;
use std::path::Path;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Shipped lab `file` exported as `export vagrant FILE` does, independent of this host.
async fn export_of(file: &str) -> Export {
    let host = crate::host::HostFacts {
        mem_total_mib: 16 * 1024,
        images: vec!["debian-12".into()],
        ..crate::host::HostFacts::default()
    };
    let lab = crate::spec::check(&repo().join(file), &host, true)
        .expect("shipped lab is valid")
        .0;
    render(&Home::at("/h"), &lab, file).await.expect("exports")
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("firedrill-export-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// The repository's top-level Vagrantfile and provision/ are what `firedrill export vagrant
/// labs/three-tier.yaml` writes. UPDATE_GOLDEN=1 writes them, through the same writer.
#[tokio::test]
async fn the_committed_vagrantfile_is_what_export_writes() {
    let export = export_of("labs/three-tier.yaml").await;
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        write(&repo(), &export).expect("writes");
    }
    let hint = "run `firedrill export vagrant labs/three-tier.yaml` at the repository's root \
                (or this test with UPDATE_GOLDEN=1) and commit the result";
    let committed = std::fs::read_to_string(repo().join("Vagrantfile")).expect("Vagrantfile");
    assert_eq!(committed, export.vagrantfile, "Vagrantfile differs: {hint}");
    let mut names: Vec<String> = std::fs::read_dir(repo().join(PROVISION_DIR))
        .expect("provision/")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut expected: Vec<String> = export
        .scripts
        .iter()
        .map(|(n, _)| format!("{n}.sh"))
        .collect();
    expected.sort();
    assert_eq!(names, expected, "provision/ differs: {hint}");
    for (node, text) in &export.scripts {
        let path = repo().join(PROVISION_DIR).join(format!("{node}.sh"));
        let committed = std::fs::read_to_string(&path).expect("script");
        assert_eq!(&committed, text, "{} differs: {hint}", path.display());
    }
}

#[tokio::test]
async fn three_tier_is_four_machines_in_configuration_order_with_the_lab_s_sizes() {
    let export = export_of("labs/three-tier.yaml").await;
    let order: Vec<&str> = export.scripts.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(order, ["db", "app1", "app2", "lb"]);
    let v = &export.vagrantfile;
    assert!(v.starts_with(&format!("{}\n", vagrantfile::MARKER)));
    let at = |s: &str| v.find(s).unwrap_or_else(|| panic!("{s} not in\n{v}"));
    assert!(at("config.vm.define \"db\"") < at("config.vm.define \"app1\""));
    assert!(at("config.vm.define \"app2\"") < at("config.vm.define \"lb\""));
    for (node, ip, memory) in [("lb", "10.78.0.10", 384), ("db", "10.78.0.13", 768)] {
        let block = &v[at(&format!("config.vm.define \"{node}\""))..];
        let block = &block[..block.find("\n  end\n").expect("block end")];
        assert!(
            block.contains(&format!("ip: \"{ip}\", netmask: \"255.255.255.0\"")),
            "{block}"
        );
        assert!(
            block.contains(&format!("libvirt.memory = {memory}\n")),
            "{block}"
        );
        assert!(block.contains("libvirt.cpus = 1\n"), "{block}");
        assert!(
            block.contains("libvirt.machine_virtual_size = 8\n"),
            "{block}"
        );
        assert!(
            block.contains("libvirt__network_name: \"vagrant-three-tier-lan\""),
            "{block}"
        );
        assert!(
            block.contains(&format!("path: \"provision/{node}.sh\"")),
            "{block}"
        );
    }
    // Under TCG (FIREDRILL_ACCEL=tcg): QEMU's own CPU model, and time for a slow boot.
    let tcg = &v[at("  config.vm.provider :libvirt do |libvirt|\n    if tcg\n")..];
    let tcg = &tcg[..=tcg.find("\n    else\n").expect("else")];
    for line in [
        "libvirt.driver = \"qemu\"\n",
        "libvirt.cpu_mode = \"custom\"\n",
        "libvirt.cpu_model = \"qemu64\"\n",
    ] {
        assert!(tcg.contains(line), "{line:?} not in\n{tcg}");
    }
    assert!(
        at("tcg = ENV[\"FIREDRILL_ACCEL\"] == \"tcg\"\n")
            < at("config.vm.boot_timeout = 900 if tcg\n")
    );
    // Only the nodes whose scripts hold the password get it.
    assert!(
        v.contains("path: \"provision/db.sh\", env: { \"FIREDRILL_DB_PASSWORD\" => db_password }")
    );
    assert!(v.contains("path: \"provision/lb.sh\"\n"));
    // No password anywhere in what is written.
    for (_, text) in &export.scripts {
        assert!(
            !text.contains("IDENTIFIED BY '") || text.contains(provision::PASSWORD_PLACEHOLDER)
        );
    }
}

/// Every shipped lab exports: the roles render for every node on a fresh node.
#[tokio::test]
async fn every_shipped_lab_exports() {
    let mut labs: Vec<String> = std::fs::read_dir(repo().join("labs"))
        .expect("labs/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .map(|p| format!("labs/{}", p.file_name().expect("name").to_string_lossy()))
        .collect();
    labs.sort();
    assert!(labs.len() >= 5, "{labs:?}");
    for lab in labs {
        let export = export_of(&lab).await;
        assert!(!export.scripts.is_empty(), "{lab}");
        for (node, text) in &export.scripts {
            assert!(
                text.starts_with(&format!("#!/bin/sh\n{}\n", provision::MARKER)),
                "{lab} {node}"
            );
            assert_sh_syntax(text);
        }
    }
}

/// `sh -n`: the script parses (on stdin: an app node's script is longer than an argument may be).
fn assert_sh_syntax(script: &str) {
    use std::io::Write;
    let mut child = std::process::Command::new("sh")
        .arg("-n")
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("sh runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(script.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("sh ends");
    assert!(
        out.status.success(),
        "{}\n{script}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A recorded upload whose content holds the password, and two more commands with stdin, run
/// by a real `sh`: each gets its stdin byte for byte, the password is the one in the
/// environment, and the record of the file is the sha256 of what was written.
#[tokio::test]
async fn a_script_runs_in_a_real_shell_with_the_password_from_the_environment() {
    use crate::remote::fake::{FakeRemote, ok, prefix};
    let dir = temp_dir("shell");
    let path = |n: &str| dir.join(n).to_str().expect("utf-8").to_string();
    let secret_text = format!("[db]\npassword = {}\n", provision::PASSWORD_PLACEHOLDER);
    let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(
        secret_text.as_bytes(),
    ));
    let owner = format!("{}:{}", sh_out("id -un"), sh_out("id -gn"));
    let node = FakeRemote::new("n")
        .logged_in_as_root()
        .on(prefix(""), ok(""));
    let config = path("config.ini");
    let record = path("record");
    crate::ssh::upload_all(
        &node,
        &[crate::ssh::Upload {
            path: &config,
            contents: secret_text.as_bytes(),
            mode: 0o640,
            owner: &owner,
            checksum_to: Some(&record),
        }],
        None,
    )
    .await
    .expect("recorded");
    // No final newline, and a line like the here-document's end.
    crate::ssh::upload(&node, &path("plain"), b"no newline", 0o644, &owner, None)
        .await
        .expect("recorded");
    let tricky = "FIREDRILL_EOF\nit's $HOME `x`\n";
    crate::ssh::upload(
        &node,
        &path("tricky"),
        tricky.as_bytes(),
        0o644,
        &owner,
        None,
    )
    .await
    .expect("recorded");
    let steps: Vec<Step> = node
        .calls()
        .into_iter()
        .map(|c| Step::Run {
            command: c.command,
            stdin: c.stdin,
        })
        .collect();
    let script = provision::script("lab", "lab.yaml", "n", &steps).expect("script");
    assert!(
        !script.contains(&sha),
        "no digest of the placeholder's text: the node records what it wrote"
    );

    let run = |password: Option<&str>| {
        let mut cmd = std::process::Command::new("sh");
        cmd.arg("-c")
            .arg(&script)
            .env_remove(provision::PASSWORD_VAR);
        if let Some(p) = password {
            cmd.env(provision::PASSWORD_VAR, p);
        }
        cmd.output().expect("sh runs")
    };
    let refused = run(Some("not alphanumeric!"));
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr)
            .contains("set FIREDRILL_DB_PASSWORD to the lab's database password")
    );
    assert!(!Path::new(&path("config.ini")).exists());
    assert!(!run(None).status.success());

    let done = run(Some("S3cretS3cret"));
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    let written = std::fs::read_to_string(path("config.ini")).expect("written");
    assert_eq!(written, "[db]\npassword = S3cretS3cret\n");
    let want = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(written.as_bytes()));
    assert_eq!(
        std::fs::read_to_string(path("record")).expect("record"),
        want
    );
    assert_eq!(
        std::fs::read_to_string(path("plain")).expect("plain"),
        "no newline"
    );
    assert_eq!(
        std::fs::read_to_string(path("tricky")).expect("tricky"),
        tricky
    );
    std::fs::remove_dir_all(&dir).expect("cleanup");
}

fn sh_out(command: &str) -> String {
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .output()
        .expect("sh");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn sample() -> Export {
    Export {
        vagrantfile: format!(
            "{}\nVagrant.configure(\"2\") do |config|\nend\n",
            vagrantfile::MARKER
        ),
        scripts: vec![(
            "web".into(),
            format!("#!/bin/sh\n{}\ntrue\n", provision::MARKER),
        )],
    }
}

#[test]
fn the_writer_replaces_only_its_own_files_and_removes_scripts_of_nodes_gone() {
    let dir = temp_dir("write");
    let lines = write(&dir, &sample()).expect("writes into an empty directory");
    assert_eq!(lines.len(), 2, "{lines:?}");
    // Again, with a node gone and another added: the old script goes.
    let mut next = sample();
    next.scripts[0].0 = "db".into();
    let lines = write(&dir, &next).expect("rewrites its own files");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("removed") && l.contains("web.sh")),
        "{lines:?}"
    );
    assert!(dir.join("provision/db.sh").exists() && !dir.join("provision/web.sh").exists());
    std::fs::remove_dir_all(&dir).expect("cleanup");
}

#[test]
fn the_writer_leaves_a_vagrantfile_or_directory_it_did_not_write() {
    let check = |prepare: &dyn Fn(&Path), what: &str| {
        let dir = temp_dir("refuse");
        prepare(&dir);
        let before = listing(&dir);
        let err = write(&dir, &sample()).expect_err(what);
        assert!(matches!(err, ExportError::NotOurs { .. }), "{what}: {err}");
        assert!(
            err.to_string().contains("was not written by firedrill"),
            "{err}"
        );
        assert_eq!(listing(&dir), before, "{what}: nothing changed");
        std::fs::remove_dir_all(&dir).expect("cleanup");
    };
    check(
        &|d| std::fs::write(d.join("Vagrantfile"), "Vagrant.configure(\"2\")\n").expect("w"),
        "a user's Vagrantfile",
    );
    check(
        &|d| {
            std::fs::write(d.join("real"), format!("{}\n", vagrantfile::MARKER)).expect("w");
            std::os::unix::fs::symlink(d.join("real"), d.join("Vagrantfile")).expect("link");
        },
        "a link, even to a marked file",
    );
    check(
        &|d| std::fs::write(d.join("provision"), "x").expect("w"),
        "a file named provision",
    );
    check(
        &|d| {
            std::fs::create_dir(d.join("provision")).expect("dir");
            std::fs::write(d.join("provision/setup.sh"), "#!/bin/sh\necho mine\n").expect("w");
        },
        "a user's script in provision/",
    );
    check(
        &|d| {
            std::fs::create_dir(d.join("provision")).expect("dir");
            std::fs::write(
                d.join("provision/notes.txt"),
                format!("x\n{}\n", provision::MARKER),
            )
            .expect("w");
        },
        "a file that is no node's script",
    );
}

fn listing(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in walk(dir) {
        let data = std::fs::read(&entry).unwrap_or_default();
        out.push((entry.display().to_string(), data));
    }
    out.sort();
    out
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).expect("dir") {
        let p = e.expect("entry").path();
        if std::fs::symlink_metadata(&p).is_ok_and(|m| m.is_dir()) {
            out.extend(walk(&p));
        }
        out.push(p);
    }
    out
}
