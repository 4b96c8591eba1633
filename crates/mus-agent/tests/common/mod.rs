//! What the agent's tests share: one fake Kubernetes API server ([`api`]) and the
//! objects it serves ([`objects`]), a scripted cluster on it for the watch daemon
//! ([`cluster`], selecting objects as the API server does: [`labels`]), the node's
//! side of the map ([`bpffs`]), the agent binary as a child process ([`child`]),
//! a client of the agent's own HTTP endpoint ([`endpoint`]), and the agent
//! container's seccomp profile ([`seccomp`]).
// Each test binary uses its own part of this module, and of what it re-exports.
#![allow(dead_code, unused_imports)]

pub mod api;
pub mod bpffs;
pub mod child;
pub mod cluster;
pub mod endpoint;
pub mod labels;
pub mod manifests;
pub mod objects;
pub mod seccomp;

pub use api::{Call, FakeApi, QuietWatches, Reply, query_param};
pub use objects::*;
