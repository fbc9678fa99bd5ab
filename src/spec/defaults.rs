//! Built-in defaults and how a node inherits them: the node's own value, else `defaults:`, else
//! the built-in one. Each effective value remembers where it came from, so a problem with an
//! inherited value points at the line that set it.

use super::{At, Lab, Node, Pos};

pub(crate) const DEFAULT_IMAGE: &str = "debian-12";
pub(crate) const DEFAULT_CPUS: u32 = 1;
pub(crate) const DEFAULT_MEMORY_MIB: u64 = 512;
pub(crate) const DEFAULT_DISK_GIB: u64 = 8;
pub(crate) const DEFAULT_APP_PORT: u16 = 8080;
/// Automatic addresses start this far above the gateway, so `.2` to `.9` stay free for
/// addresses picked by hand and adding one never shifts the others.
pub(crate) const AUTO_IP_OFFSET: u32 = 9;

pub(crate) fn default_domain(lab_name: &str) -> String {
    format!("{lab_name}.lab")
}

/// A node's value after inheritance, and where the file set it (`None`: built-in default).
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Effective<T> {
    pub value: T,
    pub pos: Option<Pos>,
    pub path: String,
}

fn pick<T: Clone>(
    own: &Option<At<T>>,
    node_path: &str,
    inherited: &Option<At<T>>,
    key: &str,
    builtin: T,
) -> Effective<T> {
    match (own, inherited) {
        (Some(at), _) => Effective {
            value: at.value.clone(),
            pos: Some(at.pos),
            path: format!("{node_path}.{key}"),
        },
        (None, Some(at)) => Effective {
            value: at.value.clone(),
            pos: Some(at.pos),
            path: format!("defaults.{key}"),
        },
        (None, None) => Effective {
            value: builtin,
            pos: None,
            path: format!("defaults.{key}"),
        },
    }
}

/// The resources of node `i` with defaults applied.
pub(super) struct Resources {
    pub image: Effective<String>,
    pub cpus: Effective<u32>,
    pub memory_mib: Effective<u64>,
    pub disk_gib: Effective<u64>,
}

/// The values of `defaults:` themselves, so they are checked even where every node sets its own.
pub(super) fn of_defaults(lab: &Lab) -> Resources {
    let d = &lab.defaults;
    Resources {
        image: pick(&None, "", &d.image, "image", DEFAULT_IMAGE.to_string()),
        cpus: pick(&None, "", &d.cpus, "cpus", DEFAULT_CPUS),
        memory_mib: pick(&None, "", &d.memory, "memory", DEFAULT_MEMORY_MIB),
        disk_gib: pick(&None, "", &d.disk, "disk", DEFAULT_DISK_GIB),
    }
}

pub(super) fn resources(lab: &Lab, i: usize, node: &Node) -> Resources {
    let path = format!("nodes[{i}]");
    let d = &lab.defaults;
    Resources {
        image: pick(
            &node.image,
            &path,
            &d.image,
            "image",
            DEFAULT_IMAGE.to_string(),
        ),
        cpus: pick(&node.cpus, &path, &d.cpus, "cpus", DEFAULT_CPUS),
        memory_mib: pick(&node.memory, &path, &d.memory, "memory", DEFAULT_MEMORY_MIB),
        disk_gib: pick(&node.disk, &path, &d.disk, "disk", DEFAULT_DISK_GIB),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Defaults;
    use std::path::PathBuf;

    fn at<T>(value: T, line: usize) -> Option<At<T>> {
        Some(At {
            value,
            pos: Pos { line, column: 5 },
        })
    }

    fn node(memory: Option<At<u64>>) -> Node {
        Node {
            pos: Pos { line: 9, column: 5 },
            name: At {
                value: "web".to_string(),
                pos: Pos {
                    line: 9,
                    column: 11,
                },
            },
            roles: Vec::new(),
            ip: None,
            network: None,
            networks: None,
            routes: Vec::new(),
            gateway: None,
            image: None,
            cpus: None,
            memory,
            disk: None,
            role_options: Vec::new(),
        }
    }

    fn lab(defaults: Defaults, nodes: Vec<Node>) -> Lab {
        let p = Pos { line: 1, column: 1 };
        Lab {
            source: PathBuf::from("x.yaml"),
            name: At {
                value: "x".to_string(),
                pos: p,
            },
            defaults,
            networks: At {
                value: Vec::new(),
                pos: p,
            },
            nodes: At {
                value: nodes,
                pos: p,
            },
        }
    }

    #[test]
    fn node_value_beats_defaults_beats_builtin() {
        let defaults = Defaults {
            image: None,
            cpus: at(2, 3),
            memory: at(1024, 4),
            disk: None,
        };
        let l = lab(defaults, vec![node(at(384, 12))]);
        let res = resources(&l, 0, &l.nodes.value[0]);
        assert_eq!(
            res.memory_mib,
            Effective {
                value: 384,
                pos: Some(Pos {
                    line: 12,
                    column: 5
                }),
                path: "nodes[0].memory".to_string()
            }
        );
        assert_eq!(
            res.cpus,
            Effective {
                value: 2,
                pos: Some(Pos { line: 3, column: 5 }),
                path: "defaults.cpus".to_string()
            }
        );
        assert_eq!(
            res.image,
            Effective {
                value: "debian-12".to_string(),
                pos: None,
                path: "defaults.image".to_string()
            }
        );
        assert_eq!(res.disk_gib.value, 8);
    }

    #[test]
    fn domain_defaults_to_lab_name_dot_lab() {
        assert_eq!(default_domain("minimal"), "minimal.lab");
    }
}
