//! `firedrill image export --vagrant`: the box of a small image made here (a 64 MiB qcow2 from
//! qemu-img, a fake kernel and initrd), its tar and metadata as vagrant-libvirt reads them, the
//! refusal to write over a file, and Vagrant adding the box and validating a lab that uses it.

use super::{firedrill, scratch};
use std::path::{Path, PathBuf};
use std::process::Command;

fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn sha256(path: &Path) -> String {
    let out = run(Command::new("sha256sum").arg(path));
    out.split_whitespace().next().expect("a digest").to_string()
}

/// An image `debian-12` in `home`'s image cache, as `image build` lays it out, with a disk of
/// 64 MiB (not whole GiB: the export must grow it to what metadata.json says).
fn fake_image(home: &Path) -> PathBuf {
    let dir = home.join("images/debian-12");
    std::fs::create_dir_all(&dir).expect("image dir");
    run(Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2"])
        .arg(dir.join("disk.qcow2"))
        .arg("64M"));
    std::fs::write(dir.join("vmlinuz"), b"not a kernel\n").expect("kernel");
    std::fs::write(dir.join("initrd.img"), b"not an initrd\n").expect("initrd");
    let manifest = serde_json::json!({
        "name": "debian-12",
        "created": "2026-12-01T04:00:00Z",
        "recipe_version": 1,
        "recipe_hash": "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "suite": "bookworm",
        "packages": [],
        "disk": "disk.qcow2",
        "kernel": "vmlinuz",
        "initrd": "initrd.img",
        "disk_sha256": sha256(&dir.join("disk.qcow2")),
        "kernel_sha256": sha256(&dir.join("vmlinuz")),
        "initrd_sha256": sha256(&dir.join("initrd.img")),
        "disk_bytes": std::fs::metadata(dir.join("disk.qcow2")).expect("disk").len(),
        "virtual_size": 64u64 << 20,
        "kernel_release": "6.1.0-50-amd64",
        "cmdline": "root=/dev/vda rw console=ttyS0 net.ifnames=0",
    });
    std::fs::write(
        dir.join("manifest.json"),
        serde_json::to_vec_pretty(&manifest).expect("json"),
    )
    .expect("manifest");
    dir
}

/// A home with the fake image, and the box exported from it into `out/debian-12.box`.
fn export(name: &str) -> (PathBuf, PathBuf) {
    let home = scratch(&format!("{name}-home"));
    fake_image(&home);
    let out = scratch(name);
    let file = out.join("debian-12.box");
    let done = firedrill(
        &home,
        &[
            "image",
            "export",
            "--vagrant",
            "--output",
            file.to_str().expect("utf-8"),
        ],
    );
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    let stdout = String::from_utf8_lossy(&done.stdout);
    assert!(
        stdout.contains("vagrant box add --name firedrill/debian-12 "),
        "{stdout}"
    );
    (home, file)
}

#[test]
fn image_export_vagrant_packs_a_libvirt_box_and_never_overwrites() {
    let (home, file) = export("vagrant-box");
    let out = file.parent().expect("a directory");

    // The tar holds the box's files and nothing else; the staging directory is gone.
    let listing = run(Command::new("tar").arg("-tf").arg(&file));
    assert_eq!(
        listing.lines().collect::<Vec<_>>(),
        [
            "metadata.json",
            "Vagrantfile",
            "box.img",
            "vmlinuz",
            "initrd.img",
            "seed.iso"
        ]
    );
    let left: Vec<_> = std::fs::read_dir(out)
        .expect("list")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(left, ["debian-12.box"]);

    let unpacked = scratch("vagrant-box-unpacked");
    run(Command::new("tar")
        .arg("-xf")
        .arg(&file)
        .arg("-C")
        .arg(&unpacked));
    let metadata: serde_json::Value = serde_json::from_slice(
        &std::fs::read(unpacked.join("metadata.json")).expect("metadata.json"),
    )
    .expect("metadata.json is JSON");
    assert_eq!(
        metadata,
        serde_json::json!({"provider": "libvirt", "format": "qcow2", "virtual_size": 1})
    );
    // The disk is qcow2, grown to the 1 GiB that metadata.json says, with no backing file.
    let info: serde_json::Value = serde_json::from_str(&run(Command::new("qemu-img")
        .args(["info", "--output=json"])
        .arg(unpacked.join("box.img"))))
    .expect("qemu-img info is JSON");
    assert_eq!(info["format"], "qcow2");
    assert_eq!(info["virtual-size"], 1u64 << 30);
    assert!(info.get("backing-filename").is_none(), "{info}");
    // Kernel and initrd are the image's, byte for byte.
    for f in ["vmlinuz", "initrd.img"] {
        assert_eq!(
            std::fs::read(unpacked.join(f)).expect("unpacked"),
            std::fs::read(home.join("images/debian-12").join(f)).expect("image")
        );
    }
    let vagrantfile = std::fs::read_to_string(unpacked.join("Vagrantfile")).expect("Vagrantfile");
    assert!(
        vagrantfile
            .contains("    libvirt.cmd_line = \"root=/dev/vda rw console=ttyS0 net.ifnames=0\"\n"),
        "{vagrantfile}"
    );
    // The seed is an ISO 9660 volume labelled cidata (the primary volume descriptor at 32 KiB,
    // its volume identifier at byte 40 of it), which cloud-init's NoCloud finds.
    let iso = std::fs::read(unpacked.join("seed.iso")).expect("seed.iso");
    assert_eq!(&iso[0x8001..0x8006], b"CD001");
    assert_eq!(&iso[0x8028..0x802e], b"cidata");

    // Again to the same file: refused, with the way out, and the box is untouched.
    let before = std::fs::read(&file).expect("box");
    let again = firedrill(
        &home,
        &[
            "image",
            "export",
            "--vagrant",
            "--output",
            file.to_str().expect("utf-8"),
        ],
    );
    assert_eq!(again.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(
        stderr.contains("already exists, and firedrill does not write over a file it did not make"),
        "{stderr}"
    );
    assert!(stderr.contains("--output FILE"), "{stderr}");
    assert_eq!(std::fs::read(&file).expect("box"), before);

    // An image that is not there: named, with where to look.
    let none = firedrill(
        &home,
        &[
            "image",
            "export",
            "--vagrant",
            "--name",
            "debian-13",
            "--output",
            out.join("other.box").to_str().expect("utf-8"),
        ],
    );
    assert_eq!(none.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&none.stderr).contains("`firedrill image list` shows the images"),
        "{}",
        String::from_utf8_lossy(&none.stderr)
    );
    assert!(!out.join("other.box").exists());
}

/// Vagrant adds the box (without booting it) and validates the three-tier export that uses it,
/// with the box's own Vagrantfile merged in. Offline.
#[test]
#[ignore = "needs vagrant and vagrant-libvirt (scripts/install-deps): scripts/test"]
fn vagrant_adds_the_box_and_validates_a_lab_that_uses_it() {
    let (home, file) = export("vagrant-box-add");
    let vagrant_home = scratch("vagrant-box-add-vagrant-home");
    let vagrant = |dir: &Path, args: &[&str]| {
        run(Command::new("vagrant")
            .args(args)
            .current_dir(dir)
            .env("VAGRANT_HOME", &vagrant_home)
            .env("VAGRANT_CHECKPOINT_DISABLE", "1"))
    };
    let out = file.parent().expect("a directory");
    vagrant(
        out,
        &[
            "box",
            "add",
            "--name",
            "firedrill/debian-12",
            file.to_str().expect("utf-8"),
        ],
    );
    let list = vagrant(out, &["box", "list"]);
    assert!(list.contains("firedrill/debian-12 (libvirt, 0)"), "{list}");
    let box_dir = vagrant_home.join("boxes/firedrill-VAGRANTSLASH-debian-12/0/libvirt");
    for f in [
        "box.img",
        "metadata.json",
        "Vagrantfile",
        "vmlinuz",
        "initrd.img",
        "seed.iso",
    ] {
        assert!(
            box_dir.join(f).is_file(),
            "{f} not in {}",
            box_dir.display()
        );
    }

    let lab = scratch("vagrant-box-add-lab");
    let exported = firedrill(
        &home,
        &[
            "export",
            "vagrant",
            "three-tier",
            "--dir",
            lab.to_str().expect("utf-8"),
        ],
    );
    assert!(
        exported.status.success(),
        "{}",
        String::from_utf8_lossy(&exported.stderr)
    );
    let validated = Command::new("vagrant")
        .arg("validate")
        .current_dir(&lab)
        .env("VAGRANT_HOME", &vagrant_home)
        .env("VAGRANT_CHECKPOINT_DISABLE", "1")
        .output()
        .expect("run vagrant");
    assert!(validated.status.success(), "{validated:?}");
    assert!(
        String::from_utf8_lossy(&validated.stdout).contains("Vagrantfile validated successfully"),
        "{validated:?}"
    );
    assert_eq!(String::from_utf8_lossy(&validated.stderr), "");

    // What vagrant-libvirt would give libvirt for a node: the lab's Vagrantfile with the box's
    // merged under it, read by a command defined beside it (VAGRANT_VAGRANTFILE), no VM.
    std::fs::write(lab.join("Vagrantfile.dump"), DUMP).expect("write");
    let dumped = run(Command::new("vagrant")
        .args(["dump-libvirt", "db"])
        .current_dir(&lab)
        .env("VAGRANT_HOME", &vagrant_home)
        .env("VAGRANT_CHECKPOINT_DISABLE", "1")
        .env("VAGRANT_VAGRANTFILE", "Vagrantfile.dump"));
    let b = box_dir.display();
    assert_eq!(
        dumped,
        format!(
            "kernel={b}/vmlinuz\n\
             initrd={b}/initrd.img\n\
             cmd_line=root=/dev/vda rw console=ttyS0 net.ifnames=0\n\
             disk_bus=virtio\n\
             cdroms={b}/seed.iso\n\
             memory=768\n"
        )
    );

    // A box where libvirt's QEMU user cannot reach it: every Vagrant command says so, with
    // the fix. (The first VAGRANT_HOME is reachable: validate said nothing on stderr.)
    let closed = scratch("vagrant-box-add-closed");
    std::fs::set_permissions(&closed, std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .expect("chmod");
    let closed_home = closed.join("vagrant.d");
    let with_closed = |args: &[&str], dir: &Path| {
        Command::new("vagrant")
            .args(args)
            .current_dir(dir)
            .env("VAGRANT_HOME", &closed_home)
            .env("VAGRANT_CHECKPOINT_DISABLE", "1")
            .output()
            .expect("run vagrant")
    };
    let added = with_closed(
        &[
            "box",
            "add",
            "--name",
            "firedrill/debian-12",
            file.to_str().expect("utf-8"),
        ],
        out,
    );
    assert!(added.status.success(), "{added:?}");
    let warned = with_closed(&["validate"], &lab);
    assert!(warned.status.success(), "{warned:?}");
    let stderr = String::from_utf8_lossy(&warned.stderr);
    assert!(
        stderr.contains(&format!(
            "{} is not searchable by others, so libvirt's QEMU (qemu:///system) cannot open the box's kernel",
            closed.display()
        )) && stderr.contains(&format!("chmod o+x {}", closed.display())),
        "{stderr}"
    );
}

const DUMP: &str = r#"class DumpLibvirt < Vagrant.plugin("2", :command)
  def execute
    with_target_vms(@argv, provider: :libvirt) do |m|
      c = m.provider_config
      puts "kernel=#{c.kernel}", "initrd=#{c.initrd}", "cmd_line=#{c.cmd_line}",
        "disk_bus=#{c.disk_bus}", "cdroms=#{c.cdroms.map { |d| d[:path] }.join(",")}",
        "memory=#{c.memory}"
    end
    0
  end
end
class DumpLibvirtPlugin < Vagrant.plugin("2")
  name "dump-libvirt"
  command("dump-libvirt") { DumpLibvirt }
end
load File.join(__dir__, "Vagrantfile")
"#;
