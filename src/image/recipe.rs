//! What goes into a golden image, as data: the Debian suite, the packages and the configuration
//! steps applied to the root filesystem. Pure, so the recipe hash (which decides whether a cached
//! image is stale) covers every input and nothing else.

use sha2::{Digest, Sha256};

/// Bump when the build changes in a way the data below does not show (for example the mkfs
/// options or how the kernel is copied), so that cached images are reported stale.
pub(crate) const RECIPE_VERSION: u32 = 1;

/// The kernel command line the image is made for: root is the whole virtio disk (no partition
/// table), the serial console carries the log, and `net.ifnames=0` keeps the NIC named `eth0`.
pub(crate) const CMDLINE: &str = "root=/dev/vda rw console=ttyS0 net.ifnames=0";

/// Every package the base system, a fault or a learner needs on the node: the VMs have no
/// internet, so nothing can be installed later. Each role's own packages come from its line in
/// the role table (`RoleDef::packages`).
const BASE_PACKAGES: &[&str] = &[
    // boot and base system
    "linux-image-amd64",
    "systemd-sysv",
    "dbus",
    "udev",
    "kmod",
    "e2fsprogs",
    "sudo",
    "procps",
    "less",
    "vim-tiny",
    // provisioning: cloud-init renders network-config to ifupdown; resolvconf turns its
    // dns-nameservers/dns-search lines into /etc/resolv.conf (ifupdown alone ignores them).
    "cloud-init",
    // debootstrap's resolver misses this virtual dependency of python3-cryptography, which then
    // stays unconfigured and breaks cloud-init.
    "python3-cffi-backend",
    "openssh-server",
    "ifupdown",
    "isc-dhcp-client",
    "resolvconf",
    // network tools
    "iproute2",
    "iputils-ping",
    "bind9-dnsutils",
    "curl",
    "ca-certificates",
    "netcat-openbsd",
    "tcpdump",
    "socat",
    "nftables",
    // faults and diagnosis
    "chrony",
    "stress-ng",
    "strace",
    "lsof",
    "psmisc",
    "htop",
    "sysstat",
    // the app and some faults run python3 scripts
    "python3",
];

/// Installed for roles that came after the image (the monitor role uses prometheus and the
/// exporters) or are still to come (DNS), so that adding them needed no image rebuild. Their
/// services stay disabled at boot like every role's. Moving them into a role's `packages`
/// would change the recipe's hash, and so rebuild every cached image, for the same packages.
const SPARE_PACKAGES: &[(&str, &[&str])] = &[
    ("bind9", &["named.service"]),
    ("prometheus", &["prometheus.service"]),
    (
        "prometheus-node-exporter",
        &["prometheus-node-exporter.service"],
    ),
    (
        "prometheus-mysqld-exporter",
        &["prometheus-mysqld-exporter.service"],
    ),
    (
        "prometheus-postgres-exporter",
        &["prometheus-postgres-exporter.service"],
    ),
    // The monitor node's Alertmanager and its prober of the service's front door.
    (
        "prometheus-alertmanager",
        &["prometheus-alertmanager.service"],
    ),
    (
        "prometheus-blackbox-exporter",
        &["prometheus-blackbox-exporter.service"],
    ),
];

/// The packages of the image: the base, every role's (table order), the spare ones.
fn packages() -> Vec<&'static str> {
    let roles = crate::roles::TABLE.iter().flat_map(|d| d.packages.iter());
    let spare = SPARE_PACKAGES.iter().map(|(p, _)| p);
    let mut all: Vec<&'static str> = Vec::new();
    for p in BASE_PACKAGES.iter().chain(roles).chain(spare) {
        if !all.contains(p) {
            all.push(p);
        }
    }
    all
}

/// A change made to the debootstrapped root filesystem. Paths are relative to its root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    /// Create or replace a file (a symlink at that path is replaced, never followed).
    Write {
        path: &'static str,
        mode: u32,
        content: &'static str,
    },
    /// Replace whatever is at `path` with a symlink to `target`.
    Symlink {
        path: &'static str,
        target: &'static str,
    },
    /// Remove the files in `dir` whose names start with `prefix` and end with `suffix`.
    Remove {
        dir: &'static str,
        prefix: &'static str,
        suffix: &'static str,
    },
    /// Run a command inside the root filesystem (`chroot ROOTFS ARGV...`).
    Chroot { argv: Vec<&'static str> },
}

const HOSTS: &str = "127.0.0.1\tlocalhost
::1\t\tlocalhost ip6-localhost ip6-loopback
ff02::1\t\tip6-allnodes
ff02::2\t\tip6-allrouters
";

const CLOUD_CFG: &str =
    "# firedrill: the seed is a NoCloud ISO labelled cidata; never probe network datasources.
datasource_list: [ NoCloud, None ]
";

const SSHD_CFG: &str =
    "# firedrill: the node's first boot installs only the ed25519 host key that firedrill generated
# and pinned; naming it here stops sshd from looking for (and logging about) other key types.
HostKey /etc/ssh/ssh_host_ed25519_key
PasswordAuthentication no
";

/// Runs the `first-boot` script of a lab node's seed at every boot (see `FIRST_BOOT_UNIT`).
const FIRST_BOOT_RUNNER: &str = r#"#!/bin/sh
# firedrill: runs the `first-boot` script of a firedrill lab node's seed (the disk labelled
# cidata) at every boot, before the network and sshd start, and writes this boot's result to
# /run/firedrill/first-boot.json, which firedrill waits for. A seed without that script (a
# Vagrant box's, a user's own) is cloud-init's business: nothing is done then.
set -u
run=/run/firedrill
mkdir -p "$run/seed"
result() {
  printf '{"errors": %s}\n' "$1" > "$run/first-boot.json.tmp"
  mv "$run/first-boot.json.tmp" "$run/first-boot.json"
}
# One error: the message as a JSON string (no control characters, quotes and backslashes
# escaped).
failed() {
  msg=$(printf '%s' "$1" | tr -d '\000-\037' | sed 's/\\/\\\\/g; s/"/\\"/g')
  result "[\"$msg\"]"
}
if ! dev=$(blkid -L cidata); then
  echo "no disk labelled cidata: not a firedrill lab node, nothing to do"
  exit 0
fi
if ! mount -o ro "$dev" "$run/seed"; then
  failed "cannot mount the seed disk $dev"
  exit 1
fi
if [ ! -f "$run/seed/first-boot" ]; then
  umount "$run/seed"
  echo "the seed on $dev has no first-boot script: its user-data is left to cloud-init"
  exit 0
fi
{ sh "$run/seed/first-boot"; echo $? > "$run/first-boot.status"; } 2>&1 | tee "$run/first-boot.log"
status=$(cat "$run/first-boot.status")
umount "$run/seed"
if [ "$status" = 0 ]; then
  result '[]'
  exit 0
fi
failed "the seed's first-boot script exited with $status: $(tail -n 1 "$run/first-boot.log")"
exit 1
"#;

/// Before the network and sshd, like cloud-init's local stage, which the lab's nodes turn off
/// (`cloud-init=disabled` on their kernel command line: `plan::kernel_cmdline`).
const FIRST_BOOT_UNIT: &str = "[Unit]
Description=firedrill lab node setup from its seed
DefaultDependencies=no
After=local-fs.target systemd-remount-fs.service
Wants=network-pre.target
Before=network-pre.target sysinit.target ssh.service chrony.service shutdown.target
Conflicts=shutdown.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/local/lib/firedrill/first-boot
StandardOutput=journal+console
TimeoutSec=0

[Install]
WantedBy=sysinit.target
";

const PRESET: &str =
    "# firedrill: the units enabled in the image are final. An empty machine-id makes the
# first boot apply presets, which would otherwise enable systemd-networkd and friends.
disable *
";

// resolvconf keeps the build host's resolv.conf here; the nodes must not inherit it.
const RESOLV_CONF: &str = "# Written at boot by resolvconf from the network configuration.
";

/// The initrd only has to find a virtio disk with ext4 on it. debootstrap's initrd has most
/// modules (36 MiB), and unpacking and probing them costs several seconds of every boot under
/// software emulation; this one is about 6 MiB. FSTYPE puts e2fsck in it (the hook cannot see
/// the root device from inside a chroot), so the root file system is checked before mounting.
const INITRAMFS_CONF: &str = "MODULES=list
FSTYPE=ext4
";

const INITRAMFS_MODULES: &str =
    "# firedrill: what a libvirt VM with a virtio disk and NIC needs to mount its root.
virtio_pci
virtio_blk
virtio_net
ext4
";

/// Units that would start at every boot of every node: apt and e2scrub timers are useless without
/// internet or LVM and would only steal CPU from a lab under software emulation.
const DISABLE_BASE: &[&str] = &[
    "apt-daily.timer",
    "apt-daily-upgrade.timer",
    "e2scrub_all.timer",
    "e2scrub_reap.service",
    "fstrim.timer",
];

/// `systemctl disable` of every unit a role or a spare package would start at boot (the role
/// enables what it uses), then the base ones.
fn disable_argv() -> Vec<&'static str> {
    let roles = crate::roles::TABLE.iter().flat_map(|d| d.boot_units.iter());
    let spare = SPARE_PACKAGES.iter().flat_map(|(_, units)| units.iter());
    let mut argv = vec!["systemctl", "disable", "--quiet"];
    argv.extend(roles.chain(spare).chain(DISABLE_BASE).copied());
    argv
}

fn steps() -> Vec<Step> {
    let mut steps = vec![
        Step::Write {
            path: "etc/fstab",
            mode: 0o644,
            content: "/dev/vda / ext4 defaults 0 1\n",
        },
        Step::Write {
            path: "etc/cloud/cloud.cfg.d/90_firedrill.cfg",
            mode: 0o644,
            content: CLOUD_CFG,
        },
        // Empty, so that systemd gives every node its own machine id at first boot; dbus reads the
        // same file instead of keeping a copy that would be shared by all nodes.
        Step::Write {
            path: "etc/machine-id",
            mode: 0o444,
            content: "",
        },
        Step::Symlink {
            path: "var/lib/dbus/machine-id",
            target: "/etc/machine-id",
        },
        // Each node gets the host key firedrill generated for it, from its seed.
        Step::Remove {
            dir: "etc/ssh",
            prefix: "ssh_host_",
            suffix: "",
        },
        Step::Write {
            path: "usr/local/lib/firedrill/first-boot",
            mode: 0o755,
            content: FIRST_BOOT_RUNNER,
        },
        Step::Write {
            path: "etc/systemd/system/firedrill-first-boot.service",
            mode: 0o644,
            content: FIRST_BOOT_UNIT,
        },
        Step::Symlink {
            path: "etc/systemd/system/sysinit.target.wants/firedrill-first-boot.service",
            target: "/etc/systemd/system/firedrill-first-boot.service",
        },
        Step::Write {
            path: "etc/ssh/sshd_config.d/firedrill.conf",
            mode: 0o644,
            content: SSHD_CFG,
        },
        // debootstrap copies these from the build host; cloud-init sets the node's own.
        Step::Write {
            path: "etc/hostname",
            mode: 0o644,
            content: "debian\n",
        },
        // The default cloud-init would otherwise set (en_US.UTF-8) is not generated in the image.
        Step::Write {
            path: "etc/default/locale",
            mode: 0o644,
            content: "LANG=C.UTF-8\n",
        },
        Step::Write {
            path: "etc/hosts",
            mode: 0o644,
            content: HOSTS,
        },
        Step::Write {
            path: "etc/resolvconf/resolv.conf.d/original",
            mode: 0o644,
            content: RESOLV_CONF,
        },
        Step::Symlink {
            path: "etc/resolv.conf",
            target: "../run/resolvconf/resolv.conf",
        },
        Step::Chroot {
            argv: disable_argv(),
        },
        // Debian's sshd PAM stack runs /etc/update-motd.d (a shell, run-parts and `uname`) at
        // every login, also for a command. Under TCG those are the login's only process starts:
        // a quarter of a second of a node's first login after a boot or a snapshot revert.
        // The static /etc/motd is still shown (the `noupdate` line); only the kernel line goes.
        Step::Chroot {
            argv: vec![
                "sed",
                "-i",
                r"s|^session\s\+optional\s\+pam_motd\.so\s\+motd=/run/motd\.dynamic$|# firedrill: no dynamic motd at every login (under emulation it cost each first login a quarter of a second)\n#&|",
                "/etc/pam.d/sshd",
            ],
        },
    ];
    // What the roles' packages install that the image must not keep (`RoleDef`).
    steps.extend(
        crate::roles::TABLE
            .iter()
            .flat_map(|d| d.package_leftovers.iter())
            .map(|&(dir, prefix)| Step::Remove {
                dir,
                prefix,
                suffix: "",
            }),
    );
    steps.extend([
        Step::Write {
            path: "etc/systemd/system-preset/00-firedrill.preset",
            mode: 0o644,
            content: PRESET,
        },
        Step::Write {
            path: "etc/initramfs-tools/conf.d/firedrill.conf",
            mode: 0o644,
            content: INITRAMFS_CONF,
        },
        Step::Write {
            path: "etc/initramfs-tools/modules",
            mode: 0o644,
            content: INITRAMFS_MODULES,
        },
        // After the fstab above: the fsck hook reads it.
        Step::Chroot {
            argv: vec!["update-initramfs", "-u", "-k", "all"],
        },
        // The packages were installed from debootstrap's cache; the copies are dead weight.
        Step::Remove {
            dir: "var/cache/apt/archives",
            prefix: "",
            suffix: ".deb",
        },
    ]);
    steps
}

/// A buildable image: everything `image build` needs to know about a name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Recipe {
    pub(crate) name: &'static str,
    pub(crate) suite: &'static str,
    pub(crate) variant: &'static str,
    pub(crate) packages: Vec<&'static str>,
    pub(crate) steps: Vec<Step>,
    /// The least memory a node of this image boots and runs its roles in, in MiB; validation
    /// refuses less. Not part of the hash: it does not change the image.
    pub(crate) min_memory_mib: u64,
}

static RECIPES: std::sync::LazyLock<Vec<Recipe>> = std::sync::LazyLock::new(|| {
    vec![Recipe {
        name: "debian-12",
        suite: "bookworm",
        variant: "minbase",
        packages: packages(),
        steps: steps(),
        // systemd, sshd, cloud-init's first boot and a database role do not fit in less.
        min_memory_mib: 256,
    }]
});

/// The names `image build --name` accepts.
pub(crate) fn known_names() -> &'static [&'static str] {
    &["debian-12"]
}

pub(crate) fn recipe(name: &str) -> Option<&'static Recipe> {
    RECIPES.iter().find(|r| r.name == name)
}

impl Recipe {
    /// sha256 over a canonical text of every input, hex encoded.
    pub(crate) fn hash(&self) -> String {
        hex::encode(Sha256::digest(self.canonical().as_bytes()))
    }

    /// One line per input, with `{:?}` quoting so that no content can imitate a line break.
    fn canonical(&self) -> String {
        let mut text = format!(
            "firedrill image recipe v{RECIPE_VERSION}\nname {:?}\nsuite {:?}\nvariant {:?}\ncmdline {CMDLINE:?}\n",
            self.name, self.suite, self.variant
        );
        for p in &self.packages {
            text.push_str(&format!("package {p:?}\n"));
        }
        for s in &self.steps {
            text.push_str(&format!("step {s:?}\n"));
        }
        text
    }

    /// The `--include=` argument of debootstrap.
    pub(crate) fn include_arg(&self) -> String {
        format!("--include={}", self.packages.join(","))
    }
}

#[cfg(test)]
mod tests {

    /// The image's first-boot runner in a real shell, with /run/firedrill in a temporary
    /// directory and blkid, mount and umount faked: the seed's script is `script`. Returns the
    /// runner's exit code and its result file.
    fn run_first_boot(script: &str) -> (i32, String) {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let (bin, run, seed) = (
            dir.path().join("bin"),
            dir.path().join("run"),
            dir.path().join("seed"),
        );
        for d in [&bin, &seed] {
            std::fs::create_dir_all(d).unwrap();
        }
        std::fs::write(seed.join("first-boot"), script).unwrap();
        for (name, body) in [
            ("blkid", "echo /dev/vdb".to_string()),
            // mount -o ro DEV DIR: the seed's files appear in DIR.
            ("mount", format!("cp {}/first-boot \"$4\"", seed.display())),
            ("umount", "true".to_string()),
        ] {
            let path = bin.join(name);
            std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let runner = FIRST_BOOT_RUNNER.replace("/run/firedrill", &run.to_string_lossy());
        let path = format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let out = std::process::Command::new("sh")
            .args(["-c", &runner])
            .env("PATH", path)
            .output()
            .expect("sh runs");
        let result = std::fs::read_to_string(run.join("first-boot.json")).unwrap_or_default();
        (out.status.code().unwrap_or(-1), result)
    }

    #[test]
    fn the_first_boot_runner_writes_its_result_as_json() {
        let (code, result) = run_first_boot("echo setting up\n");
        assert_eq!((code, result.as_str()), (0, "{\"errors\": []}\n"));
        let (code, result) = run_first_boot("echo 'useradd: \"lab\" \\ exists\t!' >&2\nexit 3\n");
        assert_eq!(code, 1);
        let json: serde_json::Value = serde_json::from_str(&result).expect("JSON");
        assert_eq!(
            json["errors"][0],
            "the seed's first-boot script exited with 3: useradd: \"lab\" \\ exists!"
        );
    }

    use super::*;

    #[test]
    fn every_known_name_has_a_recipe() {
        for name in known_names() {
            assert_eq!(recipe(name).map(|r| r.name), Some(*name));
        }
        assert!(recipe("debian-11").is_none());
    }

    #[test]
    fn hash_is_stable_hex_and_changes_with_any_input() {
        let r = recipe("debian-12").cloned().expect("debian-12 recipe");
        let h = r.hash();
        assert_eq!(h.len(), 64);
        assert!(h.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(h, r.clone().hash());

        let fewer = Recipe {
            packages: r.packages[1..].to_vec(),
            ..r.clone()
        };
        assert_ne!(fewer.hash(), h);
        let other_suite = Recipe {
            suite: "trixie",
            ..r.clone()
        };
        assert_ne!(other_suite.hash(), h);
        let no_steps = Recipe {
            steps: r.steps[1..].to_vec(),
            ..r.clone()
        };
        assert_ne!(no_steps.hash(), h);
    }

    #[test]
    fn canonical_text_lists_packages_and_steps_one_per_line() {
        let r = recipe("debian-12").expect("debian-12 recipe");
        let text = r.canonical();
        assert!(text.starts_with(&format!(
            "firedrill image recipe v{RECIPE_VERSION}\nname \"debian-12\"\nsuite \"bookworm\"\n"
        )));
        assert_eq!(
            text.lines().filter(|l| l.starts_with("package ")).count(),
            r.packages.len()
        );
        assert_eq!(
            text.lines().filter(|l| l.starts_with("step ")).count(),
            r.steps.len()
        );
    }

    #[test]
    fn include_arg_joins_packages_with_commas() {
        let r = Recipe {
            name: "t",
            suite: "bookworm",
            variant: "minbase",
            packages: vec!["a", "b-c"],
            steps: vec![],
            min_memory_mib: 256,
        };
        assert_eq!(r.include_arg(), "--include=a,b-c");
    }

    #[test]
    fn packages_the_roles_and_faults_need_are_included() {
        let r = recipe("debian-12").expect("debian-12 recipe");
        for p in [
            "openssh-server",
            "cloud-init",
            "python3-cffi-backend",
            "haproxy",
            "nginx",
            "bind9",
            "prometheus-node-exporter",
            "prometheus-alertmanager",
            "prometheus-blackbox-exporter",
            "mariadb-server",
            "postgresql",
            "python3-pymysql",
            "python3-psycopg2",
            "chrony",
            "stress-ng",
            "dbus",
        ] {
            assert!(r.packages.contains(&p), "{p} missing from the recipe");
        }
        let mut sorted = r.packages.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), r.packages.len(), "duplicate package");
    }

    #[test]
    fn every_role_service_is_disabled_at_boot_in_the_image() {
        let r = recipe("debian-12").expect("debian-12 recipe");
        let disable = r
            .steps
            .iter()
            .find_map(|s| match s {
                Step::Chroot { argv } if argv.get(1) == Some(&"disable") => Some(argv.clone()),
                _ => None,
            })
            .expect("a systemctl disable step");
        for def in crate::roles::TABLE {
            for unit in def.boot_units {
                assert!(disable.contains(unit), "{unit} enabled at boot");
            }
            for p in def.packages {
                assert!(r.packages.contains(p), "{p} of {} missing", def.name);
            }
        }
        for unit in [
            "haproxy.service",
            "mariadb.service",
            "postgresql.service",
            "nginx.service",
            "named.service",
            "prometheus.service",
            "prometheus-alertmanager.service",
            "prometheus-blackbox-exporter.service",
        ] {
            assert!(disable.contains(&unit), "{unit} enabled at boot");
        }
    }
}
