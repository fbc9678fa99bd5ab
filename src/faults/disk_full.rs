//! disk-full: fills the filesystem that holds the app's data with one preallocated file at a
//! plausible path, until only `leave` MiB are free for ordinary users. Root's reserved blocks
//! stay free, so root daemons, the journal and SSH keep working while the app gets ENOSPC.

use super::params::ParamSpec;
use super::text::Fields;
use super::{Fault, FaultOps, Kind, Verdict, mib, var};
use crate::spec::Role;
use serde::{Deserialize, Serialize};

pub(crate) const KIND: Kind = Kind {
    name: "disk-full",
    about: "Fill the filesystem holding the app's data: uploads fail with \"No space left on device\"",
    params: &[
        ParamSpec {
            name: "leave",
            value: "MiB",
            help: "space left free for the app user (default 0; root's reserved blocks always stay)",
        },
        ParamSpec {
            name: "path",
            value: "PATH",
            help: "the filler file (default /var/backups/todo-uploads.tar); must not exist",
        },
    ],
    build: |p, node| {
        if !super::has_role(node, Role::App) {
            return Err(KIND.does_not_fit(
                node,
                "it fills the app's data filesystem, and the node has no app role",
            ));
        }
        let path = match p.get("path") {
            None => None,
            Some(v) if v.starts_with('/') && !v.ends_with('/') && !v.contains("/../") => {
                Some(v.to_string())
            }
            Some(_) => return Err(p.bad("path", "write an absolute file path")),
        };
        Ok(Fault::DiskFull(DiskFull {
            leave_mib: p.number("leave", 0, 0, 1 << 20)?,
            data_dir: DATA_DIR.to_string(),
            path,
            filler: None,
            inode: None,
            filled_bytes: None,
        }))
    },
};

const DATA_DIR: &str = "/var/lib/todo";
/// A forgotten backup is what usually fills a disk; it sits outside the app's own tree.
const DEFAULT_FILLER: &str = "/var/backups/todo-uploads.tar";
/// Used when /var/backups is on another filesystem than the app's data.
const FALLBACK_FILLER: &str = ".todo-uploads.tar";

/// Free space (in bytes) that still counts as full: the filesystem's own bookkeeping frees
/// a little now and then.
const SLACK: u64 = 4 << 20;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct DiskFull {
    pub(crate) leave_mib: u64,
    /// The directory whose filesystem is filled.
    pub(crate) data_dir: String,
    /// The filler path asked for with --param path.
    #[serde(default)]
    pub(crate) path: Option<String>,
    /// The filler file, chosen before the inject; it did not exist then.
    #[serde(default)]
    pub(crate) filler: Option<String>,
    #[serde(default)]
    pub(crate) inode: Option<u64>,
    #[serde(default)]
    pub(crate) filled_bytes: Option<u64>,
}

impl DiskFull {
    fn leave_bytes(&self) -> u64 {
        self.leave_mib << 20
    }

    fn filler(&self) -> &str {
        self.filler.as_deref().unwrap_or(DEFAULT_FILLER)
    }
}

/// Free bytes for ordinary users on the filesystem holding `$1`.
const AVAIL_FN: &str = "avail() { df -B1 --output=avail \"$1\" | tail -n 1 | tr -d ' '; }\n";

impl FaultOps for DiskFull {
    fn kind(&self) -> &'static str {
        KIND.name
    }

    fn summary(&self) -> String {
        format!(
            "fill the filesystem of {} until {} MiB are free",
            self.data_dir, self.leave_mib
        )
    }

    fn prepare_script(&self) -> String {
        let mut s = String::from("set -e\n");
        s += &var("d", &self.data_dir);
        s += AVAIL_FN;
        s += "if [ ! -d \"$d\" ]; then echo \"$d does not exist: the todo app is not installed here\" >&2; exit 3; fi\n";
        s += "dev=$(stat -c %d \"$d\")\n";
        match &self.path {
            Some(p) => {
                s += &var("f", p);
                s += "if [ \"$(stat -c %d \"$(dirname \"$f\")\" 2>/dev/null)\" != \"$dev\" ]; then \
                      echo \"$f is not on the filesystem that holds $d (or its directory is missing)\" >&2; exit 3; fi\n";
            }
            None => {
                s += &var("f", DEFAULT_FILLER);
                s += &format!(
                    "if [ \"$(stat -c %d \"$(dirname \"$f\")\" 2>/dev/null)\" != \"$dev\" ]; then f=\"$d/{FALLBACK_FILLER}\"; fi\n"
                );
            }
        }
        s += "if [ -e \"$f\" ] || [ -L \"$f\" ]; then echo \"$f already exists, and firedrill only removes files it made: choose another filler with --param path=\" >&2; exit 3; fi\n";
        s += "echo \"filler=$f\"\n";
        s += "echo \"mount=$(df --output=target \"$d\" | tail -n 1)\"\n";
        s += "echo \"avail=$(avail \"$d\")\"\n";
        s
    }

    fn prepared(&mut self, out: &Fields) -> Result<(), String> {
        let filler = out.need("filler")?;
        if !filler.starts_with('/') {
            return Err(format!("the filler path {filler:?} is not absolute"));
        }
        let avail: u64 = out.number("avail")?;
        if avail <= self.leave_bytes() {
            return Err(format!(
                "only {} are free on {} already, not more than the {} MiB to leave",
                mib(avail),
                out.get("mount").unwrap_or(&self.data_dir),
                self.leave_mib
            ));
        }
        self.filler = Some(filler.to_string());
        Ok(())
    }

    /// fallocate reserves the blocks without writing them, so a disk of any size fills in
    /// a moment. Allocating adds filesystem metadata, so a second round takes what is left.
    fn inject_script(&self) -> String {
        let mut s = String::from("set -e\n");
        s += &var("f", self.filler());
        s += &format!("leave={}\n", self.leave_bytes());
        s += AVAIL_FN;
        s += "if [ -e \"$f\" ] || [ -L \"$f\" ]; then echo \"$f appeared after firedrill checked; not touching it\" >&2; exit 3; fi\n";
        s += "(umask 077; : > \"$f\")\n";
        s += "size=0\n\
              for round in 1 2 3 4 5; do\n\
              \x20 a=$(avail \"$f\")\n\
              \x20 [ \"$a\" -gt \"$leave\" ] || break\n\
              \x20 size=$((size + a - leave))\n\
              \x20 fallocate -l \"$size\" \"$f\" || break\n\
              done\n";
        s += &format!(
            "a=$(avail \"$f\")\n\
             if [ \"$a\" -gt $((leave + {SLACK})) ]; then echo \"could not fill the filesystem: $a bytes are still free\" >&2; exit 1; fi\n"
        );
        s += "echo \"inode=$(stat -c %i \"$f\")\"\n";
        s += "echo \"size=$(stat -c %s \"$f\")\"\n";
        s += "echo \"avail=$a\"\n";
        s
    }

    fn injected(&mut self, out: &Fields) -> Result<(), String> {
        self.inode = Some(out.number("inode")?);
        self.filled_bytes = Some(out.number("size")?);
        Ok(())
    }

    fn verify_script(&self) -> String {
        let mut s = var("f", self.filler());
        s += &var("d", &self.data_dir);
        s += AVAIL_FN;
        s += "if [ -e \"$f\" ]; then echo \"inode=$(stat -c %i \"$f\")\"; echo \"size=$(stat -c %s \"$f\")\"; fi\n";
        s += "echo \"avail=$(avail \"$d\")\"\n";
        s
    }

    fn verdict(&self, out: &Fields, _host_now: i64) -> Verdict {
        let avail: Option<u64> = out.number("avail").ok();
        let present = match (out.number::<u64>("inode").ok(), self.inode) {
            (Some(now), Some(then)) => now == then,
            (Some(_), None) => true,
            (None, _) => false,
        };
        let full = avail.is_some_and(|a| a <= self.leave_bytes() + SLACK);
        let free = avail.map_or("unknown".to_string(), mib);
        let detail = if present {
            let size = out.number::<u64>("size").map_or("?".to_string(), mib);
            format!("filler {} ({size}) present; {free} free", self.filler())
        } else {
            format!("filler {} gone; {free} free", self.filler())
        };
        Verdict {
            active: present && full,
            detail,
        }
    }

    /// Removes the filler and nothing else: not a file someone put at that path later.
    fn revert_script(&self, _host_now: Option<i64>) -> String {
        let Some(filler) = &self.filler else {
            return "echo 'no filler was chosen, so none was made'\n".to_string();
        };
        let mut s = var("f", filler);
        s += &format!(
            "ino={}\n",
            self.inode.map_or(String::new(), |i| i.to_string())
        );
        s += "if [ ! -e \"$f\" ] && [ ! -L \"$f\" ]; then :\n\
              elif [ -n \"$ino\" ] && [ \"$(stat -c %i \"$f\")\" != \"$ino\" ]; then\n\
              \x20 echo \"left $f: it is not the file firedrill made (another inode)\"\n\
              else\n\
              \x20 rm -f \"$f\"\n\
              \x20 echo \"removed $f\"\n\
              fi\n";
        s
    }
}

#[cfg(test)]
#[path = "disk_full_tests.rs"]
mod tests;
