//! `firedrill topology`: a lab's networks, nodes, addresses and roles as a picture. Pure: a
//! validated lab in, text out (Mermaid for READMEs, Graphviz DOT, or an SVG drawn here that a
//! browser shows without any other tool).

mod dot;
mod mermaid;
mod svg;

use crate::spec::ValidLab;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    Mermaid,
    Dot,
    Svg,
}

/// What every picture shows, taken once from the lab.
pub(crate) struct Graph {
    pub(crate) lab: String,
    pub(crate) networks: Vec<Net>,
    pub(crate) nodes: Vec<Machine>,
}

pub(crate) struct Net {
    pub(crate) name: String,
    /// "10.77.0.0/24 nat", "10.80.0.0/24 routed via gw".
    pub(crate) label: String,
}

pub(crate) struct Machine {
    pub(crate) name: String,
    /// "app, mysql", or empty.
    pub(crate) roles: String,
    /// (index into `networks`, address).
    pub(crate) links: Vec<(usize, String)>,
    /// Routes and a gateway other than the first network's bridge, one per line.
    pub(crate) notes: Vec<String>,
}

impl Graph {
    pub(crate) fn of(lab: &ValidLab) -> Graph {
        let networks = lab
            .networks
            .iter()
            .map(|n| Net {
                name: n.name.clone(),
                label: match &n.router {
                    Some(r) => format!("{} {} via {r}", n.cidr, n.mode),
                    None => format!("{} {}", n.cidr, n.mode),
                },
            })
            .collect();
        let nodes = lab
            .nodes
            .iter()
            .map(|n| {
                let mut notes: Vec<String> = n
                    .routes
                    .iter()
                    .map(|r| format!("{} via {}", r.to, r.via))
                    .collect();
                if lab.networks.get(n.network).map(|x| x.gateway) != Some(n.gateway) {
                    notes.push(format!("default via {}", n.gateway));
                }
                Machine {
                    name: n.name.clone(),
                    roles: n
                        .roles
                        .iter()
                        .map(|r| r.name())
                        .collect::<Vec<_>>()
                        .join(", "),
                    links: n
                        .interfaces
                        .iter()
                        .map(|i| (i.network, i.ip.to_string()))
                        .collect(),
                    notes,
                }
            })
            .collect();
        Graph {
            lab: lab.name.to_string(),
            networks,
            nodes,
        }
    }
}

pub(crate) fn render(lab: &ValidLab, format: Format) -> String {
    let g = Graph::of(lab);
    match format {
        Format::Mermaid => mermaid::render(&g),
        Format::Dot => dot::render(&g),
        Format::Svg => svg::render(&g),
    }
}

#[cfg(test)]
mod tests;
