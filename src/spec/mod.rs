//! PLACEHOLDER: contract types only, replaced by the spec branch on merge.
#![allow(dead_code)]
use ipnetwork::Ipv4Network;
use std::net::Ipv4Addr;
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Role {
    Haproxy,
    App,
    Mysql,
    Postgres,
}
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum NetMode {
    Nat,
    Isolated,
}
#[derive(Debug, Clone)]
pub(crate) struct ValidLab {
    pub name: String,
    pub networks: Vec<ValidNetwork>,
    pub nodes: Vec<ValidNode>,
    pub source: PathBuf,
}
#[derive(Debug, Clone)]
pub(crate) struct ValidNetwork {
    pub name: String,
    pub cidr: Ipv4Network,
    pub mode: NetMode,
    pub domain: String,
    pub gateway: Ipv4Addr,
}
#[derive(Debug, Clone)]
pub(crate) struct ValidNode {
    pub name: String,
    pub roles: Vec<Role>,
    pub network: usize,
    pub ip: Ipv4Addr,
    pub image: String,
    pub cpus: u32,
    pub memory_mib: u64,
    pub disk_gib: u64,
}
