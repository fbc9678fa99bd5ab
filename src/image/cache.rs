//! The image cache on disk: reading images back from their manifests, listing, removing, and the
//! per-name build lock. An image directory that cannot be read is reported as broken, never a
//! crash of the listing.

use super::recipe;
use super::util::{io_err, qcow2_backing_file, validate_name};
use super::{Image, ImageError, Manifest};
use crate::paths::Home;
use std::fs::File;
use std::path::{Path, PathBuf};

pub(crate) const MANIFEST: &str = "manifest.json";

/// One directory of the cache.
#[derive(Debug)]
pub(crate) enum Entry {
    Ok(Box<Image>),
    Broken { name: String, problem: String },
}

/// Every image directory, sorted by name, broken ones included.
pub(crate) fn scan(home: &Home) -> Result<Vec<Entry>, ImageError> {
    let root = home.images();
    let read = match std::fs::read_dir(&root) {
        Ok(r) => r,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err("cannot list", &root)(e)),
    };
    let mut entries = Vec::new();
    for item in read {
        let item = item.map_err(io_err("cannot list", &root))?;
        let name = item.file_name().to_string_lossy().into_owned();
        // Dot names are the build's temp dirs, locks and package cache.
        if name.starts_with('.') || !item.path().is_dir() {
            continue;
        }
        let dir = item.path();
        entries.push(match load(&name, &dir) {
            Ok(image) => Entry::Ok(Box::new(image)),
            Err(problem) => Entry::Broken { name, problem },
        });
    }
    entries.sort_by(|a, b| entry_name(a).cmp(entry_name(b)));
    Ok(entries)
}

fn entry_name(e: &Entry) -> &str {
    match e {
        Entry::Ok(i) => &i.name,
        Entry::Broken { name, .. } => name,
    }
}

/// The images that are usable, sorted by name.
pub(crate) fn list(home: &Home) -> Result<Vec<Image>, ImageError> {
    Ok(scan(home)?
        .into_iter()
        .filter_map(|e| match e {
            Entry::Ok(i) => Some(*i),
            Entry::Broken { .. } => None,
        })
        .collect())
}

/// The image called `name`; `None` if it was never built, an error if it is broken.
pub(crate) fn find(home: &Home, name: &str) -> Result<Option<Image>, ImageError> {
    validate_name(name)?;
    let dir = home.images().join(name);
    if !dir.exists() {
        return Ok(None);
    }
    load(name, &dir)
        .map(Some)
        .map_err(|problem| ImageError::Broken {
            name: name.to_string(),
            dir,
            problem,
        })
}

/// Reads `dir/manifest.json` and checks that the files it names are there.
pub(crate) fn load(name: &str, dir: &Path) -> Result<Image, String> {
    let manifest = read_manifest(dir)?;
    if manifest.name != name {
        return Err(format!(
            "its manifest names `{}`, not `{name}`",
            manifest.name
        ));
    }
    let image = Image {
        name: name.to_string(),
        dir: dir.to_path_buf(),
        disk: dir.join(&manifest.disk),
        kernel: dir.join(&manifest.kernel),
        initrd: dir.join(&manifest.initrd),
        manifest,
    };
    for file in [&image.disk, &image.kernel, &image.initrd] {
        if !file.is_file() {
            return Err(format!("{} is missing", file.display()));
        }
    }
    Ok(image)
}

fn read_manifest(dir: &Path) -> Result<Manifest, String> {
    let path = dir.join(MANIFEST);
    let text = std::fs::read(&path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => format!("no {MANIFEST}: not a firedrill image"),
        _ => format!("cannot read {}: {e}", path.display()),
    })?;
    serde_json::from_slice(&text).map_err(|e| format!("{} is not valid: {e}", path.display()))
}

/// Checks the image's files against the digests in its manifest (hashes the whole disk: seconds).
pub(crate) fn verify(image: &Image) -> Result<(), String> {
    let m = &image.manifest;
    for (file, want) in [
        (&image.disk, &m.disk_sha256),
        (&image.kernel, &m.kernel_sha256),
        (&image.initrd, &m.initrd_sha256),
    ] {
        let got = super::util::sha256_file(file).map_err(|e| e.to_string())?;
        if &got != want {
            return Err(format!(
                "{} has sha256 {got}, its manifest says {want}",
                file.display()
            ));
        }
    }
    Ok(())
}

/// Whether the image was built from the recipe this firedrill would build; `None` when no
/// recipe of that name exists (an image built by another version).
pub(crate) fn is_current(manifest: &Manifest) -> Option<bool> {
    recipe::recipe(&manifest.name).map(|r| r.hash() == manifest.recipe_hash)
}

/// Removes image `name`, refusing anything that is not a firedrill image or that a lab's node
/// disk still uses as its backing file.
pub(crate) fn remove(home: &Home, name: &str) -> Result<PathBuf, ImageError> {
    validate_name(name)?;
    let dir = home.images().join(name);
    if !dir.is_dir() {
        return Err(ImageError::NoSuchImage {
            name: name.to_string(),
            dir: home.images(),
        });
    }
    // A broken image (a file missing) is still ours to remove; a directory without our
    // manifest is not.
    match read_manifest(&dir) {
        Ok(m) if m.name == name => {
            refuse_if_in_use(home, name, &dir.join(&m.disk))?;
        }
        _ => {
            return Err(ImageError::NotAnImage {
                name: name.to_string(),
                dir,
            });
        }
    }
    crate::fsutil::remove_tree_inside(&home.images(), &dir)
        .map_err(|e| io_err("cannot remove", &dir)(std::io::Error::other(e.to_string())))?;
    Ok(dir)
}

pub(crate) fn refuse_if_in_use(home: &Home, name: &str, disk: &Path) -> Result<(), ImageError> {
    let users = users(home, disk);
    if users.is_empty() {
        Ok(())
    } else {
        Err(ImageError::InUse {
            name: name.to_string(),
            users,
        })
    }
}

/// Node disks of labs under `home` whose qcow2 backing file is `disk`, as `lab L (node N)`.
pub(crate) fn users(home: &Home, disk: &Path) -> Vec<String> {
    let target = canonical(disk);
    let mut found = Vec::new();
    for lab in crate::state::lab_names(home).unwrap_or_default() {
        let lab_dir = home.lab(&lab);
        for node in dir_names(&lab_dir.dir().join("nodes")) {
            let overlay = lab_dir.disk(&node);
            let Ok(Some(backing)) = qcow2_backing_file(&overlay) else {
                continue;
            };
            let backing = match overlay.parent() {
                Some(parent) if backing.is_relative() => parent.join(backing),
                _ => backing,
            };
            if canonical(&backing) == target {
                found.push(format!("lab {lab} (node {node})"));
            }
        }
    }
    found.sort();
    found
}

fn canonical(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

fn dir_names(dir: &Path) -> Vec<String> {
    let Ok(read) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    read.filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

/// Refuses to replace a directory that is not a firedrill image, or an image that node disks
/// are linked clones of (replacing it would corrupt them).
pub(crate) fn refuse_foreign_or_used(
    home: &Home,
    name: &str,
    dir: &Path,
) -> Result<(), ImageError> {
    match load(name, dir) {
        Ok(image) => refuse_if_in_use(home, name, &image.disk),
        // A broken image of ours is fine to replace; a directory that is not ours is not.
        Err(_) if dir.join(MANIFEST).is_file() => Ok(()),
        Err(_) => Err(ImageError::NotAnImage {
            name: name.to_string(),
            dir: dir.to_path_buf(),
        }),
    }
}

/// Moves a finished build (`work`, with its manifest) into place as image `name`, replacing
/// the previous one by two renames, and reads it back.
pub(crate) fn install(home: &Home, name: &str, work: &Path) -> Result<Image, ImageError> {
    let final_dir = home.images().join(name);
    if final_dir.exists() {
        refuse_foreign_or_used(home, name, &final_dir)?;
        let old = home.images().join(format!(".{name}.old"));
        remove_all(&old)?;
        std::fs::rename(&final_dir, &old).map_err(io_err("cannot move aside", &final_dir))?;
        std::fs::rename(work, &final_dir).map_err(io_err("cannot rename into place", work))?;
        remove_all(&old)?;
    } else {
        std::fs::rename(work, &final_dir).map_err(io_err("cannot rename into place", work))?;
    }
    load(name, &final_dir).map_err(|problem| ImageError::Broken {
        name: name.to_string(),
        dir: final_dir,
        problem,
    })
}

fn remove_all(dir: &Path) -> Result<(), ImageError> {
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_err("cannot remove", dir)(e)),
        _ => Ok(()),
    }
}

/// Held for the whole of a build, so two builds of one name never share a temp dir.
pub(crate) struct BuildLock {
    _file: File,
}

pub(crate) fn lock(home: &Home, name: &str) -> Result<BuildLock, ImageError> {
    let root = home.images();
    std::fs::create_dir_all(&root).map_err(io_err("cannot create", &root))?;
    let path = root.join(format!(".{name}.lock"));
    let file = File::create(&path).map_err(io_err("cannot create", &path))?;
    match file.try_lock() {
        Ok(()) => Ok(BuildLock { _file: file }),
        Err(std::fs::TryLockError::WouldBlock) => Err(ImageError::Busy {
            name: name.to_string(),
            lock: path,
        }),
        Err(std::fs::TryLockError::Error(e)) => Err(io_err("cannot lock", &path)(e)),
    }
}

#[cfg(test)]
#[path = "cache_tests.rs"]
mod tests;
