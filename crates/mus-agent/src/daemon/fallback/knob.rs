//! The kernel's own knob: a cgroup's `cpu.weight` (1..10000, default 100), which the
//! fair class and mus both honour. A boost of factor W through it is the weight
//! times W / 1024, as mus applies a map entry of weight W on top of the same knob.

use std::io;
use std::path::Path;

use mus_common::Weight;

/// cgroup v2's bounds for `cpu.weight`.
const MIN: u64 = 1;
const MAX: u64 = 10_000;

/// The `cpu.weight` that gives a cgroup of weight `base` the boost `factor`, within
/// the knob's bounds (a base of 5000 boosted 4× is held at 10000: the knob cannot
/// say more).
pub fn boosted(base: u32, factor: Weight) -> u32 {
    let raised = u64::from(base) * u64::from(factor.get()) / u64::from(Weight::NORMAL.get());
    // Clamped to at most 10000, so it fits.
    raised.clamp(MIN, MAX) as u32
}

/// The `cpu.weight` of cgroup directory `dir`.
pub fn read(dir: &Path) -> io::Result<u32> {
    let text = std::fs::read_to_string(dir.join("cpu.weight"))?;
    text.trim().parse().map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("cpu.weight reads {:?}, not a number", text.trim()),
        )
    })
}

/// Sets the `cpu.weight` of cgroup directory `dir`.
pub fn write(dir: &Path, weight: u32) -> io::Result<()> {
    std::fs::write(dir.join("cpu.weight"), format!("{weight}\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(v: u64) -> Weight {
        Weight::new(v).expect("weight")
    }

    #[test]
    fn the_factor_over_1024_clamped_to_the_knobs_range() {
        assert_eq!(boosted(100, w(4096)), 400);
        assert_eq!(boosted(100, Weight::NORMAL), 100);
        assert_eq!(boosted(39, w(8192)), 312);
        assert_eq!(boosted(5000, w(4096)), 10_000);
        assert_eq!(boosted(1, w(1)), 1, "never below the knob's minimum");
        assert_eq!(boosted(10_000, w(65536)), 10_000);
    }

    #[test]
    fn reads_and_writes_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("cpu.weight"), "100\n").expect("write");
        assert_eq!(read(dir.path()).expect("read"), 100);
        write(dir.path(), 400).expect("write");
        assert_eq!(read(dir.path()).expect("read"), 400);
        std::fs::write(dir.path().join("cpu.weight"), "max\n").expect("write");
        let e = read(dir.path()).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
    }
}
