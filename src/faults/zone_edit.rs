//! One A record of the lab's zone changed on the dns node as an admin would change it: the zone
//! file edited, its serial raised, checked with `named-checkzone` and loaded with `rndc reload`.
//! Shared by dns-wrong-record and dns-stale: the record's parameters, the script that finds the
//! zone and the record, and the shell functions that edit it and wait for the server.

use super::params::Params;
use super::text::Fields;
use super::{FaultError, var};
use crate::plan::NodePlan;
use crate::roles::Role;
use std::net::Ipv4Addr;

/// Where the dns role names its zone and the zone file.
pub(super) const LOCAL_CONF: &str = "/etc/bind/named.conf.local";

/// An A record line of `n`, with or without a TTL of its own (`db IN A ...`, `db 3600 IN A
/// ...`); `addr` is then the field that holds its address.
const IS_RECORD: &str = "$1 == n && (($2 == \"IN\" && $3 == \"A\" && (addr = $4) != \"\") || ($3 == \"IN\" && $4 == \"A\" && (addr = $5) != \"\"))";

/// `name` and `to` of a record fault, checked, on the node with the dns role.
pub(super) fn record_params(
    p: &Params,
    node: &NodePlan,
    kind: &str,
) -> Result<(String, Option<Ipv4Addr>), FaultError> {
    if !node.roles.contains(&Role::Dns) {
        return Err(p.bad(
            "name",
            format!(
                "{} serves no zone: apply {kind} to the node with the dns role",
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
    Ok((name.to_ascii_lowercase(), to))
}

/// Reads the zone and its file from the server's configuration, the address of `name` and
/// (when `to` is empty) another address of the zone to point it at, as a copy-paste would.
/// Prints `zone=`, `file=`, `was=`, `to=`; exits 3 when the record cannot be changed so.
pub(super) fn find_script(name: &str, to: &str) -> String {
    var("name", name)
        + &var("to", to)
        + &format!(
            "conf={LOCAL_CONF}\n\
             zone=$(sed -n 's/^[[:space:]]*zone \"\\(.*\\)\" {{$/\\1/p' \"$conf\" 2>/dev/null | head -n 1)\n\
             zf=$(sed -n 's/^[[:space:]]*file \"\\(.*\\)\";$/\\1/p' \"$conf\" 2>/dev/null | head -n 1)\n\
             if [ -z \"$zone\" ] || [ ! -f \"$zf\" ]; then echo \"this node serves no lab zone ($conf names none): is it the dns node?\" >&2; exit 3; fi\n\
             was=$(awk -v n=\"$name\" '{IS_RECORD} {{ print addr; exit }}' \"$zf\")\n\
             if [ -z \"$was\" ]; then echo \"$zone has no A record named $name; the names are: $(awk '$2 == \"IN\" && $3 == \"A\" {{ print $1 }}' \"$zf\" | tr '\\n' ' ')\" >&2; exit 3; fi\n\
             if [ -z \"$to\" ]; then to=$(awk -v w=\"$was\" '$2 == \"IN\" && $3 == \"A\" && $4 != w {{ print $4; exit }}' \"$zf\"); fi\n\
             if [ -z \"$to\" ]; then echo \"$zone has no other address to point $name at; give one with --param to=IP\" >&2; exit 3; fi\n\
             if [ \"$to\" = \"$was\" ]; then echo \"$name already points at $was\" >&2; exit 3; fi\n\
             echo \"zone=$zone\"\necho \"file=$zf\"\necho \"was=$was\"\necho \"to=$to\"\n"
        )
}

/// What `find_script` printed, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Found {
    pub(super) zone: String,
    pub(super) file: String,
    pub(super) was: Ipv4Addr,
    pub(super) to: Ipv4Addr,
}

pub(super) fn found(out: &Fields) -> Result<Found, String> {
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
    Ok(Found {
        zone: zone.to_string(),
        file: file.to_string(),
        was: addr("was")?,
        to: addr("to")?,
    })
}

/// Shell functions on record `$name` of zone `$zone` in file `$zf`:
/// - `rewrite FROM TO [TTL]` sets the record from address FROM to TO (only if it has FROM),
///   with TTL as its own TTL when given (else the zone's), raises the serial, checks the zone
///   and reloads it; prints `changed=yes|no`;
/// - `served ADDR` waits up to 10 s until the zone as loaded (`@127.0.0.1`, the authority)
///   answers ADDR for the name: `rndc reload` only queues the load.
///
/// The zone reloaded is the "authority" view's: on a split-horizon server the zone is in
/// several views, where `rndc reload ZONE` alone is refused ("found in multiple views").
pub(super) fn functions(name: &str, zone: &str, file: &str) -> String {
    var("name", name)
        + &var("zone", zone)
        + &var("zf", file)
        + &format!(
            "rewrite() {{\n\
             \x20 if ! awk -v n=\"$name\" -v a=\"$1\" '{IS_RECORD} && addr == a {{ found = 1 }} END {{ exit !found }}' \"$zf\"; then\n\
             \x20   echo changed=no; return 0\n\
             \x20 fi\n\
             \x20 tmp=\"$zf.firedrill-new\"\n\
             \x20 awk -v n=\"$name\" -v a=\"$1\" -v b=\"$2\" -v t=\"${{3:-}}\" '\n\
             \x20   {IS_RECORD} && addr == a {{ print n \"\\t\" (t != \"\" ? t \"\\t\" : \"\") \"IN\\tA\\t\" b; next }}\n\
             \x20   /; serial/ && !done {{ match($0, /[0-9]+/); $0 = substr($0, 1, RSTART - 1) (substr($0, RSTART, RLENGTH) + 1) substr($0, RSTART + RLENGTH); done = 1 }}\n\
             \x20   {{ print }}' \"$zf\" > \"$tmp\"\n\
             \x20 chown --reference=\"$zf\" \"$tmp\"; chmod --reference=\"$zf\" \"$tmp\"\n\
             \x20 named-checkzone -q \"$zone\" \"$tmp\" || {{ rm -f \"$tmp\"; echo \"the edited zone does not load; nothing changed\" >&2; return 1; }}\n\
             \x20 mv -f \"$tmp\" \"$zf\"\n\
             \x20 rndc reload \"$zone\" IN authority >/dev/null\n\
             \x20 echo changed=yes\n\
             }}\n\
             served() {{\n\
             \x20 for i in $(seq 1 50); do\n\
             \x20   dig +short +norecurse +time=1 +tries=1 @127.0.0.1 \"$name.$zone\" A 2>/dev/null | grep -qx -F \"$1\" && return 0\n\
             \x20   sleep 0.2\n\
             \x20 done\n\
             \x20 echo \"named did not load $zone with $name at $1 within 10 s (journalctl -u named)\" >&2; return 1\n\
             }}\n"
        )
}
