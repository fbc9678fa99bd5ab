//! What `firedrill validate` prints for a valid lab: what `up` would build.

use super::ValidLab;
use std::fmt;

impl fmt::Display for ValidLab {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}: lab `{}` is valid", self.source.display(), self.name)?;
        for net in &self.networks {
            write!(
                f,
                "network {}: {} {}, gateway {}, domain {}",
                net.name, net.cidr, net.mode, net.gateway, net.domain
            )?;
            match &net.router {
                Some(router) => writeln!(f, ", routed through {router}")?,
                None => writeln!(f)?,
            }
        }
        for node in &self.nodes {
            let roles: Vec<&str> = node.roles.iter().map(|r| r.name()).collect();
            let addresses: Vec<String> = node
                .interfaces
                .iter()
                .map(|i| {
                    let net = self
                        .networks
                        .get(i.network)
                        .map_or("?", |n| n.name.as_str());
                    format!("{} on {net}", i.ip)
                })
                .collect();
            write!(
                f,
                "node {}: {}, roles [{}], image {}, {} cpu, {} MiB, {} GiB",
                node.name,
                addresses.join(", "),
                roles.join(", "),
                node.image,
                node.cpus,
                node.memory_mib,
                node.disk_gib
            )?;
            if let Some(app) = node.app()
                && let Some(db) = &app.database
            {
                let (port, release) = (app.port, app.release);
                write!(f, ", app {release} on port {port} using {db}")?;
            }
            if let Some(h) = node.haproxy().filter(|h| !h.backends.is_empty()) {
                write!(f, ", balancing {}", h.backends.join(", "))?;
            }
            for route in &node.routes {
                write!(f, ", route {} via {}", route.to, route.via)?;
            }
            let bridge = self.networks.get(node.network).map(|n| n.gateway);
            if bridge != Some(node.gateway) {
                write!(f, ", gateway {}", node.gateway)?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}
