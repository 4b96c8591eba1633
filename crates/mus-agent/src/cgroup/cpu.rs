//! CPU usage of cgroups, from `cpu.stat`'s cumulative `usage_usec`.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// `usage_usec` of the cgroup at `dir`; `None` if the cgroup is gone or has no cpu
/// accounting (the cpu controller is always accounted on cgroup v2, so rarely).
pub fn usage_usec(dir: &Path) -> Option<u64> {
    let text = fs::read_to_string(dir.join("cpu.stat")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("usage_usec "))
        .and_then(|v| v.trim().parse().ok())
}

/// Turns successive readings into a rate: percent of one CPU over the interval
/// between two samples of the same cgroup.
#[derive(Debug, Default)]
pub struct CpuSampler {
    last: HashMap<PathBuf, (u64, Instant)>,
}

impl CpuSampler {
    /// Samples `dir` at `now`; `None` on the first sample (no interval yet) or when
    /// the counter went backwards (the cgroup was recreated under the same name).
    pub fn sample(&mut self, dir: &Path, now: Instant) -> Option<f64> {
        let usage = usage_usec(dir)?;
        let previous = self.last.insert(dir.to_path_buf(), (usage, now));
        let (before, then) = previous?;
        let elapsed = now.checked_duration_since(then)?.as_micros();
        if elapsed == 0 || usage < before {
            return None;
        }
        Some((usage - before) as f64 * 100.0 / elapsed as f64)
    }

    /// Forgets cgroups not in `keep`, so the map does not grow with pod churn.
    pub fn retain(&mut self, keep: &std::collections::HashSet<PathBuf>) {
        self.last.retain(|path, _| keep.contains(path));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn rate_from_two_readings() {
        let dir = tempfile::tempdir().expect("tempdir");
        let stat = dir.path().join("cpu.stat");
        fs::write(
            &stat,
            "usage_usec 1000000\nuser_usec 900000\nsystem_usec 100000\n",
        )
        .expect("write");
        let mut sampler = CpuSampler::default();
        let t0 = Instant::now();
        assert_eq!(sampler.sample(dir.path(), t0), None);
        fs::write(&stat, "usage_usec 1500000\nuser_usec 1\n").expect("write");
        let pct = sampler
            .sample(dir.path(), t0 + Duration::from_secs(1))
            .expect("rate");
        assert!((pct - 50.0).abs() < 1e-9, "{pct}");
        fs::write(&stat, "usage_usec 10\n").expect("write");
        assert_eq!(
            sampler.sample(dir.path(), t0 + Duration::from_secs(2)),
            None,
            "counter reset"
        );
        assert_eq!(usage_usec(&dir.path().join("gone")), None);
    }
}
