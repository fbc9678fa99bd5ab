//! slow-disk: the database's disk I/O is throttled by its cgroup (`IOReadBandwidthMax`,
//! `IOWriteBandwidthMax`, `IOReadIOPSMax`, `IOWriteIOPSMax` in a drop-in, which systemd turns
//! into the unit's `io.max`), on the disk that holds the data directory. Every commit waits
//! for its log flush: writes crawl, reads served from memory stay fast, the CPU idles.
//! Revert removes the drop-in, reloads systemd and clears any limit left in `io.max`.

use super::dropin::DropIn;
use super::params::ParamSpec;
use super::text::Fields;
use super::{Fault, FaultOps, Kind, Verdict, var};
use crate::spec::Role;
use serde::{Deserialize, Serialize};

pub(crate) const KIND: Kind = Kind {
    name: "slow-disk",
    about: "The database's disk I/O is throttled (cgroup io.max): writes crawl, the CPU idles",
    params: &[ParamSpec {
        name: "iops",
        value: "N",
        help: "I/O operations per second allowed each way (default 2; bandwidth 64 KiB/s per IOPS)",
    }],
    build: |p, node| {
        let (unit, data_dir) = if super::has_role(node, Role::Mysql) {
            (super::role_service(Role::Mysql), "/var/lib/mysql")
        } else if super::has_role(node, Role::Postgres) {
            // The cluster's own unit: `postgresql.service` only starts it and holds no process.
            ("postgresql@15-main.service", "/var/lib/postgresql")
        } else {
            return Err(KIND.does_not_fit(
                node,
                "it throttles the database's disk, and the node has no database role",
            ));
        };
        Ok(Fault::SlowDisk(SlowDisk {
            iops: p.number("iops", 2, 1, 1 << 20)?,
            data_dir: data_dir.to_string(),
            device: None,
            dropin: DropIn::new(unit, "50-io.conf"),
        }))
    },
};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Device {
    /// e.g. `/dev/vda`: the whole disk under the data directory.
    pub(crate) path: String,
    /// e.g. `254:0`, as `io.max` names it.
    pub(crate) majmin: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct SlowDisk {
    pub(crate) iops: u64,
    pub(crate) data_dir: String,
    #[serde(default)]
    pub(crate) device: Option<Device>,
    pub(crate) dropin: DropIn,
}

impl SlowDisk {
    fn bytes_per_s(&self) -> u64 {
        self.iops * 64 * 1024
    }

    fn body(&self, dev: &str) -> String {
        let (bps, iops) = (self.bytes_per_s(), self.iops);
        format!(
            "# Keep the database from starving the other services' I/O.\n[Service]\n\
             IOReadBandwidthMax={dev} {bps}\nIOWriteBandwidthMax={dev} {bps}\n\
             IOReadIOPSMax={dev} {iops}\nIOWriteIOPSMax={dev} {iops}"
        )
    }

    /// The line `io.max` shows with the limits in place.
    fn io_max_line(&self, majmin: &str) -> String {
        let (bps, iops) = (self.bytes_per_s(), self.iops);
        format!("{majmin} rbps={bps} wbps={bps} riops={iops} wiops={iops}")
    }

    fn majmin(&self) -> &str {
        self.device.as_ref().map_or("", |d| d.majmin.as_str())
    }
}

impl FaultOps for SlowDisk {
    fn kind(&self) -> &'static str {
        KIND.name
    }

    fn summary(&self) -> String {
        format!(
            "throttle {} to {} IOPS and {} KiB/s on its disk",
            self.dropin.unit,
            self.iops,
            self.bytes_per_s() / 1024
        )
    }

    /// The drop-in's checks, then the whole disk under the data directory (a partition's
    /// parent: io.max takes whole disks only).
    fn prepare_script(&self) -> String {
        let mut s = self.dropin.prepare_script();
        s += &var("data", &self.data_dir);
        s += "src=$(findmnt -n -o SOURCE -T \"$data\")\n\
              parent=$(lsblk -n -d -o PKNAME \"$src\" 2>/dev/null || true)\n\
              if [ -n \"$parent\" ]; then disk=/dev/$parent; else disk=$src; fi\n\
              if [ ! -b \"$disk\" ]; then echo \"$data is not on a block device ($src)\" >&2; exit 3; fi\n\
              echo \"device=$disk\"\n\
              echo \"majmin=$(lsblk -n -d -o MAJ:MIN \"$disk\" | tr -d ' ')\"\n";
        s
    }

    fn prepared(&mut self, out: &Fields) -> Result<(), String> {
        let path = out.need("device")?.to_string();
        let majmin = out.need("majmin")?.to_string();
        let valid = majmin
            .split_once(':')
            .is_some_and(|(a, b)| [a, b].iter().all(|n| n.parse::<u32>().is_ok()));
        if !path.starts_with("/dev/") || !valid {
            return Err(format!("`{path}` ({majmin}) is not a block device"));
        }
        self.device = Some(Device { path, majmin });
        self.dropin.prepared(out)
    }

    fn inject_script(&self) -> String {
        let dev = self.device.as_ref().map_or("", |d| d.path.as_str());
        let mut s = self.dropin.write_script(&self.body(dev));
        // The reload applies the limits to the running unit; make sure before returning.
        s += &self.dropin.cgroup_script();
        s += &var("want", &self.io_max_line(self.majmin()));
        s += "if ! grep -qxF \"$want\" \"$cg/io.max\"; then echo \"$cg/io.max does not show the limits: $(cat \"$cg/io.max\")\" >&2; exit 1; fi\n";
        s
    }

    fn verify_script(&self) -> String {
        let mut s = self.dropin.present_script();
        s += &self.dropin.cgroup_script();
        s += &var("majmin", self.majmin());
        s += "echo \"io_max=$(grep \"^$majmin \" \"$cg/io.max\" 2>/dev/null || true)\"\n";
        s
    }

    fn verdict(&self, out: &Fields, _host_now: i64) -> Verdict {
        let line = out.get("io_max").unwrap_or_default();
        let active = line == self.io_max_line(self.majmin());
        let unit = &self.dropin.unit;
        Verdict {
            active,
            detail: if line.is_empty() {
                format!("{unit} has no I/O limit on {}", self.majmin())
            } else {
                format!("{unit}'s io.max: {line}")
            },
        }
    }

    /// After the drop-in goes, a limit systemd left in `io.max` is cleared by hand (the file
    /// belongs to the unit's cgroup, which firedrill limited).
    fn revert_script(&self, _host_now: Option<i64>) -> String {
        let mut s = self.dropin.remove_script("");
        s += &self.dropin.cgroup_script();
        s += &var("majmin", self.majmin());
        s += "if grep \"^$majmin \" \"$cg/io.max\" 2>/dev/null | grep -q '=[0-9]'; then\n\
              \x20 echo \"$majmin rbps=max wbps=max riops=max wiops=max\" > \"$cg/io.max\"\n\
              \x20 echo \"cleared the I/O limit in $cg/io.max\"\n\
              fi\n";
        s
    }
}

#[cfg(test)]
#[path = "slow_disk_tests.rs"]
mod tests;
