//! `cargo xtask man` and `cargo xtask completions`: mus-runner's and mus-agent's man
//! pages and shell completions, generated from the clap definitions the programs parse
//! their own command lines with, so that they cannot drift from `--help`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::CommandFactory;
use clap_complete::Shell;

#[derive(Debug, clap::Args)]
pub struct ManArgs {
    /// Where to write the pages: <program>.1, and <program>-<subcommand>.1 for each
    /// subcommand.
    #[arg(long, value_name = "DIR", default_value_os_t = default_out("man"))]
    out: PathBuf,
}

#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// Where to write the scripts (mus-agent.bash, _mus-agent, mus-agent.fish, ...).
    #[arg(long, value_name = "DIR", default_value_os_t = default_out("completions"))]
    out: PathBuf,
    /// A shell to write completions for (repeatable); bash, zsh and fish if none.
    #[arg(long = "shell", value_enum, value_name = "SHELL")]
    shells: Vec<Shell>,
}

fn default_out(what: &str) -> PathBuf {
    mus_testbed::workspace_root().join("target").join(what)
}

/// The project's programs as clap describes them.
fn programs() -> [clap::Command; 2] {
    [
        mus_runner::cli::Args::command(),
        mus_agent::cli::Cli::command(),
    ]
}

pub fn man(args: ManArgs) -> anyhow::Result<ExitCode> {
    write_man_pages(&args.out)?;
    println!("man pages -> {}", args.out.display());
    Ok(ExitCode::SUCCESS)
}

pub fn completions(args: CompletionsArgs) -> anyhow::Result<ExitCode> {
    let shells = if args.shells.is_empty() {
        vec![Shell::Bash, Shell::Zsh, Shell::Fish]
    } else {
        args.shells
    };
    for path in write_completions(&args.out, &shells)? {
        println!("{}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes every program's man page, and one per subcommand, into `dir`.
fn write_man_pages(dir: &Path) -> anyhow::Result<()> {
    create(dir)?;
    for program in programs() {
        let name = program.get_name().to_string();
        clap_mangen::generate_to(program, dir)
            .with_context(|| format!("writing {name}'s man pages into {}", dir.display()))?;
    }
    Ok(())
}

/// Writes each program's completions for each of `shells` into `dir`; returns the files.
fn write_completions(dir: &Path, shells: &[Shell]) -> anyhow::Result<Vec<PathBuf>> {
    create(dir)?;
    let mut written = Vec::new();
    for mut program in programs() {
        let name = program.get_name().to_string();
        for shell in shells {
            written.push(
                clap_complete::generate_to(*shell, &mut program, &name, dir).with_context(
                    || {
                        format!(
                            "writing {name}'s {shell} completions into {}",
                            dir.display()
                        )
                    },
                )?,
            );
        }
    }
    Ok(written)
}

fn create(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A man page as a reader sees it: roff's escaped hyphens as plain ones.
    fn page(dir: &Path, file: &str) -> String {
        std::fs::read_to_string(dir.join(file))
            .unwrap_or_else(|e| panic!("{file}: {e}"))
            .replace("\\-", "-")
    }

    #[test]
    fn man_pages_name_every_subcommand_and_flag() {
        let dir = tempfile::tempdir().unwrap();
        write_man_pages(dir.path()).unwrap();
        let [runner, agent] = programs();
        let runner_page = page(dir.path(), "mus-runner.1");
        for flag in runner.get_arguments().filter_map(|a| a.get_long()) {
            assert!(
                runner_page.contains(&format!("--{flag}")),
                "mus-runner.1 lacks --{flag}"
            );
        }
        let agent_page = page(dir.path(), "mus-agent.1");
        let subcommands: Vec<&str> = agent.get_subcommands().map(|s| s.get_name()).collect();
        assert!(subcommands.contains(&"watch"), "{subcommands:?}");
        for sub in &subcommands {
            assert!(agent_page.contains(sub), "mus-agent.1 does not list {sub}");
            // and a page of its own
            let own = page(dir.path(), &format!("mus-agent-{sub}.1"));
            assert!(own.contains(&format!("mus-agent-{sub}")), "{own}");
        }
        let pages = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(pages, 2 + subcommands.len());
    }

    #[test]
    fn completions_know_the_subcommands() {
        let dir = tempfile::tempdir().unwrap();
        let written =
            write_completions(dir.path(), &[Shell::Bash, Shell::Zsh, Shell::Fish]).unwrap();
        assert_eq!(written.len(), 6, "{written:?}");
        let bash = std::fs::read_to_string(dir.path().join("mus-agent.bash")).unwrap();
        for sub in programs()[1].get_subcommands().map(|s| s.get_name()) {
            assert!(bash.contains(sub), "mus-agent.bash lacks {sub}");
        }
        let fish = std::fs::read_to_string(dir.path().join("mus-runner.fish")).unwrap();
        assert!(fish.contains("pin-path"), "{fish}");
    }
}
