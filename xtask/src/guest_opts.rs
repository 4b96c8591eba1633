//! Guest options shared by the commands that boot one.

use std::path::PathBuf;

use mus_testbed::{GuestKernel, Scenario, Testbed, TestbedError};

/// The kernel to boot, as `--kernel` names it.
#[derive(Debug, Clone, Copy, Default, clap::ValueEnum)]
pub enum KernelChoice {
    /// Debian's trixie-backports cloud kernel (7.3), or MUS_VM_KERNEL.
    #[default]
    Cloud,
    /// 6.12 LTS built from Debian's linux-source-6.12 (first use builds it).
    Lts612,
}

impl KernelChoice {
    pub fn prepare(self) -> Result<Testbed, TestbedError> {
        Testbed::prepare_kernel(match self {
            KernelChoice::Cloud => GuestKernel::Cloud,
            KernelChoice::Lts612 => GuestKernel::Lts612,
        })
    }
}

#[derive(Debug, clap::Args)]
pub struct GuestOpts {
    /// A host binary to copy to /bin/<name> in the guest (with its shared libraries).
    #[arg(long = "bin", value_name = "PATH")]
    pub bins: Vec<PathBuf>,
    /// A host command on PATH to copy to the same path in the guest (e.g. bpftool).
    #[arg(long = "tool", value_name = "NAME")]
    pub tools: Vec<String>,
    /// A host file to copy into the guest, as HOST_PATH:GUEST_PATH.
    #[arg(long = "file", value_name = "HOST:GUEST", value_parser = parse_file)]
    pub files: Vec<(PathBuf, String)>,
    /// The guest kernel.
    #[arg(long, value_enum, default_value_t)]
    pub kernel: KernelChoice,
    /// Guest vCPUs.
    #[arg(long, default_value_t = 2)]
    pub cpus: u32,
    /// Split the vCPUs over this many sockets, each its own L3 cache and NUMA node.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=8))]
    pub sockets: u32,
    /// Guest memory in MiB.
    #[arg(long, default_value_t = 2048)]
    pub memory_mib: u32,
}

impl GuestOpts {
    pub fn apply(&self, mut scenario: Scenario) -> Scenario {
        for bin in &self.bins {
            scenario = scenario.binary(bin);
        }
        for tool in &self.tools {
            scenario = scenario.host_tool(tool);
        }
        for (host, guest) in &self.files {
            scenario = scenario.file(host, guest);
        }
        scenario
            .topology(self.sockets, self.cpus / self.sockets)
            .memory_mib(self.memory_mib)
    }
}

fn parse_file(s: &str) -> Result<(PathBuf, String), String> {
    match s.rsplit_once(':') {
        Some((host, guest)) if !host.is_empty() && guest.starts_with('/') => {
            Ok((PathBuf::from(host), guest.to_string()))
        }
        _ => Err(format!("`{s}` is not HOST_PATH:/GUEST_PATH")),
    }
}
