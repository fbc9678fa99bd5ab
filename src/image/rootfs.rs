//! Operations on the debootstrapped root filesystem: applying the recipe's steps, reading the
//! package inventory, finding the kernel and sizing the disk. The file steps are plain std::fs
//! calls on paths under the root, never followed through symlinks out of it.

use super::ImageError;
use super::recipe::Step;
use super::util::io_err;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Applies one file step. `Chroot` steps are commands and run in build.rs.
pub(crate) fn apply_file_step(root: &Path, step: &Step) -> Result<(), ImageError> {
    match step {
        Step::Write {
            path,
            mode,
            content,
        } => {
            let p = root.join(path);
            make_parent(&p)?;
            remove_existing(&p)?;
            std::fs::write(&p, content).map_err(io_err("cannot write", &p))?;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(*mode))
                .map_err(io_err("cannot chmod", &p))
        }
        Step::Symlink { path, target } => {
            let p = root.join(path);
            make_parent(&p)?;
            remove_existing(&p)?;
            std::os::unix::fs::symlink(target, &p).map_err(io_err("cannot create symlink", &p))
        }
        Step::Remove {
            dir,
            prefix,
            suffix,
        } => {
            let d = root.join(dir);
            let read = match std::fs::read_dir(&d) {
                Ok(r) => r,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
                Err(e) => return Err(io_err("cannot list", &d)(e)),
            };
            for item in read {
                let item = item.map_err(io_err("cannot list", &d))?;
                let name = item.file_name().to_string_lossy().into_owned();
                if name.starts_with(prefix) && name.ends_with(suffix) {
                    let p = item.path();
                    std::fs::remove_file(&p).map_err(io_err("cannot remove", &p))?;
                }
            }
            Ok(())
        }
        Step::Chroot { .. } => Ok(()),
    }
}

fn make_parent(p: &Path) -> Result<(), ImageError> {
    match p.parent() {
        Some(parent) => std::fs::create_dir_all(parent).map_err(io_err("cannot create", parent)),
        None => Ok(()),
    }
}

/// Removes a file or symlink (not following it), so a write never lands outside the root.
fn remove_existing(p: &Path) -> Result<(), ImageError> {
    match std::fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(p).map_err(io_err("cannot remove", p)),
        Ok(_) => std::fs::remove_file(p).map_err(io_err("cannot remove", p)),
        Err(_) => Ok(()),
    }
}

/// Parses `dpkg-query -W -f '${Package}=${Version} ${db:Status-Abbrev}\n'` output into sorted
/// `name=version` lines, and says which wanted packages are missing or not fully installed.
pub(crate) fn inventory(dpkg_output: &str, wanted: &[&str]) -> Result<Vec<String>, String> {
    let mut packages = Vec::new();
    let mut broken = Vec::new();
    for line in dpkg_output.lines().filter(|l| !l.trim().is_empty()) {
        let (pkg, status) = line.split_once(' ').unwrap_or((line, ""));
        // `ii ` is installed and configured; anything else (half-configured, unpacked,
        // config-files) means the image would not work as built.
        if status.trim() == "ii" {
            packages.push(pkg.to_string());
        } else if !status.starts_with("rc") && !status.starts_with("un") {
            broken.push(format!("{pkg} ({})", status.trim()));
        }
    }
    // By name, then version: a plain string sort would put `dbus-bin=` before `dbus=`.
    packages.sort_by(|a, b| a.split_once('=').cmp(&b.split_once('=')));
    let missing: Vec<&str> = wanted
        .iter()
        .copied()
        .filter(|w| {
            !packages
                .iter()
                .any(|p| p.split_once('=').map(|(n, _)| n) == Some(*w))
        })
        .collect();
    let mut problems = Vec::new();
    if !broken.is_empty() {
        problems.push(format!("not fully installed: {}", broken.join(", ")));
    }
    if !missing.is_empty() {
        problems.push(format!("not installed: {}", missing.join(", ")));
    }
    if problems.is_empty() {
        Ok(packages)
    } else {
        Err(problems.join("; "))
    }
}

/// The kernel release installed in `boot/`, from `vmlinuz-RELEASE`; exactly one is expected.
pub(crate) fn kernel_release(root: &Path) -> Result<String, String> {
    let boot = root.join("boot");
    let read =
        std::fs::read_dir(&boot).map_err(|e| format!("cannot list {}: {e}", boot.display()))?;
    let mut releases: Vec<String> = read
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            e.file_name()
                .to_str()
                .and_then(|n| n.strip_prefix("vmlinuz-"))
                .map(str::to_string)
        })
        .collect();
    releases.sort();
    match releases.as_slice() {
        [one] if boot.join(format!("initrd.img-{one}")).is_file() => Ok(one.clone()),
        [one] => Err(format!("{}/initrd.img-{one} is missing", boot.display())),
        [] => Err(format!("no vmlinuz-* in {}", boot.display())),
        many => Err(format!(
            "several kernels in {}: {}",
            boot.display(),
            many.join(", ")
        )),
    }
}

pub(crate) fn kernel_files(root: &Path, release: &str) -> (PathBuf, PathBuf) {
    let boot = root.join("boot");
    (
        boot.join(format!("vmlinuz-{release}")),
        boot.join(format!("initrd.img-{release}")),
    )
}

/// Bytes allocated under `root` (hard links counted once), without crossing into other file
/// systems.
pub(crate) fn disk_usage(root: &Path) -> Result<u64, ImageError> {
    let mut seen = std::collections::HashSet::new();
    let mut total = 0u64;
    let dev = std::fs::symlink_metadata(root)
        .map_err(io_err("cannot stat", root))?
        .dev();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let read = std::fs::read_dir(&dir).map_err(io_err("cannot list", &dir))?;
        for item in read {
            let item = item.map_err(io_err("cannot list", &dir))?;
            let m = item
                .metadata()
                .map_err(io_err("cannot stat", &item.path()))?;
            if m.nlink() > 1 && !m.is_dir() && !seen.insert((m.dev(), m.ino())) {
                continue;
            }
            total += m.blocks() * 512;
            if m.is_dir() && m.dev() == dev {
                stack.push(item.path());
            }
        }
    }
    Ok(total)
}

/// The raw file system size for `used` bytes of files: a quarter more for ext4's metadata
/// (inode tables, journal, reserved blocks), plus 512 MiB so the image boots and runs even on a
/// node disk no larger than the image, rounded up to 256 MiB. Nodes get more when cloud-init
/// grows the file system to their disk at first boot.
pub(crate) fn fs_size(used: u64) -> u64 {
    const MIB: u64 = 1 << 20;
    let want = used + used / 4 + 512 * MIB;
    want.div_ceil(256 * MIB) * 256 * MIB
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inventory_lists_installed_packages_sorted() {
        let out = "zlib1g=1:1.2.13 ii \nbash=5.2.15-2+b13 ii \nold=1 rc \n";
        assert_eq!(
            inventory(out, &["bash"]).expect("ok"),
            vec![
                "bash=5.2.15-2+b13".to_string(),
                "zlib1g=1:1.2.13".to_string()
            ]
        );
    }

    #[test]
    fn inventory_names_unconfigured_and_missing_packages() {
        let out = "bash=5.2 ii \npython3-cryptography=38.0.4-3 iU \n";
        assert_eq!(
            inventory(out, &["bash", "cloud-init", "haproxy"]).expect_err("problems"),
            "not fully installed: python3-cryptography=38.0.4-3 (iU); not installed: cloud-init, haproxy"
        );
    }

    #[test]
    fn fs_size_leaves_headroom_in_256_mib_steps() {
        const MIB: u64 = 1 << 20;
        assert_eq!(fs_size(0), 512 * MIB);
        assert_eq!(fs_size(1400 * MIB), 2304 * MIB);
        assert_eq!(fs_size(1600 * MIB) % (256 * MIB), 0);
    }

    #[test]
    fn file_steps_write_link_and_remove_inside_the_root() {
        let root = std::env::temp_dir().join(format!("fd-rootfs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("etc/ssh")).expect("dirs");
        for f in ["ssh_host_rsa_key", "ssh_host_rsa_key.pub", "sshd_config"] {
            std::fs::write(root.join("etc/ssh").join(f), b"x").expect("file");
        }
        // A symlink pointing out of the root must be replaced, not written through.
        let outside = root.with_extension("outside");
        std::fs::write(&outside, b"keep").expect("outside");
        std::os::unix::fs::symlink(&outside, root.join("etc/resolv.conf")).expect("link");

        let steps = [
            Step::Write {
                path: "etc/resolv.conf",
                mode: 0o644,
                content: "# none\n",
            },
            Step::Write {
                path: "etc/cloud/cloud.cfg.d/x.cfg",
                mode: 0o600,
                content: "a: 1\n",
            },
            Step::Symlink {
                path: "var/lib/dbus/machine-id",
                target: "/etc/machine-id",
            },
            Step::Remove {
                dir: "etc/ssh",
                prefix: "ssh_host_",
                suffix: "",
            },
            Step::Remove {
                dir: "var/cache/apt/archives",
                prefix: "",
                suffix: ".deb",
            },
        ];
        for s in &steps {
            apply_file_step(&root, s).expect("step");
        }
        assert_eq!(std::fs::read(&outside).expect("outside"), b"keep");
        assert_eq!(
            std::fs::read_to_string(root.join("etc/resolv.conf")).expect("resolv"),
            "# none\n"
        );
        let cfg = root.join("etc/cloud/cloud.cfg.d/x.cfg");
        assert_eq!(std::fs::metadata(&cfg).expect("cfg").mode() & 0o777, 0o600);
        assert_eq!(
            std::fs::read_link(root.join("var/lib/dbus/machine-id")).expect("link"),
            PathBuf::from("/etc/machine-id")
        );
        let mut left: Vec<String> = std::fs::read_dir(root.join("etc/ssh"))
            .expect("ls")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, vec!["sshd_config"]);
        std::fs::remove_dir_all(&root).expect("cleanup");
        std::fs::remove_file(&outside).expect("cleanup");
    }

    #[test]
    fn kernel_release_needs_exactly_one_kernel_with_its_initrd() {
        let root = std::env::temp_dir().join(format!("fd-kernel-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("boot")).expect("boot");
        assert!(
            kernel_release(&root)
                .expect_err("none")
                .starts_with("no vmlinuz-* in")
        );
        std::fs::write(root.join("boot/vmlinuz-6.1.0-50-amd64"), b"k").expect("k");
        assert!(
            kernel_release(&root)
                .expect_err("no initrd")
                .ends_with("initrd.img-6.1.0-50-amd64 is missing")
        );
        std::fs::write(root.join("boot/initrd.img-6.1.0-50-amd64"), b"i").expect("i");
        assert_eq!(kernel_release(&root).expect("one"), "6.1.0-50-amd64");
        std::fs::write(root.join("boot/vmlinuz-6.1.0-51-amd64"), b"k").expect("k2");
        assert!(
            kernel_release(&root)
                .expect_err("two")
                .contains("6.1.0-50-amd64, 6.1.0-51-amd64")
        );
        std::fs::remove_dir_all(&root).expect("cleanup");
    }
}
