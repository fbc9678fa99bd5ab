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

/// `firedrill validate`: the file against itself and this host. If libvirt cannot be reached,
/// the checks that need it are skipped with a warning rather than failing the whole run.
pub(crate) async fn validate(
    home: &Home,
    file: &std::path::Path,
    force: bool,
) -> Result<(crate::spec::ValidLab, Vec<crate::spec::Problem>), LabError> {
    let home2 = home.clone();
    let facts = crate::hypervisor::blocking(move || -> Result<_, LabError> {
        match crate::hypervisor::Libvirt::open(None) {
            Ok(hv) => host_facts(&hv, &home2).map(|f| (f, None)),
            Err(e) => {
                let mut f = HostFacts::local()?;
                f.images = crate::image::list(&home2)?
                    .into_iter()
                    .map(|i| i.name)
                    .collect();
                Ok((f, Some(e.to_string())))
            }
        }
    })
    .await?;
    let (facts, libvirt_error) = facts;
    let (lab, mut warnings) = crate::spec::check(file, &facts, force).map_err(LabError::Invalid)?;
    if let Some(e) = libvirt_error {
        warnings.push(crate::spec::Problem {
            severity: crate::spec::Severity::Warning,
            file: file.to_path_buf(),
            line: None,
            column: None,
            path: "networks".into(),
            message: format!(
                "overlaps with libvirt networks were not checked: {}",
                e.lines().next().unwrap_or("")
            ),
            hint: Some("start libvirtd, or set LIBVIRT_DEFAULT_URI, and validate again".into()),
        });
    }
    Ok((lab, warnings))
}
