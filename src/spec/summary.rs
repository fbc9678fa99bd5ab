//! What `firedrill validate` prints for a valid lab: what `up` would build.

use super::ValidLab;
use std::fmt;

impl fmt::Display for ValidLab {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}: lab `{}` is valid", self.source.display(), self.name)?;
        for net in &self.networks {
            writeln!(
                f,
                "network {}: {} {}, gateway {}, domain {}",
                net.name, net.cidr, net.mode, net.gateway, net.domain
            )?;
        }
        for node in &self.nodes {
            let roles: Vec<&str> = node.roles.iter().map(|r| r.name()).collect();
            write!(
                f,
                "node {}: {} on {}, roles [{}], image {}, {} cpu, {} MiB, {} GiB",
                node.name,
                node.ip,
                self.networks
                    .get(node.network)
                    .map_or("?", |n| n.name.as_str()),
                roles.join(", "),
                node.image,
                node.cpus,
                node.memory_mib,
                node.disk_gib
            )?;
            if let Some(db) = &node.app.database {
                let (port, release) = (node.app.port, node.app.release);
                write!(f, ", app {release} on port {port} using {db}")?;
            }
            if !node.haproxy.backends.is_empty() {
                write!(f, ", balancing {}", node.haproxy.backends.join(", "))?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}
