//! `cargo xtask demo`: the main job where the host has no sched_ext. Boots the guest,
//! loads mus, boosts one of two competing cgroups with mus-agent, and prints the CPU
//! shares it measured against what the weights predict.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use mus_testbed::{GuestRun, Scenario, Testbed, build_workspace_bins};

const SCRIPT: &str = include_str!("../scenarios/demo.sh");

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print the console once at the end instead of streaming it.
    #[arg(long)]
    quiet: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let [runner, agent] = build_workspace_bins(["mus-runner", "mus-agent"])?;
    let testbed = Testbed::prepare()?;
    println!(
        "booting {} under QEMU (TCG, 2 vCPUs)...",
        testbed.kernel_release()
    );
    let scenario = Scenario::with_guest_lib("demo", SCRIPT)
        .binary(runner)
        .binary(agent)
        .host_tool("bpftool")
        .timeout(Duration::from_secs(180))
        .echo_console(!args.quiet);
    let run = testbed.run(&scenario)?;
    if args.quiet {
        print!("{}", run.console);
    }

    println!("\n--- CPU share of cgroup web against batch (2 hogs each, 2 vCPUs, 5 s) ---");
    println!("{:<22} {:>8} {:>8}", "condition", "measured", "theory");
    for (key, label, theory) in [
        ("empty_map", "empty map", 0.5),
        ("boosted", "web boosted 4096:1024", 0.8),
    ] {
        let share = web_share(&run, key)?;
        println!(
            "{label:<22} {:>7.1}% {:>7.1}%",
            share * 100.0,
            theory * 100.0
        );
    }
    Ok(if run.scenario_status == Some(0) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// web's share of the CPU time web and batch used, from a `measure` line.
fn web_share(run: &GuestRun, key: &str) -> anyhow::Result<f64> {
    let value = run.require(key)?;
    let usec: Vec<f64> = value
        .split_whitespace()
        .filter_map(|n| n.parse().ok())
        .collect();
    match usec[..] {
        [web, batch] if web + batch > 0.0 => Ok(web / (web + batch)),
        _ => None.with_context(|| format!("{key}: expected two CPU times, got {value:?}")),
    }
}
