//! Every check against made-up facts: each verdict, and the exact fix it gives.

use super::access::{FileMode, Principal};
use super::capacity::{cpus, disk, memory};
use super::checks::*;
use super::deep::DeepBoot;
use super::facts::*;
use super::networks::networks;
use super::supplies::{images, tools};
use super::{Check, Fix, Verdict, render};
use crate::host::HostRoute;
use crate::lab::AccelChoice;
use std::path::PathBuf;
use std::time::Duration;

fn alice() -> Principal {
    Principal {
        name: "alice".into(),
        uid: 1000,
        gid: 1000,
        groups: vec![108],
    }
}

fn mode(path: &str, mode: u32, uid: u32, gid: u32) -> FileMode {
    FileMode {
        path: PathBuf::from(path),
        mode,
        uid,
        gid,
    }
}

fn net(name: &str, cidr: &str, owner: Option<&str>) -> NetFacts {
    NetFacts {
        name: name.into(),
        cidr: Some(cidr.parse().expect("cidr")),
        active: true,
        owner: owner.map(str::to_string),
    }
}

fn lab() -> LabFacts {
    LabFacts {
        name: "three-tier".into(),
        file: PathBuf::from("labs/three-tier.yaml"),
        networks: vec![("lan".into(), "10.78.0.0/24".parse().expect("cidr"))],
        nodes: vec![
            ("lb".into(), 512, 1),
            ("app1".into(), 512, 1),
            ("db".into(), 1024, 2),
        ],
        images: vec!["debian-12".into()],
    }
}

fn free(path: &str, mib: u64, dev: u64) -> Free {
    Free {
        path: PathBuf::from(path),
        bytes: mib * 1024 * 1024,
        dev,
    }
}

/// A laptop where everything is in order: KVM usable by alice, libvirt up, the image built.
fn healthy() -> Facts {
    Facts {
        accel: AccelChoice::Auto,
        kvm: Some(mode("/dev/kvm", 0o660, 0, 108)),
        cpu_vendor: Some(CpuVirt::Intel),
        nested: false,
        deep: None,
        systemd: true,
        qemu_user: alice(),
        libvirt: Ok(LibvirtFacts {
            uri: "qemu:///system".into(),
            version: 9_000_000,
            qemu_version: 7_002_022,
            networks: vec![net("default", "192.168.122.0/24", None)],
            others_running_mib: 0,
            lab_running: Vec::new(),
            lookup: Duration::from_millis(20),
        }),
        dnsmasq: Some(PathBuf::from("/usr/sbin/dnsmasq")),
        apparmor: true,
        selinux_enforcing: false,
        images_dir: PathBuf::from("/home/alice/.local/share/firedrill/images"),
        image_dir_label: None,
        qemu_paths: vec![(
            vec![
                mode("/", 0o755, 0, 0),
                mode("/home", 0o755, 0, 0),
                mode("/home/alice", 0o750, 1000, 1000),
            ],
            super::access::READ | super::access::EXEC,
        )],
        mem_total_mib: 16_000,
        mem_available_mib: 12_000,
        cpus: 8,
        routes: vec![HostRoute {
            net: "192.168.1.0/24".parse().expect("cidr"),
            dev: "wlan0".into(),
        }],
        home_free: Some(free("/home/alice/.local/share/firedrill", 100_000, 1)),
        images_free: Some(free(
            "/home/alice/.local/share/firedrill/images",
            100_000,
            1,
        )),
        tools: [
            "qemu-system-x86_64",
            "qemu-img",
            "genisoimage",
            "debootstrap",
        ]
        .into_iter()
        .map(|t| (t, Some(PathBuf::from(format!("/usr/bin/{t}")))))
        .collect(),
        images: vec![ImageFacts {
            name: "debian-12".into(),
            state: ImageState::Verified {
                disk_bytes: 1300 * 1024 * 1024,
                created: "2026-11-30T10:35:30Z".into(),
            },
        }],
        lab_file: Some(PathBuf::from("labs/three-tier.yaml")),
        lab: Some(Ok(lab())),
    }
}

fn only(checks: Vec<Check>) -> Check {
    assert_eq!(checks.len(), 1, "{checks:?}");
    checks.into_iter().next().expect("one")
}

fn same(cmd: &str) -> Option<Fix> {
    Some(Fix::same(cmd))
}

#[test]
fn a_healthy_laptop_passes_every_check() {
    let checks = all(&healthy());
    let bad: Vec<_> = checks.iter().filter(|c| c.verdict != Verdict::Ok).collect();
    assert!(bad.is_empty(), "{bad:#?}");
    assert_eq!(checks.len(), 16);
    let text = render(&checks, false);
    assert!(text.ends_with("ready: 16 checks, 0 warnings\n"), "{text}");
    assert!(
        text.contains("ok   libvirt        qemu:///system answers: libvirt 9.0.0, QEMU 7.2.22\n"),
        "{text}"
    );
    assert!(!text.contains('\x1b'));
    assert!(render(&checks, true).contains("\x1b[32mok  \x1b[0m"));
}

#[test]
fn no_dev_kvm_fails_under_kvm_warns_under_auto_and_is_fine_under_tcg() {
    let mut f = healthy();
    f.kvm = None;
    let c = kvm(&f);
    assert_eq!(c.verdict, Verdict::Warn);
    assert_eq!(
        c.detail,
        "there is no /dev/kvm: `--accel auto` falls back to TCG, where each node takes minutes to boot"
    );
    assert_eq!(c.fix, same("sudo modprobe kvm_intel"));
    f.cpu_vendor = Some(CpuVirt::Amd);
    f.accel = AccelChoice::Kvm;
    let c = kvm(&f);
    assert_eq!(c.verdict, Verdict::Fail);
    assert_eq!(c.fix, same("sudo modprobe kvm_amd"));
    f.cpu_vendor = None;
    assert!(
        kvm(&f)
            .fix
            .expect("fix")
            .debian
            .starts_with("enable VT-x/AMD-V in the firmware")
    );
    f.nested = true;
    assert!(
        kvm(&f)
            .fix
            .expect("fix")
            .debian
            .starts_with("enable nested virtualization for this VM")
    );
    f.accel = AccelChoice::Tcg;
    let c = kvm(&f);
    assert_eq!((c.verdict, c.fix), (Verdict::Ok, None));
}

#[test]
fn dev_kvm_closed_to_the_qemu_user_names_the_group_fix() {
    let mut f = healthy();
    f.qemu_user.groups.clear();
    f.accel = AccelChoice::Kvm;
    let c = kvm(&f);
    assert_eq!(c.verdict, Verdict::Fail);
    assert_eq!(
        c.detail,
        "QEMU's user alice (uid 1000, the owner of FIREDRILL_HOME) cannot open /dev/kvm (mode 0660, uid 0, gid 108), and FIREDRILL_ACCEL/--accel is kvm"
    );
    assert_eq!(
        c.fix,
        same("sudo usermod -aG kvm alice   # then log out and in again")
    );
    assert!(!uses_kvm(&Facts {
        accel: AccelChoice::Auto,
        ..f
    }));
}

#[test]
fn a_nested_host_is_explained_and_a_deep_boot_decides() {
    let mut f = healthy();
    f.nested = true;
    assert!(kvm(&f).detail.contains("`--accel auto` still uses TCG"));
    assert!(!uses_kvm(&f));
    let c = nested(&f);
    assert_eq!(c.verdict, Verdict::Warn);
    assert!(
        c.detail
            .ends_with("(`firedrill doctor --deep` tries a KVM boot)"),
        "{}",
        c.detail
    );
    assert_eq!(deep(&f), None);

    f.deep = Some(DeepBoot::Booted { secs: 1.4 });
    assert_eq!(nested(&f).fix, same("export FIREDRILL_ACCEL=kvm"));
    let c = deep(&f).expect("deep");
    assert_eq!(
        (c.verdict, c.detail.as_str()),
        (Verdict::Ok, "a guest kernel reached init under KVM in 1.4s")
    );

    f.deep = Some(DeepBoot::Hung {
        secs: 20.2,
        last_line: Some("Decompressing Linux... Parsing ELF... done.".into()),
    });
    let c = deep(&f).expect("deep");
    assert_eq!(
        c.verdict,
        Verdict::Warn,
        "auto runs TCG here, so a hang is only a warning"
    );
    assert_eq!(
        c.detail,
        "a guest kernel under KVM did not reach init in 20s (limit 20s); its console's last line: Decompressing Linux... Parsing ELF... done.; the lab runs under TCG, which works"
    );
    f.accel = AccelChoice::Kvm;
    let c = deep(&f).expect("deep");
    assert_eq!(c.verdict, Verdict::Fail);
    assert_eq!(
        c.fix,
        same("export FIREDRILL_ACCEL=tcg   # or enable nested virtualization on the outer host")
    );

    f.deep = Some(DeepBoot::NotTried("image `debian-12` is not built".into()));
    assert_eq!(deep(&f).expect("deep").verdict, Verdict::Fail);
    f.accel = AccelChoice::Tcg;
    let c = deep(&f).expect("deep");
    assert_eq!(
        (c.verdict, c.detail.as_str()),
        (
            Verdict::Warn,
            "no boot was tried: image `debian-12` is not built"
        )
    );
    assert_eq!(nested(&f).verdict, Verdict::Ok);
}

#[test]
fn libvirt_down_gives_the_start_command_for_the_host() {
    let mut f = healthy();
    f.libvirt = Err("cannot connect to libvirt at qemu:///system: Failed to connect socket to '/var/run/libvirt/libvirt-sock': No such file or directory\n  hint: ...".into());
    let c = libvirt(&f);
    assert_eq!(c.verdict, Verdict::Fail);
    assert!(!c.detail.contains("hint"), "{}", c.detail);
    assert_eq!(
        c.fix,
        Some(Fix {
            debian: "sudo apt-get install -y libvirt-daemon-system && sudo systemctl enable --now libvirtd".into(),
            fedora: "sudo dnf install -y libvirt-daemon-kvm && sudo systemctl enable --now virtqemud.socket virtnetworkd.socket".into(),
        })
    );
    f.systemd = false;
    assert!(
        libvirt(&f)
            .fix
            .expect("fix")
            .debian
            .starts_with("sudo scripts/libvirtd-ns start firedrill /run/firedrill")
    );
    f.libvirt = Err("cannot connect to libvirt at qemu:///system: Permission denied".into());
    assert_eq!(
        libvirt(&f).fix,
        same("sudo usermod -aG libvirt $USER   # then log out and in again")
    );
    // The checks that need libvirt say nothing rather than guess.
    assert_eq!(libvirt_speed(&f), None);
    assert!(networks(&f).is_empty());
}

#[test]
fn a_reprobing_libvirtd_is_named_only_under_tcg_with_dev_kvm() {
    let mut f = healthy();
    if let Ok(l) = &mut f.libvirt {
        l.lookup = Duration::from_secs(30);
    }
    assert_eq!(
        libvirt_speed(&f).expect("speed").verdict,
        Verdict::Ok,
        "KVM in use: not this cause"
    );
    f.accel = AccelChoice::Tcg;
    let c = libvirt_speed(&f).expect("speed");
    assert_eq!(c.verdict, Verdict::Warn);
    assert!(
        c.detail.starts_with("looking up a domain took 30.0s"),
        "{}",
        c.detail
    );
    assert!(c.detail.contains(crate::lab::slow_libvirt::HINT));
    assert_eq!(
        c.fix,
        same("sudo scripts/libvirtd-ns start firedrill /run/firedrill")
    );
}

#[test]
fn overlapping_networks_fail_with_a_free_subnet_to_use() {
    let mut f = healthy();
    assert_eq!(
        only(networks(&f)).detail,
        "the lab's 10.78.0.0/24 overlaps nothing; libvirt's `default` network: 192.168.122.0/24 (active)"
    );
    if let Ok(l) = &mut f.libvirt {
        l.networks.push(net("work-vpn", "10.78.0.0/16", None));
        // The lab's own network, up already, is not a clash, nor is its bridge's route.
        l.networks
            .push(net("fd-three-tier-lan", "10.78.0.0/24", Some("three-tier")));
    }
    f.routes.push(HostRoute {
        net: "10.78.0.0/24".parse().expect("cidr"),
        dev: "virbr1".into(),
    });
    f.routes.push(HostRoute {
        net: "10.79.0.0/16".parse().expect("cidr"),
        dev: "tun0".into(),
    });
    let c = only(networks(&f));
    assert_eq!(c.verdict, Verdict::Fail);
    assert_eq!(
        c.detail,
        "network `lan` (10.78.0.0/24) overlaps libvirt network `work-vpn` (10.78.0.0/16)"
    );
    assert_eq!(
        c.fix,
        same("edit labs/three-tier.yaml: give network `lan` `cidr: 10.77.0.0/24`")
    );
    f.lab = None;
    assert_eq!(only(networks(&f)).verdict, Verdict::Ok);
}

#[test]
fn dnsmasq_missing_names_each_distros_package() {
    let mut f = healthy();
    f.dnsmasq = None;
    let c = dnsmasq(&f);
    assert_eq!(c.verdict, Verdict::Fail);
    assert_eq!(
        c.fix,
        Some(Fix {
            debian: "sudo apt-get install -y dnsmasq-base".into(),
            fedora: "sudo dnf install -y dnsmasq".into()
        })
    );
}

#[test]
fn selinux_wants_the_image_directory_labelled_for_virt() {
    let mut f = healthy();
    assert!(security(&f).detail.starts_with("AppArmor is on"));
    f.apparmor = false;
    assert_eq!(
        security(&f).detail,
        "neither SELinux nor AppArmor confines QEMU here"
    );
    f.selinux_enforcing = true;
    f.image_dir_label = Some("unconfined_u:object_r:user_home_t:s0".into());
    let c = security(&f);
    assert_eq!(c.verdict, Verdict::Warn);
    assert_eq!(
        c.fix,
        same(
            "sudo semanage fcontext -a -t virt_image_t '/home/alice/.local/share/firedrill/images(/.*)?' && sudo restorecon -R /home/alice/.local/share/firedrill/images"
        )
    );
    f.image_dir_label = Some("system_u:object_r:virt_image_t:s0".into());
    assert_eq!(security(&f).verdict, Verdict::Ok);
}

#[test]
fn an_image_qemu_cannot_reach_names_the_directory_and_the_chmod() {
    let mut f = healthy();
    f.qemu_paths.push((
        vec![
            mode("/", 0o755, 0, 0),
            mode("/root", 0o700, 0, 0),
            mode("/root/images/disk.qcow2", 0o644, 0, 0),
        ],
        super::access::READ,
    ));
    let c = only(qemu_access(&f));
    assert_eq!(c.verdict, Verdict::Fail);
    assert_eq!(
        c.detail,
        "QEMU runs as alice (uid 1000, the owner of FIREDRILL_HOME) and cannot enter /root (mode 0700, uid 0, gid 0)"
    );
    assert_eq!(c.fix, same("sudo chmod o+x /root"));
    f.qemu_paths = vec![(
        vec![mode("/", 0o755, 0, 0), mode("/img/k", 0o600, 0, 0)],
        super::access::READ,
    )];
    assert_eq!(only(qemu_access(&f)).fix, same("sudo chmod o+r /img/k"));
}

#[test]
fn memory_counts_the_guests_to_start_and_those_already_up() {
    let mut f = healthy();
    let c = memory(&f);
    assert_eq!(
        (c.verdict, c.detail.as_str()),
        (
            Verdict::Ok,
            "the lab's 3 guests to start need 2048 MiB; 12000 MiB available of 16000 MiB; guests already running hold up to 0 MiB"
        )
    );
    f.mem_available_mib = 2000;
    let c = memory(&f);
    assert_eq!(c.verdict, Verdict::Fail);
    assert_eq!(
        c.fix,
        same(
            "lower `memory:` in labs/three-tier.yaml (in MiB), or bring another lab down: `firedrill list`, then `firedrill down --lab NAME`"
        )
    );
    // db is up already: only lb and app1 are to start.
    if let Ok(l) = &mut f.libvirt {
        l.lab_running = vec!["db".into()];
    }
    assert_eq!(memory(&f).verdict, Verdict::Ok, "1024 of 2000 MiB");
    f.mem_available_mib = 1200;
    assert_eq!(
        memory(&f).verdict,
        Verdict::Warn,
        "1024 of 1200 MiB leaves under 20%"
    );
    f.mem_available_mib = 12_000;
    if let Ok(l) = &mut f.libvirt {
        l.others_running_mib = 14_500;
    }
    let c = memory(&f);
    assert_eq!(c.verdict, Verdict::Warn);
    assert!(
        c.detail
            .ends_with("with every guest at its full size (16548 MiB) the host would swap"),
        "{}",
        c.detail
    );
}

#[test]
fn disk_adds_the_image_build_where_it_shares_a_file_system() {
    let mut f = healthy();
    let c = disk(&f);
    assert_eq!(c.verdict, Verdict::Ok);
    assert!(
        c.detail
            .starts_with("5120 MiB needed, 100000 MiB free on /home/alice/.local/share/firedrill;"),
        "{}",
        c.detail
    );
    f.images[0].state = ImageState::Missing;
    f.home_free = Some(free("/home/alice/.local/share/firedrill", 14_000, 1));
    f.images_free = Some(free("/home/alice/.local/share/firedrill/images", 14_000, 1));
    let c = disk(&f);
    assert_eq!(
        c.verdict,
        Verdict::Warn,
        "13312 of 14000 MiB leaves under 2 GiB: {}",
        c.detail
    );
    f.home_free = Some(free("/home/alice/.local/share/firedrill", 10_000, 1));
    let c = disk(&f);
    assert_eq!(c.verdict, Verdict::Fail);
    assert_eq!(
        c.fix,
        same(
            "free space on /home/alice/.local/share/firedrill, or point FIREDRILL_HOME (labs) or FIREDRILL_IMAGES (images) at a file system with 13312 MiB free"
        )
    );
    // On separate file systems each is held to its own part.
    f.images_free = Some(free("/var/cache/firedrill/images", 9_000, 2));
    let c = disk(&f);
    assert_eq!(
        c.verdict,
        Verdict::Warn,
        "8192 of 9000 MiB for the image build leaves under 2 GiB"
    );
    assert!(c.detail.starts_with("5120 MiB needed, 10000 MiB free on /home/alice/.local/share/firedrill, 8192 MiB needed, 9000 MiB free on /var/cache/firedrill/images"), "{}", c.detail);
    f.images_free = Some(free("/var/cache/firedrill/images", 7_000, 2));
    let c = disk(&f);
    assert_eq!(c.verdict, Verdict::Fail);
    assert_eq!(
        c.fix,
        same(
            "free space on /var/cache/firedrill/images, or point FIREDRILL_HOME (labs) or FIREDRILL_IMAGES (images) at a file system with 8192 MiB free"
        )
    );
}

#[test]
fn cpus_warn_when_a_node_asks_for_more_than_the_host() {
    let mut f = healthy();
    assert_eq!(
        cpus(&f).detail,
        "8 CPUs online; the lab's guests have 4 vCPUs"
    );
    f.cpus = 1;
    let c = cpus(&f);
    assert_eq!(c.verdict, Verdict::Warn);
    assert_eq!(
        c.fix,
        same("set `cpus: 1` or less on node db in labs/three-tier.yaml")
    );
    f.lab = None;
    assert_eq!(cpus(&f).verdict, Verdict::Warn);
}

#[test]
fn missing_tools_name_the_package_and_debootstrap_matters_only_to_build() {
    let mut f = healthy();
    for t in &mut f.tools {
        t.1 = None;
    }
    let c = tools(&f);
    let fixes: Vec<_> = c
        .iter()
        .map(|c| (c.verdict, c.fix.clone().expect("fix")))
        .collect();
    let pkg = |d: &str, r: &str| Fix {
        debian: format!("sudo apt-get install -y {d}"),
        fedora: format!("sudo dnf install -y {r}"),
    };
    assert_eq!(
        fixes,
        vec![
            (
                Verdict::Fail,
                pkg("qemu-system-x86", "qemu-system-x86-core")
            ),
            (Verdict::Fail, pkg("qemu-utils", "qemu-img")),
            (Verdict::Fail, pkg("genisoimage", "genisoimage")),
            (Verdict::Warn, pkg("debootstrap", "debootstrap")),
        ]
    );
    f.images[0].state = ImageState::Missing;
    assert_eq!(tools(&f)[3].verdict, Verdict::Fail);
}

#[test]
fn the_golden_image_is_built_verified_and_current() {
    let mut f = healthy();
    let c = only(images(&f));
    assert_eq!(
        c.detail,
        "debian-12: disk, kernel and initrd match the manifest's sha256 (1300 MiB, built 2026-11-30T10:35:30Z)"
    );
    let rebuild = same("sudo firedrill image build --name debian-12 --rebuild");
    for (state, verdict, fix) in [
        (
            ImageState::Missing,
            Verdict::Fail,
            same("sudo firedrill image build --name debian-12"),
        ),
        (
            ImageState::Broken("no manifest.json".into()),
            Verdict::Fail,
            rebuild.clone(),
        ),
        (
            ImageState::Corrupt("disk.qcow2 has sha256 ab".into()),
            Verdict::Fail,
            rebuild.clone(),
        ),
        (ImageState::Stale, Verdict::Warn, rebuild.clone()),
    ] {
        f.images[0].state = state;
        let c = only(images(&f));
        assert_eq!((c.verdict, c.fix), (verdict, fix), "{}", c.detail);
    }
}

#[test]
fn an_invalid_lab_file_fails_first_and_points_at_validate() {
    let mut f = healthy();
    f.lab = Some(Err("labs/x.yaml has 2 problem(s)".into()));
    f.lab_file = Some(PathBuf::from("labs/x.yaml"));
    let checks = all(&f);
    assert_eq!(checks[0].name, "lab file");
    assert_eq!(checks[0].fix, same("firedrill validate labs/x.yaml"));
    let text = render(&checks, false);
    assert!(text.contains("FAIL lab file"), "{text}");
    assert!(
        text.contains("       fix: firedrill validate labs/x.yaml\n"),
        "{text}"
    );
    assert!(
        text.ends_with(
            "not ready: 1 failed, 0 warnings; run the fixes above and `firedrill doctor` again\n"
        ),
        "{text}"
    );
}

#[test]
fn a_session_libvirt_fails_and_json_carries_verdict_and_fix() {
    let mut f = healthy();
    if let Ok(l) = &mut f.libvirt {
        l.uri = "qemu:///session".into();
    }
    let c = libvirt(&f);
    assert_eq!(c.verdict, Verdict::Fail);
    assert_eq!(
        c.detail,
        "qemu:///session answers: libvirt 9.0.0, QEMU 7.2.22; a session libvirt cannot create the lab's network"
    );
    assert_eq!(c.fix, same("export LIBVIRT_DEFAULT_URI=qemu:///system"));
    let json = serde_json::to_value(&c).expect("json");
    assert_eq!(json["verdict"], "fail");
    assert_eq!(json["name"], "libvirt");
    assert_eq!(
        json["fix"]["fedora"],
        "export LIBVIRT_DEFAULT_URI=qemu:///system"
    );
    let ok = serde_json::to_value(dnsmasq(&healthy())).expect("json");
    assert_eq!(ok["verdict"], "ok");
    assert!(ok.get("fix").is_none(), "{ok}");
}
