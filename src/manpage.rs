//! `firedrill man`: the manual pages, from the same command definitions as `--help` and the
//! completions. firedrill(1) ends with the exit statuses and the environment; `--dir` also
//! writes a page for every command (firedrill-up(1), ...), the pages firedrill(1) refers to.

use std::io::Write;
use std::path::{Path, PathBuf};

/// What each exit status means; the README's table says the same (a test compares them).
pub(crate) const EXIT_STATUSES: &[(&str, &str)] = &[
    (
        "0",
        "done; for `doctor` and `client --slo`: every check passed",
    ),
    (
        "1",
        "the command failed, or found what it looks for missing: a failing `doctor` check, a missed `--slo`, `up` leaving edited files or a pending restart; the message says what to do",
    ),
    (
        "2",
        "bad usage: an unknown option, an invalid lab or level file, a bad lab name or `forward` spec",
    ),
    (
        "other",
        "`firedrill ssh NODE -- CMD` exits with the remote command's status",
    ),
];

/// The environment firedrill reads, for the page.
const ENVIRONMENT: &[(&str, &str)] = &[
    (
        "FIREDRILL_HOME",
        "state directory (labs, keys, disks); default ~/.local/share/firedrill",
    ),
    (
        "FIREDRILL_IMAGES",
        "golden image cache; default $FIREDRILL_HOME/images",
    ),
    ("FIREDRILL_ACCEL", "auto, kvm or tcg; default auto"),
    (
        "FIREDRILL_LEVELS, FIREDRILL_EXERCISES",
        "more directories of levels and exercises, searched first (DIR:DIR)",
    ),
    (
        "LIBVIRT_DEFAULT_URI",
        "libvirt connection; default qemu:///system",
    ),
    (
        "NO_COLOR",
        "set to anything but empty: no colour, no sparkline",
    ),
];

#[derive(Debug, thiserror::Error)]
pub(crate) enum ManError {
    #[error(
        "{} exists; firedrill does not overwrite files it did not write\n  hint: remove it, or pass another --dir",
        .0.display()
    )]
    Exists(PathBuf),
    #[error("cannot write {}: {source}\n  hint: check that the directory exists and is writable", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Text for roff: backslashes escaped, '-' as a hyphen-minus (what a command line needs), no
/// line taken for a request, no markdown backticks.
fn roff_text(s: &str) -> String {
    let s = s.replace('\\', "\\e").replace('-', "\\-").replace('`', "");
    if s.starts_with('.') || s.starts_with('\'') {
        format!("\\&{s}")
    } else {
        s
    }
}

fn section(title: &str, items: &[(&str, &str)]) -> String {
    let mut out = format!(".SH \"{title}\"\n");
    for (term, text) in items {
        out += &format!(".TP\n{}\n{}\n", roff_text(term), roff_text(text));
    }
    out
}

/// The page of `cmd`; the top-level one also has the exit statuses and the environment.
fn page(cmd: clap::Command, top: bool) -> Vec<u8> {
    let mut out = Vec::new();
    // Writing into a Vec cannot fail.
    let _ = clap_mangen::Man::new(cmd).render(&mut out);
    if top {
        out.extend(section("EXIT STATUS", EXIT_STATUSES).into_bytes());
        out.extend(section("ENVIRONMENT", ENVIRONMENT).into_bytes());
    }
    out
}

/// firedrill(1).
pub(crate) fn main_page(cmd: clap::Command) -> Vec<u8> {
    page(cmd, true)
}

/// Every page: firedrill(1) and one per command and subcommand, with its file name.
fn pages(cmd: clap::Command) -> Vec<(String, Vec<u8>)> {
    fn walk(cmd: &clap::Command, top: bool, out: &mut Vec<(String, Vec<u8>)>) {
        let name = cmd.get_display_name().unwrap_or(cmd.get_name()).to_string();
        out.push((format!("{name}.1"), page(cmd.clone(), top)));
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            walk(sub, false, out);
        }
    }
    let mut cmd = cmd.disable_help_subcommand(true);
    cmd.build();
    let mut out = Vec::new();
    walk(&cmd, true, &mut out);
    out
}

/// Writes every page into `dir`; refuses, before writing any, when one is there already.
pub(crate) fn write_all(cmd: clap::Command, dir: &Path) -> Result<Vec<PathBuf>, ManError> {
    let pages = pages(cmd);
    for (name, _) in &pages {
        let path = dir.join(name);
        if std::fs::symlink_metadata(&path).is_ok() {
            return Err(ManError::Exists(path));
        }
    }
    let mut written = Vec::new();
    for (name, text) in pages {
        let path = dir.join(name);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|source| ManError::Write {
                path: path.clone(),
                source,
            })?;
        f.write_all(&text).map_err(|source| ManError::Write {
            path: path.clone(),
            source,
        })?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cli() -> clap::Command {
        <crate::cli::Cli as clap::CommandFactory>::command()
    }

    #[test]
    fn the_main_page_names_the_commands_exit_statuses_and_environment() {
        let page = String::from_utf8(main_page(cli())).unwrap();
        assert!(
            page.starts_with(".ie \\n(.g .ds Aq \\(aq\n.el .ds Aq '\n.TH firedrill 1"),
            "{page}"
        );
        for cmd in ["up", "down", "snapshot", "forward", "completions", "man"] {
            assert!(
                page.contains(&format!("firedrill\\-{cmd}(1)")),
                "lacks {cmd}"
            );
        }
        assert!(
            page.contains(".SH \"EXIT STATUS\"\n.TP\n0\ndone; for doctor and client \\-\\-slo")
        );
        assert!(page.contains(".TP\nNO_COLOR\n"), "{page}");
    }

    #[test]
    fn the_readme_lists_the_same_exit_statuses() {
        let readme = include_str!("../README.md");
        for (code, meaning) in EXIT_STATUSES {
            let row = format!("| {code} | {meaning} |");
            assert!(readme.contains(&row), "README lacks the row\n{row}");
        }
    }

    #[test]
    fn every_command_gets_a_page_and_nothing_is_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let written = write_all(cli(), dir.path()).unwrap();
        let names: Vec<String> = written
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        for n in [
            "firedrill.1",
            "firedrill-up.1",
            "firedrill-snapshot-save.1",
            "firedrill-fault.1",
        ] {
            assert!(names.iter().any(|x| x == n), "{n} not in {names:?}");
        }
        let up = std::fs::read_to_string(dir.path().join("firedrill-up.1")).unwrap();
        assert!(up.contains("\\-\\-dry\\-run"), "{up}");
        let err = write_all(cli(), dir.path()).unwrap_err();
        assert!(matches!(err, ManError::Exists(_)), "{err}");
        assert!(roff_text(".x `y` \\z").starts_with("\\&.x y \\ez"));
    }
}
