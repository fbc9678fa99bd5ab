//! net-delay: latency (and loss) on a node's link, added with `tc netem`.
//!
//! Where it goes (`side=`): `host` puts it on the host side of the node's interface, the tap
//! device libvirt made for it: nothing changes inside the VM, so the learner cannot see it there,
//! and a `--for` timer is a sleeping process on this host. `guest` puts it on the node's own
//! interface (the golden image's kernel has netem): the learner can find it with `tc qdisc`, and
//! a `--for` timer is a timer on the node. `auto` (the default) takes the host side when this
//! host's kernel has netem (many cloud and CI kernels do not) and the guest side otherwise;
//! `fault status` and the summary say which. SSH stays usable either way, only slower.

use super::params::ParamSpec;
use super::text::Fields;
use super::{Fault, FaultOps, Kind, Verdict, var};
use serde::{Deserialize, Serialize};

pub(crate) const KIND: Kind = Kind {
    name: "net-delay",
    about: "Latency or loss on a node's link (tc netem on its tap device, or in the node when this host has no netem)",
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
        ParamSpec {
            name: "side",
            value: "auto|host|guest",
            help: "where netem goes: the host's tap device or the node's interface (default auto: the host when its kernel has netem)",
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
            side: match p.choice("side", &["auto", "host", "guest"], "auto")? {
                "host" => Side::Host,
                "guest" => Side::Guest,
                _ => Side::Auto,
            },
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
    /// Where the qdisc goes: asked for, then decided before the inject (records written before
    /// there was a choice were all on the host).
    #[serde(default = "host_side")]
    pub(crate) side: Side,
}

/// The side of the link netem is added on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Side {
    /// Not decided yet: the host when its kernel has netem, else the guest.
    Auto,
    /// The tap device on this host.
    Host,
    /// The node's own interface.
    Guest,
}

fn host_side() -> Side {
    Side::Host
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

    /// Sets `$dev` to the interface the qdisc goes on: the tap on the host, or the node's
    /// interface with the lab's MAC address inside the guest.
    fn dev_script(&self) -> String {
        match self.side {
            Side::Guest => {
                var("mac", &self.mac)
                    + "dev=\n\
                       for i in /sys/class/net/*; do\n\
                       \x20 if [ \"$(cat \"$i/address\" 2>/dev/null)\" = \"$mac\" ]; then dev=${i##*/}; fi\n\
                       done\n\
                       if [ -z \"$dev\" ]; then echo \"no interface with MAC $mac on this node\" >&2; exit 1; fi\n"
            }
            Side::Host | Side::Auto => self.tap_var() + "dev=$tap\n",
        }
    }

    /// Where the qdisc is, in words.
    fn place(&self) -> String {
        match self.side {
            Side::Guest => "inside the node (this host's kernel has no netem)".to_string(),
            Side::Host | Side::Auto => match &self.tap {
                Some(tap) => format!("on the host side of the node's link ({tap})"),
                None => "on the host side of the node's link".to_string(),
            },
        }
    }
}

impl FaultOps for NetDelay {
    fn kind(&self) -> &'static str {
        KIND.name
    }

    fn summary(&self) -> String {
        format!("{} {}", self.netem(), self.place())
    }

    /// Reading the node's link is always done here; the change is made where `side` says.
    fn on_host(&self) -> bool {
        self.side != Side::Guest
    }

    fn prepare_script(&self) -> String {
        let mut s = var("d", &self.domain) + &var("mac", &self.mac);
        // Probed in a throwaway network namespace, so nothing on this host changes.
        s += "if unshare --net tc qdisc add dev lo root netem delay 1ms 2>/dev/null; then \
              echo host_netem=yes; else echo host_netem=no; fi\n";
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
        let host_netem = out.get("host_netem") == Some("yes");
        self.side = match (self.side, host_netem) {
            (Side::Guest, _) => Side::Guest,
            (Side::Auto | Side::Host, true) => Side::Host,
            (Side::Auto, false) => Side::Guest,
            (Side::Host, false) => {
                return Err(
                    "this host's kernel has no netem qdisc (sch_netem), which side=host \
                            needs; use side=guest (or leave side out) to add it inside the node"
                        .to_string(),
                );
            }
        };
        self.tap = Some(tap.to_string());
        Ok(())
    }

    /// Inside the guest the module may not be loaded yet, and a netem qdisc already there is
    /// the learner's or another fault's: left alone, and the inject fails. There, netem sits
    /// under a `prio` qdisc whose filter sends the node's SSH replies (source port 22) around
    /// it, so firedrill can still reach the node to verify and revert, even with loss=100.
    fn inject_script(&self) -> String {
        let mut s = String::from("set -e\n") + &self.dev_script();
        match self.side {
            Side::Guest => {
                s += "modprobe sch_netem 2>/dev/null || true\n\
                      if tc qdisc show dev \"$dev\" | grep -q netem; then \
                      echo \"$dev already has a netem qdisc; remove it first\" >&2; exit 1; fi\n\
                      tc qdisc replace dev \"$dev\" root handle 1: prio bands 3 priomap 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1\n";
                s += &format!(
                    "tc qdisc add dev \"$dev\" parent 1:2 handle 20: {}\n",
                    self.netem()
                );
                s += "tc filter add dev \"$dev\" parent 1: protocol ip prio 1 u32 match ip sport 22 0xffff flowid 1:1\n";
                s
            }
            Side::Host | Side::Auto => {
                s + &format!("tc qdisc replace dev \"$dev\" root {}\n", self.netem())
            }
        }
    }

    fn verify_script(&self) -> String {
        self.dev_script()
            + "echo \"dev=$dev\"\n\
               echo \"qdisc=$(tc qdisc show dev \"$dev\" 2>/dev/null | grep netem | head -n 1)\"\n"
    }

    fn verdict(&self, out: &Fields, _host_now: i64) -> Verdict {
        let qdisc = out.get("qdisc").unwrap_or_default().trim();
        let dev = out
            .get("dev")
            .filter(|d| !d.is_empty())
            .or(self.tap.as_deref())
            .unwrap_or("?");
        let side = match self.side {
            Side::Guest => "in the node",
            Side::Host | Side::Auto => "on the host",
        };
        Verdict {
            active: qdisc.contains("netem"),
            detail: if qdisc.is_empty() {
                format!("{dev} is gone (the node was restarted?)")
            } else {
                format!("{dev} ({side}): {qdisc}")
            },
        }
    }

    /// Deleting the root qdisc (netem, or the prio above it) gives the interface its default one
    /// back.
    fn revert_script(&self, _host_now: Option<i64>) -> String {
        self.dev_script()
            + "if tc qdisc show dev \"$dev\" 2>/dev/null | grep -q netem; then\n\
               \x20 tc qdisc del dev \"$dev\" root\n\
               \x20 echo \"removed the netem qdisc from $dev\"\n\
               fi\n"
    }
}

#[cfg(test)]
#[path = "net_delay_tests.rs"]
mod tests;
