//! dns-wrong-record: one A record in the lab's DNS server (the node with the `dns` role) points
//! at the wrong address, as a mistyped or copy-pasted zone edit would: the zone file is edited,
//! its serial raised, checked with `named-checkzone` and loaded with `rndc reload`, as an admin
//! would do it. Whoever looks the name up gets the wrong node (by default another node of the
//! lab, so connections are refused or reach the wrong service rather than leave the lab); the
//! record is right again only when the zone is fixed and reloaded. The lab's resolver (the same
//! named) forgets the name when the fault goes in and when it is reverted, so the lab's nodes
//! see each at their next lookup; any other resolver keeps what it cached for the TTL.
//!
//! Run it on the DNS node: `fault apply dns-wrong-record gw --param name=db [--param to=IP]`.
//! The record keeps the address that was there; revert puts it back only while the record still
//! has the fault's address (a record the learner fixed, or changed otherwise, is left alone).

use super::params::ParamSpec;
use super::text::Fields;
use super::{Fault, FaultOps, Kind, Verdict, zone_edit};
use crate::ssh;
use serde::{Deserialize, Serialize};
use std::net::Ipv4Addr;

pub(crate) const KIND: Kind = Kind {
    name: "dns-wrong-record",
    about: "An A record in the lab's DNS server points at the wrong address (run on the dns node)",
    params: &[
        ParamSpec {
            name: "name",
            value: "NAME",
            help: "the record to change, relative to the lab's zone (a node or a `dns:` name)",
        },
        ParamSpec {
            name: "to",
            value: "IP",
            help: "the wrong address (default: another node of the lab, as a copy-paste would)",
        },
    ],
    build: |p, node| {
        let (name, to) = zone_edit::record_params(p, node, KIND.name)?;
        Ok(Fault::DnsWrongRecord(DnsWrongRecord {
            name,
            to,
            zone: String::new(),
            file: String::new(),
            was: None,
        }))
    },
};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct DnsWrongRecord {
    /// The record's name, relative to the zone.
    pub(crate) name: String,
    /// The wrong address; chosen from the zone before the inject when not given.
    pub(crate) to: Option<Ipv4Addr>,
    /// The zone and its file, read from the server's configuration.
    #[serde(default)]
    pub(crate) zone: String,
    #[serde(default)]
    pub(crate) file: String,
    /// The record's address before the fault.
    #[serde(default)]
    pub(crate) was: Option<Ipv4Addr>,
}

impl DnsWrongRecord {
    fn to(&self) -> String {
        self.to.map(|a| a.to_string()).unwrap_or_default()
    }

    fn was(&self) -> String {
        self.was.map(|a| a.to_string()).unwrap_or_default()
    }

    fn functions(&self) -> String {
        zone_edit::functions(&self.name, &self.zone, &self.file)
    }

    fn fqdn(&self) -> String {
        format!("{}.{}", self.name, self.zone)
    }
}

impl FaultOps for DnsWrongRecord {
    fn kind(&self) -> &'static str {
        KIND.name
    }

    fn summary(&self) -> String {
        let zone = if self.zone.is_empty() {
            "the lab's zone".to_string()
        } else {
            self.zone.clone()
        };
        match (self.was, self.to) {
            (Some(was), Some(to)) => {
                format!("point {} in {zone} at {to} instead of {was}", self.name)
            }
            _ => format!("point {} in {zone} at the wrong address", self.name),
        }
    }

    /// The zone and its file from the server's configuration, the record's address, and (when
    /// `to` was not given) another address of the zone to point it at.
    fn prepare_script(&self) -> String {
        zone_edit::find_script(&self.name, &self.to())
    }

    fn prepared(&mut self, out: &Fields) -> Result<(), String> {
        let found = zone_edit::found(out)?;
        self.was = Some(found.was);
        self.to = Some(found.to);
        self.zone = found.zone;
        self.file = found.file;
        Ok(())
    }

    /// The edit, then the server's cache forgets the name, so the lab's nodes get the wrong
    /// address at their next lookup instead of when their cached answer expires.
    fn inject_script(&self) -> String {
        let (was, to) = (ssh::quote(&self.was()), ssh::quote(&self.to()));
        format!(
            "set -e\n{}out=$(rewrite {was} {to})\necho \"$out\"\n\
             if [ \"$out\" = changed=yes ]; then served {to}; rndc flushname \"$name.$zone\" >/dev/null; fi\n",
            self.functions()
        )
    }

    fn injected(&mut self, out: &Fields) -> Result<(), String> {
        match out.get("changed") {
            Some("yes") => Ok(()),
            _ => Err(format!(
                "{} no longer pointed at {} when the zone was edited; nothing changed",
                self.name,
                self.was()
            )),
        }
    }

    /// What the server itself answers now.
    fn verify_script(&self) -> String {
        format!(
            "echo \"answer=$(dig +short +norecurse @127.0.0.1 {} A 2>/dev/null | head -n 1)\"\n",
            ssh::quote(&self.fqdn())
        )
    }

    fn verdict(&self, out: &Fields, _host_now: i64) -> Verdict {
        let answer = out.get("answer").unwrap_or_default().trim().to_string();
        let fqdn = self.fqdn();
        Verdict {
            active: answer == self.to(),
            detail: if answer.is_empty() {
                format!("the server gives no answer for {fqdn}")
            } else {
                format!("the server answers {answer} for {fqdn}")
            },
        }
    }

    /// Also forgets the name in the server's cache, whoever fixed the record: a cached wrong
    /// answer would outlive the fault by its TTL (named not running holds no cache).
    fn revert_script(&self, _host_now: Option<i64>) -> String {
        let (was, to) = (ssh::quote(&self.was()), ssh::quote(&self.to()));
        format!(
            "set -e\n{}out=$(rewrite {to} {was})\n\
             if [ \"$out\" = changed=yes ]; then served {was}; fi\n\
             rndc flushname \"$name.$zone\" >/dev/null 2>&1 || true\n\
             if [ \"$out\" = changed=yes ]; then echo {}; fi\n",
            self.functions(),
            ssh::quote(&format!(
                "{} points at {} again in {}",
                self.name,
                self.was(),
                self.zone
            ))
        )
    }
}

#[cfg(test)]
#[path = "dns_wrong_record_tests.rs"]
mod tests;
