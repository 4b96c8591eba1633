//! `cargo xtask bench [which]`: the evaluation. One guest boot runs every condition of
//! every benchmark under each scheduler (stock, mus, and the peers scx_bpfland and
//! scx_layered), interleaved across repeats; the host turns the guest's `@@MUS` lines into
//! a CSV (evaluation/datasets/), PNG plots (evaluation/plots/) and evaluation/summary.md
//! with the project's targets.

pub mod aggregate;
pub mod auto;
pub mod bpf_stats;
pub mod candidate;
pub mod checks;
pub mod conditions;
pub mod dataset;
pub mod histogram;
pub mod host_hog;
pub mod judge;
pub mod peer_table;
pub mod peers;
pub mod plot;
pub mod pool;
pub mod results;
mod stamp;
pub mod summary;
pub mod theory;

pub use stamp::utc_stamp;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use mus_testbed::{Scenario, Testbed, build_workspace_bins};

const SCRIPT: &str = include_str!("../../scenarios/bench.sh");
/// redis_start, shared by bench.sh and auto.sh.
const LIB_REDIS: &str = include_str!("../../scenarios/lib_redis.sh");

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Which {
    Latency,
    Redis,
    RedisSat,
    Bystander,
    Threads,
    Weights,
    Limit,
    Share,
    Overhead,
    Cost,
    /// Request/response with no noise: Redis and redis-benchmark in one cgroup, confined
    /// to one CPU and not; mus boosted against stock.
    Rr,
    All,
    /// The automatic-boost experiment (its own guest script; not part of `all`).
    Auto,
}

impl Which {
    /// The guest script's benchmark names (`bench_<name>` in bench.sh).
    fn benches(self) -> Vec<&'static str> {
        match self {
            Which::Latency => vec!["latency"],
            Which::Redis => vec!["redis"],
            Which::RedisSat => vec!["redis_sat"],
            Which::Bystander => vec!["bystander"],
            Which::Threads => vec!["threads"],
            Which::Weights => vec!["weights"],
            Which::Limit => vec!["limit"],
            Which::Share => vec!["share"],
            Which::Overhead => vec!["overhead"],
            Which::Cost => vec!["cost"],
            Which::Rr => vec!["rr"],
            Which::Auto => vec!["auto"],
            Which::All => vec![
                "latency",
                "redis",
                "redis_sat",
                "bystander",
                "threads",
                "weights",
                "limit",
                "share",
                "overhead",
                "cost",
                "rr",
            ],
        }
    }
}

/// Repeats of each benchmark's conditions in a default run: the latency-like benchmarks,
/// whose tails vary from repeat to repeat, get 5, the fewest rounds checks.rs judges a
/// paired target on (a majority of 5 survives one or two bad rounds); the CPU-share ones,
/// steady to a point or two and judged in every repeat, and the BPF statistics get 2.
/// hackbench (overhead) and the request/response pair (rr) get 15: their targets' margins
/// are 5-10 %, and in A/A controls (mus against its own build, `--twin`) 5 rounds put one
/// build's median at 0.84-1.33x itself, 15 at 0.95-1.02x but one p99 at 0.89x
/// (evaluation/journal/paired.md); they are also the cheapest rounds.
/// evaluation/README.md has the measured times. `--repeats N` sets every benchmark to N,
/// `--quick` to 1.
const DEFAULT_REPEATS: &[(&str, u32)] = &[
    ("latency", 5),
    ("redis", 5),
    ("redis_sat", 5),
    ("bystander", 5),
    ("overhead", 15),
    ("rr", 15),
    ("threads", 2),
    ("weights", 2),
    ("limit", 2),
    ("share", 2),
    ("cost", 2),
];

fn default_repeats(bench: &str) -> u32 {
    DEFAULT_REPEATS
        .iter()
        .find(|(b, _)| *b == bench)
        .map_or(3, |(_, n)| *n)
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Which benchmarks (one or more, run in one boot); `all` runs every one.
    #[arg(value_enum, default_value = "all", num_args = 1..)]
    which: Vec<Which>,
    /// Repeats of every condition (interleaved). Default 5 for the latency-like
    /// benchmarks and 2 for the others; 1 with --quick.
    #[arg(long)]
    repeats: Option<u32>,
    /// A smoke run: 1 repeat.
    #[arg(long)]
    quick: bool,
    /// Leave out the peer schedulers (scx_bpfland, scx_layered): stock and mus only.
    #[arg(long)]
    no_peers: bool,
    /// Stream the guest's console while it runs.
    #[arg(long)]
    verbose: bool,
    /// Do not boot: redo the summary and plots from a CSV this command wrote. Given
    /// several, runs of one commit, command and kernel, their rounds are judged
    /// together, each still paired within its own boot (pool.rs).
    #[arg(long, value_name = "CSV", num_args = 1..)]
    from_csv: Vec<PathBuf>,
    /// A second mus-runner binary (the BPF is embedded in it), run beside this tree's
    /// in every repeat: each mus condition gets its twin, and the summary judges every
    /// target for both and pairs the candidate with mus (candidate.rs).
    #[arg(long, value_name = "MUS_RUNNER")]
    candidate: Option<PathBuf>,
    /// Flags the candidate's mus-runner starts with (mus's has none), e.g.
    /// "--no-wait-histograms". With `--candidate target/debug/mus-runner` (copied
    /// after this command builds it) this pairs one flag against the defaults.
    #[arg(
        long,
        value_name = "FLAGS",
        requires = "candidate",
        allow_hyphen_values = true
    )]
    candidate_args: Option<String>,
    /// An A/A control: this tree's own mus-runner runs a second time as the candidate,
    /// with the same flags. Nothing differs but its slot in each round, so its ratios to
    /// mus are this boot's noise, and a target judged differently for the two is one this
    /// boot cannot decide at its bound (candidate.rs).
    #[arg(long, conflicts_with_all = ["candidate", "candidate_args"])]
    twin: bool,
    /// `auto`: the auto CPUBoost's target, `psi:<percent>` (PSI some avg10) or
    /// `wait:<duration>` (the run-queue wait p99).
    #[arg(long, default_value = auto::DEFAULT_TARGET)]
    auto_target: String,
}

/// redis-rate's fixed request rate (GET/s over 2 connections), chosen for Redis alone to
/// be far from saturated in the 2-vCPU TCG guest. There, redis-rate and Redis alone (no
/// noise) topped out at ~440 GET/s (a quick run at 500/s on a busy host fell behind: each
/// request costs a few wake-ups, and wake-ups are slow in this guest; redis-benchmark's
/// closed loop reached ~2300/s, presumably because its one thread takes both clients'
/// replies per wake-up). 100/s is under a quarter of ~440/s, so the idle latencies are
/// those of single requests, not of a queue. A condition that cannot keep up shows it in
/// its achieved rate and in latencies that include the backlog: that is what a fixed rate
/// measures.
const REDIS_RATE: u32 = 100;

/// How much each run samples. Targets are judged in every repeat, so a run's own sampling
/// error must be small against the bounds: at the first round's sizes the p99.9s were the
/// worst or second-worst sample (500 requests, 1500 wake-ups), and hackbench's 2 s under
/// the stock scheduler alone varied by 12 % between repeats of one boot, more than the
/// 5 % its target allows. Together the sizes below took a full run from 931–969 s of
/// guest time to 1490–1554 s (see evaluation/README.md, "Repeats and time").
///
/// Wake-ups per latency probe, 2 ms apart (6 s): the nearest-rank p99 is the 30th-worst
/// wake-up, the p99.9 the 3rd.
const LAT_LOOPS: u32 = 3000;
/// Seconds of fixed-rate Redis per run: 1500 requests at REDIS_RATE (p99 the 15th-worst,
/// p99.9 the 2nd).
const REDIS_SECS: u32 = 15;
/// Requests per saturated Redis run (redis-benchmark -n): 15000, 2.5 to 10 s.
const REDIS_SAT_N: u32 = 15000;
/// hackbench's arguments: 2 groups of 20 senders and 20 receivers, 900 messages each
/// (about 6 s, three times the first round's -l 300, so that a host stall is a third as
/// large a part of one run).
const HACKBENCH_ARGS: &str = "-g 2 -l 900";

/// The scx_layered configuration, copied into the guest.
const LAYERED_CONFIG_GUEST: &str = "/etc/mus-bench/layered.json";

/// What the guest runs per measurement; the same in quick and full runs (only the number
/// of repeats differs), so that their figures mean the same.
struct Settings {
    /// Repeats per benchmark, in `benches`' order.
    repeats: Vec<u32>,
    benches: Vec<&'static str>,
    peers: bool,
    /// A candidate mus build runs too (scheduler `cand`), with these runner flags.
    candidate: Option<String>,
}

impl Settings {
    fn shell(&self) -> String {
        let scheds = self.shell_scheds();
        let per_bench: String = self
            .benches
            .iter()
            .zip(&self.repeats)
            .map(|(b, n)| format!("REPEATS_{b}={n}\n"))
            .collect();
        format!(
            "BENCHES=\"{}\"\nSCHEDS=\"{scheds}\"\nREPEATS={}\n{per_bench}LAT_LOOPS={LAT_LOOPS}\nLAT_INTERVAL_US=2000\n\
             REDIS_RATE={REDIS_RATE}\nREDIS_SECS={REDIS_SECS}\nREDIS_CONNS=2\nREDIS_SAT_N={REDIS_SAT_N}\nREDIS_SAT_CONNS=4\n\
             SHARE_SECS=5\nSHARE_WEIGHTS=\"1024 2048 4096 8192\"\nHACKBENCH_ARGS=\"{HACKBENCH_ARGS}\"\n\
             LAYERED_CONFIG={LAYERED_CONFIG_GUEST}\nCAND_ARGS=\"{}\"\n",
            self.benches.join(" "),
            self.max_repeats(),
            // candidate::check allows no quote or shell metacharacter in them
            self.candidate.as_deref().unwrap_or("")
        )
    }

    /// The schedulers, as bench.sh names them (SCHEDS).
    fn shell_scheds(&self) -> String {
        let mut scheds = String::from("stock mus");
        if self.candidate.is_some() {
            scheds.push(' ');
            scheds.push_str(results::CANDIDATE);
        }
        if self.peers {
            scheds.push_str(" bpfland layered");
        }
        scheds
    }

    /// The guest's script (the shared library, these settings, bench.sh), no files yet.
    fn scenario(&self) -> Scenario {
        Scenario::with_guest_lib("bench", &format!("{LIB_REDIS}\n{}\n{SCRIPT}", self.shell()))
    }

    fn tools(&self) -> Vec<&'static str> {
        let mut t = vec!["bpftool", "stress-ng"];
        for b in &self.benches {
            t.extend(match *b {
                "latency" | "bystander" => &["cyclictest"][..],
                "redis" => &["redis-server", "redis-cli"][..],
                "redis_sat" | "rr" => &["redis-server", "redis-cli", "redis-benchmark"][..],
                "overhead" | "cost" => &["hackbench"][..],
                _ => &[][..],
            });
        }
        let mut seen = std::collections::HashSet::new();
        t.retain(|x| seen.insert(*x));
        t
    }

    /// Seconds the guest may take: boot, scheduler switches and every measurement, with
    /// room for a slow host. The latency probes' benchmarks run the most conditions
    /// (bench.sh: with the floor and the host-contended ones, 10 and 7 without the
    /// peers, 2 more with them); on a loaded host one such condition took 27-55 s
    /// (probe, settling, printing the histogram), so they get 60 s each. rr's conditions
    /// (one per scheduler, and again for the sched_ext ones in the statistics phase) run
    /// redis-benchmark twice, confined to one CPU at 500-4500 requests/s: up to 2 x 40 s
    /// on a loaded host, so 120 s each. A candidate adds mus's conditions once more
    /// (latency 3, bystander 2, rr 2 with its statistics phase) and, elsewhere, about
    /// half a peer's time.
    fn timeout(&self) -> Duration {
        let peers = u64::from(self.peers);
        let cand = u64::from(self.candidate.is_some());
        let secs: u64 = self
            .benches
            .iter()
            .zip(&self.repeats)
            .map(|(b, n)| {
                let per_run = match *b {
                    "latency" => 60 * (10 + 2 * peers + 3 * cand),
                    "bystander" => 60 * (7 + 2 * peers + 2 * cand),
                    "rr" => 120 * (3 + 3 * peers + 2 * cand),
                    _ => 150 + 150 * peers + 75 * cand,
                };
                u64::from(*n) * per_run
            })
            .sum();
        Duration::from_secs(600 + secs)
    }

    fn max_repeats(&self) -> u32 {
        self.repeats.iter().copied().max().unwrap_or(1)
    }

    /// "latency=3 redis=3 ...", for messages and the summary.
    fn repeats_text(&self) -> String {
        self.benches
            .iter()
            .zip(&self.repeats)
            .map(|(b, n)| format!("{b}={n}"))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

fn evaluation_dir() -> PathBuf {
    mus_testbed::workspace_root().join("evaluation")
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if let [first, rest @ ..] = args.from_csv.as_slice() {
        let (meta, rows) = if rest.is_empty() {
            read_run(first)?
        } else {
            let runs = rest
                .iter()
                .map(|c| read_run(c))
                .collect::<Result<Vec<_>, _>>()?;
            anyhow::ensure!(
                !runs.iter().any(|(_, r)| auto::is_auto(r)),
                "`auto` runs are judged one at a time: give one --from-csv"
            );
            pool::pool(read_run(first)?, runs)?
        };
        if auto::is_auto(&rows) {
            auto::report(&meta, &rows)?;
        } else {
            report(&meta, &rows)?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    if args.which.contains(&Which::Auto) {
        anyhow::ensure!(
            args.which.len() == 1,
            "`cargo xtask bench auto` runs alone: it boots its own guest script"
        );
        anyhow::ensure!(
            args.candidate.is_none() && !args.twin,
            "--candidate and --twin pair builds in the benchmarks of `all`, not in `auto`: leave it out, or name the benchmarks to pair"
        );
        return auto::run(args.repeats, args.quick, &args.auto_target, args.verbose);
    }
    let mut benches: Vec<&'static str> = Vec::new();
    for b in args.which.iter().flat_map(|w| w.benches()) {
        if !benches.contains(&b) {
            benches.push(b);
        }
    }
    let repeats = benches
        .iter()
        .map(|b| match (args.repeats, args.quick) {
            (Some(n), _) => n.max(1),
            (None, true) => 1,
            (None, false) => default_repeats(b),
        })
        .collect();
    let settings = Settings {
        repeats,
        benches,
        peers: !args.no_peers,
        candidate: (args.candidate.is_some() || args.twin)
            .then(|| args.candidate_args.clone().unwrap_or_default()),
    };
    // before building or booting anything: a missing peer is an error, not a skip
    let peer_bins = if settings.peers {
        peers::find(&peers::peers_dir())?
    } else {
        Vec::new()
    };
    if let Some(c) = &args.candidate {
        candidate::check(c, args.candidate_args.as_deref().unwrap_or(""))?;
    }
    let which: Vec<String> = args
        .which
        .iter()
        .map(|w| format!("{w:?}").to_lowercase())
        .collect();
    let mut command = format!("cargo xtask bench {}", which.join(" "));
    if args.quick {
        command.push_str(" --quick");
    }
    if args.no_peers {
        command.push_str(" --no-peers");
    }
    if let Some(r) = args.repeats {
        command.push_str(&format!(" --repeats {r}"));
    }
    if let Some(c) = &args.candidate {
        command.push_str(&format!(" --candidate {}", c.display()));
    }
    if let Some(a) = &args.candidate_args {
        command.push_str(&format!(" --candidate-args '{a}'"));
    }
    if args.twin {
        command.push_str(&format!(" {}", candidate::TWIN_FLAG));
    }

    // what the binaries are built from, before they are: the note pool.rs pools by
    let tree = tree_state();
    let [runner, agent, redis_rate] =
        build_workspace_bins(["mus-runner", "mus-agent", "redis-rate"])?;
    // after the build: the candidate may be the tree's own mus-runner
    let candidate = args.candidate.clone().or(args.twin.then(|| runner.clone()));
    let testbed = Testbed::prepare()?;
    let hog = std::sync::Arc::new(host_hog::HostHog::default());
    let hog_hook = hog.clone();
    let mut scenario = settings
        .scenario()
        .on_console_line(move |line| hog_hook.on_line(line))
        .binary(runner)
        .binary(agent)
        .binary(redis_rate)
        .timeout(settings.timeout())
        .echo_console(args.verbose);
    for tool in settings.tools() {
        scenario = scenario.host_tool(tool);
    }
    if let Some(c) = &candidate {
        scenario = scenario.binary(stage_candidate(c)?);
    }
    if settings.peers {
        for b in &peer_bins {
            scenario = scenario.binary(b);
        }
        scenario = scenario.file(evaluation_dir().join("layered.json"), LAYERED_CONFIG_GUEST);
        // libbpf reads the kernel's config for the peers' __kconfig externs; without it
        // they fail to load with "Invalid argument" (NODE-FAIRNESS-NOTES.md)
        let config = testbed
            .kernel_config()
            .context("the guest kernel's config is unknown (MUS_VM_KERNEL without MUS_VM_KERNEL_CONFIG): the peers need it to load; set MUS_VM_KERNEL_CONFIG or pass --no-peers")?;
        scenario = scenario.file(
            config,
            &format!("/boot/config-{}", testbed.kernel_release()),
        );
    }
    println!(
        "bench: repeats per condition {} (schedulers: {}) in one {} guest (TCG, 2 vCPUs); this takes minutes, and may first wait for another guest on this host...",
        settings.repeats_text(),
        settings.shell_scheds().replace(' ', ", "),
        testbed.kernel_release()
    );
    let started = std::time::SystemTime::now();
    let run = testbed.run(&scenario);
    // a guest that died mid-condition never said "off"
    hog.stop();
    let run = run?;

    let stamp = utc_stamp(started);
    let logs = mus_testbed::workspace_root().join("target").join("bench");
    std::fs::create_dir_all(&logs)?;
    let console_log = logs.join(format!("console-{stamp}.log"));
    std::fs::write(&console_log, &run.console)?;
    for (_, e) in run.results.iter().filter(|(k, _)| k == "bench_error") {
        eprintln!(
            "bench: the guest reported an error: {e} (console: {})",
            console_log.display()
        );
    }
    if run.scenario_status != Some(0) {
        eprintln!(
            "bench: the guest scenario exited with {:?}; console in {}",
            run.scenario_status,
            console_log.display()
        );
    }

    let rows = results::parse(&run.results)?;
    let mut meta = dataset::Meta {
        command,
        date: stamp.clone(),
        kernel: run.get("kernel").unwrap_or("?").to_string(),
        scheduler: run.get("scheduler").unwrap_or("not loaded").to_string(),
        repeats: settings.max_repeats(),
        guest_seconds: run.elapsed.as_secs_f64(),
        dataset: String::new(),
        notes: vec![format!(
            "repeats per condition: {}",
            settings.repeats_text()
        )],
    };
    for key in [
        "runner_config",
        "runner_config_cand",
        "scheduler_bpfland",
        "scheduler_layered",
        "lat_config",
        "redis_config",
        "redis_sat_config",
        "rr_config",
        "overhead_config",
        "bench_noise_workers",
    ] {
        if let Some(v) = run.get(key) {
            meta.notes.push(format!("{key}: {v}"));
        }
    }
    if settings.peers {
        meta.notes
            .push("layered_config: evaluation/layered.json".into());
    }
    meta.notes.extend(tree);
    if hog.starts() > 0 {
        meta.notes.push(format!(
            "host_hog: one busy thread on the host ({} host CPUs) during each of the {} *_host conditions",
            std::thread::available_parallelism().map_or(0, |n| n.get()),
            hog.starts()
        ));
    }
    for (_, e) in run.results.iter().filter(|(k, _)| k == "bench_error") {
        meta.notes.push(format!("guest error: {e}"));
    }

    let datasets = evaluation_dir().join("datasets");
    std::fs::create_dir_all(&datasets)?;
    let csv = datasets.join(format!("bench-{stamp}.csv"));
    meta.dataset = rel(&csv);
    let text = dataset::to_csv_with_meta(&meta, &rows);
    std::fs::write(&csv, &text)?;
    std::fs::write(datasets.join("latest.csv"), &text)?;
    println!(
        "bench: {} rows -> {} (and datasets/latest.csv); console -> {}",
        rows.len(),
        csv.display(),
        console_log.display()
    );
    report(&meta, &rows)?;
    Ok(if run.scenario_status == Some(0) && !rows.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The candidate's binary under the name bench.sh runs it by (Scenario::binary copies a
/// file to /bin under its own name), in target/bench/.
fn stage_candidate(path: &Path) -> anyhow::Result<PathBuf> {
    let dir = mus_testbed::workspace_root().join("target").join("bench");
    std::fs::create_dir_all(&dir)?;
    let staged = dir.join(format!("mus-runner-{}", results::CANDIDATE));
    std::fs::copy(path, &staged)
        .with_context(|| format!("copying {} to {}", path.display(), staged.display()))?;
    Ok(staged)
}

/// Writes evaluation/summary.md and the plots, and prints the summary. With a
/// candidate's rows, the summary and plots are mus's, followed by the candidate's
/// section (candidate.rs).
fn report(meta: &dataset::Meta, rows: &[results::Row]) -> anyhow::Result<()> {
    let mus_rows = candidate::mus_view(rows);
    let agg = aggregate::Aggregate::from_rows(&mus_rows);
    let checks = checks::checks(&agg);
    let mut md = summary::markdown(meta, &agg, &checks);
    if candidate::present(rows) {
        let cand_checks = checks::checks(&aggregate::Aggregate::from_rows(
            &candidate::candidate_view(rows),
        ));
        let which = if meta.command.contains(candidate::TWIN_FLAG) {
            candidate::Which::Twin
        } else {
            candidate::Which::Build(
                meta.command
                    .split_once("--candidate ")
                    .map_or("(not recorded)", |(_, p)| p),
            )
        };
        candidate::section(
            &mut md,
            which,
            &checks,
            &cand_checks,
            &aggregate::Aggregate::from_rows(rows),
        );
    }
    let path = evaluation_dir().join("summary.md");
    std::fs::write(&path, &md)?;
    let plots = plot::plot_all(&agg, &evaluation_dir().join("plots"))?;
    println!("\n{md}");
    println!(
        "bench: summary -> {}; plots -> {}",
        path.display(),
        plots.iter().map(|p| rel(p)).collect::<Vec<_>>().join(", ")
    );
    Ok(())
}

/// A run's facts and rows from the CSV `csv` (its `dataset` the path, as given).
fn read_run(csv: &Path) -> anyhow::Result<pool::Run> {
    let text =
        std::fs::read_to_string(csv).with_context(|| format!("reading {}", csv.display()))?;
    let (mut meta, rows) = dataset::from_csv_with_meta(&text)?;
    meta.dataset = rel(csv);
    Ok((meta, rows))
}

/// The commit the work tree is at, "-dirty" after it if the tree has changes other
/// than the bench's own outputs (which every run rewrites), as the run's `tree` note;
/// None where git cannot say.
fn tree_state() -> Option<String> {
    let git = |args: &[&str]| {
        let out = std::process::Command::new("git")
            .args(args)
            .current_dir(mus_testbed::workspace_root())
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    let commit = git(&["rev-parse", "--short=12", "HEAD"])?;
    let changes = git(&[
        "status",
        "--porcelain",
        "--",
        ".",
        ":(exclude)evaluation/summary.md",
        ":(exclude)evaluation/auto.md",
        ":(exclude)evaluation/datasets",
        ":(exclude)evaluation/plots",
    ])?;
    let dirty = if changes.is_empty() { "" } else { "-dirty" };
    Some(pool::tree_note(&format!("{commit}{dirty}")))
}

/// `path` relative to the workspace root when it is inside it.
fn rel(path: &Path) -> String {
    let root = mus_testbed::workspace_root();
    path.strip_prefix(&root)
        .unwrap_or(path)
        .display()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_ask_for_the_tools_their_benches_use() {
        let s = Settings {
            repeats: vec![2, 2, 1, 1],
            benches: vec!["latency", "overhead", "bystander", "cost"],
            peers: true,
            candidate: None,
        };
        assert_eq!(
            s.tools(),
            ["bpftool", "stress-ng", "cyclictest", "hackbench"]
        );
        assert!(s.shell().contains(
            "BENCHES=\"latency overhead bystander cost\"\nSCHEDS=\"stock mus bpfland layered\"\nREPEATS=2\n\
             REPEATS_latency=2\nREPEATS_overhead=2\nREPEATS_bystander=1\nREPEATS_cost=1\n"
        ));
        assert_eq!(s.repeats_text(), "latency=2 overhead=2 bystander=1 cost=1");
        let s = Settings {
            repeats: vec![1, 1],
            benches: vec!["redis", "redis_sat"],
            peers: false,
            candidate: None,
        };
        // redis-rate is the repo's own binary, not a host tool
        let redis_tools = [
            "bpftool",
            "stress-ng",
            "redis-server",
            "redis-cli",
            "redis-benchmark",
        ];
        assert_eq!(s.tools(), redis_tools);
        let shell = s.shell();
        assert!(shell.contains("SCHEDS=\"stock mus\"\n"));
        assert!(shell.contains("REDIS_RATE=100\nREDIS_SECS=15\nREDIS_CONNS=2\n"));
        assert!(shell.contains("REDIS_SAT_N=15000\nREDIS_SAT_CONNS=4\n"));
        let without = s.timeout();
        let with_cand = Settings {
            candidate: Some("--no-wait-histograms".into()),
            repeats: s.repeats.clone(),
            benches: s.benches.clone(),
            ..s
        };
        assert!(with_cand.shell().contains("SCHEDS=\"stock mus cand\"\n"));
        assert!(
            with_cand
                .shell()
                .contains("CAND_ARGS=\"--no-wait-histograms\"\n")
        );
        assert!(without < with_cand.timeout());
        assert!(without < Settings { peers: true, ..s }.timeout());
        let rr = Settings {
            repeats: vec![5],
            benches: vec!["rr"],
            peers: false,
            candidate: None,
        };
        assert_eq!(rr.tools(), redis_tools);
    }

    #[test]
    fn all_means_every_benchmark_the_guest_script_has() {
        let all = Which::All.benches();
        assert_eq!(all.len(), 11);
        for b in all {
            assert!(
                DEFAULT_REPEATS.iter().any(|(d, _)| *d == b),
                "no default repeats for {b}"
            );
            assert!(
                SCRIPT.contains(&format!("\nbench_{b}() {{")),
                "bench.sh has no bench_{b}"
            );
        }
    }

    #[test]
    fn the_layered_config_is_valid_json_with_a_boost_layer_for_target() {
        let text = std::fs::read_to_string(evaluation_dir().join("layered.json")).unwrap();
        // the guest's scx_layered parses it; here only its shape: two layers, the first
        // matching target/ with weight 400 and preemption, the second everything else
        assert!(text.contains("\"CgroupPrefix\": \"target/\""), "{text}");
        assert!(text.contains("\"weight\": 400") && text.contains("\"preempt\": true"));
        assert!(text.contains("\"matches\": [[]]"));
    }

    #[test]
    fn the_guest_script_parses() {
        Settings {
            repeats: vec![1; Which::All.benches().len()],
            benches: Which::All.benches(),
            peers: true,
            candidate: Some(String::new()),
        }
        .scenario()
        .check_syntax()
        .unwrap_or_else(|e| panic!("{e}"));
    }
}
