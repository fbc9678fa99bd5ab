//! One problem found in a lab file, and the list of them that `load`/`check` return.

use super::Pos;
use std::fmt;
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Severity {
    Error,
    Warning,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Problem {
    pub severity: Severity,
    pub file: PathBuf,
    pub line: Option<usize>,
    pub column: Option<usize>,
    /// Field path such as `nodes[1].ip`; empty for file-level problems (syntax).
    pub path: String,
    pub message: String,
    pub hint: Option<String>,
}

impl Problem {
    pub(crate) fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        f.write_str(": ")?;
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

/// Every problem found, errors and warnings, in file order of discovery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Problems(pub Vec<Problem>);

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Problems {}

/// Collects problems for one file while load and validate walk it.
pub(crate) struct Report<'a> {
    file: &'a Path,
    pub problems: Vec<Problem>,
}

impl<'a> Report<'a> {
    pub(crate) fn new(file: &'a Path) -> Self {
        Report {
            file,
            problems: Vec::new(),
        }
    }

    pub(crate) fn error(
        &mut self,
        pos: Option<Pos>,
        path: &str,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) {
        self.push(Severity::Error, pos, path, message.into(), hint.into());
    }

    pub(crate) fn warning(
        &mut self,
        pos: Option<Pos>,
        path: &str,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) {
        self.push(Severity::Warning, pos, path, message.into(), hint.into());
    }

    fn push(
        &mut self,
        severity: Severity,
        pos: Option<Pos>,
        path: &str,
        message: String,
        hint: String,
    ) {
        self.problems.push(Problem {
            severity,
            file: self.file.to_path_buf(),
            line: pos.map(|p| p.line),
            column: pos.map(|p| p.column),
            path: path.to_string(),
            message,
            hint: (!hint.is_empty()).then_some(hint),
        });
    }

    pub(crate) fn has_errors(&self) -> bool {
        self.problems.iter().any(Problem::is_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(line: Option<usize>, path: &str, hint: Option<&str>) -> Problem {
        Problem {
            severity: Severity::Error,
            file: PathBuf::from("labs/x.yaml"),
            line,
            column: line.map(|_| 7),
            path: path.to_string(),
            message: "something is wrong".to_string(),
            hint: hint.map(str::to_string),
        }
    }

    #[test]
    fn display_names_file_line_column_path_and_hint() {
        let p = problem(Some(3), "nodes[1].ip", Some("fix it"));
        assert_eq!(
            p.to_string(),
            "labs/x.yaml:3:7: nodes[1].ip: something is wrong\n  hint: fix it"
        );
    }

    #[test]
    fn display_leaves_out_what_is_unknown() {
        assert_eq!(
            problem(None, "", None).to_string(),
            "labs/x.yaml: something is wrong"
        );
    }

    #[test]
    fn problems_display_one_block_per_problem() {
        let ps = Problems(vec![
            problem(Some(1), "name", Some("a")),
            problem(Some(2), "nodes", None),
        ]);
        assert_eq!(
            ps.to_string(),
            "labs/x.yaml:1:7: name: something is wrong\n  hint: a\n\
             labs/x.yaml:2:7: nodes: something is wrong"
        );
    }
}
