//! Command-line interface: flags, subcommands and targets, and the Kubernetes
//! discovery and cgroup resolver the flags configure (for the subcommands and the TUI).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use mus_common::cgroup::CGROUP2_MOUNT;
use mus_common::{DEFAULT_PIN_PATH, Weight};

use crate::cgroup::containerd::DEFAULT_SOCKETS;
use crate::cgroup::resolve::Resolver;
use crate::daemon::http::Limits;
use crate::kube::discovery::{self, Discovery, DiscoveryError, KubeOptions};
use crate::targets::{self, Target, TargetError};

/// Boost a Kubernetes pod or container in the mus sched_ext scheduler.
///
/// Without a subcommand, opens the interactive table of this node's pods (in a
/// terminal). Needs root, or CAP_BPF and access to the pin (the scheduler's map
/// is pinned root-only, 0600), and a running mus-runner.
#[derive(Debug, Parser)]
#[command(name = "mus-agent", version)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Clone, Args)]
pub struct Global {
    /// Where mus-runner pinned the scheduler's map.
    #[arg(long, global = true, default_value = DEFAULT_PIN_PATH, value_name = "PATH")]
    pub pin_path: PathBuf,
    /// kubeconfig file (default: KUBECONFIG, ~/.kube/config, then the in-cluster account).
    #[arg(long, global = true, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// kubeconfig context to use (default: the current context).
    #[arg(long, global = true)]
    pub context: Option<String>,
    /// This node's name as Kubernetes knows it (default: the hostname).
    #[arg(long, global = true, env = "NODE_NAME")]
    pub node: Option<String>,
    /// containerd socket (default: /run/containerd/containerd.sock, then k3s's).
    #[arg(long, global = true, value_name = "PATH")]
    pub containerd_socket: Option<PathBuf>,
    /// Where cgroup v2 is mounted.
    #[arg(long, global = true, default_value = CGROUP2_MOUNT, value_name = "PATH")]
    pub cgroup_root: PathBuf,
    /// More logging on stderr (-v: debug, -vv: trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Log as JSON lines.
    #[arg(long, global = true)]
    pub log_json: bool,
}

impl Global {
    pub fn kube_options(&self) -> KubeOptions {
        KubeOptions {
            kubeconfig: self.kubeconfig.clone(),
            context: self.context.clone(),
        }
    }

    pub fn containerd_sockets(&self) -> Vec<PathBuf> {
        match &self.containerd_socket {
            Some(socket) => vec![socket.clone()],
            None => DEFAULT_SOCKETS.iter().map(PathBuf::from).collect(),
        }
    }

    /// A discovery client for this node from the flags.
    pub async fn discovery(&self) -> Result<Discovery, DiscoveryError> {
        let config = discovery::config(&self.kube_options()).await?;
        let node = discovery::node_name(self.node.as_deref())?;
        Discovery::new(config, node)
    }

    /// The container-to-cgroup resolver the flags configure.
    pub fn resolver(&self) -> Resolver {
        Resolver::new(self.containerd_sockets(), self.cgroup_root.clone())
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List this node's pods and containers, with their boost.
    List {
        /// One JSON document instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Boost a pod (all its containers) or one container.
    Boost {
        #[command(flatten)]
        target: TargetArgs,
        /// Scheduling weight: 1024 is an ordinary cgroup; 1 to 65536.
        // Negative numbers are values here, so that `-5` is reported as out of
        // range rather than as an unknown flag.
        #[arg(long, short, value_name = "W", allow_negative_numbers = true)]
        weight: Option<String>,
        /// Boost even a node-wide cgroup (the root, a top-level slice such as
        /// system.slice or kubepods.slice, or a QoS-class slice of kubepods), and
        /// overwrite an entry `mus-agent watch` owns (it then leaves yours alone).
        #[arg(long)]
        force: bool,
    },
    /// Remove a boost.
    Unboost {
        #[command(flatten)]
        target: UnboostTargetArgs,
        /// Remove an entry `mus-agent watch` owns (it writes it again while the
        /// pod is still granted a boost).
        #[arg(long)]
        force: bool,
    },
    /// What the map holds, resolved back to pods where possible.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Keep the map equal to what the boost policy grants this node's pods (the node daemon).
    ///
    /// The policy (--policy) grants weights to PriorityClasses, and may honour the
    /// annotation `mus.patos.dev/weight: "4096"` (or `mus.patos.dev/boost: "true"`)
    /// in the namespaces it selects; without a policy nothing is boosted. A pod
    /// losing its grant, deleted or moved away loses its entry. Entries others
    /// wrote (`mus-agent boost`, another daemon) are left alone unless --own-all.
    Watch(WatchArgs),
    /// Print the CPUBoost CustomResourceDefinition this binary reads (YAML), e.g.
    /// `mus-agent crd | kubectl apply -f -`; manifests/cpuboost-crd.yaml is the same.
    Crd,
    /// Preview a boost: each busy pod's share of the node before and after, from
    /// this node's live cgroup tree (needs no runner; root to count the map's boosts).
    ///
    /// Reads every cgroup's cpu.weight, cpu.idle and cpu.max, and samples for
    /// --sample seconds the CPU each one uses (cpu.stat) and its runnable threads
    /// (cgroup.threads, state R). A cgroup that used at least 1% of a CPU or had a
    /// thread runnable in half the counts is busy, and is assumed to take all it
    /// can under contention: as many CPUs as runnable threads, at least its use
    /// rounded up to whole CPUs (where its threads are not visible, as in a pod
    /// without the host's PIDs, that is all). Shares then follow weights at every
    /// level (a boost of W makes cpu.weight × W / 1024), capped by cpu.max, what a
    /// cgroup cannot use going to its siblings. writeups/plan.md has the model.
    #[command(group(clap::ArgGroup::new("proposal").required(true).args(["pod", "cgroup", "file"])))]
    Plan {
        /// The pod to boost: namespace/pod (or namespace/pod/container).
        #[arg(long, value_name = "NAMESPACE/NAME")]
        pod: Option<String>,
        /// A cgroup directory, absolute or relative to the cgroup mount (no Kubernetes needed).
        #[arg(long, value_name = "PATH")]
        cgroup: Option<PathBuf>,
        /// A boost object's YAML (CPUBoost): its namespace, pod name or label
        /// selector, and weight.
        #[arg(short = 'f', long = "file", value_name = "FILE")]
        file: Option<PathBuf>,
        /// Proposed weight, 1 to 65536 (1024 is an ordinary cgroup) [default: the
        /// object's, else 4096].
        #[arg(long, short, value_name = "W", allow_negative_numbers = true)]
        weight: Option<String>,
        /// Seconds to sample the tree for (0.1 to 60).
        #[arg(long, default_value_t = 1.0, value_name = "SECONDS")]
        sample: f64,
        /// One JSON document instead of a table.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Clone, Args)]
pub struct WatchArgs {
    /// The cluster admins' boost policy (YAML; see writeups/policy.md). Without it
    /// no pod is boosted.
    #[arg(long, env = "MUS_POLICY", value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Also remove entries no pod is granted that this daemon did not write.
    #[arg(long)]
    pub own_all: bool,
    /// Log what would change; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Seconds between full passes (pods and map are re-read even without events).
    #[arg(long, default_value_t = 60, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
    pub resync_interval: u64,
    /// Seconds between samples of an auto CPUBoost's signal, each a step of its weight.
    #[arg(long, default_value_t = 1, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
    pub auto_interval: u64,
    /// Serve /metrics, /healthz (liveness) and /readyz (readiness) here
    /// [default: 0.0.0.0:9477 in a pod, 127.0.0.1:9477 elsewhere].
    ///
    /// In the DaemonSet's pod all addresses are the pod's own, which the kubelet
    /// probes and Prometheus scrapes; on a host, all addresses would publish the
    /// port to every network the node is on.
    #[arg(
        long,
        visible_alias = "metrics-addr",
        env = "MUS_LISTEN",
        value_name = "ADDR:PORT"
    )]
    pub listen: Option<std::net::SocketAddr>,
    /// Seconds an HTTP client has to send a request's headers after connecting or
    /// after the previous response; idle connections are closed after it too.
    #[arg(long, default_value_t = Limits::default().header_timeout.as_secs(), value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
    pub http_header_timeout: u64,
    /// Open HTTP connections, all clients together; a new one closes the oldest.
    #[arg(long, default_value_t = Limits::default().max_connections as u64, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub http_max_connections: u64,
    /// Open HTTP connections from one address; a new one closes that address's
    /// oldest, so nobody can hold the kubelet's probes out.
    #[arg(long, default_value_t = Limits::default().max_connections_per_ip as u64, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub http_max_connections_per_ip: u64,
    /// Do not publish Kubernetes Events for invalid annotations (log only).
    #[arg(long)]
    pub no_events: bool,
    /// Do not boost through cpu.weight where mus is not attached (no sched_ext,
    /// mus-runner stopped, mus ejected): boosts then wait for mus.
    #[arg(long)]
    pub no_fallback: bool,
}

impl WatchArgs {
    /// `--listen`, or the default for where the agent runs.
    pub fn listen(&self) -> std::net::SocketAddr {
        let host = if discovery::in_pod() {
            std::net::Ipv4Addr::UNSPECIFIED
        } else {
            std::net::Ipv4Addr::LOCALHOST
        };
        self.listen
            .unwrap_or_else(|| (host, crate::daemon::metrics::DEFAULT_PORT).into())
    }

    pub fn http_limits(&self) -> Limits {
        let count = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
        Limits {
            header_timeout: std::time::Duration::from_secs(self.http_header_timeout),
            max_connections: count(self.http_max_connections),
            max_connections_per_ip: count(self.http_max_connections_per_ip),
        }
    }
}

/// What to boost: exactly one of these.
#[derive(Debug, Clone, Args)]
#[group(required = true, multiple = false)]
pub struct TargetArgs {
    /// namespace/pod (the whole pod) or namespace/pod/container.
    pub target: Option<String>,
    /// A cgroup directory, absolute or relative to the cgroup mount (no Kubernetes needed).
    #[arg(long, value_name = "PATH")]
    pub cgroup: Option<PathBuf>,
    /// The cgroup of this process (no Kubernetes needed).
    #[arg(long, value_name = "PID")]
    pub pid: Option<u32>,
}

/// What to unboost: a target, or a raw cgroup ID from `status` (for stale entries).
#[derive(Debug, Clone, Args)]
#[group(required = true, multiple = false)]
pub struct UnboostTargetArgs {
    /// namespace/pod or namespace/pod/container.
    pub target: Option<String>,
    #[arg(long, value_name = "PATH")]
    pub cgroup: Option<PathBuf>,
    #[arg(long, value_name = "PID")]
    pub pid: Option<u32>,
    /// A cgroup ID as `status` prints it, e.g. of a stale entry.
    #[arg(long, value_name = "ID")]
    pub id: Option<u64>,
}

impl TargetArgs {
    pub fn target(&self) -> Result<Target, TargetError> {
        to_target(&self.target, &self.cgroup, self.pid)
    }
}

impl UnboostTargetArgs {
    /// `Ok(None)` when the target is a raw `--id`.
    pub fn target(&self) -> Result<Option<Target>, TargetError> {
        if self.id.is_some() {
            return Ok(None);
        }
        to_target(&self.target, &self.cgroup, self.pid).map(Some)
    }
}

fn to_target(
    target: &Option<String>,
    cgroup: &Option<PathBuf>,
    pid: Option<u32>,
) -> Result<Target, TargetError> {
    match (target, cgroup, pid) {
        (Some(t), _, _) => targets::parse(t),
        (_, Some(path), _) => Ok(Target::Cgroup(path.clone())),
        (_, _, Some(pid)) => Ok(Target::Pid(pid)),
        // clap's group makes one of them required.
        _ => Err(TargetError::Syntax(String::new())),
    }
}

/// `--weight`, checked here rather than by clap so that a bad weight is a failure
/// the user can fix (exit 1) with the map's own wording of the range.
pub fn weight(given: Option<&str>) -> Result<Weight, mus_common::WeightError> {
    given.map_or(Ok(Weight::default()), str::parse)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn targets_and_defaults() {
        let cli = Cli::try_parse_from(["mus-agent", "boost", "shop/cart", "--weight", "8192"])
            .expect("parse");
        let Some(Command::Boost {
            target,
            weight: w,
            force,
        }) = cli.command
        else {
            panic!("not boost")
        };
        assert_eq!(
            target.target().ok(),
            Some(Target::Pod {
                namespace: "shop".into(),
                pod: "cart".into()
            })
        );
        assert_eq!(weight(w.as_deref()).map(Weight::get), Ok(8192));
        assert!(!force);
        assert_eq!(weight(None), Ok(Weight::default()));
        assert!(weight(Some("0")).is_err());
        assert_eq!(cli.global.pin_path, PathBuf::from(DEFAULT_PIN_PATH));

        let cli = Cli::try_parse_from(["mus-agent", "unboost", "--id", "42"]).expect("parse");
        let Some(Command::Unboost { target, .. }) = cli.command else {
            panic!("not unboost")
        };
        assert_eq!(target.id, Some(42));

        assert!(
            Cli::try_parse_from(["mus-agent", "boost"]).is_err(),
            "a target is required"
        );
        assert!(
            Cli::try_parse_from(["mus-agent", "boost", "a/b", "--pid", "1"]).is_err(),
            "only one target"
        );
        let cli = Cli::try_parse_from(["mus-agent"]).expect("parse");
        assert!(cli.command.is_none(), "no subcommand is the TUI");

        let cli = Cli::try_parse_from(["mus-agent", "watch", "--metrics-addr", "0.0.0.0:9477"])
            .expect("parse");
        let Some(Command::Watch(args)) = cli.command else {
            panic!("not watch")
        };
        assert_eq!(args.resync_interval, 60);
        assert_eq!(args.auto_interval, 1);
        assert!(!args.own_all && !args.dry_run && !args.no_events);
        assert_eq!(args.listen().port(), 9477);
        assert_eq!(args.http_limits(), Limits::default());
        assert!(Cli::try_parse_from(["mus-agent", "watch", "--resync-interval", "0"]).is_err());
        let cli =
            Cli::try_parse_from(["mus-agent", "watch", "--listen", "127.0.0.1:0"]).expect("parse");
        let Some(Command::Watch(args)) = cli.command else {
            panic!("not watch")
        };
        assert_eq!(args.listen(), "127.0.0.1:0".parse().expect("addr"));
    }
}
