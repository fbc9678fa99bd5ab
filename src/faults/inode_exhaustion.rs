//! inode-exhaustion: the app's upload directory sits on a filesystem of its own with plenty of
//! free space and no free inode, so every new upload fails with "No space left on device"
//! while `df -h` shows room (`df -i` shows why). Leftover partial uploads (empty files in
//! `.partial/`) hold every inode.
//!
//! Filling the inodes of the root filesystem (half a million of them on an 8 GiB disk) would
//! take minutes under software emulation, and undoing it as long; so the fault makes a small
//! volume: a 64 MiB ext4 image of 1,024 inodes under /srv, loop-mounted over the upload
//! directory with the directory's owner and mode, and filled in under a second. The uploads
//! already there are hidden under the mount, untouched. Revert removes what it made: the empty
//! partial files, the mount and the image; files that reached the volume once the learner
//! freed inodes are moved into the upload directory first (a name already there is never
//! overwritten; the file then waits in a directory next to it, and revert says so).

use super::bad_permissions::Perm;
use super::params::ParamSpec;
use super::text::Fields;
use super::{Fault, FaultOps, Kind, Verdict, mib, var};
use crate::spec::Role;
use serde::{Deserialize, Serialize};

pub(crate) const KIND: Kind = Kind {
    name: "inode-exhaustion",
    about: "The upload directory's filesystem has space but no free inode: uploads fail with \"No space left on device\"",
    params: &[] as &[ParamSpec],
    build: |_p, node| {
        if !super::has_role(node, Role::App) {
            return Err(KIND.does_not_fit(
                node,
                "it fills the todo app's upload filesystem, and the node has no app role",
            ));
        }
        Ok(Fault::InodeExhaustion(InodeExhaustion {
            path: "/var/lib/todo/uploads".to_string(),
            image: "/srv/todo-uploads.img".to_string(),
            previous: None,
            image_inode: None,
            files: None,
        }))
    },
};

/// Small enough that it fills at once, big enough to look like a real volume in `df -h`.
const SIZE: &str = "64M";
const INODES: u32 = 1024;
/// The directory on the volume that holds the filler files.
const PARTIAL: &str = ".partial";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct InodeExhaustion {
    /// The upload directory: the volume's mount point.
    pub(crate) path: String,
    /// The volume's image file, which did not exist before the fault.
    pub(crate) image: String,
    /// The upload directory's mode and owner, given to the volume's root.
    #[serde(default)]
    pub(crate) previous: Option<Perm>,
    #[serde(default)]
    pub(crate) image_inode: Option<u64>,
    /// How many filler files were made (`upload-0.part` ...).
    #[serde(default)]
    pub(crate) files: Option<u64>,
}

/// `ours` prints `yes` when `$p` is a mount of the image `$img` (through its loop device).
const OURS_FN: &str = "ours() { src=$(findmnt -n -o SOURCE --mountpoint \"$p\" 2>/dev/null | tail -n 1); \
    case \"$src\" in /dev/loop*) [ \"$(losetup -n -O BACK-FILE \"$src\" 2>/dev/null)\" = \"$img\" ] && echo yes ;; esac; }\n";

impl InodeExhaustion {
    fn vars(&self) -> String {
        var("p", &self.path) + &var("img", &self.image)
    }
}

impl FaultOps for InodeExhaustion {
    fn kind(&self) -> &'static str {
        KIND.name
    }

    fn summary(&self) -> String {
        format!(
            "mount a {SIZE} volume of {INODES} inodes on {} and use up its inodes",
            self.path
        )
    }

    fn prepare_script(&self) -> String {
        let mut s = self.vars();
        s += "if [ ! -d \"$p\" ]; then echo \"$p does not exist: the todo app is not installed here\" >&2; exit 3; fi\n\
              if mountpoint -q \"$p\"; then echo \"$p is a mount point already; firedrill mounts its volume only on a plain directory\" >&2; exit 3; fi\n\
              if [ -e \"$img\" ] || [ -L \"$img\" ]; then echo \"$img already exists, and firedrill only removes files it made\" >&2; exit 3; fi\n\
              if [ ! -d \"$(dirname \"$img\")\" ]; then echo \"$(dirname \"$img\") does not exist\" >&2; exit 3; fi\n\
              echo \"perm=$(stat -c '%a %U %G' \"$p\")\"\n";
        s
    }

    fn prepared(&mut self, out: &Fields) -> Result<(), String> {
        self.previous = Some(Perm::parse(out.need("perm")?)?);
        Ok(())
    }

    /// The image is made with the same umask as any root-made file; the fillers belong to the
    /// app's user, as the app's own leftovers would.
    fn inject_script(&self) -> String {
        let Some(perm) = &self.previous else {
            return "echo 'the upload directory was never read' >&2; exit 1\n".to_string();
        };
        let q = crate::ssh::quote;
        let mut s = String::from("set -e\n");
        s += &self.vars();
        s += &var("d", &format!("{}/{PARTIAL}", self.path));
        s += "if [ -e \"$img\" ] || [ -L \"$img\" ]; then echo \"$img appeared after firedrill checked; not touching it\" >&2; exit 3; fi\n";
        s += &format!(
            "truncate -s {SIZE} \"$img\"\n\
             echo \"image_inode=$(stat -c %i \"$img\")\"\n\
             mkfs.ext4 -q -F -N {INODES} -m 0 -L todo-uploads \"$img\"\n\
             mount -o loop,nodev,nosuid,noexec \"$img\" \"$p\"\n\
             chown {owner}:{group} \"$p\"\n\
             chmod {mode} \"$p\"\n\
             mkdir \"$d\"\n\
             n=0\n\
             while {{ true > \"$d/upload-$n.part\"; }} 2>/dev/null; do n=$((n + 1)); done\n\
             chown -R {owner}:{group} \"$d\"\n\
             echo \"files=$n\"\n\
             echo \"ifree=$(df --output=iavail \"$p\" | tail -n 1 | tr -d ' ')\"\n",
            owner = q(&perm.owner),
            group = q(&perm.group),
            mode = perm.mode,
        );
        s
    }

    fn injected(&mut self, out: &Fields) -> Result<(), String> {
        self.image_inode = Some(out.number("image_inode")?);
        self.files = Some(out.number("files")?);
        Ok(())
    }

    fn verify_script(&self) -> String {
        let mut s = self.vars();
        s += OURS_FN;
        s += "if [ \"$(ours)\" = yes ]; then\n\
              \x20 echo mounted=yes\n\
              \x20 echo \"ifree=$(df --output=iavail \"$p\" | tail -n 1 | tr -d ' ')\"\n\
              \x20 echo \"avail=$(df -B1 --output=avail \"$p\" | tail -n 1 | tr -d ' ')\"\n\
              else echo mounted=no; fi\n";
        s
    }

    fn verdict(&self, out: &Fields, _host_now: i64) -> Verdict {
        if out.get("mounted") != Some("yes") {
            return Verdict {
                active: false,
                detail: format!("{} is not mounted on {}", self.image, self.path),
            };
        }
        let ifree: Option<u64> = out.number("ifree").ok();
        let avail = out
            .number::<u64>("avail")
            .map_or("unknown".to_string(), mib);
        Verdict {
            active: ifree == Some(0),
            detail: format!(
                "{} ({}): {} inodes free, {avail} free",
                self.path,
                self.image,
                ifree.map_or("unknown".to_string(), |n| n.to_string())
            ),
        }
    }

    /// Works on the volume wherever it is: still on the upload directory, or (after a reboot
    /// or an unmount) mounted again for a moment on a fresh directory under /run.
    fn revert_script(&self, _host_now: Option<i64>) -> String {
        let mut s = String::from("set -e\n");
        s += &self.vars();
        s += &format!(
            "ino={}\n",
            self.image_inode.map_or(String::new(), |i| i.to_string())
        );
        s += OURS_FN;
        s += &format!(
            "m=\n\
             if [ \"$(ours)\" = yes ]; then m=$p\n\
             elif [ -f \"$img\" ] && {{ [ -z \"$ino\" ] || [ \"$(stat -c %i \"$img\")\" = \"$ino\" ]; }} && [ \"$(blkid -o value -s LABEL \"$img\" 2>/dev/null)\" = todo-uploads ]; then\n\
             \x20 m=$(mktemp -d /run/firedrill-volume.XXXXXX); mount -o loop,nodev,nosuid,noexec \"$img\" \"$m\"\n\
             fi\n\
             if [ -n \"$m\" ]; then\n\
             \x20 n=0\n\
             \x20 for f in \"$m/{PARTIAL}\"/upload-*.part; do\n\
             \x20   case \"${{f##*/}}\" in upload-*[!0-9]*.part) continue ;; esac\n\
             \x20   if [ -f \"$f\" ] && [ ! -L \"$f\" ] && [ ! -s \"$f\" ]; then rm -f \"$f\"; n=$((n + 1)); fi\n\
             \x20 done\n\
             \x20 rmdir \"$m/{PARTIAL}\" 2>/dev/null || true\n\
             \x20 [ \"$n\" -eq 0 ] || echo \"removed $n empty partial uploads\"\n\
             \x20 rmdir \"$m/lost+found\" 2>/dev/null || true\n\
             \x20 s=\n\
             \x20 if [ -n \"$(ls -A \"$m\")\" ]; then\n\
             \x20   s=$(mktemp -d \"$(dirname \"$p\")/.uploads-from-volume.XXXXXX\")\n\
             \x20   find \"$m\" -mindepth 1 -maxdepth 1 -exec mv -t \"$s\" {{}} +\n\
             \x20 fi\n\
             \x20 umount \"$m\" 2>/dev/null || umount -l \"$m\"\n\
             \x20 echo \"unmounted the volume from $m\"\n\
             \x20 [ \"$m\" = \"$p\" ] || rmdir \"$m\"\n\
             \x20 if [ -n \"$s\" ]; then\n\
             \x20   find \"$s\" -mindepth 1 -maxdepth 1 -exec mv -n -t \"$p\" {{}} +\n\
             \x20   if rmdir \"$s\" 2>/dev/null; then echo \"moved the files written to the volume into $p\"\n\
             \x20   else echo \"kept $s: some of the files written to the volume have namesakes in $p\"; fi\n\
             \x20 fi\n\
             fi\n\
             if [ ! -f \"$img\" ]; then :\n\
             elif [ -n \"$ino\" ] && [ \"$(stat -c %i \"$img\")\" != \"$ino\" ]; then echo \"left $img: it is not the file firedrill made (another inode)\"\n\
             else rm -f \"$img\"; echo \"removed $img\"; fi\n"
        );
        s
    }
}

#[cfg(test)]
#[path = "inode_exhaustion_tests.rs"]
mod tests;
