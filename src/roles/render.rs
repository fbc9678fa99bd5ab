//! Renders the handlebars templates under `templates/`, which are built into the binary.
//! Strict mode turns a missing value into an error instead of an empty string, and HTML
//! escaping is off because these are config files.

use super::error::RoleError;
use handlebars::Handlebars;
use serde::Serialize;

/// A template built into the binary: its path under `templates/` (for messages) and its text.
#[derive(Debug, Clone, Copy)]
pub(super) struct Template {
    pub(super) name: &'static str,
    pub(super) text: &'static str,
}

macro_rules! template {
    ($path:literal) => {
        $crate::roles::render::Template {
            name: $path,
            text: include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/templates/", $path)),
        }
    };
}
pub(super) use template;

pub(super) fn render(template: Template, data: &impl Serialize) -> Result<String, RoleError> {
    let mut hb = Handlebars::new();
    hb.set_strict_mode(true);
    hb.register_escape_fn(handlebars::no_escape);
    hb.render_template(template.text, data)
        .map_err(|e| RoleError::Template {
            template: template.name.to_string(),
            message: e.to_string(),
        })
}

/// Database, user and role names go into SQL and config files unquoted, so they are limited to
/// plain identifiers.
pub(super) fn is_plain_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && name.len() <= 32
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const T: Template = Template {
        name: "test.hbs",
        text: "a={{a}}\n{{#each xs}}\nx={{this}}\n{{/each}}\nq=\"{{q}}\"\n",
    };

    #[test]
    fn block_lines_leave_no_blank_lines_and_nothing_is_escaped() {
        let out = render(T, &json!({"a": "<&>", "xs": [1, 2], "q": "'"})).expect("renders");
        assert_eq!(out, "a=<&>\nx=1\nx=2\nq=\"'\"\n");
    }

    #[test]
    fn a_missing_value_is_an_error_naming_the_template() {
        let err = render(T, &json!({"xs": []})).expect_err("strict mode");
        let msg = err.to_string();
        assert!(
            msg.starts_with("template test.hbs failed to render: "),
            "{msg}"
        );
        assert!(msg.contains("\"a\""), "{msg}");
    }

    #[test]
    fn plain_names() {
        assert!(is_plain_name("todo"));
        assert!(is_plain_name("todo_2"));
        assert!(!is_plain_name("Todo"));
        assert!(!is_plain_name("2todo"));
        assert!(!is_plain_name("to-do"));
        assert!(!is_plain_name("x'; DROP"));
        assert!(!is_plain_name(""));
        assert!(!is_plain_name(&"a".repeat(33)));
    }
}
