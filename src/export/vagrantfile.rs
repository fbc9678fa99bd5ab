//! The Vagrantfile of a lab for vagrant-libvirt: one machine per node, with the node's name,
//! addresses, memory, CPUs and disk, from its image packaged as a box (`box_name`),
//! configured by its provision script. Pure: the lab in, the file's text out.

use super::provision::PASSWORD_VAR;
use crate::spec::NetMode;
use std::net::Ipv4Addr;

/// The first line of the Vagrantfile: how `export` knows the file is its own.
pub(crate) const MARKER: &str = "# Written by `firedrill export vagrant`, which rewrites it: change the lab file and export again.";

/// One machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Machine {
    pub(crate) name: String,
    pub(crate) image: String,
    pub(crate) memory_mib: u64,
    pub(crate) cpus: u32,
    pub(crate) disk_gib: u64,
    pub(crate) nics: Vec<MachineNic>,
    /// Its provision script, relative to the Vagrantfile; `None` for a node without roles.
    pub(crate) script: Option<String>,
    /// Whether the script needs the database password.
    pub(crate) password: bool,
}

/// A node's address on one lab network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MachineNic {
    /// The libvirt network Vagrant makes for it.
    pub(crate) network: String,
    pub(crate) ip: Ipv4Addr,
    pub(crate) netmask: Ipv4Addr,
    pub(crate) mode: NetMode,
}

/// The box an image is packaged as.
pub(crate) fn box_name(image: &str) -> String {
    format!("firedrill/{image}")
}

/// The libvirt network Vagrant makes for lab network `net`: not `up`'s own name, so the two do
/// not share a network (they cannot run side by side anyway: same addresses).
pub(crate) fn network_name(lab: &str, net: &str) -> String {
    format!("vagrant-{lab}-{net}")
}

pub(crate) fn ruby(s: &str) -> String {
    format!(
        "\"{}\"",
        s.replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('#', "\\#")
    )
}

/// The Vagrantfile. `machines` are in the order `up` configures them: Vagrant brings them up
/// and provisions them one after another in that order.
pub(crate) fn render(lab: &str, source: &str, machines: &[Machine], notes: &[String]) -> String {
    let images: std::collections::BTreeSet<&str> =
        machines.iter().map(|m| m.image.as_str()).collect();
    let mut out = format!(
        "{MARKER}\n\
         #\n\
         # Lab {lab} ({source}) on vagrant-libvirt: the nodes, addresses, memory and CPUs that\n\
         # `firedrill up` makes, each from its golden image packaged as a Vagrant box, and each\n\
         # configured by provision/NODE.sh: the commands firedrill's roles run on a node fresh\n\
         # from the image, rendered from the same role code.\n\
         #\n"
    );
    out.push_str(
        "# It needs vagrant-libvirt and, for each image, its box, which firedrill packages:\n",
    );
    for image in &images {
        out.push_str(&format!(
            "#   sudo firedrill image export --vagrant --name {image}   # writes {image}.box\n\
             #   vagrant box add --name {} {image}.box\n",
            box_name(image)
        ));
    }
    out.push_str(
        "#   vagrant up                  # one node after another, in the order below\n\
         #   vagrant ssh NODE\n\
         #\n\
         # FIREDRILL_ACCEL=tcg runs the guests under software emulation (no KVM), as with `up`.\n",
    );
    for note in notes {
        out.push_str(&format!("# Not carried over: {note}\n"));
    }
    let password = machines.iter().any(|m| m.password);
    out.push('\n');
    if password {
        out.push_str(
            "require \"fileutils\"\n\
             require \"securerandom\"\n\
             \n\
             # The lab's database password, made on first use and kept in .vagrant/ (mode 0600):\n\
             # never in this file or in the provision scripts.\n\
             db_password_file = File.join(File.dirname(__FILE__), \".vagrant\", \"firedrill-db-password\")\n\
             unless File.exist?(db_password_file)\n  \
             FileUtils.mkdir_p(File.dirname(db_password_file))\n  \
             File.write(db_password_file, SecureRandom.alphanumeric(32), perm: 0o600)\n\
             end\n\
             db_password = File.read(db_password_file).strip\n\
             \n",
        );
    }
    out.push_str(
        "# Databases before the apps that migrate them, the apps before what fronts them.\n\
         ENV[\"VAGRANT_NO_PARALLEL\"] = \"yes\"\n\
         \n\
         tcg = ENV[\"FIREDRILL_ACCEL\"] == \"tcg\"\n\
         \n\
         Vagrant.configure(\"2\") do |config|\n  \
         config.vm.synced_folder \".\", \"/vagrant\", disabled: true\n  \
         # Under TCG a node was ready for Vagrant 159-174 s after it started (alone on 2 cores, the\n  \
         # others idle): Vagrant's default of 300 s leaves no room for a slower or busier machine.\n  \
         config.vm.boot_timeout = 900 if tcg\n  \
         config.vm.provider :libvirt do |libvirt|\n    \
         if tcg\n      \
         # QEMU's own CPU model, as `up` gives its TCG guests. vagrant-libvirt's default, host-model,\n      \
         # became under TCG an AMD EPYC with la57 and 3dnow on an Intel host.\n      \
         libvirt.driver = \"qemu\"\n      \
         libvirt.cpu_mode = \"custom\"\n      \
         libvirt.cpu_model = \"qemu64\"\n    \
         else\n      \
         libvirt.driver = \"kvm\"\n    \
         end\n  \
         end\n",
    );
    for m in machines {
        out.push_str(&machine(m));
    }
    out.push_str("end\n");
    out
}

fn machine(m: &Machine) -> String {
    let mut out = format!(
        "\n  config.vm.define {name} do |node|\n    \
         node.vm.box = {image}\n    \
         node.vm.hostname = {name}\n",
        name = ruby(&m.name),
        image = ruby(&box_name(&m.image)),
    );
    for nic in &m.nics {
        let forward = match nic.mode {
            NetMode::Nat => "nat",
            NetMode::Isolated | NetMode::Routed => "none",
        };
        // vagrant-libvirt gives the host the network's first address, as `up` does.
        out.push_str(&format!(
            "    node.vm.network :private_network, ip: {ip}, netmask: {mask},\n      \
             libvirt__network_name: {net}, libvirt__forward_mode: {forward}, libvirt__dhcp_enabled: false\n",
            ip = ruby(&nic.ip.to_string()),
            mask = ruby(&nic.netmask.to_string()),
            net = ruby(&nic.network),
            forward = ruby(forward),
        ));
    }
    out.push_str(&format!(
        "    node.vm.provider :libvirt do |libvirt|\n      \
         libvirt.memory = {}\n      \
         libvirt.cpus = {}\n      \
         libvirt.machine_virtual_size = {}\n    \
         end\n",
        m.memory_mib, m.cpus, m.disk_gib
    ));
    if let Some(script) = &m.script {
        let env = if m.password {
            format!(", env: {{ {} => db_password }}", ruby(PASSWORD_VAR))
        } else {
            String::new()
        };
        out.push_str(&format!(
            "    node.vm.provision :shell, path: {}{env}\n",
            ruby(script)
        ));
    }
    out.push_str("  end\n");
    out
}
