//! `mus-agent watch`, the node daemon: the watch loop ([`watch`]) runs passes
//! (`pass`) over this node's pods. A pass decides what each pod is granted
//! ([`grant`]: the CPUBoost objects in force and the boost policy, bounded by the
//! node's cap, each pod left out with its refusal), plans the map's changes
//! ([`reconcile`], pure), applies them (where mus is not attached, through
//! `cpu.weight` instead: [`fallback`]), and reports on the objects ([`report`]:
//! status, Events, and the items of deleted nodes taken out); the [`auto_loop`]
//! moves the weights of auto boosts between passes. What the daemon serves:
//! [`metrics`] over [`http`]; one daemon per map ([`instance_lock`]). What it
//! watches: this node's pods and the [`namespace_watch`]es its policy needs, each
//! object kept as [`trim`] leaves it.

pub mod auto_loop;
pub mod fallback;
pub mod grant;
pub mod http;
pub mod instance_lock;
pub mod metrics;
pub mod namespace_watch;
pub mod options;
mod pass;
pub mod reconcile;
pub mod report;
pub mod trim;
pub mod watch;
