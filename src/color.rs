//! Whether to print in colour: only to a terminal, and never when `NO_COLOR` is set to a
//! non-empty value (https://no-color.org).

use std::io::IsTerminal;

pub(crate) fn wanted() -> bool {
    std::io::stdout().is_terminal() && !no_color(std::env::var_os("NO_COLOR").as_deref())
}

fn no_color(value: Option<&std::ffi::OsStr>) -> bool {
    value.is_some_and(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::no_color;
    use std::ffi::OsStr;

    #[test]
    fn no_color_counts_only_when_set_and_not_empty() {
        assert!(!no_color(None));
        assert!(!no_color(Some(OsStr::new(""))));
        assert!(no_color(Some(OsStr::new("1"))));
        assert!(no_color(Some(OsStr::new("false"))));
    }
}
