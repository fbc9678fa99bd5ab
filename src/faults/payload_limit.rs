//! payload-limit: haproxy starts rejecting request bodies above `max` bytes with 413, as a
//! well-meant size limit would. The app never sees those requests, so only the proxy's log
//! shows them. One line is added to the `frontend web` section, and revert removes exactly
//! that line, keeping any other edit the learner made.

use super::params::ParamSpec;
use super::text::Fields;
use super::{Fault, FaultOps, Kind, Verdict, var};
use crate::spec::Role;
use serde::{Deserialize, Serialize};

pub(crate) const KIND: Kind = Kind {
    name: "payload-limit",
    about: "haproxy rejects request bodies above a size with 413: writes and uploads fail, the app logs nothing",
    params: &[ParamSpec {
        name: "max",
        value: "BYTES",
        help: "the largest body let through (default 16, less than any todo)",
    }],
    build: |p, node| {
        if !super::has_role(node, Role::Haproxy) {
            return Err(KIND.does_not_fit(
                node,
                "it changes haproxy's configuration, and the node has no haproxy role",
            ));
        }
        Ok(Fault::PayloadLimit(PayloadLimit {
            max: p.number("max", 16, 0, 1 << 40)?,
            config: CONFIG.to_string(),
        }))
    },
};

const CONFIG: &str = "/etc/haproxy/haproxy.cfg";
const SECTION: &str = "frontend web";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct PayloadLimit {
    pub(crate) max: u64,
    pub(crate) config: String,
}

impl PayloadLimit {
    fn line(&self) -> String {
        format!(
            "    http-request deny deny_status 413 if {{ req.hdr_val(content-length) gt {} }}",
            self.max
        )
    }

    fn vars(&self) -> String {
        var("cfg", &self.config) + &var("line", &self.line())
    }

    /// Writes `$tmp` over the config with the config's owner and mode, after haproxy checked it,
    /// and reloads. `systemctl reload` returns once the master has the signal, before a worker
    /// with the new configuration runs: wait (at most 10 s) for a worker the master did not
    /// have before, so that an inject or a revert is in effect when it returns.
    const REPLACE: &'static str = "chown --reference=\"$cfg\" \"$tmp\"\n\
        chmod --reference=\"$cfg\" \"$tmp\"\n\
        if ! haproxy -c -q -f \"$tmp\"; then rm -f \"$tmp\"; echo \"haproxy rejects the changed configuration\" >&2; exit 1; fi\n\
        mv -f \"$tmp\" \"$cfg\"\n\
        main=$(systemctl show -p MainPID --value haproxy.service || true)\n\
        workers() { cat /proc/$main/task/*/children 2>/dev/null || true; }\n\
        old=\" $(workers) \"\n\
        systemctl reload haproxy.service\n\
        i=0\n\
        while [ \"${main:-0}\" != 0 ] && [ $i -lt 100 ]; do\n\
        \x20 fresh=\n\
        \x20 for p in $(workers); do\n\
        \x20   case \"$old\" in *\" $p \"*) ;; *) fresh=$p ;; esac\n\
        \x20 done\n\
        \x20 if [ -n \"$fresh\" ]; then break; fi\n\
        \x20 sleep 0.1\n\
        \x20 i=$((i + 1))\n\
        done\n";
}

impl FaultOps for PayloadLimit {
    fn kind(&self) -> &'static str {
        KIND.name
    }

    fn summary(&self) -> String {
        format!("haproxy answers 413 to bodies over {} bytes", self.max)
    }

    fn prepare_script(&self) -> String {
        let mut s = self.vars();
        s += &format!(
            "if ! grep -qx {section} \"$cfg\"; then echo \"$cfg has no '{SECTION}' section\" >&2; exit 3; fi\n\
             if grep -qxF \"$line\" \"$cfg\"; then echo \"$cfg already has that limit\" >&2; exit 3; fi\n\
             echo \"active=$(systemctl is-active haproxy.service 2>/dev/null)\"\n",
            section = crate::ssh::quote(SECTION)
        );
        s
    }

    fn prepared(&mut self, out: &Fields) -> Result<(), String> {
        match out.get("active") {
            Some("active") => Ok(()),
            state => Err(format!(
                "haproxy.service is not running ({:?}); start it first",
                state.unwrap_or_default()
            )),
        }
    }

    fn inject_script(&self) -> String {
        let mut s = String::from("set -e\n");
        s += &self.vars();
        s += "tmp=$(mktemp \"$cfg.XXXXXX\")\n";
        s += &format!(
            "awk -v line=\"$line\" -v section={} '{{ print }} $0 == section {{ print line }}' \"$cfg\" > \"$tmp\"\n",
            crate::ssh::quote(SECTION)
        );
        s += Self::REPLACE;
        s
    }

    fn verify_script(&self) -> String {
        let mut s = self.vars();
        s += "echo \"lines=$(grep -cxF \"$line\" \"$cfg\")\"\n";
        s
    }

    fn verdict(&self, out: &Fields, _host_now: i64) -> Verdict {
        let lines: u64 = out.number("lines").unwrap_or(0);
        Verdict {
            active: lines > 0,
            detail: if lines > 0 {
                format!("{} limits bodies to {} bytes", self.config, self.max)
            } else {
                format!("{} has no body size limit", self.config)
            },
        }
    }

    fn revert_script(&self, _host_now: Option<i64>) -> String {
        let mut s = String::from("set -e\n");
        s += &self.vars();
        s += "if grep -qxF \"$line\" \"$cfg\"; then\n\
              tmp=$(mktemp \"$cfg.XXXXXX\")\n\
              grep -vxF \"$line\" \"$cfg\" > \"$tmp\" || true\n";
        s += Self::REPLACE;
        s += "echo \"removed the body size limit from $cfg\"\nfi\n";
        s
    }
}

#[cfg(test)]
#[path = "payload_limit_tests.rs"]
mod tests;
