//! How much room snapshots take: each node's overlay holds its snapshots (internal qcow2
//! snapshots), so `qemu-img info` on it gives each snapshot's saved memory and the overlay's
//! size on the host. The disk blocks a snapshot keeps are shared with the overlay's other
//! states, so they are counted once, in the overlay's size.

use std::collections::BTreeMap;
use std::path::Path;

/// One overlay: its size on the host and each snapshot's saved memory, in bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct DiskSizes {
    pub(super) on_host: u64,
    pub(super) memory: BTreeMap<String, u64>,
}

#[derive(serde::Deserialize)]
struct Info {
    #[serde(rename = "actual-size", default)]
    actual_size: u64,
    #[serde(default)]
    snapshots: Vec<SnapshotEntry>,
}

#[derive(serde::Deserialize)]
struct SnapshotEntry {
    name: String,
    #[serde(rename = "vm-state-size", default)]
    vm_state_size: u64,
}

/// What `qemu-img info --output=json` says of an overlay.
pub(super) fn parse(json: &str) -> Result<DiskSizes, String> {
    let info: Info = serde_json::from_str(json).map_err(|e| format!("qemu-img info: {e}"))?;
    Ok(DiskSizes {
        on_host: info.actual_size,
        memory: info
            .snapshots
            .into_iter()
            .map(|s| (s.name, s.vm_state_size))
            .collect(),
    })
}

/// Reads `disk` while its VM runs (`-U`: no lock is taken, nothing is written).
pub(super) async fn read(disk: &Path) -> Result<DiskSizes, String> {
    let out = tokio::process::Command::new("qemu-img")
        .args(["info", "-U", "--output=json"])
        .arg(disk)
        .output()
        .await
        .map_err(|e| format!("qemu-img: {e} (install qemu-utils)"))?;
    if !out.status.success() {
        return Err(format!(
            "qemu-img info {}: {}",
            disk.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    parse(&String::from_utf8_lossy(&out.stdout))
}

/// Bytes as people read them: `512 MiB`, `1.5 GiB`.
pub(super) fn human(bytes: u64) -> String {
    const MIB: f64 = 1024.0 * 1024.0;
    let mib = bytes as f64 / MIB;
    if mib >= 1024.0 {
        format!("{:.1} GiB", mib / 1024.0)
    } else {
        format!("{mib:.0} MiB")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qemu_img_info_gives_the_overlay_and_each_snapshots_memory() {
        let json = r#"{
            "virtual-size": 8589934592, "filename": "disk.qcow2", "format": "qcow2",
            "actual-size": 1342177280,
            "snapshots": [
                {"icount": 0, "vm-clock-nsec": 1, "name": "before", "date-sec": 1764523800,
                 "date-nsec": 0, "vm-clock-sec": 300, "id": "1", "vm-state-size": 157286400},
                {"name": "firedrill-baseline", "id": "2", "vm-state-size": 104857600}
            ]
        }"#;
        let s = parse(json).unwrap();
        assert_eq!(s.on_host, 1_342_177_280);
        assert_eq!(s.memory["before"], 157_286_400);
        assert_eq!(s.memory["firedrill-baseline"], 104_857_600);
        // An overlay without snapshots has no "snapshots" key at all.
        assert_eq!(
            parse(r#"{"actual-size": 200704}"#).unwrap(),
            DiskSizes {
                on_host: 200_704,
                memory: BTreeMap::new()
            }
        );
        assert!(
            parse("qemu-img: Could not open")
                .unwrap_err()
                .contains("qemu-img info")
        );
    }

    /// The real `qemu-img` on a real overlay with an internal snapshot (disk only: no VM).
    #[tokio::test]
    async fn an_overlays_snapshots_are_read_with_qemu_img() {
        let dir = tempfile::tempdir().unwrap();
        let disk = dir.path().join("disk.qcow2");
        let qemu_img = |args: &[&str], after: &[&str]| {
            let out = std::process::Command::new("qemu-img")
                .args(args)
                .arg(&disk)
                .args(after)
                .output()
                .expect("qemu-img (qemu-utils) is installed");
            assert!(out.status.success(), "{out:?}");
        };
        qemu_img(&["create", "-q", "-f", "qcow2"], &["64M"]);
        qemu_img(&["snapshot", "-c", "before"], &[]);
        let sizes = read(&disk).await.unwrap();
        assert_eq!(sizes.memory.get("before"), Some(&0), "{sizes:?}");
        assert!(sizes.on_host > 0, "{sizes:?}");
        let err = read(&dir.path().join("missing.qcow2")).await.unwrap_err();
        assert!(err.contains("missing.qcow2"), "{err}");
    }

    #[test]
    fn sizes_read_in_mib_then_gib() {
        assert_eq!(human(157_286_400), "150 MiB");
        assert_eq!(human(1_610_612_736), "1.5 GiB");
        assert_eq!(human(0), "0 MiB");
    }
}
