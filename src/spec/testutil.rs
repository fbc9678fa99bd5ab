//! Helpers for the spec tests: a standard host, and checks rendered to the exact text a user sees.

use super::{Problem, Problems, ValidLab, check_text};
use crate::host::HostFacts;
use std::path::Path;

/// 16 GiB, 4 CPUs, no routes, no libvirt networks, the default image built.
pub(crate) fn host() -> HostFacts {
    HostFacts {
        mem_total_mib: 16 * 1024,
        cpus: 4,
        routes: Vec::new(),
        libvirt_networks: Vec::new(),
        images: vec!["debian-12".to_string()],
        node_addresses: Vec::new(),
        bridged_iptables: false,
    }
}

/// Five lines that make a valid lab once nodes are appended (the first node is on line 6).
pub(crate) const HEAD: &str = "name: t\nnetworks:\n  - name: lan\n    cidr: 10.77.0.0/24\nnodes:\n";

pub(crate) fn run_with(
    yaml: &str,
    host: &HostFacts,
    force: bool,
) -> Result<(ValidLab, Vec<Problem>), Problems> {
    check_text(Path::new("t.yaml"), yaml, host, force)
}

/// Every problem, errors and warnings, as displayed.
pub(crate) fn problems_with(yaml: &str, host: &HostFacts, force: bool) -> Vec<String> {
    let list = match run_with(yaml, host, force) {
        Ok((_, warnings)) => warnings,
        Err(Problems(problems)) => problems,
    };
    list.iter().map(ToString::to_string).collect()
}

pub(crate) fn problems(yaml: &str) -> Vec<String> {
    problems_with(yaml, &host(), false)
}

/// The lab must be valid without any problem at all.
pub(crate) fn valid(yaml: &str) -> ValidLab {
    match run_with(yaml, &host(), false) {
        Ok((lab, warnings)) if warnings.is_empty() => lab,
        Ok((_, warnings)) => panic!("unexpected warnings: {}", Problems(warnings)),
        Err(problems) => panic!("unexpected problems:\n{problems}"),
    }
}
