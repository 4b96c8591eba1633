//! What the daemon leaves on a cgroup whose `cpu.weight` it raised: the base it
//! found and the value it wrote, in the `user.mus.fallback` extended attribute of the
//! cgroup's directory.
//!
//! Why there: it survives the daemon (a SIGKILLed one's successor finds it) and dies
//! with the cgroup (a deleted pod leaves nothing behind), which no state file does.
//! cgroup2 takes `user.*` attributes (Linux 5.7+); writing one needs write access to
//! the directory (uid 0 owns it), no capability, where `trusted.*` needs
//! CAP_SYS_ADMIN. Both values are kept so that a base kubelet changes (a pod resize
//! writes `cpu.weight`) is told apart from the value the daemon wrote:
//! [`Record::base_now`].

use std::io;
use std::path::Path;

/// The extended attribute's name.
pub const XATTR: &str = "user.mus.fallback";

/// A raised knob: the cgroup's own `cpu.weight` and what the daemon wrote instead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record {
    pub base: u32,
    pub written: u32,
}

impl Record {
    /// `base=<n> written=<n>`, the attribute's text.
    pub fn encode(&self) -> String {
        format!("base={} written={}", self.base, self.written)
    }

    /// The attribute's text, if it is one [`Record::encode`] made.
    pub fn parse(text: &[u8]) -> Option<Record> {
        let text = std::str::from_utf8(text).ok()?;
        let mut base = None;
        let mut written = None;
        for field in text.split_whitespace() {
            match field.split_once('=')? {
                ("base", v) => base = Some(v.parse().ok()?),
                ("written", v) => written = Some(v.parse().ok()?),
                _ => return None,
            }
        }
        Some(Record {
            base: base?,
            written: written?,
        })
    }

    /// The cgroup's base weight, given its `cpu.weight` now and what was recorded on
    /// it: the recorded base while the knob still holds what the daemon wrote;
    /// otherwise someone else set the knob since (kubelet resizing the pod, systemd
    /// re-applying a slice's CPUWeight), and that value is the base now. (A resize to
    /// exactly the value written cannot be told apart: it is taken as ours.)
    pub fn base_now(record: Option<Record>, current: u32) -> u32 {
        match record {
            Some(r) if current == r.written => r.base,
            _ => current,
        }
    }
}

/// The record on cgroup directory `dir`, if any; an attribute that is not one reads
/// as none (the daemon then takes the knob's value as the base).
pub fn read(dir: &Path) -> io::Result<Option<Record>> {
    Ok(xattr::get(dir, XATTR)?.and_then(|text| Record::parse(&text)))
}

pub fn write(dir: &Path, record: Record) -> io::Result<()> {
    xattr::set(dir, XATTR, record.encode().as_bytes())
}

/// Removes the record from `dir`; none there is no error.
pub fn remove(dir: &Path) -> io::Result<()> {
    match xattr::remove(dir, XATTR) {
        Err(e) if e.raw_os_error() == Some(nix::libc::ENODATA) => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_and_parses_both_values() {
        let r = Record {
            base: 100,
            written: 400,
        };
        assert_eq!(r.encode(), "base=100 written=400");
        assert_eq!(Record::parse(r.encode().as_bytes()), Some(r));
        for bad in [
            "",
            "base=100",
            "base=x written=4",
            "base=1 written=4 more=1",
            "\u{ff}",
        ] {
            assert_eq!(Record::parse(bad.as_bytes()), None, "{bad:?}");
        }
    }

    #[test]
    fn a_knob_someone_else_set_is_the_new_base() {
        let r = Some(Record {
            base: 100,
            written: 400,
        });
        // Still ours: the recorded base.
        assert_eq!(Record::base_now(r, 400), 100);
        // Killed between writing the record and the knob, or restored before the
        // record went: the knob holds the base.
        assert_eq!(Record::base_now(r, 100), 100);
        // Resized by kubelet to 200 meanwhile: 200 is the base.
        assert_eq!(Record::base_now(r, 200), 200);
        assert_eq!(Record::base_now(None, 100), 100);
    }
}
