//! `cargo xtask vm-shell`: an interactive guest, for poking at sched_ext by hand.

use std::process::ExitCode;

use mus_testbed::Scenario;

use crate::guest_opts::GuestOpts;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    guest: GuestOpts,
}

/// cttyhack gives the shell the serial console as its controlling terminal, so Ctrl-C
/// and job control work; init's own stdin is /dev/null.
const SHELL: &str = "echo 'mus guest shell: `exit` powers off; Ctrl-A X kills qemu'\n\
                     setsid cttyhack sh\n";

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let testbed = args.guest.kernel.prepare()?;
    eprintln!("booting {} ...", testbed.kernel_release());
    let status = testbed.run_interactive(&args.guest.apply(Scenario::new("shell", SHELL)))?;
    Ok(if status.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
