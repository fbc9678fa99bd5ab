//! dns-wrong-record: one A record in the lab's DNS server (the node with the `dns` role) points
//! at the wrong address, as a mistyped or copy-pasted zone edit would: the zone file is edited,
//! its serial raised, checked with `named-checkzone` and loaded with `rndc reload`, as an admin
//! would do it. Whoever looks the name up gets the wrong node (by default another node of the
//! lab, so connections are refused or reach the wrong service rather than leave the lab); the
//! record is right again only when the zone is fixed and reloaded, and resolvers that cached the
//! wrong answer keep it for the zone's TTL.
//!
//! Run it on the DNS node: `fault apply dns-wrong-record gw --param name=db [--param to=IP]`.
//! The record keeps the address that was there; revert puts it back only while the record still
//! has the fault's address (a record the learner fixed, or changed otherwise, is left alone).

use super::params::ParamSpec;
use super::text::Fields;
use super::{Fault, FaultOps, Kind, Verdict, var};
use crate::roles::Role;
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
        if !node.roles.contains(&Role::Dns) {
            return Err(p.bad(
                "name",
                format!(
                    "{} serves no zone: apply dns-wrong-record to the node with the dns role",
                    node.name
                ),
            ));
        }
        let name = p
            .get("name")
            .map(str::trim)
            .ok_or_else(|| p.bad("name", "say which record, e.g. --param name=db"))?;
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(p.bad("name", "a record name is letters, digits and '-'"));
        }
        let to = match p.get("to") {
            None => None,
            Some(v) => Some(
                v.trim()
                    .parse::<Ipv4Addr>()
                    .map_err(|_| p.bad("to", "write an IPv4 address"))?,
            ),
        };
        Ok(Fault::DnsWrongRecord(DnsWrongRecord {
            name: name.to_ascii_lowercase(),
            to,
            zone: String::new(),
            file: String::new(),
            was: None,
        }))
    },
};

/// Where the dns role names its zone and the zone file.
const LOCAL_CONF: &str = "/etc/bind/named.conf.local";

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

    /// Sets the record `$name` in `$zf` from address `$1` to `$2` (only if it has `$1`), raises
    /// the serial, checks the zone and reloads it. Prints `changed=yes|no`.
    fn rewrite(&self) -> String {
        var("name", &self.name)
            + &var("zone", &self.zone)
            + &var("zf", &self.file)
            + "rewrite() {\n\
               \x20 if ! awk -v n=\"$name\" -v a=\"$1\" '$1 == n && $2 == \"IN\" && $3 == \"A\" && $4 == a { found = 1 } END { exit !found }' \"$zf\"; then\n\
               \x20   echo changed=no; return 0\n\
               \x20 fi\n\
               \x20 tmp=\"$zf.firedrill-new\"\n\
               \x20 awk -v n=\"$name\" -v a=\"$1\" -v b=\"$2\" '\n\
               \x20   $1 == n && $2 == \"IN\" && $3 == \"A\" && $4 == a { print n \"\\tIN\\tA\\t\" b; next }\n\
               \x20   /; serial/ && !done { match($0, /[0-9]+/); $0 = substr($0, 1, RSTART - 1) (substr($0, RSTART, RLENGTH) + 1) substr($0, RSTART + RLENGTH); done = 1 }\n\
               \x20   { print }' \"$zf\" > \"$tmp\"\n\
               \x20 chown --reference=\"$zf\" \"$tmp\"; chmod --reference=\"$zf\" \"$tmp\"\n\
               \x20 named-checkzone -q \"$zone\" \"$tmp\" || { rm -f \"$tmp\"; echo \"the edited zone does not load; nothing changed\" >&2; return 1; }\n\
               \x20 mv -f \"$tmp\" \"$zf\"\n\
               \x20 rndc reload \"$zone\" >/dev/null\n\
               \x20 echo changed=yes\n\
               }\n"
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
        var("name", &self.name)
            + &var("to", &self.to())
            + &format!(
                "conf={LOCAL_CONF}\n\
                 zone=$(sed -n 's/^zone \"\\(.*\\)\" {{$/\\1/p' \"$conf\" 2>/dev/null | head -n 1)\n\
                 zf=$(sed -n 's/^[[:space:]]*file \"\\(.*\\)\";$/\\1/p' \"$conf\" 2>/dev/null | head -n 1)\n\
                 if [ -z \"$zone\" ] || [ ! -f \"$zf\" ]; then echo \"this node serves no lab zone ($conf names none): is it the dns node?\" >&2; exit 3; fi\n\
                 was=$(awk -v n=\"$name\" '$1 == n && $2 == \"IN\" && $3 == \"A\" {{ print $4; exit }}' \"$zf\")\n\
                 if [ -z \"$was\" ]; then echo \"$zone has no A record named $name; the names are: $(awk '$2 == \"IN\" && $3 == \"A\" {{ print $1 }}' \"$zf\" | tr '\\n' ' ')\" >&2; exit 3; fi\n\
                 if [ -z \"$to\" ]; then to=$(awk -v w=\"$was\" '$2 == \"IN\" && $3 == \"A\" && $4 != w {{ print $4; exit }}' \"$zf\"); fi\n\
                 if [ -z \"$to\" ]; then echo \"$zone has no other address to point $name at; give one with --param to=IP\" >&2; exit 3; fi\n\
                 if [ \"$to\" = \"$was\" ]; then echo \"$name already points at $was\" >&2; exit 3; fi\n\
                 echo \"zone=$zone\"\necho \"file=$zf\"\necho \"was=$was\"\necho \"to=$to\"\n"
            )
    }

    fn prepared(&mut self, out: &Fields) -> Result<(), String> {
        let addr = |key: &str| -> Result<Ipv4Addr, String> {
            let v = out.need(key)?;
            v.parse()
                .map_err(|_| format!("the zone's {key} address {v:?} is not an IPv4 address"))
        };
        let zone = out.need("zone")?;
        let file = out.need("file")?;
        if !file.starts_with("/etc/bind/") || file.contains("..") {
            return Err(format!(
                "the zone file {file:?} is not under /etc/bind; edit it by hand"
            ));
        }
        self.was = Some(addr("was")?);
        self.to = Some(addr("to")?);
        self.zone = zone.to_string();
        self.file = file.to_string();
        Ok(())
    }

    fn inject_script(&self) -> String {
        format!(
            "set -e\n{}rewrite {} {}\n",
            self.rewrite(),
            crate::ssh::quote(&self.was()),
            crate::ssh::quote(&self.to())
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
            crate::ssh::quote(&format!("{}.{}", self.name, self.zone))
        )
    }

    fn verdict(&self, out: &Fields, _host_now: i64) -> Verdict {
        let answer = out.get("answer").unwrap_or_default().trim().to_string();
        let fqdn = format!("{}.{}", self.name, self.zone);
        Verdict {
            active: answer == self.to(),
            detail: if answer.is_empty() {
                format!("the server gives no answer for {fqdn}")
            } else {
                format!("the server answers {answer} for {fqdn}")
            },
        }
    }

    fn revert_script(&self, _host_now: Option<i64>) -> String {
        format!(
            "set -e\n{}out=$(rewrite {} {})\n\
             if [ \"$out\" = changed=yes ]; then echo {}; fi\n",
            self.rewrite(),
            crate::ssh::quote(&self.to()),
            crate::ssh::quote(&self.was()),
            crate::ssh::quote(&format!(
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
