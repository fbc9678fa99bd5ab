//! Who QEMU runs as and what it may open: Unix permission bits, decided without touching the
//! files (doctor runs as whoever calls it, not as QEMU's user).

use serde::Serialize;
use std::path::PathBuf;

/// The user QEMU runs as: firedrill's domains run as the owner of FIREDRILL_HOME.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Principal {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups, from /etc/group.
    pub groups: Vec<u32>,
}

/// A file's owner and mode, as `stat` gives them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FileMode {
    pub path: PathBuf,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

pub(crate) const READ: u32 = 4;
pub(crate) const WRITE: u32 = 2;
pub(crate) const EXEC: u32 = 1;

/// Whether `who` has every bit of `want` (READ | WRITE | EXEC) on `file`. Root passes DAC checks
/// (execute on a directory included), which is what QEMU as root sees.
pub(crate) fn allows(file: &FileMode, who: &Principal, want: u32) -> bool {
    if who.uid == 0 {
        return true;
    }
    let bits = if file.uid == who.uid {
        file.mode >> 6
    } else if file.gid == who.gid || who.groups.contains(&file.gid) {
        file.mode >> 3
    } else {
        file.mode
    } & 7;
    bits & want == want
}

/// The user called `name`'s uid, primary gid and supplementary groups, from the text of
/// /etc/passwd and /etc/group. `None` when passwd has no such uid.
pub(crate) fn principal(uid: u32, passwd: &str, group: &str) -> Option<Principal> {
    let (name, gid) = passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() >= 4 && f[2].parse() == Ok(uid)).then(|| (f[0].to_string(), f[3].parse().ok()))
    })?;
    let gid = gid?;
    let groups = group
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            let members = f.get(3)?;
            members
                .split(',')
                .any(|m| m == name)
                .then(|| f[2].parse().ok())?
        })
        .collect();
    Some(Principal {
        name,
        uid,
        gid,
        groups,
    })
}

/// The first entry of `chain` (a path's ancestors, outermost first, then the path itself) that
/// `who` cannot get through: every directory needs execute, the last entry `last_wants`.
pub(crate) fn first_blocked<'a>(
    chain: &'a [FileMode],
    who: &Principal,
    last_wants: u32,
) -> Option<(&'a FileMode, u32)> {
    let n = chain.len();
    chain.iter().enumerate().find_map(|(i, f)| {
        let want = if i + 1 == n { last_wants } else { EXEC };
        (!allows(f, who, want)).then_some((f, want))
    })
}

/// `chmod` letters for `want`: `rx`, `r`, `x`.
pub(crate) fn letters(want: u32) -> String {
    [(READ, 'r'), (WRITE, 'w'), (EXEC, 'x')]
        .iter()
        .filter(|(b, _)| want & b != 0)
        .map(|(_, c)| *c)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> Principal {
        Principal {
            name: "alice".into(),
            uid: 1000,
            gid: 1000,
            groups: vec![108],
        }
    }

    fn file(mode: u32, uid: u32, gid: u32) -> FileMode {
        FileMode {
            path: PathBuf::from("/x"),
            mode,
            uid,
            gid,
        }
    }

    #[test]
    fn owner_group_and_other_bits_decide_in_that_order() {
        assert!(allows(&file(0o600, 1000, 0), &alice(), READ | WRITE));
        // The owner's bits win even when other would allow more.
        assert!(!allows(&file(0o066, 1000, 0), &alice(), READ));
        assert!(allows(&file(0o660, 0, 108), &alice(), READ | WRITE));
        assert!(!allows(&file(0o600, 0, 108), &alice(), READ));
        assert!(allows(&file(0o755, 0, 0), &alice(), READ | EXEC));
        assert!(!allows(&file(0o750, 0, 0), &alice(), EXEC));
    }

    #[test]
    fn root_passes() {
        let root = Principal {
            name: "root".into(),
            uid: 0,
            gid: 0,
            groups: vec![],
        };
        assert!(allows(&file(0o000, 1000, 1000), &root, READ | WRITE));
    }

    #[test]
    fn principal_from_passwd_and_group() {
        let passwd =
            "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000:,,,:/home/alice:/bin/bash\n";
        let group = "root:x:0:\nkvm:x:108:bob,alice\nlibvirt:x:109:bob\nalice:x:1000:\n";
        assert_eq!(principal(1000, passwd, group), Some(alice()));
        assert_eq!(principal(1001, passwd, group), None);
    }

    #[test]
    fn the_first_blocked_ancestor_is_named_with_what_it_lacks() {
        let chain = [file(0o755, 0, 0), file(0o700, 0, 0), file(0o755, 0, 0)];
        let (f, want) = first_blocked(&chain, &alice(), READ | EXEC).expect("blocked");
        assert_eq!((f.mode, want), (0o700, EXEC));
        let open = [file(0o755, 0, 0), file(0o644, 0, 0)];
        assert_eq!(first_blocked(&open, &alice(), READ), None);
        let unreadable = [file(0o755, 0, 0), file(0o640, 0, 0)];
        assert_eq!(
            first_blocked(&unreadable, &alice(), READ).map(|(_, w)| w),
            Some(READ)
        );
        assert_eq!(letters(READ | EXEC), "rx");
    }
}
