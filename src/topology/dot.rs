//! Graphviz DOT (`dot -Tpng`): networks as ellipses, nodes as boxes, one edge per address.

use super::Graph;
use std::fmt::Write;

pub(super) fn render(g: &Graph) -> String {
    let mut x = format!(
        "graph \"{}\" {{\n  rankdir=LR;\n  node [fontname=\"sans-serif\"];\n  edge [fontname=\"sans-serif\", fontsize=10];\n",
        g.lab
    );
    for n in &g.networks {
        let _ = writeln!(
            x,
            "  \"net:{0}\" [shape=ellipse, style=filled, fillcolor=\"#dbeafe\", label=\"{0}\\n{1}\"];",
            n.name, n.label
        );
    }
    for m in &g.nodes {
        let mut label = m.name.clone();
        for line in std::iter::once(&m.roles)
            .filter(|r| !r.is_empty())
            .chain(&m.notes)
        {
            let _ = write!(label, "\\n{line}");
        }
        let _ = writeln!(x, "  \"node:{}\" [shape=box, label=\"{label}\"];", m.name);
    }
    for m in &g.nodes {
        for (net, ip) in &m.links {
            let _ = writeln!(
                x,
                "  \"node:{}\" -- \"net:{}\" [label=\"{ip}\"];",
                m.name, g.networks[*net].name
            );
        }
    }
    x.push_str("}\n");
    x
}
