//! What the daemon tells about the CPUBoost objects after a pass: their status
//! ([`boost_report`]) with Kubernetes [`events`], and the status items of nodes
//! that were deleted, taken out ([`stale_nodes`]).

pub mod boost_report;
pub mod events;
pub mod stale_nodes;
