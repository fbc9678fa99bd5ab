//! dns-broken: the node's `/etc/resolv.conf` points at a resolver that does not answer. It looks
//! like a familiar hand-edit: resolvconf's link (the nodes' resolver is written by resolvconf
//! from the network configuration) replaced by a static file naming systemd-resolved's stub,
//! 127.0.0.53, on a node that has no systemd-resolved. Addresses still work; every name
//! (`db`, `db.three-tier.lab`) fails with "Temporary failure in name resolution", and whatever
//! connects by name (an app to `database`, a backend by name) fails with it. It survives a
//! reboot, as such an edit would.
//!
//! The record keeps what was there (the link's target, or the file's content); revert puts it
//! back, but only while the file is still the one the fault wrote: a file the learner fixed is
//! left as it is.

use super::params::ParamSpec;
use super::text::Fields;
use super::{Fault, FaultOps, Kind, Verdict};
use serde::{Deserialize, Serialize};
use std::net::Ipv4Addr;

pub(crate) const KIND: Kind = Kind {
    name: "dns-broken",
    about: "The node's resolv.conf points at a resolver that does not answer: names fail, addresses work",
    params: &[ParamSpec {
        name: "server",
        value: "IP",
        help: "the resolver it names instead (default 127.0.0.53, a stub nobody runs there)",
    }],
    build: |p, _node| {
        let server = match p.get("server") {
            None => Ipv4Addr::new(127, 0, 0, 53),
            Some(v) => v
                .trim()
                .parse()
                .map_err(|_| p.bad("server", "write an IPv4 address"))?,
        };
        Ok(Fault::DnsBroken(DnsBroken {
            server,
            link: None,
            file_b64: None,
        }))
    },
};

const RESOLV: &str = "/etc/resolv.conf";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct DnsBroken {
    pub(crate) server: Ipv4Addr,
    /// Where `/etc/resolv.conf` linked to before (resolvconf's file).
    #[serde(default)]
    pub(crate) link: Option<String>,
    /// Or the file it was, base64.
    #[serde(default)]
    pub(crate) file_b64: Option<String>,
}

impl DnsBroken {
    /// The one line that marks the file as the fault's.
    fn line(&self) -> String {
        format!("nameserver {}", self.server)
    }

    /// True in the scripts while `/etc/resolv.conf` is still the fault's file.
    fn still_ours(&self) -> String {
        format!(
            "[ ! -L {RESOLV} ] && grep -qx {} {RESOLV} && [ \"$(grep -c '^nameserver' {RESOLV})\" = 1 ]",
            crate::ssh::quote(&self.line())
        )
    }
}

impl FaultOps for DnsBroken {
    fn kind(&self) -> &'static str {
        KIND.name
    }

    fn summary(&self) -> String {
        format!(
            "point {RESOLV} at {}, where no resolver answers",
            self.server
        )
    }

    fn prepare_script(&self) -> String {
        format!(
            "if [ -L {RESOLV} ]; then echo \"link=$(readlink {RESOLV})\"\n\
             elif [ -f {RESOLV} ]; then echo \"file=$(base64 -w0 < {RESOLV})\"\n\
             else echo '{RESOLV} is neither a file nor a link' >&2; exit 3; fi\n\
             grep -qx {line} {RESOLV} 2>/dev/null && {{ echo 'the node already names {server} as its resolver' >&2; exit 3; }}\n\
             exit 0\n",
            line = crate::ssh::quote(&self.line()),
            server = self.server,
        )
    }

    fn prepared(&mut self, out: &Fields) -> Result<(), String> {
        match (out.get("link"), out.get("file")) {
            (Some(link), _) if !link.is_empty() => self.link = Some(link.to_string()),
            (_, Some(file)) => self.file_b64 = Some(file.to_string()),
            _ => return Err(format!("could not read {RESOLV} on the node")),
        }
        Ok(())
    }

    /// A new file beside it, renamed over it (over the link itself, not its target); the
    /// search domains stay, so only the resolver is wrong.
    fn inject_script(&self) -> String {
        format!(
            "set -e\n\
             new={RESOLV}.firedrill-new\n\
             {{ echo '# This is /run/systemd/resolve/stub-resolv.conf managed by man:systemd-resolved(8).'\n\
             \x20 echo {line}\n\
             \x20 echo 'options edns0 trust-ad'\n\
             \x20 grep '^search' {RESOLV} || true; }} > \"$new\"\n\
             chmod 644 \"$new\"\n\
             mv -f \"$new\" {RESOLV}\n\
             echo written=yes\n",
            line = crate::ssh::quote(&self.line()),
        )
    }

    fn verify_script(&self) -> String {
        format!(
            "if {}; then echo broken=yes; else echo broken=no; fi\n\
             if getent hosts \"$(hostname)\" >/dev/null 2>&1; then echo resolves=yes; else echo resolves=no; fi\n",
            self.still_ours()
        )
    }

    fn verdict(&self, out: &Fields, _host_now: i64) -> Verdict {
        let broken = out.get("broken") == Some("yes");
        Verdict {
            active: broken,
            detail: if broken {
                format!("{RESOLV} names only {}", self.server)
            } else {
                format!("{RESOLV} is no longer the fault's file")
            },
        }
    }

    fn revert_script(&self, _host_now: Option<i64>) -> String {
        let restore = match (&self.link, &self.file_b64) {
            (Some(link), _) => format!(
                "  ln -sfn {} {RESOLV}\n  echo {}\n",
                crate::ssh::quote(link),
                crate::ssh::quote(&format!("{RESOLV} links to {link} again"))
            ),
            (None, Some(b64)) => format!(
                "  {} | base64 -d > {RESOLV}.firedrill-old\n  chmod 644 {RESOLV}.firedrill-old\n  mv -f {RESOLV}.firedrill-old {RESOLV}\n  echo {}\n",
                var_echo(b64),
                crate::ssh::quote(&format!("restored {RESOLV}"))
            ),
            (None, None) => "  :\n".to_string(),
        };
        format!("if {}; then\n{restore}fi\n", self.still_ours())
    }
}

/// `printf %s 'DATA'`: base64 has no character the shell quotes specially, but it is quoted
/// anyway.
fn var_echo(b64: &str) -> String {
    format!("printf %s {}", crate::ssh::quote(b64))
}

#[cfg(test)]
#[path = "dns_broken_tests.rs"]
mod tests;
