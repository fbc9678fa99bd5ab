//! Which service to load and which event log to follow: from `--url`, from `--lab`, or from the
//! only lab that is up. The client reads a small view of the lab state, so that it keeps working
//! as the state file grows fields.

use super::ClientError;
use crate::paths::{Home, LabDir, LabName};
use serde::Deserialize;
use std::net::IpAddr;

/// The port of the todo app when the state does not say.
const DEFAULT_APP_PORT: u16 = 8080;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct LabStateView {
    pub(crate) name: String,
    pub(crate) nodes: Vec<NodeView>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct NodeView {
    pub(crate) name: String,
    pub(crate) ip: String,
    pub(crate) roles: Vec<String>,
    /// The port the todo app listens on (app nodes).
    pub(crate) app_port: Option<u16>,
}

/// Where the traffic goes, and the lab whose events to show (if any).
#[derive(Debug)]
pub(crate) struct Target {
    pub(crate) url: String,
    pub(crate) lab: Option<LabDir>,
}

/// The service URL of a lab: its first haproxy node on port 80, else its first app node on the
/// app port.
pub(crate) fn lab_url(lab: &str, state: &LabStateView) -> Result<String, ClientError> {
    let first = |role: &str| {
        state
            .nodes
            .iter()
            .find(|n| n.roles.iter().any(|r| r == role))
    };
    let (node, port) = match (first("haproxy"), first("app")) {
        (Some(lb), _) => (lb, None),
        (None, Some(app)) => (app, Some(app.app_port.unwrap_or(DEFAULT_APP_PORT))),
        (None, None) => {
            return Err(ClientError::LabHasNoService {
                lab: lab.to_string(),
            });
        }
    };
    // Tolerate `10.78.0.10/24`: the address is what matters here.
    let ip_text = node.ip.split('/').next().unwrap_or_default();
    let ip: IpAddr = ip_text.parse().map_err(|_| ClientError::LabNodeAddress {
        lab: lab.to_string(),
        node: node.name.clone(),
        ip: node.ip.clone(),
    })?;
    let host = match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    };
    Ok(match port {
        None => format!("http://{host}/todos"),
        Some(p) => format!("http://{host}:{p}/todos"),
    })
}

fn load_state(home: &Home, lab: &LabName) -> Result<(LabDir, LabStateView), ClientError> {
    let dir = home.lab(lab);
    let path = dir.state_file();
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ClientError::LabNotUp {
                lab: lab.to_string(),
            });
        }
        Err(source) => return Err(ClientError::LabStateRead { path, source }),
    };
    let state = serde_json::from_str(&text)
        .map_err(|source| ClientError::LabStateParse { path, source })?;
    Ok((dir, state))
}

/// The names of the labs that have a state file, sorted.
fn labs_up(home: &Home) -> Vec<LabName> {
    crate::state::lab_names(home)
        .unwrap_or_default()
        .into_iter()
        .filter(|name| home.lab(name).state_file().is_file())
        .collect()
}

/// `--url` wins for the traffic; `--lab` (or the only lab up, when neither is given) supplies the
/// event log and, without `--url`, the URL.
pub(crate) fn resolve(
    home: &Home,
    lab: Option<&str>,
    url: Option<&str>,
) -> Result<Target, ClientError> {
    let lab_name = match (lab, url) {
        (Some(l), _) => Some(LabName::parse(l).map_err(ClientError::BadLabName)?),
        (None, Some(_)) => None,
        (None, None) => {
            let mut up = labs_up(home);
            match up.len() {
                0 => return Err(ClientError::NoLabUp),
                1 => up.pop(),
                _ => {
                    let names: Vec<&str> = up.iter().map(|n| n.as_str()).collect();
                    return Err(ClientError::SeveralLabsUp {
                        labs: names.join(", "),
                    });
                }
            }
        }
    };
    let Some(name) = lab_name else {
        return Ok(Target {
            url: url.unwrap_or_default().to_string(),
            lab: None,
        });
    };
    let (dir, state) = load_state(home, &name)?;
    let url = match url {
        Some(u) => u.to_string(),
        None => lab_url(&name, &state)?,
    };
    Ok(Target {
        url,
        lab: Some(dir),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(json: &str) -> LabStateView {
        serde_json::from_str(json).expect("parses")
    }

    #[test]
    fn haproxy_first_then_app() {
        let three_tier = state(
            r#"{"name":"three-tier","nodes":[
                {"name":"app1","ip":"10.78.0.11","roles":["app"]},
                {"name":"lb","ip":"10.78.0.10","roles":["haproxy"]},
                {"name":"db","ip":"10.78.0.20","roles":["mysql"],"memory":512}],
              "network":{"cidr":"10.78.0.0/24"}}"#,
        );
        assert_eq!(
            lab_url("three-tier", &three_tier).ok(),
            Some("http://10.78.0.10/todos".into())
        );
        let single =
            state(r#"{"nodes":[{"name":"one","ip":"10.79.0.5/24","roles":["app","mysql"]}]}"#);
        assert_eq!(
            lab_url("single", &single).ok(),
            Some("http://10.79.0.5:8080/todos".into())
        );
        let port =
            state(r#"{"nodes":[{"name":"a","ip":"127.0.0.1","roles":["app"],"app_port":9000}]}"#);
        assert_eq!(
            lab_url("p", &port).ok(),
            Some("http://127.0.0.1:9000/todos".into())
        );
    }

    #[test]
    fn reads_the_port_from_the_state_that_up_writes() {
        // The view must follow the real state file: a single server on port 80 (as in
        // labs/single-server.yaml) is reached on port 80, not on the default.
        let mut lab = crate::state::sample();
        lab.nodes[0].app_port = Some(80);
        let json = serde_json::to_string(&lab).expect("serialises");
        let ip = lab.nodes[0].ip;
        assert_eq!(
            lab_url("minimal", &state(&json)).ok(),
            Some(format!("http://{ip}:80/todos"))
        );
    }

    #[test]
    fn labs_without_a_service_or_address_are_errors() {
        let db_only = state(r#"{"nodes":[{"name":"db","ip":"10.0.0.2","roles":["mysql"]}]}"#);
        assert_eq!(
            lab_url("d", &db_only).map_err(|e| e.to_string()),
            Err("lab d has no haproxy or app node to send requests to; pass --url http://HOST:PORT/PATH".into())
        );
        let no_ip = state(r#"{"nodes":[{"name":"lb","roles":["haproxy"]}]}"#);
        assert!(lab_url("n", &no_ip).is_err());
    }

    #[test]
    fn resolve_picks_the_only_lab_and_refuses_guesses() {
        let dir = tempfile::tempdir().expect("tempdir");
        let home = Home::at(dir.path());
        assert_eq!(
            resolve(&home, None, None)
                .map(|_| ())
                .map_err(|e| e.to_string()),
            Err("no lab is up: run `firedrill up LAB.yaml`, or pass --url".into())
        );
        assert_eq!(
            resolve(&home, Some("demo"), None)
                .map(|_| ())
                .map_err(|e| e.to_string()),
            Err("lab demo is not up: run `firedrill up LAB.yaml`".into())
        );
        let write = |name: &str| {
            let lab = home.lab(&(*name).into());
            std::fs::create_dir_all(lab.dir()).expect("mkdir");
            std::fs::write(
                lab.state_file(),
                r#"{"nodes":[{"name":"lb","ip":"10.78.0.10","roles":["haproxy"]}]}"#,
            )
            .expect("write");
        };
        write("demo");
        std::fs::create_dir_all(home.lab(&"down".into()).dir()).expect("mkdir"); // no state: not up
        let t = resolve(&home, None, None).expect("one lab");
        assert_eq!(t.url, "http://10.78.0.10/todos");
        assert_eq!(
            t.lab.map(|l| l.dir().to_path_buf()),
            Some(home.lab(&"demo".into()).dir().to_path_buf())
        );

        let t = resolve(&home, Some("demo"), Some("http://127.0.0.1:1/x")).expect("both");
        assert_eq!(t.url, "http://127.0.0.1:1/x");
        assert!(t.lab.is_some());

        let t = resolve(&home, None, Some("http://127.0.0.1:1/x")).expect("url only");
        assert!(t.lab.is_none());

        write("other");
        assert_eq!(
            resolve(&home, None, None)
                .map(|_| ())
                .map_err(|e| e.to_string()),
            Err("several labs are up (demo, other): pass --lab NAME".into())
        );
    }
}
