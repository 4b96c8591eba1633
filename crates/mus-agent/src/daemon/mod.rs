//! `mus-agent watch`, the node daemon: the watch loop ([`watch`]) runs passes
//! (`pass`) over this node's pods; a pass takes the pure step from pods to the
//! boosts they are granted ([`wishes`], under the boost [`policy`] and its
//! [`annotations`]), plans the map's changes ([`reconcile`], pure too) and applies
//! them. What the daemon serves: [`metrics`] over [`http`].

pub mod annotations;
pub mod http;
pub mod metrics;
pub mod options;
mod pass;
pub mod policy;
pub mod reconcile;
pub mod watch;
pub mod wishes;
