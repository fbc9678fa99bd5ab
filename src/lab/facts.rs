//! Facts about this host that validation and planning need.

use super::LabError;
use crate::host::{HostFacts, LibvirtNet};
use crate::hypervisor::Hypervisor;
use crate::hypervisor::xml::Accel;
use crate::paths::Home;

/// Host facts plus what only libvirt and the image cache know.
pub(crate) fn host_facts(hv: &dyn Hypervisor, home: &Home) -> Result<HostFacts, LabError> {
    let mut facts = HostFacts::local()?;
    facts.libvirt_networks = hv
        .networks()?
        .into_iter()
        .map(|n| LibvirtNet {
            name: n.name,
            cidr: n.cidr,
            bridge: n.bridge,
            owner_lab: n.owner,
        })
        .collect();
    facts.images = crate::image::list(home)?
        .into_iter()
        .map(|i| i.name)
        .collect();
    // A lab whose state cannot be read keeps no addresses: its nodes are assigned afresh, as
    // for a new lab (and `up` then reports that state file).
    for name in crate::state::lab_names(home)? {
        if let Ok(Some(state)) = crate::state::LabState::load(&home.lab(&name)) {
            facts.node_addresses.extend(
                state
                    .nodes()
                    .map(|n| (name.to_string(), n.name.clone(), n.ip)),
            );
        }
    }
    Ok(facts)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum AccelChoice {
    Auto,
    Kvm,
    Tcg,
}

/// True when this host is itself a virtual machine (the CPU's `hypervisor` flag).
fn nested() -> bool {
    std::fs::read_to_string("/proc/cpuinfo")
        .map(|c| {
            c.lines()
                .any(|l| l.starts_with("flags") && l.split_whitespace().any(|f| f == "hypervisor"))
        })
        .unwrap_or(false)
}

/// `auto` picks KVM when /dev/kvm can be opened for writing and this host is not itself a VM,
/// else TCG with a warning (it works, but boots take minutes). Nested KVM often opens fine and
/// then hangs the guest kernel, so `auto` does not gamble on it; `--accel kvm` still can.
pub(crate) fn resolve_accel(choice: AccelChoice) -> Result<(Accel, Option<String>), LabError> {
    let kvm = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .map(|_| ())
        .map_err(|e| e.to_string())
        .and_then(|()| {
            if choice == AccelChoice::Auto && nested() {
                Err(
                    "this host is a virtual machine and nested KVM often hangs guests; \
                     pass --accel kvm to try it"
                        .to_string(),
                )
            } else {
                Ok(())
            }
        });
    match (choice, kvm) {
        (AccelChoice::Tcg, _) => Ok((Accel::Tcg, None)),
        (AccelChoice::Kvm, Ok(())) | (AccelChoice::Auto, Ok(())) => Ok((Accel::Kvm, None)),
        (AccelChoice::Kvm, Err(e)) => Err(LabError::NoKvm(e)),
        (AccelChoice::Auto, Err(e)) => Ok((
            Accel::Tcg,
            Some(format!(
                "warning: /dev/kvm is not usable ({e}); using TCG software emulation: each node takes minutes to boot"
            )),
        )),
    }
}

/// What `firedrill validate` checks a file against: this host, its images, and libvirt's
/// networks. If libvirt cannot be reached, the checks that need it are skipped: the second
/// value says why, for `libvirt_unchecked`.
pub(crate) async fn validation_facts(home: &Home) -> Result<(HostFacts, Option<String>), LabError> {
    let home = home.clone();
    crate::hypervisor::blocking(move || -> Result<_, LabError> {
        match crate::hypervisor::Libvirt::open(None) {
            Ok(hv) => host_facts(&hv, &home).map(|f| (f, None)),
            Err(e) => {
                let mut f = HostFacts::local()?;
                f.images = crate::image::list(&home)?
                    .into_iter()
                    .map(|i| i.name)
                    .collect();
                Ok((f, Some(e.to_string())))
            }
        }
    })
    .await
}

/// The warning that the networks of `file` were not checked against libvirt's.
pub(crate) fn libvirt_unchecked(file: &std::path::Path, error: &str) -> crate::spec::Problem {
    crate::spec::Problem {
        severity: crate::spec::Severity::Warning,
        file: file.to_path_buf(),
        line: None,
        column: None,
        path: "networks".into(),
        message: format!(
            "overlaps with libvirt networks were not checked: {}",
            error.lines().next().unwrap_or("")
        ),
        hint: Some("start libvirtd, or set LIBVIRT_DEFAULT_URI, and validate again".into()),
    }
}
