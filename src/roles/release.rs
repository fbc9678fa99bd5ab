//! The todo app's releases. Every app node has all of them side by side in
//! `/opt/todo/releases/vN` (its `app.py` and its schema `migrate`); the lab file picks the one
//! `todo.service` runs (`app: {release: v2}`), through the `current` link.

use super::error::RoleError;
use super::render::{self, template};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::fmt;

#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Release {
    /// `{"todos": [{"name", "completed"}]}`: the app as it has always been.
    #[default]
    V1,
    /// `[{"title", "done"}]`: a breaking API change, no schema change.
    V2,
    /// Adds `author` and its column.
    V3,
    /// Expand: adds `author_first_name` and `author_last_name`, still writes `author`.
    V4,
    /// Contract: drops `author`.
    V5,
}

impl Release {
    pub(crate) const ALL: [Release; 5] = [
        Release::V1,
        Release::V2,
        Release::V3,
        Release::V4,
        Release::V5,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Release::V1 => "v1",
            Release::V2 => "v2",
            Release::V3 => "v3",
            Release::V4 => "v4",
            Release::V5 => "v5",
        }
    }

    pub(crate) fn parse(name: &str) -> Option<Release> {
        Release::ALL.into_iter().find(|r| r.name() == name)
    }

    /// "v1, v2, v3, v4, v5", for messages.
    pub(crate) fn list() -> String {
        Release::ALL.map(Release::name).join(", ")
    }

    /// The directory it is installed in on an app node.
    pub(crate) fn dir(self) -> String {
        format!("{RELEASES_DIR}/{}", self.name())
    }

    /// The port `todo@vN.service` listens on when started beside `todo.service`.
    pub(crate) fn side_port(self) -> u16 {
        9000 + self as u16 + 1
    }
}

impl fmt::Display for Release {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

pub(crate) const RELEASES_DIR: &str = "/opt/todo/releases";

/// The release's `app.py`.
pub(crate) fn render_app(release: Release) -> Result<String, RoleError> {
    render::render(
        template!("app/app.py.hbs"),
        &json!({"release": release.name()}),
    )
}

/// The release's `migrate`: brings the schema to what the release needs.
pub(crate) fn render_migrate(release: Release) -> Result<String, RoleError> {
    render::render(
        template!("app/migrate.hbs"),
        &json!({"release": release.name()}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back_and_list_in_order() {
        for r in Release::ALL {
            assert_eq!(Release::parse(r.name()), Some(r));
            assert_eq!(
                serde_json::to_string(&r).expect("serialises"),
                format!("\"{r}\"")
            );
        }
        assert_eq!(Release::parse("v6"), None);
        assert_eq!(Release::parse("V1"), None);
        assert_eq!(Release::list(), "v1, v2, v3, v4, v5");
        assert_eq!(Release::default(), Release::V1);
        assert_eq!(Release::V2.dir(), "/opt/todo/releases/v2");
        assert_eq!(Release::V1.side_port(), 9001);
        assert_eq!(Release::V5.side_port(), 9005);
    }

    #[test]
    fn each_release_knows_its_own_name_and_nothing_is_left_unrendered() {
        for r in Release::ALL {
            let app = render_app(r).expect("renders");
            assert!(app.contains(&format!("RELEASE = \"{r}\"\n")), "{r}");
            let migrate = render_migrate(r).expect("renders");
            assert!(migrate.contains(&format!("RELEASE = \"{r}\"\n")), "{r}");
            assert!(!app.contains("{{") && !migrate.contains("{{"), "{r}");
        }
    }
}
