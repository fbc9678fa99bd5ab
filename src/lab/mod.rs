//! The lab lifecycle: `up`, `down`, `status`, `list`, and access to nodes (`ssh`, `ssh-config`,
//! `console`). Planning is in `plan.rs`; this module applies plans and reads back state.

mod access;
mod capture;
mod configure;
mod converge;
mod down;
mod error;
mod facts;
mod forward;
mod handle;
mod list;
pub(crate) mod loading;
mod lock;
mod node;
mod nodes;
mod open;
pub(crate) mod slow_libvirt;
pub(crate) mod snapshot;
mod start_gate;
mod status;
mod up;

pub(crate) use access::{console, secrets, ssh, ssh_config};
pub(crate) use capture::{Capture, CaptureError, capture};
pub(crate) use configure::{DB_NAME, Order, contexts, round};
pub(crate) use down::down;
pub(crate) use error::LabError;
pub(crate) use facts::{AccelChoice, libvirt_unchecked, validation_facts};
pub(crate) use forward::{ForwardError, forward};
pub(crate) use handle::{Lab, LabOpenError, NoNode};
pub(crate) use lock::{LabLock, LockError};
#[cfg(test)]
pub(crate) use nodes::FakeNodes;
pub(crate) use nodes::{NodeError, Nodes, SshNodes};
pub(crate) use open::open;

pub(crate) use list::list;
pub(crate) use status::status;
pub(crate) use up::{UpOptions, planned_state, up};
