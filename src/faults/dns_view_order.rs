//! dns-view-order: a split-horizon view of the lab's DNS server (a view of the dns role's
//! `views:`) moved below the catch-all "resolver" view in named.conf.local, as a tidy-up of the
//! file would move it. named gives each query the first view whose match-clients fits its
//! source, so the view's nodes now get the resolver's answers, the outside ones: a name that
//! should send them to an address on their own network sends them across the router. Nothing
//! else changes: every file named reads is valid, `named-checkconf` is happy, the zones are
//! right, and a query from the server itself (`dig @127.0.0.1`) answers as before.
//!
//! Run it on the DNS node: `fault apply dns-view-order gw [--param view=inside]`. The record
//! keeps the view that followed it; revert puts the view back in front of that one, only while
//! it is still behind it (a file the learner reordered is left alone).

use super::params::ParamSpec;
use super::text::Fields;
use super::{Fault, FaultOps, Kind, Verdict, var, zone_edit::LOCAL_CONF};
use crate::roles::RoleOptions;
use serde::{Deserialize, Serialize};

pub(crate) const KIND: Kind = Kind {
    name: "dns-view-order",
    about: "A split-horizon view of the lab's DNS server moved below the catch-all view, so its nodes get the outside answers (run on the dns node)",
    params: &[ParamSpec {
        name: "view",
        value: "NAME",
        help: "the view to move, one of the dns role's `views:` (default: its first)",
    }],
    build: |p, node| {
        let views: Vec<&str> = node
            .options
            .iter()
            .filter_map(|o| match o {
                RoleOptions::Dns(d) => Some(d),
                _ => None,
            })
            .flat_map(|d| d.views.iter().map(|v| v.name.as_str()))
            .collect();
        let Some(first) = views.first() else {
            return Err(KIND.does_not_fit(
                node,
                "its dns role has no split-horizon views: give it `views:` in the lab file, or apply dns-view-order to the node that has them",
            ));
        };
        let view = match p.get("view").map(str::trim) {
            None => first.to_string(),
            Some(v) if views.contains(&v) => v.to_string(),
            Some(_) => {
                return Err(p.bad(
                    "view",
                    format!("{}'s views are: {}", node.name, views.join(", ")),
                ));
            }
        };
        Ok(Fault::DnsViewOrder(DnsViewOrder {
            view,
            before: String::new(),
            behind: String::new(),
        }))
    },
};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct DnsViewOrder {
    /// The view moved.
    pub(crate) view: String,
    /// The view it came before: revert puts it back in front of this one.
    #[serde(default)]
    pub(crate) before: String,
    /// The last view, the catch-all it is moved behind.
    #[serde(default)]
    pub(crate) behind: String,
}

/// The views of named.conf.local in file order, one per line (`pos NAME` is the line of
/// NAME), and the awk program that moves view `$view`'s block in front of view `$b`, or to the
/// end when `$b` is empty, keeping one blank line between views.
const FUNCTIONS: &str = r#"conf=LOCAL_CONF
views() { sed -n 's/^view "\(.*\)" {$/\1/p' "$conf" 2>/dev/null; }
pos() { views | grep -n -x -F "$1" | cut -d: -f1 | head -n 1; }
move() {
  tmp="$conf.firedrill-new"
  awk -v v="$view" -v b="$1" '
    NR == FNR { if ($0 == "view \"" v "\" {") g = 1; if (g) { blk = blk $0 "\n"; if ($0 == "};") g = 0 }; next }
    $0 == "view \"" v "\" {" { drop = 1; blank = 0 }
    drop { if ($0 == "};") drop = 0; next }
    $0 == "" { blank++; next }
    b != "" && $0 == "view \"" b "\" {" { for (; blank > 0; blank--) print ""; printf "%s\n", blk }
    { for (; blank > 0; blank--) print ""; print }
    END { if (b == "") printf "\n%s", blk }' "$conf" "$conf" > "$tmp"
  chown --reference="$conf" "$tmp"; chmod --reference="$conf" "$tmp"
  mv -f "$tmp" "$conf"
  named-checkconf
  rndc reconfig >/dev/null
}
"#;

impl DnsViewOrder {
    fn functions(&self) -> String {
        var("view", &self.view) + &FUNCTIONS.replace("LOCAL_CONF", LOCAL_CONF)
    }
}

/// `views=` as the scripts print it: the views in file order.
fn views(out: &Fields) -> Vec<&str> {
    out.get("views")
        .unwrap_or_default()
        .split_whitespace()
        .collect()
}

impl FaultOps for DnsViewOrder {
    fn kind(&self) -> &'static str {
        KIND.name
    }

    fn summary(&self) -> String {
        let behind = if self.behind.is_empty() {
            "the catch-all view"
        } else {
            self.behind.as_str()
        };
        format!("move view {} below {behind} in named.conf.local", self.view)
    }

    fn prepare_script(&self) -> String {
        format!(
            "{}if [ -z \"$(pos \"$view\")\" ]; then echo \"$conf has no view $view: is this the dns node, and is the lab's dns role given views:?\" >&2; exit 3; fi\n\
             echo \"views=$(views | tr '\\n' ' ')\"\n",
            self.functions()
        )
    }

    fn prepared(&mut self, out: &Fields) -> Result<(), String> {
        let views = views(out);
        let i = views
            .iter()
            .position(|v| *v == self.view)
            .ok_or_else(|| format!("named.conf.local has no view {}", self.view))?;
        let (Some(before), Some(behind)) = (views.get(i + 1), views.last()) else {
            return Err(format!(
                "view {} is already the last one in named.conf.local: no view matches after it",
                self.view
            ));
        };
        self.before = before.to_string();
        self.behind = behind.to_string();
        Ok(())
    }

    /// Only while the view is still in front of the catch-all; checked by named before the
    /// reconfig (a file named refuses would stay in place, but not be loaded).
    fn inject_script(&self) -> String {
        format!(
            "set -e\n{}{}if [ \"$(pos \"$view\")\" -lt \"$(pos \"$behind\")\" ]; then move ''; echo moved=yes; else echo moved=no; fi\n",
            self.functions(),
            var("behind", &self.behind)
        )
    }

    fn injected(&mut self, out: &Fields) -> Result<(), String> {
        match out.get("moved") {
            Some("yes") => Ok(()),
            _ => Err(format!(
                "view {} was no longer in front of {} when named.conf.local was edited; nothing changed",
                self.view, self.behind
            )),
        }
    }

    /// The file's order: named loads it at each reconfig, and the learner's fix is an edit.
    fn verify_script(&self) -> String {
        format!(
            "{}echo \"views=$(views | tr '\\n' ' ')\"\n",
            self.functions()
        )
    }

    fn verdict(&self, out: &Fields, _host_now: i64) -> Verdict {
        let views = views(out);
        let at = |name: &str| views.iter().position(|v| *v == name);
        let order = views.join(", ");
        match (at(&self.view), at(&self.behind)) {
            (Some(v), Some(b)) if v > b => Verdict {
                active: true,
                detail: format!(
                    "view {} comes after {} in named.conf.local ({order}): its nodes get {}'s answers",
                    self.view, self.behind, self.behind
                ),
            },
            (Some(_), Some(_)) => Verdict {
                active: false,
                detail: format!(
                    "view {} comes before {} in named.conf.local ({order})",
                    self.view, self.behind
                ),
            },
            _ => Verdict {
                active: false,
                detail: format!(
                    "named.conf.local does not have both views {} and {} ({order})",
                    self.view, self.behind
                ),
            },
        }
    }

    fn revert_script(&self, _host_now: Option<i64>) -> String {
        format!(
            "set -e\n{}{}v=$(pos \"$view\"); b=$(pos \"$before\")\n\
             if [ -n \"$v\" ] && [ -n \"$b\" ] && [ \"$v\" -gt \"$b\" ]; then\n\
             \x20 move \"$before\"\n\
             \x20 echo \"view $view is in front of $before again in $conf\"\n\
             fi\n",
            self.functions(),
            var("before", &self.before)
        )
    }
}

#[cfg(test)]
#[path = "dns_view_order_tests.rs"]
mod tests;
