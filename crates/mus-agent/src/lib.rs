//! mus-agent: finds this node's pods and containers, resolves their cgroups and
//! boosts them by writing the mus scheduler's pinned map. The binary is a thin
//! shell over these modules so that tests reach all of them.

pub mod annotations;
pub mod boost;
pub mod cgroup_index;
pub mod cgroup_paths;
pub mod cli;
pub mod commands;
pub mod cpu;
pub mod http;
pub mod kube_discovery;
pub mod metrics;
pub mod policy;
pub mod reconcile;
pub mod resolve;
pub mod runtime;
pub mod targets;
pub mod tui;
pub mod watch;
pub mod watch_backoff;
