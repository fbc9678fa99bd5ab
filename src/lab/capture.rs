//! `firedrill capture NODE -o FILE.pcap`: a packet capture on a node (tcpdump there, over the
//! lab's SSH), written here as a pcap file that Wireshark and `tcpdump -r` open. Bounded in
//! time and packets; firedrill's own SSH traffic with the node is left out of the capture (it
//! carries the capture itself, and would feed on itself). The file is created new: an existing
//! file is never overwritten.

use super::{Lab, LabError};
use crate::paths::Home;
use crate::remote::Remote;
use std::io::Write;
use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

/// What to capture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Capture {
    /// An interface of the node, or `any`.
    pub(crate) iface: String,
    /// A pcap filter expression (tcpdump's), if any.
    pub(crate) filter: Option<String>,
    pub(crate) duration: Duration,
    pub(crate) max_packets: u64,
}

/// The longest capture (`--for`), so a forgotten one ends by itself.
pub(crate) const MAX_DURATION: Duration = Duration::from_secs(600);

#[derive(Debug, thiserror::Error)]
pub(crate) enum CaptureError {
    #[error(transparent)]
    Lab(#[from] LabError),
    #[error("{0}\n  hint: is the node up? `firedrill status` says")]
    Remote(#[from] crate::remote::RemoteError),
    #[error("{0}\n  hint: {1}")]
    Usage(String, String),
    #[error("{node}: the capture failed (exit {status}): {stderr}\n  hint: {hint}")]
    Failed {
        node: String,
        status: u32,
        stderr: String,
        hint: String,
    },
    #[error("cannot write {path}: {message}\n  hint: {hint}")]
    Write {
        path: String,
        message: String,
        hint: String,
    },
}

impl CaptureError {
    pub(crate) fn is_usage(&self) -> bool {
        match self {
            CaptureError::Usage(..) => true,
            CaptureError::Lab(e) => e.is_usage(),
            _ => false,
        }
    }
}

impl Capture {
    /// Checks what the user gave before anything runs.
    pub(crate) fn check(&self) -> Result<(), CaptureError> {
        let iface_ok = !self.iface.is_empty()
            && self.iface.len() <= 15
            && self
                .iface
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.@".contains(c));
        if !iface_ok {
            return Err(CaptureError::Usage(
                format!("`{}` is not an interface name", self.iface),
                "name one of the node's interfaces (`firedrill ssh NODE -- ip -br link`), or `any`"
                    .into(),
            ));
        }
        if self.duration.is_zero() || self.duration > MAX_DURATION {
            return Err(CaptureError::Usage(
                format!("a capture of {}s", self.duration.as_secs()),
                format!("capture for 1s to {}s", MAX_DURATION.as_secs()),
            ));
        }
        if self.max_packets == 0 {
            return Err(CaptureError::Usage(
                "--count 0 captures nothing".into(),
                "give a count of packets, or leave it out".into(),
            ));
        }
        Ok(())
    }

    /// The filter tcpdump gets: the user's, without firedrill's SSH traffic from `hosts` (the
    /// addresses this host has on the node's networks).
    pub(crate) fn filter_expr(&self, hosts: &[Ipv4Addr]) -> String {
        let mine = hosts
            .iter()
            .map(|h| format!("host {h}"))
            .collect::<Vec<_>>()
            .join(" or ");
        let not_ssh = if mine.is_empty() {
            String::new()
        } else {
            format!("not (tcp port 22 and ({mine}))")
        };
        match (self.filter.as_deref().map(str::trim), not_ssh.is_empty()) {
            (Some(f), true) if !f.is_empty() => f.to_string(),
            (Some(f), false) if !f.is_empty() => format!("({f}) and {not_ssh}"),
            _ => not_ssh,
        }
    }

    /// The command run as root on the node: pcap on stdout, tcpdump's own lines on stderr.
    /// `timeout` ends it with SIGINT, as Ctrl-C would, so tcpdump flushes and says how many
    /// packets it kept.
    pub(crate) fn script(&self, hosts: &[Ipv4Addr]) -> String {
        format!(
            "command -v tcpdump >/dev/null || {{ echo 'this node has no tcpdump' >&2; exit 3; }}\n\
             timeout --signal=INT {secs} tcpdump -U -n -s 262144 -c {count} -i {iface} -w - -- {filter}\n\
             s=$?; [ $s -eq 124 ] && s=0; exit $s\n",
            secs = self.duration.as_secs(),
            count = self.max_packets,
            iface = crate::ssh::quote(&self.iface),
            filter = crate::ssh::quote(&self.filter_expr(hosts)),
        )
    }
}

/// Whether `data` starts like a pcap file (microsecond or nanosecond, either byte order).
pub(crate) fn is_pcap(data: &[u8]) -> bool {
    const MAGIC: [[u8; 4]; 4] = [
        [0xd4, 0xc3, 0xb2, 0xa1],
        [0xa1, 0xb2, 0xc3, 0xd4],
        [0x4d, 0x3c, 0xb2, 0xa1],
        [0xa1, 0xb2, 0x3c, 0x4d],
    ];
    data.len() >= 24 && MAGIC.iter().any(|m| data[..4] == m[..])
}

/// Runs `capture` on `remote` and returns the pcap bytes and tcpdump's summary lines.
pub(crate) async fn run<R: Remote>(
    remote: &R,
    capture: &Capture,
    hosts: &[Ipv4Addr],
) -> Result<(Vec<u8>, String), CaptureError> {
    let out = remote.run_as_root(&capture.script(hosts), None).await?;
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    if !out.success() || !is_pcap(&out.stdout) {
        let hint = if stderr.contains("No such device") || stderr.contains("doesn't exist") {
            format!(
                "list the node's interfaces with `firedrill ssh {} -- ip -br link`",
                remote.node()
            )
        } else if stderr.contains("syntax error") || stderr.contains("parse error") {
            "check the --filter expression (tcpdump's pcap-filter syntax, e.g. 'tcp port 80')"
                .into()
        } else {
            "run tcpdump by hand with `firedrill ssh NODE` to see what it says".into()
        };
        return Err(CaptureError::Failed {
            node: remote.node().to_string(),
            status: out.status,
            stderr,
            hint,
        });
    }
    Ok((out.stdout, stderr))
}

/// `firedrill capture`.
pub(crate) async fn capture(
    home: &Home,
    lab: Option<&str>,
    node: &str,
    capture: &Capture,
    output: &Path,
) -> Result<(), CaptureError> {
    capture.check()?;
    if output.exists() || output.is_symlink() {
        return Err(CaptureError::Usage(
            format!("{} exists", output.display()),
            "firedrill never overwrites a file: name a new one, or remove it first".into(),
        ));
    }
    let lab = Lab::open(home, lab).map_err(LabError::from)?;
    let n = lab.require_node(node).map_err(LabError::from)?;
    // This host's addresses on the lab's networks: the networks' gateways.
    let hosts: Vec<Ipv4Addr> = lab.state.plan.networks.iter().map(|n| n.gateway).collect();
    let session = lab
        .shell(n, crate::ssh::Purpose::Command)
        .await
        .map_err(LabError::from)?;
    eprintln!(
        "capturing on {node} ({}) for {}s, at most {} packets ...",
        capture.iface,
        capture.duration.as_secs(),
        capture.max_packets
    );
    let result = run(&session, capture, &hosts).await;
    session.close().await;
    let (pcap, said) = result?;
    let write = |e: std::io::Error| CaptureError::Write {
        path: output.display().to_string(),
        message: e.to_string(),
        hint: "name a file in a directory you can write to".into(),
    };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(output)
        .map_err(write)?;
    file.write_all(&pcap).map_err(write)?;
    for line in said.lines().filter(|l| !l.trim().is_empty()) {
        eprintln!("  {node}: {line}");
    }
    println!(
        "wrote {} ({} bytes): open it in Wireshark, or `tcpdump -nr {}`",
        output.display(),
        pcap.len(),
        output.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remote::fake::{FakeRemote, contains, ok};

    fn cap(filter: Option<&str>) -> Capture {
        Capture {
            iface: "any".into(),
            filter: filter.map(str::to_string),
            duration: Duration::from_secs(30),
            max_packets: 10_000,
        }
    }

    #[test]
    fn firedrills_own_ssh_is_left_out_of_every_capture() {
        let gw: Vec<Ipv4Addr> = vec!["10.77.0.1".parse().unwrap()];
        assert_eq!(
            cap(Some("tcp port 80")).filter_expr(&gw),
            "(tcp port 80) and not (tcp port 22 and (host 10.77.0.1))"
        );
        assert_eq!(
            cap(None).filter_expr(&gw),
            "not (tcp port 22 and (host 10.77.0.1))"
        );
        assert_eq!(cap(Some("icmp")).filter_expr(&[]), "icmp");
        let script = cap(Some("port 53; reboot")).script(&gw);
        assert!(
            script.contains(
                "timeout --signal=INT 30 tcpdump -U -n -s 262144 -c 10000 -i any -w - -- '(port 53; reboot) and not (tcp port 22 and (host 10.77.0.1))'"
            ),
            "the filter is one quoted word: {script}"
        );
    }

    #[test]
    fn bad_input_is_refused_before_anything_runs() {
        let mut c = cap(None);
        c.iface = "eth0; reboot".into();
        assert!(
            c.check()
                .unwrap_err()
                .to_string()
                .contains("not an interface")
        );
        let mut c = cap(None);
        c.duration = Duration::from_secs(3600);
        assert!(c.check().unwrap_err().to_string().contains("1s to 600s"));
        let mut c = cap(None);
        c.max_packets = 0;
        assert!(c.check().is_err());
        assert!(cap(None).check().is_ok());
    }

    #[tokio::test]
    async fn keeps_tcpdumps_pcap_and_refuses_anything_else() {
        let mut pcap = vec![0xd4, 0xc3, 0xb2, 0xa1];
        pcap.resize(24, 0);
        let node = FakeRemote::new("web").once(
            contains("tcpdump -U"),
            crate::remote::Output {
                status: 0,
                stdout: pcap.clone(),
                stderr: b"2 packets captured\n".to_vec(),
            },
        );
        let (got, said) = run(&node, &cap(None), &[]).await.unwrap();
        assert_eq!((got, said.as_str()), (pcap, "2 packets captured"));
        let node = FakeRemote::new("web").once(
            contains("tcpdump -U"),
            crate::remote::Output {
                status: 1,
                stdout: vec![],
                stderr: b"tcpdump: eth9: No such device exists\n".to_vec(),
            },
        );
        let err = run(&node, &cap(None), &[]).await.unwrap_err().to_string();
        assert!(
            err.contains("No such device") && err.contains("ip -br link"),
            "{err}"
        );
        let node = FakeRemote::new("web").once(contains("tcpdump -U"), ok("not a pcap"));
        assert!(run(&node, &cap(None), &[]).await.is_err());
    }
}
