//! dns-stale: the lab's resolver keeps handing out an address the zone no longer has. A record
//! was pointed elsewhere with a long TTL (a rehearsed cut-over, published for a day), the
//! resolver cached that answer, and the record was put back within minutes: the zone file and
//! the server's own answer (`dig @127.0.0.1` on the dns node) are right, every node that asks
//! the resolver gets the old answer until its TTL runs out. The fix is to make the resolver
//! forget it (`rndc flushname NAME.ZONE`); the lesson is to lower a record's TTL ahead of a
//! change.
//!
//! Run it on the DNS node, whose named is both the zone's server and the lab's resolver (the
//! dns role's two views): `fault apply dns-stale gw --param name=db [--param to=IP]
//! [--param ttl=86400]`. The revert puts the record back if the inject stopped half-way and
//! makes the resolver forget the name.

use super::params::ParamSpec;
use super::text::Fields;
use super::{Fault, FaultOps, Kind, Verdict, var, zone_edit};
use crate::ssh;
use serde::{Deserialize, Serialize};
use std::net::Ipv4Addr;

/// A day: long enough that waiting is no fix within a level.
const DEFAULT_TTL: u64 = 86_400;
/// BIND's `max-cache-ttl` (a week): the resolver would cut a longer one to it.
const MAX_TTL: u64 = 604_800;

pub(crate) const KIND: Kind = Kind {
    name: "dns-stale",
    about: "The lab's resolver serves a record's old address, cached with a long TTL (run on the dns node)",
    params: &[
        ParamSpec {
            name: "name",
            value: "NAME",
            help: "the record, relative to the lab's zone (a node or a `dns:` name)",
        },
        ParamSpec {
            name: "to",
            value: "IP",
            help: "the old address the resolver keeps (default: another node of the lab)",
        },
        ParamSpec {
            name: "ttl",
            value: "SECONDS",
            help: "the TTL it was published with, 600 to 604800 (default 86400)",
        },
    ],
    build: |p, node| {
        let (name, to) = zone_edit::record_params(p, node, KIND.name)?;
        let ttl = p.number("ttl", DEFAULT_TTL, 600, MAX_TTL)?;
        Ok(Fault::DnsStale(DnsStale {
            name,
            to,
            ttl: u32::try_from(ttl).unwrap_or(u32::MAX),
            zone: String::new(),
            file: String::new(),
            was: None,
            resolver: None,
        }))
    },
};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct DnsStale {
    /// The record's name, relative to the zone.
    pub(crate) name: String,
    /// The stale address; chosen from the zone before the inject when not given.
    pub(crate) to: Option<Ipv4Addr>,
    /// The TTL the stale answer was published, and so cached, with.
    pub(crate) ttl: u32,
    /// The zone and its file, read from the server's configuration.
    #[serde(default)]
    pub(crate) zone: String,
    #[serde(default)]
    pub(crate) file: String,
    /// The record's address, before the fault and after it.
    #[serde(default)]
    pub(crate) was: Option<Ipv4Addr>,
    /// The node's address the resolver answers on (the lab's nodes ask it there).
    #[serde(default)]
    pub(crate) resolver: Option<Ipv4Addr>,
}

impl DnsStale {
    fn to(&self) -> String {
        self.to.map(|a| a.to_string()).unwrap_or_default()
    }

    fn was(&self) -> String {
        self.was.map(|a| a.to_string()).unwrap_or_default()
    }

    fn fqdn(&self) -> String {
        format!("{}.{}", self.name, self.zone)
    }

    fn resolver(&self) -> String {
        self.resolver.map(|a| a.to_string()).unwrap_or_default()
    }

    fn functions(&self) -> String {
        zone_edit::functions(&self.name, &self.zone, &self.file) + &var("res", &self.resolver())
    }
}

impl FaultOps for DnsStale {
    fn kind(&self) -> &'static str {
        KIND.name
    }

    fn summary(&self) -> String {
        match (self.was, self.to) {
            (Some(was), Some(to)) => format!(
                "the lab's resolver serves {to} for {} (cached for {} s); the zone has {was}",
                self.fqdn(),
                self.ttl
            ),
            _ => format!(
                "the lab's resolver serves an old address for {} (cached for {} s)",
                self.name, self.ttl
            ),
        }
    }

    /// The record as `dns-wrong-record` finds it, and the node's address where the resolver
    /// answers; a server without a caching view (a lab brought up before the dns role had one)
    /// does not fit.
    fn prepare_script(&self) -> String {
        zone_edit::find_script(&self.name, &self.to())
            + &format!(
                "if ! grep -q '^[[:space:]]*recursion yes;' {conf}; then echo \"named on this node caches nothing for the lab ({conf} has no view with 'recursion yes'): run 'firedrill up' to write the dns role's configuration\" >&2; exit 3; fi\n\
                 res=$(ip -4 -o addr show scope global | awk '{{ sub(\"/.*\", \"\", $4); print $4; exit }}')\n\
                 if [ -z \"$res\" ]; then echo \"this node has no address the lab's nodes could ask\" >&2; exit 3; fi\n\
                 echo \"resolver=$res\"\n",
                conf = zone_edit::LOCAL_CONF
            )
    }

    fn prepared(&mut self, out: &Fields) -> Result<(), String> {
        let found = zone_edit::found(out)?;
        let res = out.need("resolver")?;
        self.resolver = Some(
            res.parse()
                .map_err(|_| format!("the node's address {res:?} is not an IPv4 address"))?,
        );
        self.was = Some(found.was);
        self.to = Some(found.to);
        self.zone = found.zone;
        self.file = found.file;
        Ok(())
    }

    /// As it happens: the record goes to the stale address with the long TTL, the resolver is
    /// asked (and keeps that answer), the record comes back with the zone's TTL.
    fn inject_script(&self) -> String {
        let (was, to) = (ssh::quote(&self.was()), ssh::quote(&self.to()));
        format!(
            "set -e\n{}out=$(rewrite {was} {to} {ttl})\n\
             if [ \"$out\" != changed=yes ]; then echo \"$name no longer pointed at {was} in $zone; nothing changed\" >&2; exit 1; fi\n\
             served {to}\n\
             rndc flushname \"$name.$zone\" >/dev/null\n\
             got=$(dig +short +time=2 +tries=2 @\"$res\" \"$name.$zone\" A)\n\
             echo \"$got\" | grep -qx -F {to} || {{ echo \"the resolver at $res answered '$got' for $name.$zone, not {to}\" >&2; exit 1; }}\n\
             rewrite {to} {was} >/dev/null\n\
             served {was}\n\
             echo cached=yes\n",
            self.functions(),
            ttl = self.ttl
        )
    }

    fn injected(&mut self, out: &Fields) -> Result<(), String> {
        match out.get("cached") {
            Some("yes") => Ok(()),
            _ => Err(format!(
                "the resolver did not cache {} for {}",
                self.to(),
                self.fqdn()
            )),
        }
    }

    /// What the resolver answers, for how long still, and what the zone says.
    fn verify_script(&self) -> String {
        let fqdn = ssh::quote(&self.fqdn());
        format!(
            "echo \"answer=$(dig +short +time=2 +tries=2 @{res} {fqdn} A 2>/dev/null | sort | tr '\\n' ' ')\"\n\
             echo \"left=$(dig +noall +answer +time=2 +tries=2 @{res} {fqdn} A 2>/dev/null | awk '{{ print $2; exit }}')\"\n\
             echo \"authority=$(dig +short +norecurse +time=2 +tries=2 @127.0.0.1 {fqdn} A 2>/dev/null | sort | tr '\\n' ' ')\"\n",
            res = ssh::quote(&self.resolver()),
        )
    }

    fn verdict(&self, out: &Fields, _host_now: i64) -> Verdict {
        let answer = out.get("answer").unwrap_or_default().trim().to_string();
        let authority = out.get("authority").unwrap_or_default().trim().to_string();
        let fqdn = self.fqdn();
        let active = answer.split_whitespace().any(|a| a == self.to());
        let detail = if answer.is_empty() {
            format!("the resolver gives no answer for {fqdn}")
        } else if active {
            let left = out.get("left").unwrap_or_default().trim();
            format!(
                "the resolver answers {answer} for {fqdn} for {left} s more; the zone has {authority}"
            )
        } else {
            format!("the resolver answers {answer} for {fqdn}; the zone has {authority}")
        };
        Verdict { active, detail }
    }

    fn revert_script(&self, _host_now: Option<i64>) -> String {
        let (was, to) = (ssh::quote(&self.was()), ssh::quote(&self.to()));
        format!(
            "set -e\n{}out=$(rewrite {to} {was})\n\
             if [ \"$out\" = changed=yes ]; then served {was}; echo {back}; fi\n\
             if rndc flushname \"$name.$zone\" >/dev/null 2>&1; then echo {forgot}; fi\n",
            self.functions(),
            back = ssh::quote(&format!(
                "{} points at {} again in {}",
                self.name,
                self.was(),
                self.zone
            )),
            forgot = ssh::quote(&format!(
                "the resolver forgot its answer for {}",
                self.fqdn()
            )),
        )
    }
}

#[cfg(test)]
#[path = "dns_stale_tests.rs"]
mod tests;
