//! Where `play` finds levels and exercises, in order: the directories in `FIREDRILL_LEVELS` and
//! `FIREDRILL_EXERCISES` (each a list like `PATH`), `labs/levels` and `labs/exercises` here, then
//! the ones built into firedrill. The first file of an id wins, so a level can be overridden.

use super::LevelError;
use crate::paths::Home;
use std::path::{Path, PathBuf};

/// Where a directory of levels comes from, for `play --list`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    /// Named by an environment variable.
    Env(&'static str),
    /// `labs/` in the current directory.
    Here,
    /// Built into firedrill (written out under its home).
    BuiltIn,
}

/// One directory searched.
#[derive(Debug, Clone)]
pub(crate) struct Dir {
    pub path: PathBuf,
    pub origin: Origin,
    /// A directory of exercises: `play --random` does not pick from it.
    pub exercises: bool,
}

/// A level file found, under its id (the file's name without `.yaml`).
#[derive(Debug, Clone)]
pub(crate) struct Found {
    pub id: String,
    pub file: PathBuf,
    pub dir: usize,
}

/// The directories searched, in order.
#[derive(Debug, Clone)]
pub(crate) struct Search {
    pub dirs: Vec<Dir>,
}

impl Search {
    /// The directories from the environment, then `labs/` here, without the built-in ones.
    pub(crate) fn local() -> Search {
        let mut dirs = Vec::new();
        for (var, exercises) in [("FIREDRILL_LEVELS", false), ("FIREDRILL_EXERCISES", true)] {
            if let Some(value) = std::env::var_os(var) {
                dirs.extend(
                    std::env::split_paths(&value)
                        .filter(|p| !p.as_os_str().is_empty())
                        .map(|path| Dir {
                            path,
                            origin: Origin::Env(var),
                            exercises,
                        }),
                );
            }
        }
        for (sub, exercises) in [("levels", false), ("exercises", true)] {
            let path = Path::new("labs").join(sub);
            if path.is_dir() {
                dirs.push(Dir {
                    path,
                    origin: Origin::Here,
                    exercises,
                });
            }
        }
        Search { dirs }
    }

    /// The local directories, then the built-in ones (written under `home` the first time).
    pub(crate) fn all(home: &Home) -> Result<Search, LevelError> {
        let mut search = Search::local();
        let root = crate::builtin::dir(home)?;
        for (sub, exercises) in [("levels", false), ("exercises", true)] {
            search.dirs.push(Dir {
                path: root.join(sub),
                origin: Origin::BuiltIn,
                exercises,
            });
        }
        Ok(search)
    }

    /// Every level and exercise, each id once (the first found), levels before exercises and
    /// each sorted by id.
    pub(crate) fn entries(&self) -> Vec<Found> {
        let mut found: Vec<Found> = Vec::new();
        for (i, dir) in self.dirs.iter().enumerate() {
            for file in super::level_files(&dir.path) {
                let Some(id) = file.file_stem().and_then(|s| s.to_str()) else {
                    continue;
                };
                if !found.iter().any(|f| f.id == id) {
                    found.push(Found {
                        id: id.to_string(),
                        file,
                        dir: i,
                    });
                }
            }
        }
        found.sort_by(|a, b| {
            (self.dirs[a.dir].exercises, &a.id).cmp(&(self.dirs[b.dir].exercises, &b.id))
        });
        found
    }

    /// The level or exercise `id`, compared with the ids found: the name is never joined onto
    /// a path.
    pub(crate) fn find(&self, id: &str) -> Option<PathBuf> {
        self.entries()
            .into_iter()
            .find(|f| f.id == id)
            .map(|f| f.file)
    }

    /// The levels `play --random` picks from (not the exercises).
    pub(crate) fn incidents(&self) -> Vec<PathBuf> {
        self.entries()
            .into_iter()
            .filter(|f| !self.dirs[f.dir].exercises)
            .map(|f| f.file)
            .collect()
    }

    /// The directories searched, for messages: `labs/levels, labs/exercises, built in`.
    pub(crate) fn describe(&self) -> String {
        let mut shown: Vec<String> = Vec::new();
        for dir in &self.dirs {
            let s = describe_dir(dir);
            if !shown.contains(&s) {
                shown.push(s);
            }
        }
        if shown.is_empty() {
            return "no directory".into();
        }
        shown.join(", ")
    }
}

/// One directory as `--list` and messages name it.
pub(crate) fn describe_dir(dir: &Dir) -> String {
    match dir.origin {
        Origin::Env(var) => format!("{} ({var})", dir.path.display()),
        Origin::Here => dir.path.display().to_string(),
        Origin::BuiltIn => "the built-in levels and exercises".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(path: &Path, origin: Origin, exercises: bool) -> Dir {
        Dir {
            path: path.to_path_buf(),
            origin,
            exercises,
        }
    }

    #[test]
    fn the_first_file_of_an_id_wins_and_levels_come_before_exercises() {
        let tmp = tempfile::tempdir().unwrap();
        let (mine, here, built, ex) = (
            tmp.path().join("mine"),
            tmp.path().join("here"),
            tmp.path().join("built"),
            tmp.path().join("ex"),
        );
        for (d, files) in [
            (&mine, &["disk-full.yaml", "extra.yaml"][..]),
            (&here, &["disk-full.yaml", "cpu-hog.yaml", "x.lab.yaml"][..]),
            (&built, &["cpu-hog.yaml", "db-lock.yaml", "README.md"][..]),
            (&ex, &["drain.yaml", "db-lock.yaml"][..]),
        ] {
            std::fs::create_dir_all(d).unwrap();
            for f in files {
                std::fs::write(d.join(f), "id: x\n").unwrap();
            }
        }
        let search = Search {
            dirs: vec![
                dir(&mine, Origin::Env("FIREDRILL_LEVELS"), false),
                dir(&here, Origin::Here, false),
                dir(&tmp.path().join("missing"), Origin::Here, true),
                dir(&built, Origin::BuiltIn, false),
                dir(&ex, Origin::BuiltIn, true),
            ],
        };
        let rows: Vec<(String, PathBuf)> = search
            .entries()
            .into_iter()
            .map(|f| (f.id, f.file))
            .collect();
        assert_eq!(
            rows,
            [
                ("cpu-hog".into(), here.join("cpu-hog.yaml")),
                ("db-lock".into(), built.join("db-lock.yaml")),
                ("disk-full".into(), mine.join("disk-full.yaml")),
                ("extra".into(), mine.join("extra.yaml")),
                ("drain".into(), ex.join("drain.yaml")),
            ]
        );
        assert_eq!(search.find("disk-full"), Some(mine.join("disk-full.yaml")));
        assert_eq!(search.find("drain"), Some(ex.join("drain.yaml")));
        assert_eq!(search.find("../mine/disk-full"), None);
        assert_eq!(search.incidents().len(), 4);
        assert_eq!(
            search.describe(),
            format!(
                "{} (FIREDRILL_LEVELS), {}, {}, the built-in levels and exercises",
                mine.display(),
                here.display(),
                tmp.path().join("missing").display()
            )
        );
    }
}
