//! Mermaid flowchart: networks as rounded boxes, nodes as boxes, one edge per address.

use super::Graph;
use std::fmt::Write;

/// Names are DNS labels (letters, digits, '-'); Mermaid ids take '_' in place of '-'.
fn id(prefix: &str, name: &str) -> String {
    format!("{prefix}_{}", name.replace('-', "_"))
}

pub(super) fn render(g: &Graph) -> String {
    let mut x = String::from("flowchart LR\n");
    for n in &g.networks {
        let _ = writeln!(
            x,
            "  {}([\"{}<br/>{}\"])",
            id("net", &n.name),
            n.name,
            n.label
        );
    }
    for m in &g.nodes {
        let mut label = m.name.clone();
        if !m.roles.is_empty() {
            let _ = write!(label, "<br/><i>{}</i>", m.roles);
        }
        for note in &m.notes {
            let _ = write!(label, "<br/>{note}");
        }
        let _ = writeln!(x, "  {}[\"{label}\"]", id("node", &m.name));
    }
    for m in &g.nodes {
        for (net, ip) in &m.links {
            let _ = writeln!(
                x,
                "  {} ---|{ip}| {}",
                id("node", &m.name),
                id("net", &g.networks[*net].name)
            );
        }
    }
    x
}
