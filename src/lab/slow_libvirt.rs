//! A libvirtd that can see a /dev/kvm it cannot use (nested virtualization) throws its QEMU
//! capabilities away and probes QEMU again on every domain definition and lookup, so each call
//! takes tens of seconds instead of milliseconds. `up` cannot see libvirtd's reasons, so it
//! judges from what it can measure: how long looking up and defining a node is taking.

use crate::hypervisor::xml::Accel;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Far above a healthy lookup and definition (well under a second), far below a re-probe
/// (24-88 s measured).
pub(crate) const SLOW: Duration = Duration::from_secs(5);

/// What to do about a re-probing libvirtd (`up` and `doctor` say it).
pub(crate) const HINT: &str = "run libvirtd where it cannot see /dev/kvm (`scripts/libvirtd-ns start NETNS RUNDIR` in \
     firedrill's source tree starts one in a network namespace), or enable nested KVM on the host \
     and use --accel kvm";

/// The one warning `up` prints when a node's lookup and definition in libvirt has taken `took`
/// so far.
/// Only under TCG on a host with /dev/kvm: there the cause is most likely the re-probing, and
/// the advice is right; elsewhere a slow libvirt has other causes and this would mislead.
pub(crate) fn warning(
    node: &str,
    took: Duration,
    accel: Accel,
    kvm_present: bool,
) -> Option<String> {
    if accel != Accel::Tcg || !kvm_present || took < SLOW {
        return None;
    }
    Some(format!(
        "warning: libvirt has taken {:.1}s so far to look up and define node {node} (it should take well under 1 s). \
         This host has /dev/kvm but the lab runs under TCG: a libvirtd that can see a /dev/kvm it cannot \
         use (nested virtualization) probes QEMU again on every define and lookup, so each node waits.\n  \
         hint: {HINT}",
        took.as_secs_f64()
    ))
}

/// Gives the warning once per `up`, however many nodes are slow.
pub(crate) struct OnceWarning {
    kvm_present: bool,
    given: AtomicBool,
}

impl OnceWarning {
    pub(crate) fn for_this_host() -> OnceWarning {
        OnceWarning {
            kvm_present: std::path::Path::new("/dev/kvm").exists(),
            given: AtomicBool::new(false),
        }
    }

    pub(crate) fn check(&self, node: &str, took: Duration, accel: Accel) -> Option<String> {
        let w = warning(node, took, accel, self.kvm_present)?;
        (!self.given.swap(true, Ordering::Relaxed)).then_some(w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SLOW_CALL: Duration = Duration::from_secs(30);
    const FAST: Duration = Duration::from_millis(60);

    #[test]
    fn a_slow_definition_under_tcg_with_dev_kvm_warns_once_with_what_to_do() {
        let w = warning("db", SLOW_CALL, Accel::Tcg, true).expect("a warning");
        assert!(
            w.starts_with("warning: libvirt has taken 30.0s so far to look up and define node db "),
            "{w}"
        );
        assert!(w.contains("scripts/libvirtd-ns"), "{w}");
        assert!(w.contains("enable nested KVM"), "{w}");
    }

    #[test]
    fn the_warning_is_given_for_the_first_slow_node_only() {
        let once = OnceWarning {
            kvm_present: true,
            given: AtomicBool::new(false),
        };
        assert_eq!(once.check("web", FAST, Accel::Tcg), None);
        assert!(once.check("db", SLOW_CALL, Accel::Tcg).is_some());
        assert_eq!(once.check("app1", SLOW_CALL, Accel::Tcg), None);
    }

    #[test]
    fn a_fast_definition_does_not_warn_and_a_slow_one_from_5_s_on() {
        assert_eq!(warning("db", FAST, Accel::Tcg, true), None);
        assert_eq!(
            warning("db", SLOW - Duration::from_millis(1), Accel::Tcg, true),
            None
        );
        assert!(warning("db", SLOW, Accel::Tcg, true).is_some());
    }

    #[test]
    fn without_dev_kvm_or_under_kvm_a_slow_definition_has_another_cause() {
        assert_eq!(warning("db", SLOW_CALL, Accel::Tcg, false), None);
        assert_eq!(warning("db", SLOW_CALL, Accel::Kvm, true), None);
    }
}
