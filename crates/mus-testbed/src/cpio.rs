//! A writer for the "newc" cpio format, the one the kernel unpacks as an initramfs.
//!
//! Written here rather than piped through `cpio` so that building an image needs no
//! external tool and no staging directory: entries stream straight from the host files.
//! The archive is left uncompressed on purpose: the kernel takes it as is, and gzip in an
//! unoptimised test build would cost more host time than it saves in guest memory copies.

use std::io::{self, Read, Write};

const MAGIC: &[u8] = b"070701";
const HEADER_LEN: usize = 110;
pub(crate) const S_IFDIR: u32 = 0o040000;
pub(crate) const S_IFREG: u32 = 0o100000;
pub(crate) const S_IFLNK: u32 = 0o120000;
pub(crate) const S_IFCHR: u32 = 0o020000;

/// Streams newc entries to `out`. Parent directories must be written before their
/// children (the kernel does not create missing parents); `initramfs` takes care of it.
pub(crate) struct CpioWriter<W: Write> {
    out: W,
    next_ino: u32,
    offset: u64,
}

impl<W: Write> CpioWriter<W> {
    pub(crate) fn new(out: W) -> Self {
        CpioWriter {
            out,
            next_ino: 1,
            offset: 0,
        }
    }

    pub(crate) fn dir(&mut self, name: &str, perm: u32) -> io::Result<()> {
        self.header(name, S_IFDIR | perm, 2, 0, (0, 0))?;
        self.pad()
    }

    pub(crate) fn symlink(&mut self, name: &str, target: &str) -> io::Result<()> {
        self.header(name, S_IFLNK | 0o777, 1, target.len() as u64, (0, 0))?;
        self.write(target.as_bytes())?;
        self.pad()
    }

    pub(crate) fn char_dev(
        &mut self,
        name: &str,
        perm: u32,
        major: u32,
        minor: u32,
    ) -> io::Result<()> {
        self.header(name, S_IFCHR | perm, 1, 0, (major, minor))?;
        self.pad()
    }

    /// A regular file of exactly `size` bytes read from `data`.
    pub(crate) fn file(
        &mut self,
        name: &str,
        perm: u32,
        size: u64,
        data: impl Read,
    ) -> io::Result<()> {
        if size > u64::from(u32::MAX) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{name} is larger than newc's 4 GiB limit"),
            ));
        }
        self.header(name, S_IFREG | perm, 1, size, (0, 0))?;
        let copied = io::copy(&mut data.take(size), &mut self.out)?;
        if copied != size {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("{name} shrank while being archived ({copied} of {size} bytes)"),
            ));
        }
        self.offset += copied;
        self.pad()
    }

    /// Writes the trailer and hands back the output.
    pub(crate) fn finish(mut self) -> io::Result<W> {
        self.header("TRAILER!!!", 0, 1, 0, (0, 0))?;
        self.pad()?;
        self.out.flush()?;
        Ok(self.out)
    }

    fn header(
        &mut self,
        name: &str,
        mode: u32,
        nlink: u32,
        size: u64,
        rdev: (u32, u32),
    ) -> io::Result<()> {
        let name = name.trim_start_matches('/');
        let ino = self.next_ino;
        self.next_ino += 1;
        let fields = [
            ino,
            mode,
            0, // uid: root, whoever built the image
            0, // gid
            nlink,
            0, // mtime: fixed, so identical inputs give identical images
            size as u32,
            0,
            0,
            rdev.0,
            rdev.1,
            name.len() as u32 + 1,
            0, // check: unused by newc
        ];
        let mut header = Vec::with_capacity(HEADER_LEN + name.len() + 4);
        header.extend_from_slice(MAGIC);
        for f in fields {
            header.extend_from_slice(format!("{f:08X}").as_bytes());
        }
        header.extend_from_slice(name.as_bytes());
        header.push(0);
        self.write(&header)?;
        self.pad()
    }

    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.out.write_all(bytes)?;
        self.offset += bytes.len() as u64;
        Ok(())
    }

    /// newc aligns both the name and the data to four bytes.
    fn pad(&mut self) -> io::Result<()> {
        let n = (4 - (self.offset % 4) as usize) % 4;
        self.write(&[0u8; 3][..n])
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// One archive entry as read back: (name, mode, data, (rdevmajor, rdevminor)).
    pub(crate) type ReadEntry = (String, u32, Vec<u8>, (u32, u32));

    /// A minimal newc reader, to check what the writer produced.
    pub(crate) fn read_newc(mut buf: &[u8]) -> Vec<ReadEntry> {
        let mut out = Vec::new();
        let mut offset = 0usize;
        loop {
            assert_eq!(offset % 4, 0, "entry misaligned");
            assert_eq!(&buf[..6], MAGIC);
            let hex = |i: usize| {
                u32::from_str_radix(
                    std::str::from_utf8(&buf[6 + i * 8..14 + i * 8]).unwrap(),
                    16,
                )
                .unwrap()
            };
            let (mode, size, namesize) = (hex(1), hex(6) as usize, hex(11) as usize);
            let rdev = (hex(9), hex(10));
            let name = std::str::from_utf8(&buf[HEADER_LEN..HEADER_LEN + namesize - 1])
                .unwrap()
                .to_string();
            assert_eq!(buf[HEADER_LEN + namesize - 1], 0);
            let data_at = (HEADER_LEN + namesize).next_multiple_of(4);
            let data = buf[data_at..data_at + size].to_vec();
            let next = (data_at + size).next_multiple_of(4);
            buf = &buf[next..];
            offset += next;
            if name == "TRAILER!!!" {
                assert!(buf.is_empty());
                return out;
            }
            out.push((name, mode, data, rdev));
        }
    }

    #[test]
    fn round_trips_every_entry_kind() {
        let mut w = CpioWriter::new(Vec::new());
        w.dir("/bin", 0o755).unwrap();
        w.file("bin/busybox", 0o755, 5, &b"hello"[..]).unwrap();
        w.file("bin/empty", 0o644, 0, &b""[..]).unwrap();
        w.symlink("bin/sh", "busybox").unwrap();
        w.dir("dev", 0o755).unwrap();
        w.char_dev("dev/console", 0o600, 5, 1).unwrap();
        let bytes = w.finish().unwrap();
        assert_eq!(bytes.len() % 4, 0);
        let entries = read_newc(&bytes);
        let names: Vec<_> = entries.iter().map(|e| e.0.as_str()).collect();
        assert_eq!(
            names,
            [
                "bin",
                "bin/busybox",
                "bin/empty",
                "bin/sh",
                "dev",
                "dev/console"
            ]
        );
        assert_eq!(entries[0].1, S_IFDIR | 0o755);
        assert_eq!(entries[1].2, b"hello");
        assert_eq!(entries[1].1, S_IFREG | 0o755);
        assert_eq!(entries[3].1, S_IFLNK | 0o777);
        assert_eq!(entries[3].2, b"busybox");
        assert_eq!((entries[5].1, entries[5].3), (S_IFCHR | 0o600, (5, 1)));
    }

    #[test]
    fn refuses_a_file_shorter_than_announced() {
        let mut w = CpioWriter::new(Vec::new());
        let err = w.file("short", 0o644, 10, &b"abc"[..]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }
}
