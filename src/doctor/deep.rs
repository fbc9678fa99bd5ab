//! `doctor --deep`: does a guest kernel really run under KVM here? Opening /dev/kvm proves
//! little: under nested virtualization it opens, and the guest then hangs right after
//! "Decompressing". So QEMU boots the golden image's kernel and initrd under KVM, with no disk
//! and an init that does not exist, and doctor watches the serial console for the kernel
//! handing over to init. That takes a second or two under KVM; the boot is killed after
//! `TIMEOUT`.

use crate::paths::Home;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub(crate) const TIMEOUT: Duration = Duration::from_secs(20);

/// What the kernel prints just before it runs init: the boot got through decompression, memory
/// setup and every driver.
const BOOTED: &str = "Freeing unused kernel";

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum DeepBoot {
    Booted {
        secs: f64,
    },
    /// No sign of init within the timeout; the console's last line, if any.
    Hung {
        secs: f64,
        last_line: Option<String>,
    },
    /// The boot could not be tried (no image, no QEMU, QEMU refused KVM).
    NotTried(String),
}

/// Whether the console shows the kernel handing over to init.
pub(crate) fn booted(console: &str) -> bool {
    console.contains(BOOTED)
}

pub(crate) fn last_line(console: &str) -> Option<String> {
    console
        .lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .map(str::to_string)
}

/// Boots image `name`'s kernel under KVM for up to `TIMEOUT`.
pub(crate) fn boot(home: &Home, name: &str) -> DeepBoot {
    let image = match crate::image::find(home, name) {
        Ok(Some(i)) => i,
        Ok(None) => return DeepBoot::NotTried(format!("image `{name}` is not built")),
        Err(e) => return DeepBoot::NotTried(e.to_string()),
    };
    let qemu = match crate::image::which("qemu-system-x86_64", "qemu-system-x86") {
        Ok(q) => q,
        Err(e) => return DeepBoot::NotTried(e.to_string()),
    };
    let log = std::env::temp_dir().join(format!("firedrill-doctor-{}.console", std::process::id()));
    let result = run(&qemu, &image.kernel, &image.initrd, &log);
    // The log is ours: made by this process under its PID.
    let _ = std::fs::remove_file(&log);
    result
}

fn run(qemu: &Path, kernel: &Path, initrd: &Path, log: &Path) -> DeepBoot {
    let started = Instant::now();
    let child = Command::new(qemu)
        .args([
            "-machine",
            "accel=kvm",
            "-cpu",
            "host",
            "-m",
            "256",
            "-smp",
            "1",
        ])
        .args(["-display", "none", "-no-reboot", "-nodefaults"])
        .arg("-serial")
        .arg(format!("file:{}", log.display()))
        .arg("-kernel")
        .arg(kernel)
        .arg("-initrd")
        .arg(initrd)
        .args([
            "-append",
            "console=ttyS0 panic=-1 rdinit=/firedrill-doctor-no-init",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => return DeepBoot::NotTried(format!("cannot run {}: {e}", qemu.display())),
    };
    let console = || std::fs::read_to_string(log).unwrap_or_default();
    loop {
        let secs = started.elapsed().as_secs_f64();
        if booted(&console()) {
            let _ = child.kill();
            let _ = child.wait();
            return DeepBoot::Booted { secs };
        }
        match child.try_wait() {
            Ok(Some(status)) => {
                let mut err = String::new();
                if let Some(mut e) = child.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut e, &mut err);
                }
                // A kernel that panicked after init was reached is a boot; QEMU exiting before
                // that is QEMU refusing (e.g. "failed to initialize kvm").
                return if booted(&console()) {
                    DeepBoot::Booted { secs }
                } else {
                    DeepBoot::NotTried(format!(
                        "QEMU exited with {status} before the kernel ran init: {}",
                        last_line(&err).unwrap_or_default()
                    ))
                };
            }
            Ok(None) if started.elapsed() >= TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                return DeepBoot::Hung {
                    secs,
                    last_line: last_line(&console()),
                };
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(200)),
            Err(e) => return DeepBoot::NotTried(format!("waiting for QEMU: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_reached_is_a_boot_and_decompressing_is_not() {
        let hung =
            "Probing EDD (edd=off to disable)... ok\nDecompressing Linux... Parsing ELF... done.\n";
        assert!(!booted(hung));
        assert_eq!(
            last_line(hung).as_deref(),
            Some("Decompressing Linux... Parsing ELF... done.")
        );
        let ok = "[    0.9] Freeing unused kernel image (initmem) memory: 2880K\n[    0.9] Run /x as init process\n";
        assert!(booted(ok));
        assert_eq!(last_line("\n \n"), None);
    }

    /// A stand-in QEMU that prints nothing and sleeps is killed at the timeout; one that
    /// writes the kernel's line counts as booted; one that exits at once was not tried.
    #[test]
    fn the_boot_is_bounded_and_judged_by_the_console() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fake = |name: &str, body: &str| {
            let p = dir.path().join(name);
            std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).expect("write");
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
            p
        };
        // The console file is QEMU's `-serial file:PATH` argument.
        let writes = fake(
            "boots",
            r#"for a; do case $a in file:*) echo 'Freeing unused kernel image' > "${a#file:}";; esac; done; exec sleep 30"#,
        );
        let exits = fake(
            "refuses",
            "echo 'failed to initialize kvm: Permission denied' >&2; exit 1",
        );
        let k = dir.path().join("k");
        let log = dir.path().join("console");
        let started = Instant::now();
        assert!(matches!(
            run(&writes, &k, &k, &log),
            DeepBoot::Booted { .. }
        ));
        assert!(started.elapsed() < Duration::from_secs(10));
        assert_eq!(
            run(&exits, &k, &k, &dir.path().join("c2")),
            DeepBoot::NotTried(
                "QEMU exited with exit status: 1 before the kernel ran init: failed to initialize kvm: Permission denied"
                    .into()
            )
        );
    }
}
