//! An SVG a browser shows: each network a horizontal bus, each node a box in its own column
//! above its first network, with a line down to every network it is on and its address there.

use super::Graph;
use std::fmt::Write;

const COL: usize = 190;
const LEFT: usize = 30;
/// Room left of the first node for the networks' names, so no line crosses them.
const GUTTER: usize = 190;
const TOP: usize = 50;
const BOX_W: usize = 150;
const BOX_H: usize = 64;
const ROW: usize = 170;

fn esc(s: &str) -> String {
    quick_xml::escape::escape(s).into_owned()
}

pub(super) fn render(g: &Graph) -> String {
    let width = GUTTER + LEFT + COL * g.nodes.len().max(1);
    // Bus k at bus_y(k); a node's box sits above the bus of its first network.
    let bus_y = |k: usize| TOP + BOX_H + 60 + k * ROW;
    let height = bus_y(g.networks.len().saturating_sub(1)) + 60;
    let mut x = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         viewBox=\"0 0 {width} {height}\" font-family=\"sans-serif\" font-size=\"12\">\n"
    );
    let _ = writeln!(
        x,
        "  <title>lab {}</title>\n  <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n  \
         <text x=\"{LEFT}\" y=\"24\" font-size=\"16\" font-weight=\"bold\">lab {}</text>",
        esc(&g.lab),
        esc(&g.lab)
    );
    for (k, n) in g.networks.iter().enumerate() {
        let y = bus_y(k);
        let _ = writeln!(
            x,
            "  <g class=\"network\">\n    <line x1=\"{LEFT}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\" \
             stroke=\"#2563eb\" stroke-width=\"4\"/>\n    <text x=\"{LEFT}\" y=\"{}\" \
             fill=\"#1e3a8a\" font-weight=\"bold\" font-size=\"14\">{}</text>\n    \
             <text x=\"{LEFT}\" y=\"{}\" fill=\"#1e3a8a\">{}</text>\n  </g>",
            width - LEFT,
            y - 24,
            esc(&n.name),
            y - 9,
            esc(&n.label)
        );
    }
    for (c, m) in g.nodes.iter().enumerate() {
        let bx = GUTTER + c * COL + (COL - BOX_W) / 2;
        let first = m.links.first().map_or(0, |(n, _)| *n);
        let by = bus_y(first) - 60 - BOX_H;
        let cx = bx + BOX_W / 2;
        let _ = writeln!(x, "  <g class=\"node\">");
        if let Some(last) = m.links.iter().map(|(n, _)| *n).max() {
            let _ = writeln!(
                x,
                "    <line x1=\"{cx}\" y1=\"{}\" x2=\"{cx}\" y2=\"{}\" stroke=\"#475569\" stroke-width=\"2\"/>",
                by + BOX_H,
                bus_y(last)
            );
        }
        for (net, ip) in &m.links {
            let y = bus_y(*net);
            let _ = writeln!(
                x,
                "    <circle cx=\"{cx}\" cy=\"{y}\" r=\"5\" fill=\"#475569\"/>\n    \
                 <text x=\"{}\" y=\"{}\" fill=\"#334155\">{}</text>",
                cx + 8,
                y - 8,
                esc(ip)
            );
        }
        let _ = writeln!(
            x,
            "    <rect x=\"{bx}\" y=\"{by}\" width=\"{BOX_W}\" height=\"{BOX_H}\" rx=\"6\" \
             fill=\"#f8fafc\" stroke=\"#0f172a\"/>\n    <text x=\"{cx}\" y=\"{}\" \
             text-anchor=\"middle\" font-weight=\"bold\">{}</text>",
            by + 18,
            esc(&m.name)
        );
        let lines = std::iter::once(&m.roles)
            .filter(|r| !r.is_empty())
            .chain(&m.notes);
        for (l, line) in lines.enumerate() {
            let _ = writeln!(
                x,
                "    <text x=\"{cx}\" y=\"{}\" text-anchor=\"middle\" font-size=\"11\" \
                 fill=\"#334155\">{}</text>",
                by + 34 + l * 13,
                esc(line)
            );
        }
        let _ = writeln!(x, "  </g>");
    }
    x.push_str("</svg>\n");
    x
}
