//! `firedrill open PAGE`: the URL of a web page a role of the lab serves (`prometheus`,
//! `haproxy stats`, ...). When the lab's network is not reachable from here (libvirtd, and so
//! the lab's bridge, runs in another network namespace), it also says how to forward a local
//! port to it.

use super::forward::{ForwardError, Netns, QEMU_PID_DIR};
use super::{Lab, LabError};
use crate::paths::Home;
use crate::plan::NodePlan;
use crate::roles::def;
use std::path::{Path, PathBuf};

/// A page found on a node of the lab.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Found {
    pub(crate) node: String,
    pub(crate) port: u16,
    pub(crate) url: String,
}

/// Every page the lab's nodes serve, by name (`what`), in node order.
pub(crate) fn pages<'a>(
    nodes: impl IntoIterator<Item = &'a NodePlan>,
) -> Vec<(&'static str, Found)> {
    nodes
        .into_iter()
        .flat_map(|n| {
            n.roles
                .iter()
                .flat_map(|r| def(*r).pages.iter())
                .filter_map(|p| {
                    let port = p.port.or(n.app_port)?;
                    Some((
                        p.what,
                        Found {
                            node: n.name.clone(),
                            port,
                            url: format!("http://{}:{port}{}", n.ip, p.path),
                        },
                    ))
                })
        })
        .collect()
}

/// What to print: the URL, and when the lab's network is not reachable from here, how to
/// reach it through a forwarded local port.
pub(crate) fn say(found: &Found, reachable: bool) -> (String, Option<String>) {
    let hint = (!reachable).then(|| {
        format!(
            "the lab's network is not reachable from here (libvirtd runs in another network \
             namespace); forward a local port to it:\n  sudo firedrill forward {port}:{node}:{port}\n\
             then open http://127.0.0.1:{port}{path}",
            port = found.port,
            node = found.node,
            path = found
                .url
                .splitn(4, '/')
                .nth(3)
                .map_or("/".to_string(), |p| format!("/{p}")),
        )
    });
    (found.url.clone(), hint)
}

/// `firedrill open`.
pub(crate) fn open(home: &Home, lab: Option<&str>, page: &str) -> Result<(), ForwardError> {
    let lab = Lab::open(home, lab).map_err(LabError::from)?;
    let all = pages(lab.state.nodes());
    let Some((_, found)) = all.iter().find(|(what, _)| *what == page) else {
        let mut names: Vec<&str> = all.iter().map(|(what, _)| *what).collect();
        names.dedup();
        return Err(ForwardError::NoPage {
            lab: lab.name().to_string(),
            page: page.to_string(),
            pages: names.iter().map(|s| s.to_string()).collect(),
        });
    };
    let node = lab.require_node(&found.node).map_err(LabError::from)?;
    let pid_file = Path::new(QEMU_PID_DIR).join(format!("{}.pid", node.domain.name));
    // Not running, or a namespace we may not look at: say how to reach it either way.
    let reachable = std::fs::read_to_string(&pid_file)
        .ok()
        .and_then(|p| p.trim().parse::<u32>().ok())
        .and_then(|pid| Netns::of_path(&PathBuf::from(format!("/proc/{pid}/ns/net"))).ok())
        .is_some_and(|ns| !ns.is_other());
    let (url, hint) = say(found, reachable);
    println!("{url}");
    if let Some(hint) = hint {
        eprintln!("{hint}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::roles::Role;
    use std::net::Ipv4Addr;

    fn node(name: &str, ip: [u8; 4], roles: &[Role], app_port: Option<u16>) -> NodePlan {
        let mut n = crate::plan::testing::node(name, roles);
        n.ip = Ipv4Addr::from(ip);
        n.app_port = app_port;
        n
    }

    #[test]
    fn each_page_is_found_on_its_node_with_its_port() {
        let nodes = [
            node("lb", [10, 90, 0, 10], &[Role::Haproxy], None),
            node("web", [10, 90, 0, 11], &[Role::App], Some(8080)),
            node("mon", [10, 90, 0, 30], &[Role::Monitor], None),
        ];
        let all = pages(&nodes);
        let get = |what: &str| all.iter().find(|(w, _)| *w == what).map(|(_, f)| f.clone());
        assert_eq!(
            get("prometheus"),
            Some(Found {
                node: "mon".into(),
                port: 9090,
                url: "http://10.90.0.30:9090/".into()
            })
        );
        assert_eq!(
            get("haproxy stats").map(|f| f.url),
            Some("http://10.90.0.10:8404/".into())
        );
        assert_eq!(
            get("todo app").map(|f| f.url),
            Some("http://10.90.0.11:8080/todos".into())
        );
    }

    #[test]
    fn an_unreachable_network_gets_the_forward_to_run() {
        let found = Found {
            node: "mon".into(),
            port: 9090,
            url: "http://10.90.0.30:9090/".into(),
        };
        assert_eq!(say(&found, true), ("http://10.90.0.30:9090/".into(), None));
        let (url, hint) = say(&found, false);
        assert_eq!(url, "http://10.90.0.30:9090/");
        let hint = hint.expect("a hint");
        assert!(
            hint.contains(
                "\n  sudo firedrill forward 9090:mon:9090\nthen open http://127.0.0.1:9090/"
            ),
            "{hint}"
        );
    }
}
