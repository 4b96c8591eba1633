//! `mus-agent watch`, the node daemon: the watch loop ([`watch`]) runs passes
//! (`pass`) over this node's pods. A pass takes the pure step from pods to the
//! boosts they are granted ([`wishes`]: the boost [`policy`] and its
//! [`annotations`] grant weights, its [`node_cap`] bounds them, each pod left out
//! gets its [`refusal`]), plans the map's changes ([`reconcile`], pure too) and
//! applies them. What the daemon serves: [`metrics`] over [`http`].

pub mod annotations;
pub mod http;
pub mod metrics;
pub mod node_cap;
pub mod options;
mod pass;
pub mod policy;
pub mod reconcile;
pub mod refusal;
pub mod watch;
pub mod wishes;
