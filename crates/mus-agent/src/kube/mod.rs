//! Talking to the Kubernetes API server: this node's pods ([`discovery`]) through
//! a client whose watches pause after one that ended early ([`watch_backoff`]).

pub mod discovery;
pub mod watch_backoff;
