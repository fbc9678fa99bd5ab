//! net-delay: latency (and loss) on a node's link, added with `tc netem` on the host side of
//! the node's interface, the tap device libvirt made for it. Nothing changes inside the VM, so
//! the learner cannot see it there; SSH stays usable, only slower. It runs on this host (as
//! root), and a `--for` timer is a sleeping process here rather than a timer on the node.

use super::params::ParamSpec;
use super::text::Fields;
use super::{Fault, FaultOps, Kind, Verdict, var};
use serde::{Deserialize, Serialize};

pub(crate) const KIND: Kind = Kind {
    name: "net-delay",
    about: "Latency or loss on a node's link, added on the host side (tc netem on its tap device)",
    params: &[
        ParamSpec {
            name: "delay",
            value: "MS",
            help: "added latency in milliseconds (default 300)",
        },
        ParamSpec {
            name: "jitter",
            value: "MS",
            help: "random variation of the latency (default 0)",
        },
        ParamSpec {
            name: "loss",
            value: "PERCENT",
            help: "packets dropped, 0-100 (default 0)",
        },
    ],
    build: |p, node| {
        let delay_ms = p.number("delay", 300, 0, 60_000)?;
        let loss_pct = p.number("loss", 0, 0, 100)?;
        if delay_ms == 0 && loss_pct == 0 {
            return Err(p.bad("delay", "with no delay and no loss there is nothing to add"));
        }
        Ok(Fault::NetDelay(NetDelay {
            delay_ms,
            jitter_ms: p.number("jitter", 0, 0, 60_000)?,
            loss_pct,
            domain: node.domain.name.clone(),
            mac: node.mac.clone(),
            tap: None,
        }))
    },
};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct NetDelay {
    pub(crate) delay_ms: u64,
    pub(crate) jitter_ms: u64,
    pub(crate) loss_pct: u64,
    pub(crate) domain: String,
    pub(crate) mac: String,
    /// The host-side interface, found before the inject.
    #[serde(default)]
    pub(crate) tap: Option<String>,
}

impl NetDelay {
    fn netem(&self) -> String {
        let mut args = String::from("netem");
        if self.delay_ms > 0 {
            args += &format!(" delay {}ms", self.delay_ms);
            if self.jitter_ms > 0 {
                args += &format!(" {}ms", self.jitter_ms);
            }
        }
        if self.loss_pct > 0 {
            args += &format!(" loss {}%", self.loss_pct);
        }
        args
    }

    fn tap_var(&self) -> String {
        var("tap", self.tap.as_deref().unwrap_or_default())
    }
}

impl FaultOps for NetDelay {
    fn kind(&self) -> &'static str {
        KIND.name
    }

    fn summary(&self) -> String {
        format!("{} on the node's link", self.netem())
    }

    fn on_host(&self) -> bool {
        true
    }

    fn prepare_script(&self) -> String {
        let mut s = var("d", &self.domain) + &var("mac", &self.mac);
        // Probed in a throwaway network namespace, so nothing on this host changes.
        s += "if ! unshare --net tc qdisc add dev lo root netem delay 1ms 2>/dev/null; then \
              echo \"this host's kernel has no netem qdisc (sch_netem), which net-delay needs\" >&2; exit 3; fi\n";
        s += "tap=$(virsh domiflist \"$d\" 2>/dev/null | awk -v mac=\"$mac\" 'tolower($5) == tolower(mac) { print $1 }')\n\
              if [ -z \"$tap\" ]; then echo \"domain $d has no running interface with MAC $mac; is the node up?\" >&2; exit 3; fi\n\
              echo \"tap=$tap\"\n\
              echo \"qdisc=$(tc qdisc show dev \"$tap\" root | head -n 1)\"\n";
        s
    }

    fn prepared(&mut self, out: &Fields) -> Result<(), String> {
        let tap = out.need("tap")?;
        if tap.is_empty()
            || !tap
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return Err(format!("{tap:?} is not an interface name"));
        }
        if out.get("qdisc").unwrap_or_default().contains("netem") {
            return Err(format!("{tap} already has a netem qdisc; remove it first"));
        }
        self.tap = Some(tap.to_string());
        Ok(())
    }

    fn inject_script(&self) -> String {
        format!(
            "set -e\n{}tc qdisc replace dev \"$tap\" root {}\n",
            self.tap_var(),
            self.netem()
        )
    }

    fn verify_script(&self) -> String {
        self.tap_var()
            + "echo \"qdisc=$(tc qdisc show dev \"$tap\" root 2>/dev/null | head -n 1)\"\n"
    }

    fn verdict(&self, out: &Fields, _host_now: i64) -> Verdict {
        let qdisc = out.get("qdisc").unwrap_or_default().trim();
        let tap = self.tap.as_deref().unwrap_or("?");
        Verdict {
            active: qdisc.contains("netem"),
            detail: if qdisc.is_empty() {
                format!("{tap} is gone (the node was restarted?)")
            } else {
                format!("{tap}: {qdisc}")
            },
        }
    }

    /// Deleting the root qdisc gives the tap its default one back.
    fn revert_script(&self, _host_now: Option<i64>) -> String {
        self.tap_var()
            + "if tc qdisc show dev \"$tap\" root 2>/dev/null | grep -q netem; then\n\
               \x20 tc qdisc del dev \"$tap\" root\n\
               \x20 echo \"removed the netem qdisc from $tap\"\n\
               fi\n"
    }
}

#[cfg(test)]
#[path = "net_delay_tests.rs"]
mod tests;
