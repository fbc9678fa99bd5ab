//! Small helpers of the image module: formatting, digests, atomic writes and reading a qcow2
//! header. Kept apart so that build.rs and cache.rs read as the steps they perform.

use super::ImageError;
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

pub(crate) fn io_err(
    action: &'static str,
    path: &Path,
) -> impl FnOnce(std::io::Error) -> ImageError {
    let path = path.to_path_buf();
    move |source| ImageError::Io {
        action,
        path,
        source,
    }
}

/// Image names become directory names: no separators, no hidden or relative names.
pub(crate) fn validate_name(name: &str) -> Result<(), ImageError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(ImageError::InvalidName {
            name: name.to_string(),
        })
    }
}

/// `4.2s`, `2m 05s`, `1h 02m`.
pub(crate) fn fmt_duration(d: Duration) -> String {
    let secs = d.as_secs();
    if secs < 60 {
        format!("{:.1}s", d.as_secs_f64())
    } else if secs < 3600 {
        format!("{}m {:02}s", secs / 60, secs % 60)
    } else {
        format!("{}h {:02}m", secs / 3600, (secs % 3600) / 60)
    }
}

/// Binary units with one decimal: `512 B`, `1.5 KiB`, `1.1 GiB`.
pub(crate) fn fmt_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// RFC 3339 in UTC with second precision, e.g. `2026-11-22T02:53:35Z`.
pub(crate) fn rfc3339(t: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Hex sha256 of a file, streamed (the disk is about a GiB).
pub(crate) fn sha256_file(path: &Path) -> Result<String, ImageError> {
    let mut f = std::fs::File::open(path).map_err(io_err("cannot open", path))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(io_err("cannot read", path))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Writes `content` to a temp file beside `path` and renames it over `path`, so that a reader
/// never sees half a file.
pub(crate) fn write_atomic(path: &Path, content: &[u8]) -> Result<(), ImageError> {
    crate::fsutil::write_atomic(path, content, 0o644).map_err(io_err("cannot write", path))
}

/// The backing file named in a qcow2 header, if any. Used to find the node disks that are
/// linked clones of an image before removing or replacing it.
pub(crate) fn qcow2_backing_file(path: &Path) -> std::io::Result<Option<PathBuf>> {
    let mut f = std::fs::File::open(path)?;
    let mut header = [0u8; 20];
    if f.read_exact(&mut header).is_err() || &header[..4] != b"QFI\xfb" {
        return Ok(None);
    }
    let offset = u64::from_be_bytes(header[8..16].try_into().unwrap_or_default());
    let size = u32::from_be_bytes(header[16..20].try_into().unwrap_or_default());
    if offset == 0 || size == 0 || size > 4096 {
        return Ok(None);
    }
    let mut name = vec![0u8; size as usize];
    use std::io::Seek;
    f.seek(std::io::SeekFrom::Start(offset))?;
    f.read_exact(&mut name)?;
    Ok(Some(PathBuf::from(
        String::from_utf8_lossy(&name).into_owned(),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    #[test]
    fn names_that_would_escape_the_cache_are_refused() {
        for bad in ["", ".cache", "..", "a/b", "../x", "a b", "é"] {
            assert!(validate_name(bad).is_err(), "{bad:?} accepted");
        }
        for good in ["debian-12", "my_image.v2"] {
            assert!(validate_name(good).is_ok(), "{good:?} refused");
        }
    }

    #[test]
    fn durations_and_sizes_read_naturally() {
        assert_eq!(fmt_duration(Duration::from_millis(4210)), "4.2s");
        assert_eq!(fmt_duration(Duration::from_secs(125)), "2m 05s");
        assert_eq!(fmt_duration(Duration::from_secs(3720)), "1h 02m");
        assert_eq!(fmt_bytes(512), "512 B");
        assert_eq!(fmt_bytes(1536), "1.5 KiB");
        assert_eq!(fmt_bytes(1181116006), "1.1 GiB");
    }

    #[test]
    fn rfc3339_matches_known_instants() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let t = UNIX_EPOCH + Duration::from_secs(1_795_229_615);
        assert_eq!(rfc3339(t), "2026-11-21T02:53:35Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(rfc3339(leap), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn sha256_and_atomic_write_round_trip() {
        let dir = std::env::temp_dir().join(format!("fd-img-util-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let p = dir.join("f");
        write_atomic(&p, b"abc").expect("write");
        assert_eq!(std::fs::read(&p).expect("read"), b"abc");
        assert_eq!(
            sha256_file(&p).expect("hash"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let leftovers: Vec<_> = std::fs::read_dir(&dir)
            .expect("list")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name())
            .collect();
        assert_eq!(leftovers, vec![std::ffi::OsString::from("f")]);
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[test]
    fn qcow2_backing_file_is_read_from_the_header() {
        let dir = std::env::temp_dir().join(format!("fd-img-qcow-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let backing = b"/images/debian-12/disk.qcow2";
        let mut h = vec![0u8; 512];
        h[..4].copy_from_slice(b"QFI\xfb");
        h[4..8].copy_from_slice(&3u32.to_be_bytes());
        h[8..16].copy_from_slice(&200u64.to_be_bytes());
        h[16..20].copy_from_slice(&(backing.len() as u32).to_be_bytes());
        h[200..200 + backing.len()].copy_from_slice(backing);
        let with = dir.join("with.qcow2");
        std::fs::write(&with, &h).expect("write");
        assert_eq!(
            qcow2_backing_file(&with).expect("read"),
            Some(PathBuf::from("/images/debian-12/disk.qcow2"))
        );
        h[16..20].copy_from_slice(&0u32.to_be_bytes());
        std::fs::write(&with, &h).expect("write");
        assert_eq!(qcow2_backing_file(&with).expect("read"), None);
        let raw = dir.join("raw");
        std::fs::write(&raw, b"not a qcow2 file at all").expect("write");
        assert_eq!(qcow2_backing_file(&raw).expect("read"), None);
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
