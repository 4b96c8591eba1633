//! `mus-agent watch`, the node daemon: the watch loop ([`watch`]) runs passes
//! (`pass`) over this node's pods. A pass judges the CPUBoost objects under the
//! policy ([`boosts`]), takes the pure step from pods to the boosts they are
//! granted ([`wishes`]: the objects in force, the boost [`policy`] and its
//! [`annotations`] grant weights, its [`node_cap`] bounds them by what
//! each pod can take of the node's CPU ([`pod_cpu`]), each pod left out
//! gets its [`refusal`]), plans the map's changes ([`reconcile`], pure too),
//! applies them (where mus is not attached, through `cpu.weight` instead:
//! [`fallback`]), and reports on the objects ([`boost_report`], with [`events`]); the
//! [`auto_loop`] moves the weights of auto boosts between passes, and the items of
//! deleted nodes leave the objects' status ([`stale_nodes`]). What the daemon
//! serves: [`metrics`] over [`http`]; one daemon
//! per map ([`instance_lock`]). What it watches: this node's pods and the
//! [`namespace_watch`]es its policy needs, each object kept as [`trim`] leaves it.

pub mod annotations;
pub mod auto_loop;
pub mod boost_report;
pub mod boosts;
pub mod events;
pub mod fallback;
pub mod http;
pub mod instance_lock;
pub mod metrics;
pub mod namespace_watch;
pub mod node_cap;
pub mod options;
mod pass;
pub mod pod_cpu;
pub mod policy;
pub mod reconcile;
pub mod refusal;
pub mod stale_nodes;
pub mod trim;
pub mod watch;
pub mod wishes;
