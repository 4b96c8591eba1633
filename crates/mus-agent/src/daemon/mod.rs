//! `mus-agent watch`, the node daemon: the watch loop ([`watch`]), the boost policy
//! ([`policy`], [`annotations`]), the pure map plan ([`reconcile`]), and what it
//! serves ([`metrics`], [`http`]).

pub mod annotations;
pub mod http;
pub mod metrics;
pub mod policy;
pub mod reconcile;
pub mod watch;
