//! What a role's `check_options` gets to read: the whole lab file (other nodes, their roles) and
//! the node's `NAME: {...}` block, with positions for messages.

use crate::spec::yaml::Yaml;
use crate::spec::{Lab, Node, Pos};
use serde::{Deserialize, Serialize};

pub(crate) struct OptionsInput<'a> {
    pub(crate) lab: &'a Lab,
    /// The node's index in `lab.nodes`.
    pub(crate) index: usize,
    /// The node's options block for this role, if the file has one.
    pub(crate) block: Option<&'a Yaml>,
    /// Where the role is listed in the node's `roles`, for messages about a missing block.
    pub(crate) role_pos: Pos,
}

impl<'a> OptionsInput<'a> {
    pub(crate) fn node(&self) -> &'a Node {
        &self.lab.nodes.value[self.index]
    }

    /// The field path of `key` in the role's block, e.g. `nodes[2].nginx.port`.
    pub(crate) fn path(&self, role: &str, key: &str) -> String {
        match key {
            "" => format!("nodes[{}].{role}", self.index),
            key => format!("nodes[{}].{role}.{key}", self.index),
        }
    }
}

/// The options of a role that takes none (its `RoleDef::has_options` is false).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct NoOptions;

pub(crate) fn no_options(
    _: &OptionsInput<'_>,
    _: &mut crate::spec::problem::Report,
) -> Option<NoOptions> {
    Some(NoOptions)
}
