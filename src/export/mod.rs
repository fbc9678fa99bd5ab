//! `firedrill export vagrant LAB`: the lab as a Vagrantfile for vagrant-libvirt, with a provision
//! script per node rendered from the roles' own code (`roles::first_setup`), so `up` and Vagrant
//! configure a node with the same commands. Writes only files it wrote before (a marker line).

mod provision;
mod vagrantfile;
mod write;

#[cfg(test)]
mod tests;

use crate::paths::Home;
use crate::spec::{NetMode, ValidLab};
use std::path::PathBuf;
use vagrantfile::{Machine, MachineNic};

pub(crate) use vagrantfile::{box_name, ruby};
pub(crate) use write::write;

#[derive(Debug, clap::Subcommand)]
pub(crate) enum ExportCommand {
    /// Write a Vagrantfile (vagrant-libvirt) and provision/NODE.sh for the lab into a directory:
    /// firedrill export vagrant labs/three-tier.yaml
    Vagrant {
        /// The lab file, or the name of a shipped lab (three-tier, minimal, ...).
        lab: PathBuf,
        /// Where to write the Vagrantfile and provision/.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
    },
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum ExportError {
    #[error(
        "{} was not written by firedrill (no marker line `{marker}`), so it is left as it is\n  hint: move it away, or export into another directory with --dir",
        path.display()
    )]
    NotOurs { path: PathBuf, marker: &'static str },
    #[error("cannot write {}: {source}\n  hint: check that the directory exists and is writable", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "node {node}: a command's input is not text ({command}...), so it cannot go into a shell script\n  hint: this is a bug in firedrill: please report it"
    )]
    NotText { node: String, command: String },
    #[error(transparent)]
    Role(#[from] crate::roles::RoleError),
    #[error(transparent)]
    Plan(#[from] crate::plan::PlanError),
    #[error(transparent)]
    State(#[from] crate::state::StateError),
}

/// What `export vagrant` writes: the Vagrantfile and each node's provision script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Export {
    pub(crate) vagrantfile: String,
    /// (node, script), in configuration order.
    pub(crate) scripts: Vec<(String, String)>,
}

/// Where a node's provision script goes, relative to the Vagrantfile.
pub(crate) const PROVISION_DIR: &str = "provision";

/// The lab's Vagrantfile and provision scripts. `source` is the lab file as the user named it,
/// for the files' comments.
pub(crate) async fn render(
    home: &Home,
    lab: &ValidLab,
    source: &str,
) -> Result<Export, ExportError> {
    use crate::hypervisor::xml::Accel;
    // The plan's image paths and accel do not reach the export; addresses, names and the roles'
    // contexts are what `up` computes.
    let images = lab
        .nodes
        .iter()
        .map(|n| {
            let dir = home.images().join(&n.image);
            let files = crate::plan::BootImage {
                disk: dir.join("disk.qcow2"),
                kernel: dir.join("vmlinuz"),
                initrd: dir.join("initrd.img"),
                first_boot: true,
            };
            (n.image.clone(), files)
        })
        .collect();
    let plan = crate::plan::plan(
        lab,
        &crate::plan::PlanInputs {
            dir: &home.lab(&lab.name),
            accel: Accel::Kvm,
            run_as: (0, 0),
            images: &images,
        },
    )?;
    let state = crate::lab::planned_state(lab, &plan, Accel::Kvm);
    let mut contexts = crate::lab::contexts(&state)?;
    contexts.sort_by_key(|c| crate::lab::round(c, crate::lab::Order::Dependencies));
    let secrets = crate::roles::Secrets {
        db_password: provision::PASSWORD_PLACEHOLDER.to_string(),
    };
    let mut scripts = Vec::new();
    let mut machines = Vec::new();
    // Nodes without roles first: nothing waits for them, and they wait for nothing.
    for node in lab.nodes.iter().filter(|n| n.roles.is_empty()) {
        machines.push(machine(lab, &node.name, None, false));
    }
    for ctx in &contexts {
        let steps = crate::roles::first_setup(ctx, &secrets).await?;
        let password = provision::needs_password(&steps);
        scripts.push((
            ctx.node.clone(),
            provision::script(lab.name.as_str(), source, &ctx.node, &steps)?,
        ));
        let path = format!("{PROVISION_DIR}/{}.sh", ctx.node);
        machines.push(machine(lab, &ctx.node, Some(path), password));
    }
    Ok(Export {
        vagrantfile: vagrantfile::render(lab.name.as_str(), source, &machines, &notes(lab)),
        scripts,
    })
}

fn machine(lab: &ValidLab, name: &str, script: Option<String>, password: bool) -> Machine {
    let node = lab
        .nodes
        .iter()
        .find(|n| n.name == name)
        .expect("contexts are built from the lab's nodes");
    Machine {
        name: node.name.clone(),
        image: node.image.clone(),
        memory_mib: node.memory_mib,
        cpus: node.cpus,
        disk_gib: node.disk_gib,
        nics: node
            .interfaces
            .iter()
            .map(|i| {
                let net = &lab.networks[i.network];
                MachineNic {
                    network: vagrantfile::network_name(lab.name.as_str(), &net.name),
                    ip: i.ip,
                    netmask: net.cidr.mask(),
                    mode: net.mode,
                }
            })
            .collect(),
        script,
        password,
    }
}

/// What of the lab the Vagrantfile does not set up, said in its comments.
fn notes(lab: &ValidLab) -> Vec<String> {
    let mut notes = Vec::new();
    if lab.nodes.iter().any(|n| !n.routes.is_empty())
        || lab.networks.iter().any(|n| n.mode == NetMode::Routed)
    {
        notes.push(
            "static routes and routed networks' gateways (Vagrant's own network is each node's way out)"
                .to_string(),
        );
    }
    if lab.networks.iter().any(|n| !n.dns.is_empty())
        || lab
            .nodes
            .iter()
            .any(|n| n.app().is_some_and(|a| a.database_host.is_some()))
    {
        notes
            .push("the lab's DNS names (`dns:`): Vagrant's networks do not serve them".to_string());
    }
    notes
}

/// `firedrill export ...`.
pub(crate) async fn run(command: ExportCommand, home: &Home) -> Result<(), crate::error::Error> {
    match command {
        ExportCommand::Vagrant { lab, dir } => {
            let file = crate::builtin::lab_file(home, &lab)?;
            // As `topology`: the file alone decides; this host's networks, memory and the
            // addresses of labs up here do not change the export.
            let (mut facts, _) = crate::lab::validation_facts(home).await?;
            facts.routes.clear();
            facts.libvirt_networks.clear();
            facts.node_addresses.clear();
            let (valid, _) =
                crate::spec::check(&file, &facts, true).map_err(crate::lab::LabError::Invalid)?;
            let export = render(home, &valid, &lab.display().to_string()).await?;
            for line in write(&dir, &export)? {
                println!("{line}");
            }
            Ok(())
        }
    }
}
