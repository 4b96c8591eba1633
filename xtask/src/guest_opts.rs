//! Guest options shared by the commands that boot one.

use std::path::PathBuf;

use mus_testbed::Scenario;

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
    /// Guest vCPUs.
    #[arg(long, default_value_t = 2)]
    pub cpus: u32,
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
        scenario.cpus(self.cpus).memory_mib(self.memory_mib)
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
