//! `mus-agent watch` end to end on this machine, without a cluster: a scripted API
//! server (tests/common's fake API server and its cluster: real Kubernetes JSON,
//! watch streams with resource versions, 410 Gone, stop and restart on the same
//! port), a real BPF hash map of the scheduler's layout pinned on a private bpffs
//! (and, for the metrics, a per-CPU array of the scheduler's counters), and a temp
//! dir as the cgroup mount (IDs are directory inodes, as `cgroup::index` matches
//! them). Needs root, for the bpffs mount and the maps: it fails and says so
//! otherwise.

#[path = "../common/mod.rs"]
mod common;
mod fixtures;

mod auto;
mod backoff;
mod cpuboost;
mod follow;
mod metrics;
mod namespaces;
mod ownership;
mod policy;
mod stale_nodes;
