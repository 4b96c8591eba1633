//! How the daemon runs: `mus-agent watch`'s flags, as the watch loop and each
//! pass read them.

use std::path::PathBuf;
use std::time::Duration;

use mus_common::OwnerId;

use crate::daemon::fallback::attach::SCHED_EXT_SYSFS;
use crate::daemon::grant::policy::Policy;

/// Where the kernel says which boot this is; the kubelet reports the same value as
/// the Node's `status.nodeInfo.bootID`.
pub const BOOT_ID_PATH: &str = "/proc/sys/kernel/random/boot_id";

/// How the daemon runs; the CLI's flags.
#[derive(Clone, Debug)]
pub struct WatchOptions {
    /// This node's name (`spec.nodeName` of its pods).
    pub node: String,
    pub pin_path: PathBuf,
    pub cgroup_root: PathBuf,
    /// Who may boost, and how much (`--policy`; default: nothing is boosted).
    pub policy: Policy,
    /// This machine's boot ID, checked against the Node's: a daemon told another
    /// node's name stops instead of acting on that node's pods. `None`: unchecked.
    pub boot_id: Option<String>,
    /// Delete every entry no pod is granted, including other writers' ones.
    pub own_all: bool,
    /// Log what would change; write nothing.
    pub dry_run: bool,
    /// A full pass at least this often, events or not.
    pub resync_interval: Duration,
    /// How often the pin is checked for a new map (mus-runner restarted).
    pub pin_check_interval: Duration,
    /// Publish a Kubernetes Event on a pod whose boost is refused.
    pub events: bool,
    /// How often auto boosts sample their pods' signal and step.
    pub auto_interval: Duration,
    /// How often the CPUBoost statuses lose the items of deleted nodes
    /// ([`crate::daemon::report::stale_nodes`]): each round lists every Node's name.
    pub prune_interval: Duration,
    /// Where mus is not attached, boost through the pod cgroup's `cpu.weight`
    /// ([`crate::daemon::fallback`]). `mus-agent watch` turns it on unless
    /// `--no-fallback`; off here, so that an embedder that stands in for mus (the
    /// tests' map on a machine without sched_ext) keeps the map path.
    pub fallback: bool,
    /// Where sched_ext shows which scheduler runs.
    pub sched_ext: PathBuf,
}

impl WatchOptions {
    pub fn new(node: String, pin_path: PathBuf, cgroup_root: PathBuf) -> WatchOptions {
        WatchOptions {
            node,
            pin_path,
            cgroup_root,
            policy: Policy::default(),
            boot_id: std::fs::read_to_string(BOOT_ID_PATH)
                .ok()
                .map(|id| id.trim().to_string()),
            own_all: false,
            dry_run: false,
            resync_interval: Duration::from_secs(60),
            pin_check_interval: Duration::from_secs(1),
            events: true,
            auto_interval: Duration::from_secs(1),
            // A dead node's item is harmless for a few minutes; a LIST of every
            // Node by every agent each resync would not be, on a large cluster.
            prune_interval: Duration::from_secs(300),
            fallback: false,
            sched_ext: PathBuf::from(SCHED_EXT_SYSFS),
        }
    }

    /// The owner id in the flags of this daemon's entries.
    pub fn owner(&self) -> OwnerId {
        OwnerId::of_node(&self.node)
    }

    /// How long the loop may go without waking up before `/healthz` fails: two
    /// missed resyncs, with some slack for a slow pass.
    pub fn stale_after(&self) -> Duration {
        self.resync_interval * 2 + Duration::from_secs(10)
    }
}
