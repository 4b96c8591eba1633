//! mus-agent: finds this node's pods and containers, resolves their cgroups and
//! boosts them by writing the mus scheduler's pinned map. The binary is a thin
//! shell over these modules so that tests reach all of them.
//!
//! By concern, each layer importing only those below it: [`commands`] (the
//! subcommands), [`plan`] (the preview of a boost) and [`tui`] over [`cli`] (flags,
//! and the Kubernetes and cgroup clients they configure), over [`daemon`]
//! (`mus-agent watch`) and [`targets`], over [`cgroup`], [`boost`], [`cpuboost`]
//! (the CPUBoost object), [`auto`] (the automatic boost's control law), [`waits`]
//! (the scheduler's run-queue waits per cgroup) and [`kube`], over [`pod`] (a pod as
//! this node sees it) and [`duration`] (the one duration grammar of a CPUBoost).

pub mod auto;
pub mod boost;
pub mod cgroup;
pub mod cli;
pub mod commands;
pub mod cpuboost;
pub mod daemon;
pub mod duration;
pub mod kube;
pub mod plan;
pub mod pod;
pub mod targets;
pub mod tui;
pub mod waits;
