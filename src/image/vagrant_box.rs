//! What goes into the Vagrant box of a golden image (`image export --vagrant`), as pure
//! renderers: the box's `metadata.json`, its `Vagrantfile` and the cloud-init seed that gives it
//! the `vagrant` user. export.rs writes them and packs the box.
//!
//! The image has no boot loader (the root file system is the whole disk), so the box carries the
//! kernel and initrd and its Vagrantfile has libvirt boot them directly, as `up` does. The image
//! is not changed: the `vagrant` user comes from a NoCloud seed on a CD-ROM, read by the same
//! cloud-init that reads `up`'s seeds.

use super::Manifest;
use crate::seed::SeedFiles;

/// The files of a box, in the order they are packed.
pub(crate) const BOX_FILES: &[&str] = &[
    "metadata.json",
    "Vagrantfile",
    "box.img",
    "vmlinuz",
    "initrd.img",
    "seed.iso",
];

/// Vagrant's well-known insecure public key (`keys/vagrant.pub` of Vagrant): every box accepts
/// it, and `vagrant up` replaces it with a key of the machine's own at the first login.
pub(crate) const VAGRANT_INSECURE_KEY: &str = "ssh-rsa AAAAB3NzaC1yc2EAAAABIwAAAQEA6NF8iallvQVp22WDkTkyrtvp9eWW6A8YVr+kz4TjGYe7gHzIw+niNltGEFHzD8+v1I2YJ6oXevct1YeS0o9HZyN1Q9qgCgzUFtdOKLv6IedplqoPkcmF0aYet2PkEDo3MlTBckFXPITAMzF8dJSIFo9D8HfdOV0IAdx4O7PtixWKn5y2hMNG0zQPyUecp4pzC6kivAIhyfHilFR61RGL+GPXQ2MWZWFYbAGjyiYJnAmCP3NOTd0jMZEnDkbUvxhMmBYSdETk1rRgm+R4LOzFUGaHqHDLKLX+FIPKcF96hrucXzcWyLbIbEgE98OHlnVYCzRdK8jlqm8tehUc9c9WhQ== vagrant insecure public key";

const GIB: u64 = 1 << 30;

/// The box disk's virtual size in whole GiB (vagrant-libvirt's `virtual_size` is GiB), rounded
/// up: export.rs grows the disk to exactly this, so the metadata and the disk agree.
pub(crate) fn virtual_gib(virtual_size: u64) -> u64 {
    virtual_size.div_ceil(GIB).max(1)
}

/// `metadata.json` of a vagrant-libvirt box (format v1: one qcow2 disk, `box.img`).
pub(crate) fn metadata_json(virtual_gib: u64) -> String {
    format!(
        "{{\"provider\": \"libvirt\", \"format\": \"qcow2\", \"virtual_size\": {virtual_gib}}}\n"
    )
}

/// The Vagrantfile inside the box: Vagrant merges it under every Vagrantfile that uses the box.
pub(crate) fn vagrantfile(m: &Manifest) -> String {
    format!(
        "# Written by `firedrill image export --vagrant` from image {name} (built {created}, recipe {recipe}).\n\
         #\n\
         # The image has no boot loader: libvirt boots the kernel and initrd beside this file with\n\
         # the command line the image is made for (its root file system is the whole virtio disk).\n\
         # seed.iso is a cloud-init NoCloud seed: it makes the user `vagrant` (Vagrant's insecure\n\
         # key, which `vagrant up` replaces; sudo without a password) and configures DHCP on eth0,\n\
         # vagrant-libvirt's management network.\n\
         box_dir = File.dirname(File.expand_path(__FILE__))\n\
         \n\
         # With qemu:///system, QEMU runs as libvirt's own user and opens these files itself.\n\
         # ($stderr: Vagrant turns Ruby warnings off.)\n\
         require \"pathname\"\n\
         closed = Pathname.new(box_dir).ascend.map(&:to_s).find {{ |d| (File.stat(d).mode & 0o001).zero? }}\n\
         if closed\n  \
         $stderr.puts \"firedrill box #{{box_dir}}: #{{closed}} is not searchable by others, so libvirt's QEMU \" \\\n    \
         \"(qemu:///system) cannot open the box's kernel: set VAGRANT_HOME to a directory it can \" \\\n    \
         \"reach and add the box again, or allow it (chmod o+x #{{closed}})\"\n\
         end\n\
         \n\
         Vagrant.configure(\"2\") do |config|\n  \
         # The image has no rsync or NFS client, and the lab needs no shared folder.\n  \
         config.vm.synced_folder \".\", \"/vagrant\", disabled: true\n  \
         config.vm.provider :libvirt do |libvirt|\n    \
         libvirt.kernel = File.join(box_dir, \"vmlinuz\")\n    \
         libvirt.initrd = File.join(box_dir, \"initrd.img\")\n    \
         libvirt.cmd_line = {cmdline}\n    \
         libvirt.disk_bus = \"virtio\"\n    \
         libvirt.storage :file, device: :cdrom, path: File.join(box_dir, \"seed.iso\")\n  \
         end\n\
         end\n",
        name = m.name,
        created = m.created,
        recipe = &m.recipe_hash[..m.recipe_hash.len().min(12)],
        cmdline = crate::export::ruby(&m.cmdline),
    )
}

/// The NoCloud seed of the box: the `vagrant` user and DHCP on the management network. Every
/// machine of the box boots it; each has a disk of its own, so cloud-init runs once on each.
pub(crate) fn seed(image: &str) -> SeedFiles {
    SeedFiles {
        user_data: format!(
            "#cloud-config\n\
             # Written by `firedrill image export --vagrant`: what Vagrant needs of a box.\n\
             users:\n  \
             - name: vagrant\n    \
             gecos: Vagrant\n    \
             shell: /bin/bash\n    \
             sudo: \"ALL=(ALL) NOPASSWD:ALL\"\n    \
             lock_passwd: true\n    \
             ssh_authorized_keys:\n      \
             - \"{VAGRANT_INSECURE_KEY}\"\n\
             disable_root: true\n\
             ssh_pwauth: false\n"
        ),
        meta_data: format!("instance-id: firedrill-vagrant-{image}\nlocal-hostname: debian\n"),
        // net.ifnames=0 on the command line: the first NIC, the management network, is eth0.
        // Vagrant configures the private networks itself (ifupdown), on eth1 and up.
        network_config: "version: 2\nethernets:\n  eth0:\n    dhcp4: true\n".to_string(),
        // The box boots with cloud-init on: the image's first-boot unit finds no script to run.
        first_boot: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> Manifest {
        Manifest {
            name: "debian-12".into(),
            created: "2026-11-30T22:29:28Z".into(),
            recipe_version: 1,
            recipe_hash: "ee7b49393b33f73ede4ab93ee4729d052d801a747ea1b7c686009d908df18dcb".into(),
            suite: "bookworm".into(),
            packages: vec![],
            disk: "disk.qcow2".into(),
            kernel: "vmlinuz".into(),
            initrd: "initrd.img".into(),
            disk_sha256: String::new(),
            kernel_sha256: String::new(),
            initrd_sha256: String::new(),
            disk_bytes: 1_790_377_984,
            virtual_size: 3 << 30,
            kernel_release: "6.1.0-50-amd64".into(),
            cmdline: crate::image::recipe::CMDLINE.into(),
            first_boot: true,
        }
    }

    #[test]
    fn virtual_size_is_whole_gib_rounded_up() {
        assert_eq!(virtual_gib(3 << 30), 3);
        assert_eq!(virtual_gib((3 << 30) + 1), 4);
        assert_eq!(virtual_gib(1 << 20), 1);
        assert_eq!(virtual_gib(0), 1);
        assert_eq!(
            metadata_json(3),
            "{\"provider\": \"libvirt\", \"format\": \"qcow2\", \"virtual_size\": 3}\n"
        );
        let parsed: serde_json::Value =
            serde_json::from_str(&metadata_json(3)).expect("metadata.json is JSON");
        assert_eq!(parsed["virtual_size"], 3);
    }

    #[test]
    fn the_box_vagrantfile_boots_the_kernel_beside_it_with_the_image_cmdline() {
        let text = vagrantfile(&manifest());
        assert!(text.starts_with(
            "# Written by `firedrill image export --vagrant` from image debian-12 (built 2026-11-30T22:29:28Z, recipe ee7b49393b33).\n"
        ));
        for line in [
            "    libvirt.kernel = File.join(box_dir, \"vmlinuz\")\n",
            "    libvirt.initrd = File.join(box_dir, \"initrd.img\")\n",
            "    libvirt.cmd_line = \"root=/dev/vda rw console=ttyS0 net.ifnames=0\"\n",
            "    libvirt.disk_bus = \"virtio\"\n",
            "    libvirt.storage :file, device: :cdrom, path: File.join(box_dir, \"seed.iso\")\n",
            "  config.vm.synced_folder \".\", \"/vagrant\", disabled: true\n",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
        // Every file the Vagrantfile names is packed.
        for file in ["vmlinuz", "initrd.img", "seed.iso"] {
            assert!(BOX_FILES.contains(&file));
        }
    }

    #[test]
    fn the_seed_makes_the_vagrant_user_with_the_insecure_key_and_dhcp_on_eth0() {
        let s = seed("debian-12");
        assert!(s.user_data.starts_with("#cloud-config\n"));
        assert!(s.user_data.contains("  - name: vagrant\n"));
        assert!(
            s.user_data
                .contains("    sudo: \"ALL=(ALL) NOPASSWD:ALL\"\n")
        );
        assert!(
            s.user_data
                .contains(&format!("      - \"{VAGRANT_INSECURE_KEY}\"\n"))
        );
        assert_eq!(
            s.meta_data,
            "instance-id: firedrill-vagrant-debian-12\nlocal-hostname: debian\n"
        );
        assert_eq!(
            s.network_config,
            "version: 2\nethernets:\n  eth0:\n    dhcp4: true\n"
        );
        // The YAML is what cloud-init will parse: it must load, with the key intact.
        let user: serde_json::Value =
            serde_saphyr::from_str(&s.user_data).expect("user-data is YAML");
        assert_eq!(
            user["users"][0]["ssh_authorized_keys"][0],
            VAGRANT_INSECURE_KEY
        );
        assert_eq!(user["users"][0]["lock_passwd"], true);
    }
}
