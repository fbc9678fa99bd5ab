//! Puts every file under `labs/` into the binary: a table of (path relative to `labs/`, bytes)
//! that `src/builtin.rs` writes out to firedrill's data directory when a level, an exercise or
//! a lab is asked for outside the project directory.

use std::path::{Path, PathBuf};

fn main() {
    let root = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let labs = root.join("labs");
    // A directory makes cargo rerun this script when anything inside it changes.
    println!("cargo:rerun-if-changed=labs");
    let mut files = Vec::new();
    collect(&labs, &labs, &mut files);
    files.sort();
    let mut out = String::from(
        "/// Every file under `labs/` at build time: (path relative to `labs/`, contents).\n\
         pub(crate) static FILES: &[(&str, &[u8])] = &[\n",
    );
    for (name, path) in &files {
        out += &format!("    ({name:?}, include_bytes!({path:?})),\n");
    }
    out += "];\n";
    let dest = PathBuf::from(std::env::var_os("OUT_DIR").expect("set by cargo")).join("labs.rs");
    std::fs::write(&dest, out).expect("write the table of built-in labs");
}

/// Regular files below `dir`, with their names relative to `base` joined by '/'. Hidden files
/// (editor swap files, `.gitignore`) are left out; a name that is not UTF-8 stops the build, as
/// it could not be looked up.
fn collect(base: &Path, dir: &Path, files: &mut Vec<(String, String)>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let entry = entry.unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let path = entry.path();
        let name = entry.file_name();
        let name = name
            .to_str()
            .unwrap_or_else(|| panic!("{}: the name is not UTF-8", path.display()));
        if name.starts_with('.') {
            continue;
        }
        let kind = entry
            .file_type()
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        if kind.is_dir() {
            collect(base, &path, files);
        } else if kind.is_file() {
            let rel = path
                .strip_prefix(base)
                .expect("below labs/")
                .components()
                .map(|c| c.as_os_str().to_str().expect("checked above"))
                .collect::<Vec<_>>()
                .join("/");
            let abs = path.to_str().unwrap_or_else(|| {
                panic!("{}: the path is not UTF-8", path.display());
            });
            files.push((rel, abs.to_string()));
        }
    }
}
