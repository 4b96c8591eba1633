//! What one boot produced: the console and the `@@MUS` result lines parsed from it.

use std::str::FromStr;
use std::time::Duration;

use crate::error::TestbedError;

/// The marker that starts a result line on the guest's console.
pub const RESULT_MARKER: &str = "@@MUS";
/// How much console an error carries: enough to see a scheduler's exit or a panic.
const TAIL_LINES: usize = 60;
/// How many lines of the kernel's RCU stall reports an error carries besides.
const REPORT_LINES: usize = 20;

/// The outcome of one boot.
#[derive(Debug, Clone)]
pub struct GuestRun {
    /// The whole serial console, `\r` removed.
    pub console: String,
    /// Every `@@MUS <key> <value>` line, in order.
    pub results: Vec<(String, String)>,
    /// The exit status of /scenario.sh; None when the guest never got to report it
    /// (kernel panic, scheduler hang).
    pub scenario_status: Option<i32>,
    /// Wall-clock time from starting QEMU to its exit.
    pub elapsed: Duration,
}

impl GuestRun {
    pub(crate) fn from_console(console: String, elapsed: Duration) -> GuestRun {
        let results = parse_results(&console);
        let scenario_status = results
            .iter()
            .rev()
            .find(|(k, _)| k == "scenario_exit")
            .and_then(|(_, v)| v.parse().ok());
        GuestRun {
            console,
            results,
            scenario_status,
            elapsed,
        }
    }

    /// The last value reported for `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.results
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every value reported for `key`, in order.
    pub fn all(&self, key: &str) -> Vec<&str> {
        self.results
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The last value for `key`, or an error carrying the console tail.
    pub fn require(&self, key: &str) -> Result<&str, TestbedError> {
        self.get(key).ok_or_else(|| TestbedError::MissingResult {
            key: key.to_string(),
            console_tail: self.console_tail(),
        })
    }

    /// The last value for `key`, parsed.
    pub fn number<T: FromStr>(&self, key: &str) -> Result<T, TestbedError> {
        let value = self.require(key)?;
        value.parse().map_err(|_| TestbedError::BadResult {
            key: key.to_string(),
            value: value.to_string(),
            type_name: std::any::type_name::<T>(),
            console_tail: self.console_tail(),
        })
    }

    /// The last lines of the console, for error messages.
    pub fn console_tail(&self) -> String {
        console_tail(&self.console)
    }

    /// Whether the guest died of QEMU's stale-int3 race: multi-threaded TCG has been
    /// seen (on QEMU 7.2 and 10.0) to let a vCPU execute the int3 the kernel's text
    /// patching left in a static branch after the patching ended, which the kernel
    /// reports as `Oops: int3` and dies of. Only the kernel's own code patching puts an
    /// int3 in kernel text (BPF programs cannot write there, and WARN and BUG use ud2),
    /// so the oops names the emulator, never the scenario.
    pub fn died_of_stale_int3(&self) -> bool {
        self.scenario_status.is_none() && self.console.contains("Oops: int3")
    }
}

/// The last TAIL_LINES lines, after what from before them names a stall's cause: the
/// first REPORT_LINES lines of the kernel's RCU stall reports (they name the task or
/// CPU that held the grace period up), and the entry of the task the watchdog found
/// stalled in sched_ext's exit dump (its state, queue and stack). The dump that ejects
/// the scheduler is longer than the tail: CI once lost an RCU report to it, and a
/// stalled shell's entry was lost the same way.
pub(crate) fn console_tail(console: &str) -> String {
    let lines: Vec<&str> = console.lines().collect();
    let start = lines.len().saturating_sub(TAIL_LINES);
    let earlier = &lines[..start];
    let reports: Vec<&str> = earlier
        .iter()
        .copied()
        .filter(|line| line.contains("rcu: "))
        .take(REPORT_LINES)
        .collect();
    let mut out = String::new();
    if !reports.is_empty() {
        out += &format!(
            "[the kernel's RCU reports from earlier]\n{}\n",
            reports.join("\n")
        );
    }
    if let Some(entry) = stalled_task_entry(&lines, earlier) {
        out += &format!(
            "[the stalled task in the exit dump]\n{}\n",
            entry.join("\n")
        );
    }
    let tail = lines[start..].join("\n");
    if out.is_empty() {
        return tail;
    }
    format!("{out}[the last {TAIL_LINES} lines]\n{tail}")
}

/// How many lines of a task's entry in sched_ext's exit dump an error carries.
const DUMP_ENTRY_LINES: usize = 12;

/// The entry in `earlier` (lines of the console) of the task named in the watchdog's
/// "<comm>[<pid>] failed to run for" anywhere in `lines`: the dump lists each CPU's
/// runnable tasks as "  <state> <comm>[<pid>] ...", then its fields and stack.
fn stalled_task_entry<'a>(lines: &[&str], earlier: &[&'a str]) -> Option<Vec<&'a str>> {
    let task = lines.iter().find_map(|line| {
        let before = &line[..line.find(" failed to run for")?];
        before
            .rsplit([' ', '(', '='])
            .next()
            .filter(|t| t.ends_with(']'))
    })?;
    let at = earlier.iter().position(|line| {
        let mut words = line.split_whitespace();
        words.next().is_some_and(|state| state.len() == 1) && words.next() == Some(task)
    })?;
    Some(
        earlier[at..]
            .iter()
            .take(DUMP_ENTRY_LINES)
            .copied()
            .collect(),
    )
}

/// Parses `@@MUS <key> <value...>` lines: the value is the rest of the line, trimmed,
/// and may be empty. Anything else on the console (kernel messages, tool output) is not
/// a result, including a line that merely mentions the marker further along.
pub(crate) fn parse_results(console: &str) -> Vec<(String, String)> {
    console
        .lines()
        .filter_map(|line| {
            let rest = line
                .trim_end_matches('\r')
                .trim_start()
                .strip_prefix(RESULT_MARKER)?;
            // "@@MUSX" is not the marker.
            if !rest.starts_with([' ', '\t']) {
                return None;
            }
            let rest = rest.trim();
            let (key, value) = rest.split_once([' ', '\t']).unwrap_or((rest, ""));
            (!key.is_empty()).then(|| (key.to_string(), value.trim().to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONSOLE: &str = "[    0.912] Run /init as init process\r\n\
        @@MUS kernel 7.3.4+deb13-cloud-amd64\r\n\
        @@MUS sched_ext_state disabled\r\n\
        some tool output mentioning @@MUS in passing\n\
        @@MUS hello   world, twice  \r\n\
        @@MUSCLE nope\n\
        @@MUS flag\n\
        @@MUS p99_us 1967\n\
        @@MUS p99_us 2311\n\
        @@MUS\n\
        @@MUS scenario_exit 0\r\n";

    fn run() -> GuestRun {
        GuestRun::from_console(CONSOLE.replace('\r', ""), Duration::ZERO)
    }

    #[test]
    fn parses_result_lines() {
        let r = parse_results(CONSOLE);
        assert_eq!(r.len(), 7);
        assert_eq!(r[0], ("kernel".into(), "7.3.4+deb13-cloud-amd64".into()));
        assert_eq!(r[2], ("hello".into(), "world, twice".into()));
        assert_eq!(r[3], ("flag".into(), "".into()));
    }

    #[test]
    fn looks_values_up() {
        let run = run();
        assert_eq!(run.scenario_status, Some(0));
        assert_eq!(run.get("p99_us"), Some("2311"));
        assert_eq!(run.all("p99_us"), ["1967", "2311"]);
        assert_eq!(run.get("flag"), Some(""));
        assert_eq!(run.number::<u64>("p99_us").unwrap(), 2311);
        assert_eq!(run.require("sched_ext_state").unwrap(), "disabled");
    }

    #[test]
    fn errors_carry_the_console_tail() {
        let run = run();
        let missing = run.require("absent_key").unwrap_err().to_string();
        assert!(missing.contains("@@MUS absent_key"), "{missing}");
        assert!(missing.contains("@@MUS scenario_exit 0"), "{missing}");
        let bad = run.number::<u32>("hello").unwrap_err().to_string();
        assert!(bad.contains("world, twice") && bad.contains("u32"), "{bad}");
    }

    #[test]
    fn tail_keeps_the_last_sixty_lines() {
        let console: String = (0..100).map(|i| format!("line {i}\n")).collect();
        let tail = console_tail(&console);
        assert_eq!(tail.lines().count(), 60);
        assert!(tail.starts_with("line 40\n") && tail.ends_with("line 99"));
    }

    #[test]
    fn an_rcu_stall_report_before_the_tail_is_kept() {
        let mut console =
            String::from("[ 40.1] rcu: INFO: rcu_preempt detected stalls on CPUs/tasks:\n");
        console
            .push_str("[ 40.1] rcu: \tTasks blocked on level-0 rcu_node (CPUs 0-7): P412/1:b..l\n");
        console.extend((0..100).map(|i| format!("line {i}\n")));
        let tail = console_tail(&console);
        assert!(tail.contains("P412/1:b..l"), "{tail}");
        assert!(
            tail.ends_with("line 99") && !tail.contains("line 39\n"),
            "{tail}"
        );
    }

    #[test]
    fn the_stalled_tasks_dump_entry_before_the_tail_is_kept() {
        let mut console = String::from("CPU 2   : nr_run=3\n  R sh[351] -24172ms\n");
        console.push_str("      sticky/holding_cpu=-1/-1 dsq_id=0x8000000000000002\n");
        console.extend((0..100).map(|i| format!("line {i}\n")));
        console.push_str("EXIT: runnable task stall (sh[351] failed to run for 24.172s)\n");
        let tail = console_tail(&console);
        assert!(
            tail.contains("  R sh[351] -24172ms\n      sticky/holding_cpu=-1/-1 dsq_id="),
            "{tail}"
        );
        assert!(tail.ends_with("failed to run for 24.172s)"), "{tail}");
        // no stall named: nothing is added
        let quiet: String = (0..100).map(|i| format!("line {i}\n")).collect();
        assert!(console_tail(&quiet).starts_with("line 40\n"));
    }

    #[test]
    fn a_stale_int3_oops_is_told_from_a_scenario_that_ended() {
        let oops =
            "@@MUS kernel 7.3.4\nOops: int3: 0000 [#1] SMP NOPTI\nKernel panic - not syncing\n";
        assert!(GuestRun::from_console(oops.into(), Duration::ZERO).died_of_stale_int3());
        let panic = "@@MUS kernel 7.3.4\nKernel panic - not syncing\n";
        assert!(!GuestRun::from_console(panic.into(), Duration::ZERO).died_of_stale_int3());
        let ended = format!("{oops}@@MUS scenario_exit 1\n");
        assert!(!GuestRun::from_console(ended, Duration::ZERO).died_of_stale_int3());
    }

    #[test]
    fn no_exit_line_means_no_status() {
        let run = GuestRun::from_console("Kernel panic - not syncing\n".into(), Duration::ZERO);
        assert_eq!(run.scenario_status, None);
        assert!(run.results.is_empty());
    }
}
