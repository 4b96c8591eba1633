//! systemd readiness (`Type=notify`) without linking libsystemd: one datagram of
//! `READY=1` to `$NOTIFY_SOCKET`, if systemd gave one.

use std::env;
use std::io;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};

pub fn ready() -> io::Result<()> {
    let Some(socket) = env::var_os("NOTIFY_SOCKET") else {
        return Ok(());
    };
    let socket = socket.to_string_lossy();
    // A leading '@' names a socket in the abstract namespace.
    let addr = match socket.strip_prefix('@') {
        Some(name) => SocketAddr::from_abstract_name(name.as_bytes())?,
        None => SocketAddr::from_pathname(socket.as_ref())?,
    };
    UnixDatagram::unbound()?.send_to_addr(b"READY=1\n", &addr)?;
    Ok(())
}
