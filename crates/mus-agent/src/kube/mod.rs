//! Talking to the Kubernetes API server: this node's pods ([`discovery`]) through
//! the agent's [`client`] (watches pause after one that ended early:
//! [`watch_backoff`]; other requests have a [`deadline`]), and watchers that back
//! off until a LIST succeeds ([`relist_backoff`]).

pub mod client;
pub mod deadline;
pub mod discovery;
pub mod relist_backoff;
pub mod watch_backoff;
