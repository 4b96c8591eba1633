//! libbpf's own messages (a verifier log when a program is refused, a map it cannot
//! reuse, a missing kernel feature) through the runner's tracing, so they reach the
//! same place as everything else the runner says, as text or JSON lines, instead of
//! going to bare stderr or nowhere.

use libbpf_rs::PrintLevel;
use tracing::{debug, info, warn};

/// Routes libbpf's messages into tracing from now on. libbpf filters nothing itself:
/// its debug chatter reaches tracing as `debug` events, shown with `-v`.
pub fn route() {
    libbpf_rs::set_print(Some((PrintLevel::Debug, forward)));
}

/// One libbpf message. A verifier log arrives as one multi-line message; it is logged
/// as one event so that its lines stay together.
fn forward(level: PrintLevel, msg: String) {
    // The target already says where it came from.
    let msg = msg.trim_end();
    let msg = msg.strip_prefix("libbpf: ").unwrap_or(msg);
    if msg.is_empty() {
        return;
    }
    match level {
        PrintLevel::Warn => warn!(target: "libbpf", "{msg}"),
        PrintLevel::Info => info!(target: "libbpf", "{msg}"),
        PrintLevel::Debug => debug!(target: "libbpf", "{msg}"),
    }
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::sync::{Arc, Mutex};

    use libbpf_rs::ObjectBuilder;

    use super::*;

    /// A tracing writer into a shared buffer.
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().expect("buffer lock").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// Real libbpf, real message: opening something that is not an ELF object makes
    /// libbpf warn, and the warning must come out of the runner's log.
    #[test]
    fn a_libbpf_warning_comes_out_of_the_runners_log() {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            route();
            let err = ObjectBuilder::default()
                .open_memory(b"not an ELF object")
                .expect_err("garbage must not open as a BPF object");
            drop(err);
        });
        let log =
            String::from_utf8(buffer.0.lock().expect("buffer lock").clone()).expect("utf-8 log");
        assert!(
            log.lines()
                .any(|l| l.contains("WARN") && l.contains("libbpf") && l.contains("ELF")),
            "no libbpf warning about the ELF in the log:\n{log}"
        );
    }
}
