//! `firedrill list`: every lab this host knows of, from its state file, each counted on the
//! libvirtd its state names (a lab brought up with another `LIBVIRT_DEFAULT_URI` lives there),
//! plus labs that only libvirt still knows. A libvirtd that does not answer leaves its labs
//! listed, with a line that says what to do.

use super::LabError;
use crate::hypervisor::{DomainInfo, DomainState, Hypervisor, Libvirt, blocking};
use crate::paths::{Home, LabName};
use crate::state::{LabState, StateError};
use std::collections::{BTreeMap, BTreeSet};

/// Each libvirt URI's domains, or why it could not be asked.
type Domains = BTreeMap<String, Result<Vec<DomainInfo>, String>>;

/// Each lab with a directory, and its state as read.
type Labs = Vec<(LabName, Result<Option<LabState>, StateError>)>;

pub(crate) async fn list(home: &Home) -> Result<(), LabError> {
    let labs: Vec<(LabName, Result<Option<LabState>, StateError>)> = crate::state::lab_names(home)?
        .into_iter()
        .map(|name| {
            let state = LabState::load(&home.lab(&name));
            (name, state)
        })
        .collect();
    let default = Libvirt::default_uri();
    let uris: BTreeSet<String> = std::iter::once(default.clone())
        .chain(
            labs.iter()
                .filter_map(|(_, s)| Some(s.as_ref().ok()?.as_ref()?.uri.clone())),
        )
        .collect();
    let mut domains = Domains::new();
    for uri in uris {
        let asked = uri.clone();
        let found = blocking(move || Libvirt::open(Some(&asked))?.domains())
            .await
            .map_err(|e: crate::hypervisor::HvError| match e {
                crate::hypervisor::HvError::Connect { message, .. } => message,
                other => other.to_string(),
            });
        domains.insert(uri, found);
    }
    print!("{}", table(home, &labs, &default, &domains));
    Ok(())
}

/// The listing: one row per lab, then a line for each libvirtd that did not answer.
fn table(home: &Home, labs: &Labs, default: &str, domains: &Domains) -> String {
    // The lab each domain belongs to, with the URI it was found at.
    let owned: Vec<(&str, &DomainInfo)> = domains
        .iter()
        .filter_map(|(uri, d)| Some((uri.as_str(), d.as_ref().ok()?)))
        .flat_map(|(uri, ds)| ds.iter().map(move |d| (uri, d)))
        .collect();
    let mut rows: BTreeMap<LabName, Option<&Result<Option<LabState>, StateError>>> = labs
        .iter()
        .map(|(name, state)| (name.clone(), Some(state)))
        .collect();
    for (_, d) in &owned {
        if let Some(name) = d.owner.as_ref().and_then(|(l, _)| LabName::parse(l).ok()) {
            rows.entry(name).or_insert(None);
        }
    }
    if rows.is_empty() && domains.values().all(Result::is_ok) {
        return "no labs on this host; bring one up with `firedrill up LAB.yaml`\n".into();
    }
    let mut out = format!(
        "{:<22} {:<10} {:>7} {:>8}  FILE\n",
        "LAB", "PHASE", "NODES", "RUNNING"
    );
    // The labs each unanswering URI leaves uncounted.
    let mut unanswered: BTreeMap<&str, Vec<&LabName>> = BTreeMap::new();
    for (lab, state) in &rows {
        let state = state.as_ref().map(|s| s.as_ref());
        // A lab with a state is counted where its state says it lives; one without, wherever
        // its domains are found.
        let uri = match state {
            Some(Ok(Some(s))) => Some(s.uri.as_str()),
            _ => None,
        };
        let asked: Vec<&str> = match uri {
            Some(u) => vec![u],
            None => domains.keys().map(String::as_str).collect(),
        };
        let silent: Vec<&str> = asked
            .iter()
            .copied()
            .filter(|u| domains.get(*u).is_none_or(Result::is_err))
            .collect();
        for u in &silent {
            unanswered.entry(u).or_default().push(lab);
        }
        let running = owned
            .iter()
            .filter(|(u, d)| {
                asked.contains(u)
                    && d.owner.as_ref().is_some_and(|(l, _)| lab == l.as_str())
                    && d.state == DomainState::Running
            })
            .count();
        // Unknown only when the one libvirtd it lives on did not answer; an orphan's count is
        // of the libvirtds that did.
        let running = if uri.is_some() && !silent.is_empty() {
            "?".to_string()
        } else {
            running.to_string()
        };
        let (phase, nodes, file) = match state {
            Some(Ok(Some(s))) => (
                s.phase.to_string(),
                s.nodes().count().to_string(),
                s.source.display().to_string(),
            ),
            // A state file that cannot be read is not the same as none: say so, as `status` does.
            Some(Err(_)) => (
                "damaged".to_string(),
                "?".to_string(),
                format!(
                    "({}: `firedrill status --lab {lab}` says why)",
                    home.lab(lab).state_file().display()
                ),
            ),
            Some(Ok(None)) | None => (
                "orphaned".to_string(),
                "?".to_string(),
                format!("(no state: `firedrill down --lab {lab}` cleans it)"),
            ),
        };
        out += &format!("{lab:<22} {phase:<10} {nodes:>7} {running:>8}  {file}\n");
    }
    for (uri, result) in domains {
        let Err(message) = result else { continue };
        let labs = unanswered.get(uri.as_str()).map_or_else(String::new, |l| {
            let names: Vec<&str> = l.iter().map(|n| n.as_str()).collect();
            names.join(", ")
        });
        let whose = if uri == default && labs.is_empty() {
            "labs that only libvirt there still knows are not listed".to_string()
        } else if uri == default {
            format!("labs only libvirt there knows are not listed; running unknown for {labs}")
        } else {
            format!("running unknown for {labs}")
        };
        out += &format!(
            "libvirt at {uri} does not answer ({message}): {whose}\n  \
             hint: start that libvirtd (`libvirtd -d`, or in the network namespace the lab was \
             brought up in), then run `firedrill list` again\n"
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn domain(lab: &str, node: &str, state: DomainState) -> DomainInfo {
        DomainInfo {
            name: format!("fd-{lab}-{node}"),
            uuid: String::new(),
            state,
            owner: Some((lab.into(), node.into())),
            memory_mib: 512,
            cpus: 1,
            max_memory_mib: 512,
            defined_memory_mib: 512,
            defined_cpus: 1,
        }
    }

    /// Two labs saved in a temp home, one on the default libvirtd and one on another.
    fn home_with_two_labs() -> (tempfile::TempDir, Home, Labs) {
        let tmp = tempfile::tempdir().expect("a temp dir");
        let home = Home::at(tmp.path());
        for (name, uri) in [
            ("here", "qemu:///system"),
            ("there", "qemu+ssh://far/system"),
        ] {
            let mut state = crate::state::sample();
            state.name = name.into();
            state.uri = uri.into();
            state.phase = crate::state::LabPhase::Up;
            state.save(&home.lab(&name.into())).expect("state saved");
        }
        let labs = crate::state::lab_names(&home)
            .expect("labs listed")
            .into_iter()
            .map(|n| {
                let s = LabState::load(&home.lab(&n));
                (n, s)
            })
            .collect();
        (tmp, home, labs)
    }

    #[test]
    fn each_lab_is_counted_on_the_libvirtd_its_state_names() {
        let (_tmp, home, labs) = home_with_two_labs();
        let source = crate::state::sample().source.display().to_string();
        let mut domains = Domains::new();
        domains.insert(
            "qemu:///system".into(),
            Ok(vec![
                domain("here", "web", DomainState::Running),
                // A lab that only libvirt knows.
                domain("gone", "web", DomainState::Shutoff),
            ]),
        );
        domains.insert(
            "qemu+ssh://far/system".into(),
            Ok(vec![
                domain("there", "web", DomainState::Running),
                domain("there", "db", DomainState::Running),
                // Counted on its own libvirtd only: not the one the default names.
                domain("here", "db", DomainState::Running),
            ]),
        );
        assert_eq!(
            table(&home, &labs, "qemu:///system", &domains),
            format!(
                "LAB                    PHASE        NODES  RUNNING  FILE\n\
                 gone                   orphaned         ?        0  (no state: `firedrill down --lab gone` cleans it)\n\
                 here                   up               1        1  {source}\n\
                 there                  up               1        2  {source}\n"
            )
        );
    }

    #[test]
    fn a_lab_whose_libvirtd_does_not_answer_is_listed_with_what_to_do() {
        let (_tmp, home, labs) = home_with_two_labs();
        let source = crate::state::sample().source.display().to_string();
        let mut domains = Domains::new();
        domains.insert(
            "qemu:///system".into(),
            Ok(vec![domain("here", "web", DomainState::Running)]),
        );
        domains.insert(
            "qemu+ssh://far/system".into(),
            Err("Cannot recv data: Connection reset by peer".into()),
        );
        assert_eq!(
            table(&home, &labs, "qemu:///system", &domains),
            format!(
                "LAB                    PHASE        NODES  RUNNING  FILE\n\
                 here                   up               1        1  {source}\n\
                 there                  up               1        ?  {source}\n\
                 libvirt at qemu+ssh://far/system does not answer (Cannot recv data: Connection reset by peer): running unknown for there\n  \
                 hint: start that libvirtd (`libvirtd -d`, or in the network namespace the lab was brought up in), then run `firedrill list` again\n"
            )
        );
    }

    #[test]
    fn no_default_libvirtd_still_lists_the_labs_and_says_orphans_may_be_missing() {
        let tmp = tempfile::tempdir().expect("a temp dir");
        let home = Home::at(tmp.path());
        let mut domains = Domains::new();
        domains.insert(
            "qemu:///system".into(),
            Err("Failed to connect socket".into()),
        );
        assert_eq!(
            table(&home, &Labs::new(), "qemu:///system", &domains),
            "LAB                    PHASE        NODES  RUNNING  FILE\n\
             libvirt at qemu:///system does not answer (Failed to connect socket): labs that only libvirt there still knows are not listed\n  \
             hint: start that libvirtd (`libvirtd -d`, or in the network namespace the lab was brought up in), then run `firedrill list` again\n"
        );
        domains.insert("qemu:///system".into(), Ok(vec![]));
        assert_eq!(
            table(&home, &Labs::new(), "qemu:///system", &domains),
            "no labs on this host; bring one up with `firedrill up LAB.yaml`\n"
        );
    }
}
