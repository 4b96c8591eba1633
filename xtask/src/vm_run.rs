//! `cargo xtask vm-run SCRIPT`: boot the guest with a scenario script and report.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use mus_testbed::Scenario;

use crate::guest_opts::GuestOpts;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The scenario: a busybox sh script, run as /scenario.sh; report with `@@MUS key value`.
    script: PathBuf,
    #[command(flatten)]
    guest: GuestOpts,
    /// Wall-clock limit for the whole boot, in seconds.
    #[arg(long, default_value_t = 120)]
    timeout: u64,
    /// Print the console once at the end instead of streaming it.
    #[arg(long)]
    no_stream: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let script = std::fs::read_to_string(&args.script)
        .with_context(|| format!("reading the scenario script {}", args.script.display()))?;
    let name = args
        .script
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "scenario".to_string());
    let scenario = args
        .guest
        .apply(Scenario::new(&name, &script))
        .timeout(Duration::from_secs(args.timeout))
        .echo_console(!args.no_stream);
    let testbed = args.guest.kernel.prepare()?;
    let run = testbed.run(&scenario)?;
    if args.no_stream {
        print!("{}", run.console);
    }
    println!(
        "--- results ({} on {}, {:.1} s) ---",
        name,
        testbed.kernel_release(),
        run.elapsed.as_secs_f64()
    );
    for (key, value) in &run.results {
        println!("{key} = {value}");
    }
    Ok(match run.scenario_status {
        Some(0) => ExitCode::SUCCESS,
        Some(rc) => {
            eprintln!("error: the scenario exited with status {rc}");
            ExitCode::FAILURE
        }
        None => {
            eprintln!("error: the guest stopped before the scenario finished (see the console)");
            ExitCode::FAILURE
        }
    })
}
