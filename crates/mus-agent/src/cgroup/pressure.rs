//! CPU pressure of a cgroup from the kernel's PSI (`cpu.pressure`): the share of time
//! in which some (or all) of its runnable tasks waited for a CPU. It needs no mus, so
//! it is the signal where the scheduler's own wait histograms are not there.
//!
//! ```text
//! some avg10=1.53 avg60=0.87 avg300=0.25 total=1766210
//! full avg10=0.00 avg60=0.00 avg300=0.00 total=0
//! ```
//!
//! `avg*` are percentages over the last 10, 60 and 300 s; `total` is the stalled time
//! in microseconds since the cgroup was made, so that an interval of any length is the
//! difference of two readings. The `full` line is missing before Linux 5.13.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum PressureError {
    #[error(
        "{path} does not exist: the kernel has no PSI (CONFIG_PSI, or psi=0 on its command \
         line), or the cgroup is gone"
    )]
    Missing { path: PathBuf },
    #[error("cannot read {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{path}: cannot parse {line:?}")]
    Malformed { path: PathBuf, line: String },
}

/// One line of a pressure file.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Stall {
    /// Percent of the last 10, 60 and 300 seconds.
    pub avg10: f64,
    pub avg60: f64,
    pub avg300: f64,
    /// Stalled time since the cgroup was made, in microseconds.
    pub total_us: u64,
}

/// A cgroup's CPU pressure.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Pressure {
    /// Some runnable task waited for a CPU.
    pub some: Stall,
    /// Every runnable task waited; `None` before Linux 5.13.
    pub full: Option<Stall>,
}

impl Pressure {
    /// The CPU pressure of the cgroup at `dir`.
    pub fn read(dir: &Path) -> Result<Pressure, PressureError> {
        let path = dir.join("cpu.pressure");
        let text = fs::read_to_string(&path).map_err(|source| match source.kind() {
            io::ErrorKind::NotFound => PressureError::Missing { path: path.clone() },
            _ => PressureError::Io {
                path: path.clone(),
                source,
            },
        })?;
        Pressure::parse(&text).map_err(|line| PressureError::Malformed { path, line })
    }

    /// Parses a pressure file's text; the line it could not parse on error. Fields the
    /// kernel may add later are skipped.
    pub fn parse(text: &str) -> Result<Pressure, String> {
        let mut some = None;
        let mut full = None;
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let (kind, fields) = line.split_once(' ').ok_or_else(|| line.to_string())?;
            let stall = parse_stall(fields).ok_or_else(|| line.to_string())?;
            match kind {
                "some" => some = Some(stall),
                "full" => full = Some(stall),
                _ => {}
            }
        }
        Ok(Pressure {
            some: some.ok_or_else(|| "no \"some\" line".to_string())?,
            full,
        })
    }

    /// How long some task waited for a CPU between `earlier` and this reading.
    pub fn some_stalled_since(&self, earlier: &Pressure) -> Duration {
        Duration::from_micros(self.some.total_us.saturating_sub(earlier.some.total_us))
    }
}

fn parse_stall(fields: &str) -> Option<Stall> {
    let (mut avg10, mut avg60, mut avg300, mut total_us) = (None, None, None, None);
    for field in fields.split_whitespace() {
        let (name, value) = field.split_once('=')?;
        match name {
            "avg10" => avg10 = Some(value.parse().ok()?),
            "avg60" => avg60 = Some(value.parse().ok()?),
            "avg300" => avg300 = Some(value.parse().ok()?),
            "total" => total_us = Some(value.parse().ok()?),
            // a field a later kernel adds
            _ => {}
        }
    }
    Some(Stall {
        avg10: avg10?,
        avg60: avg60?,
        avg300: avg300?,
        total_us: total_us?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "some avg10=1.53 avg60=0.87 avg300=0.25 total=1766210\n\
                          full avg10=0.40 avg60=0.10 avg300=0.02 total=81234\n";

    #[test]
    fn both_lines_are_read() {
        let p = Pressure::parse(SAMPLE).expect("parses");
        assert_eq!(
            p.some,
            Stall {
                avg10: 1.53,
                avg60: 0.87,
                avg300: 0.25,
                total_us: 1_766_210
            }
        );
        assert_eq!(p.full.map(|f| f.total_us), Some(81_234));
    }

    #[test]
    fn an_older_kernel_has_no_full_line_and_later_fields_are_skipped() {
        let p = Pressure::parse("some avg10=0.00 avg60=0.00 avg300=0.00 total=0 peak=3\n")
            .expect("parses");
        assert_eq!(p.some.total_us, 0);
        assert_eq!(p.full, None);
    }

    #[test]
    fn a_broken_line_is_named() {
        assert_eq!(
            Pressure::parse("some avg10=x avg60=0 avg300=0 total=0"),
            Err("some avg10=x avg60=0 avg300=0 total=0".to_string())
        );
        assert_eq!(
            Pressure::parse("some avg10=1 avg60=0 total=0"),
            Err("some avg10=1 avg60=0 total=0".to_string())
        );
        assert!(Pressure::parse("").is_err());
    }

    #[test]
    fn an_interval_is_the_difference_of_the_totals() {
        let before = Pressure::parse(SAMPLE).expect("parses");
        let mut after = before;
        after.some.total_us += 250_000;
        assert_eq!(
            after.some_stalled_since(&before),
            Duration::from_millis(250)
        );
        assert_eq!(before.some_stalled_since(&after), Duration::ZERO);
    }

    #[test]
    fn a_cgroup_is_read_from_its_directory_and_a_missing_file_says_psi() {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::write(dir.path().join("cpu.pressure"), SAMPLE).expect("write");
        assert_eq!(Pressure::read(dir.path()).expect("reads").some.avg10, 1.53);
        let gone = dir.path().join("gone");
        let err = Pressure::read(&gone).expect_err("no file");
        assert!(err.to_string().contains("no PSI"), "{err}");
        fs::write(dir.path().join("cpu.pressure"), "some total=1\n").expect("write");
        assert!(matches!(
            Pressure::read(dir.path()),
            Err(PressureError::Malformed { .. })
        ));
    }
}
