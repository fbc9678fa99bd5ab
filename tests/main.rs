//! Every integration test, in one binary. Each drives the real executable through `exe::Exe`:
//! - `cli`: commands that need no VM (validate, the level commands, the safety rules), against
//!   libvirt's test driver;
//! - `client`: the mock client against servers on 127.0.0.1 that misbehave in known ways;
//! - `e2e` and `level_ci`: real VMs, as root, each in a network namespace of its own with its
//!   own libvirtd (`harness::Sandbox`). Every one is named `e2e_...` and ignored by a plain
//!   `cargo test`; `scripts/test` runs them (`e2e::` and `level_ci::` select each set).

mod cli;
mod client;
mod e2e;
mod exe;
mod harness;
mod level_ci;
