//! Which service to load and which event log to follow: from `--url`, from `--lab`, or from the
//! only lab that is up. The lab is read through the lab handle, as every command reads it.

use super::ClientError;
use crate::lab::Lab;
use crate::paths::{Home, LabDir, LabName};

use crate::state::{LabState, StateError};

/// Where the traffic goes, and the lab whose events to show (if any).
#[derive(Debug)]
pub(crate) struct Target {
    pub(crate) url: String,
    pub(crate) lab: Option<LabDir>,
}

/// The service URL of a lab: its front door (`roles::front_door`: nginx, else haproxy, else an
/// app node on the port `up` gave it).
pub(crate) fn lab_url(state: &LabState) -> Result<String, ClientError> {
    let (node, port) =
        crate::roles::front_door(state.nodes()).ok_or_else(|| ClientError::LabHasNoService {
            lab: state.name.to_string(),
        })?;
    Ok(match port {
        80 => format!("http://{}/todos", node.ip),
        p => format!("http://{}:{p}/todos", node.ip),
    })
}

fn load_state(home: &Home, lab: &LabName) -> Result<(LabDir, LabState), ClientError> {
    match Lab::at(home, lab) {
        Ok(lab) => Ok((lab.dir, lab.state)),
        Err(StateError::NotFound(_)) => Err(ClientError::LabNotUp {
            lab: lab.to_string(),
        }),
        Err(e) => Err(ClientError::LabState(e)),
    }
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
        None => lab_url(&state)?,
    };
    Ok(Target {
        url,
        lab: Some(dir),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Role;

    fn lab(nodes: &[(&str, &str, &[Role], Option<u16>)]) -> LabState {
        let mut state = crate::state::sample();
        state.plan.nodes = nodes
            .iter()
            .map(|(name, ip, roles, port)| {
                let mut n = crate::plan::testing::node(name, roles);
                n.ip = ip.parse().expect("an address");
                n.app_port = *port;
                n
            })
            .collect();
        state
    }

    #[test]
    fn haproxy_first_then_app_on_its_port() {
        let three_tier = lab(&[
            ("app1", "10.78.0.11", &[Role::App], Some(8080)),
            ("lb", "10.78.0.10", &[Role::Haproxy], None),
            ("db", "10.78.0.20", &[Role::Mysql], None),
        ]);
        assert_eq!(
            lab_url(&three_tier).ok(),
            Some("http://10.78.0.10/todos".into())
        );
        // A single server on port 80 (labs/single-server.yaml) is reached on port 80.
        let single = lab(&[("one", "10.79.0.5", &[Role::App, Role::Mysql], Some(80))]);
        assert_eq!(lab_url(&single).ok(), Some("http://10.79.0.5/todos".into()));
        let alone = lab(&[("one", "10.79.0.5", &[Role::App, Role::Mysql], Some(8080))]);
        assert_eq!(
            lab_url(&alone).ok(),
            Some("http://10.79.0.5:8080/todos".into())
        );
    }

    #[test]
    fn a_lab_without_a_service_is_an_error() {
        let db_only = lab(&[("db", "10.0.0.2", &[Role::Mysql], None)]);
        assert_eq!(
            lab_url(&db_only).map_err(|e| e.to_string()),
            Err("lab minimal has no haproxy or app node to send requests to; pass --url http://HOST:PORT/PATH".into())
        );
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
            let mut state = lab(&[("lb", "10.78.0.10", &[Role::Haproxy], None)]);
            state.name = name.into();
            state.save(&home.lab(&name.into())).expect("save");
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
