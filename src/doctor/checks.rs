//! Every check: a pure function of the gathered facts, giving a verdict, a detail and, when
//! something must change, the command that changes it.

use super::access::{READ, WRITE, allows, first_blocked, letters};
use super::deep::{DeepBoot, TIMEOUT};
use super::facts::{CpuVirt, Facts};
use super::{Check, Fix};
use crate::lab::AccelChoice;

/// What each node's disk overlay is budgeted: what boot, packages and logs write, plus room
/// for a level's snapshot of its memory (added per node).
pub(crate) const OVERLAY_MIB: u64 = 1024;
/// Building an image: the raw file system, the qcow2 made from it and the package cache.
pub(crate) const IMAGE_BUILD_MIB: u64 = 8 * 1024;
/// Below this much left over after the lab, disk is a warning.
pub(crate) const DISK_SLACK_MIB: u64 = 2 * 1024;

pub(crate) fn all(f: &Facts) -> Vec<Check> {
    let mut out = Vec::new();
    out.extend(lab_file(f));
    out.push(kvm(f));
    out.push(nested(f));
    out.extend(deep(f));
    out.push(libvirt(f));
    out.extend(libvirt_speed(f));
    out.extend(super::networks::networks(f));
    out.push(dnsmasq(f));
    out.push(security(f));
    out.extend(qemu_access(f));
    out.push(super::capacity::memory(f));
    out.push(super::capacity::disk(f));
    out.push(super::capacity::cpus(f));
    out.extend(super::supplies::tools(f));
    out.extend(super::supplies::images(f));
    out
}

/// /dev/kvm exists and QEMU's user may open it for reading and writing.
pub(crate) fn kvm_usable(f: &Facts) -> bool {
    f.kvm
        .as_ref()
        .is_some_and(|k| allows(k, &f.qemu_user, READ | WRITE))
}

/// Whether the lab will run under KVM: the same rule as `up --accel` (`auto` takes KVM only
/// when it is usable and this host is not itself a VM).
pub(crate) fn uses_kvm(f: &Facts) -> bool {
    match f.accel {
        AccelChoice::Kvm => true,
        AccelChoice::Tcg => false,
        AccelChoice::Auto => kvm_usable(f) && !f.nested,
    }
}

fn lab_file(f: &Facts) -> Option<Check> {
    let Some(Err(problem)) = &f.lab else {
        return None;
    };
    let file = f.lab_file.as_ref()?.display().to_string();
    Some(Check::fail(
        "lab file",
        format!("{problem}; the checks below that need the lab are skipped"),
        Fix::same(format!("firedrill validate {file}")),
    ))
}

pub(crate) fn kvm(f: &Facts) -> Check {
    const NAME: &str = "kvm";
    let who = &f.qemu_user;
    let problem = match &f.kvm {
        None => {
            let load = match f.cpu_vendor {
                Some(CpuVirt::Intel) => "sudo modprobe kvm_intel".to_string(),
                Some(CpuVirt::Amd) => "sudo modprobe kvm_amd".to_string(),
                None if f.nested => "enable nested virtualization for this VM on its host, then run `sudo modprobe kvm_intel` (or kvm_amd)".to_string(),
                None => "enable VT-x/AMD-V in the firmware (BIOS/UEFI) setup, then run `sudo modprobe kvm_intel` (or kvm_amd)".to_string(),
            };
            ("there is no /dev/kvm".to_string(), Fix::same(load))
        }
        Some(k) if !kvm_usable(f) => (
            format!(
                "QEMU's user {} (uid {}, the owner of FIREDRILL_HOME) cannot open /dev/kvm (mode {:04o}, uid {}, gid {})",
                who.name, who.uid, k.mode, k.uid, k.gid
            ),
            Fix::same(format!(
                "sudo usermod -aG kvm {}   # then log out and in again",
                who.name
            )),
        ),
        Some(_) => {
            let auto = if f.nested {
                "`--accel auto` still uses TCG: this host is itself a VM and nested KVM often hangs guests (`firedrill doctor --deep` tries a boot)"
            } else {
                "`--accel auto` uses it"
            };
            return Check::ok(
                NAME,
                format!("/dev/kvm is usable by QEMU's user {}; {auto}", who.name),
            );
        }
    };
    let (what, fix) = problem;
    match f.accel {
        AccelChoice::Kvm => Check::fail(
            NAME,
            format!("{what}, and FIREDRILL_ACCEL/--accel is kvm"),
            fix,
        ),
        AccelChoice::Auto => Check::warn(
            NAME,
            format!(
                "{what}: `--accel auto` falls back to TCG, where each node takes minutes to boot"
            ),
            Some(fix),
        ),
        AccelChoice::Tcg => Check::ok(NAME, format!("{what}; not needed with --accel tcg")),
    }
}

pub(crate) fn nested(f: &Facts) -> Check {
    const NAME: &str = "nested";
    if !f.nested {
        return Check::ok(NAME, "this host is not a virtual machine");
    }
    match (&f.deep, f.accel) {
        (Some(DeepBoot::Booted { .. }), AccelChoice::Auto) => Check::warn(
            NAME,
            "this host is a virtual machine, so `--accel auto` picks TCG; yet a guest booted under KVM here: use it",
            Some(Fix::same("export FIREDRILL_ACCEL=kvm")),
        ),
        (_, AccelChoice::Tcg) => Check::ok(
            NAME,
            "this host is a virtual machine; the lab runs under TCG",
        ),
        _ => Check::warn(
            NAME,
            format!(
                "this host is a virtual machine: nested KVM often hangs guest kernels, so `--accel auto` picks TCG{}",
                if f.deep.is_none() {
                    " (`firedrill doctor --deep` tries a KVM boot)"
                } else {
                    ""
                }
            ),
            None,
        ),
    }
}

pub(crate) fn deep(f: &Facts) -> Option<Check> {
    const NAME: &str = "kvm boot";
    let tcg = Fix::same(
        "export FIREDRILL_ACCEL=tcg   # or enable nested virtualization on the outer host",
    );
    Some(match f.deep.as_ref()? {
        DeepBoot::Booted { secs } => Check::ok(
            NAME,
            format!("a guest kernel reached init under KVM in {secs:.1}s"),
        ),
        DeepBoot::Hung { secs, last_line } => {
            let what = format!(
                "a guest kernel under KVM did not reach init in {secs:.0}s (limit {}s); its console's last line: {}",
                TIMEOUT.as_secs(),
                last_line.as_deref().unwrap_or("(nothing)")
            );
            if uses_kvm(f) {
                Check::fail(
                    NAME,
                    format!("{what}; the lab would hang the same way"),
                    tcg,
                )
            } else {
                Check::warn(
                    NAME,
                    format!("{what}; the lab runs under TCG, which works"),
                    None,
                )
            }
        }
        DeepBoot::NotTried(why) => {
            let what = format!("no boot was tried: {why}");
            if f.accel == AccelChoice::Kvm {
                Check::fail(NAME, what, tcg)
            } else {
                Check::warn(NAME, what, None)
            }
        }
    })
}

fn version(v: u32) -> String {
    format!("{}.{}.{}", v / 1_000_000, v / 1000 % 1000, v % 1000)
}

pub(crate) fn libvirt(f: &Facts) -> Check {
    const NAME: &str = "libvirt";
    match &f.libvirt {
        Ok(l) => {
            let what = format!(
                "{} answers: libvirt {}, QEMU {}",
                l.uri,
                version(l.version),
                version(l.qemu_version)
            );
            if l.uri.contains("/session") {
                // An unprivileged libvirtd cannot make bridges, and each lab needs its own.
                return Check::fail(
                    NAME,
                    format!("{what}; a session libvirt cannot create the lab's network"),
                    Fix::same("export LIBVIRT_DEFAULT_URI=qemu:///system"),
                );
            }
            Check::ok(NAME, what)
        }
        Err(e) => {
            let first = e.lines().next().unwrap_or_default();
            let fix = if first.contains("Permission denied") || first.contains("authentication") {
                Fix::same("sudo usermod -aG libvirt $USER   # then log out and in again")
            } else if !f.systemd {
                Fix::same(
                    "sudo scripts/libvirtd-ns start firedrill /run/firedrill   # in firedrill's source tree; then run firedrill under `ip netns exec firedrill`",
                )
            } else {
                Fix {
                    debian: "sudo apt-get install -y libvirt-daemon-system && sudo systemctl enable --now libvirtd".into(),
                    fedora: "sudo dnf install -y libvirt-daemon-kvm && sudo systemctl enable --now virtqemud.socket virtnetworkd.socket".into(),
                }
            };
            Check::fail(NAME, first.to_string(), fix)
        }
    }
}

/// A libvirtd that re-probes QEMU makes every lookup take tens of seconds (see
/// `lab::slow_libvirt`); only worth saying when the lab runs under TCG on a host with /dev/kvm.
pub(crate) fn libvirt_speed(f: &Facts) -> Option<Check> {
    const NAME: &str = "libvirt speed";
    let l = f.libvirt.as_ref().ok()?;
    let took = l.lookup.as_secs_f64();
    if l.lookup >= crate::lab::slow_libvirt::SLOW && f.kvm.is_some() && !uses_kvm(f) {
        Some(Check::warn(
            NAME,
            format!(
                "looking up a domain took {took:.1}s (well under 1 s is normal): libvirtd can see a /dev/kvm it cannot use and probes QEMU again on every call; {}",
                crate::lab::slow_libvirt::HINT
            ),
            Some(Fix::same(
                "sudo scripts/libvirtd-ns start firedrill /run/firedrill",
            )),
        ))
    } else {
        Some(Check::ok(
            NAME,
            format!("looking up a domain took {took:.2}s"),
        ))
    }
}

pub(crate) fn dnsmasq(f: &Facts) -> Check {
    match &f.dnsmasq {
        Some(p) => Check::ok(
            "dnsmasq",
            format!("{} (libvirt's DHCP and DNS for the lab)", p.display()),
        ),
        None => Check::fail(
            "dnsmasq",
            "dnsmasq is not installed: libvirt needs it for the lab network's DHCP and DNS",
            Fix::packages("dnsmasq-base", "dnsmasq"),
        ),
    }
}

pub(crate) fn security(f: &Facts) -> Check {
    const NAME: &str = "security";
    let dir = f.images_dir.display();
    if f.selinux_enforcing {
        let label = f.image_dir_label.as_deref().unwrap_or("(none)");
        let ok = ["virt_image_t", "virt_content_t", "svirt_image_t"]
            .iter()
            .any(|t| label.contains(t));
        if ok {
            return Check::ok(
                NAME,
                format!("SELinux is enforcing and {dir} is labelled {label}"),
            );
        }
        return Check::warn(
            NAME,
            format!(
                "SELinux is enforcing and {dir} is labelled {label}: QEMU may be denied the images"
            ),
            Some(Fix::same(format!(
                "sudo semanage fcontext -a -t virt_image_t '{dir}(/.*)?' && sudo restorecon -R {dir}"
            ))),
        );
    }
    if f.apparmor {
        return Check::ok(
            NAME,
            "AppArmor is on: libvirt gives each domain a profile (virt-aa-helper) that admits the disks, kernel and initrd it names, wherever they are",
        );
    }
    Check::ok(NAME, "neither SELinux nor AppArmor confines QEMU here")
}

/// QEMU runs as the owner of FIREDRILL_HOME: it must get into the lab directories and read
/// each image file, through every directory above them.
pub(crate) fn qemu_access(f: &Facts) -> Vec<Check> {
    const NAME: &str = "qemu access";
    let who = &f.qemu_user;
    let mut out: Vec<Check> = Vec::new();
    for (chain, want) in &f.qemu_paths {
        if let Some((blocked, lacks)) = first_blocked(chain, who, *want) {
            let path = blocked.path.display();
            let detail = format!(
                "QEMU runs as {} (uid {}, the owner of FIREDRILL_HOME) and cannot {} {path} (mode {:04o}, uid {}, gid {})",
                who.name,
                who.uid,
                if lacks & READ != 0 { "read" } else { "enter" },
                blocked.mode,
                blocked.uid,
                blocked.gid
            );
            if !out.iter().any(|c| c.detail == detail) {
                out.push(Check::fail(
                    NAME,
                    detail,
                    Fix::same(format!("sudo chmod o+{} {path}", letters(lacks))),
                ));
            }
        }
    }
    if out.is_empty() {
        let what = match f.qemu_paths.len() {
            0 => "nothing it opens exists yet".to_string(),
            n => format!("can reach all {n} paths it opens (lab directories, image files)"),
        };
        out.push(Check::ok(
            NAME,
            format!(
                "QEMU runs as {} (uid {}, the owner of FIREDRILL_HOME); {what}",
                who.name, who.uid
            ),
        ));
    }
    out
}
