//! One error type for the whole test bed. Every variant's message is one sentence that
//! says what to do, because these errors surface as failing tests and CI logs.

use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum TestbedError {
    #[error(
        "qemu-system-x86_64 was not found on PATH: install it (`apt-get install -y --no-install-recommends qemu-system-x86`)"
    )]
    QemuMissing,

    #[error(
        "no static busybox found ({detail}): install it (`apt-get install -y busybox-static`) or point MUS_VM_BUSYBOX at a statically linked busybox"
    )]
    BusyboxMissing { detail: String },

    #[error("{var}={} points nowhere: fix the path or unset {var}", path.display())]
    EnvPathMissing { var: &'static str, path: PathBuf },

    #[error("the kernel config {} lacks {option}=y ({why}): use a kernel built with it, or unset MUS_VM_KERNEL to use Debian's cloud kernel", config.display())]
    KernelLacksOption {
        config: PathBuf,
        option: &'static str,
        why: &'static str,
    },

    #[error(
        "downloading the Debian kernel failed while {step}: check network access to the Debian archive (or set MUS_VM_KERNEL to a local kernel); apt said:\n{stderr}"
    )]
    Download { step: String, stderr: String },

    #[error("the Debian archive keyring {} is missing: install it (`apt-get install -y debian-archive-keyring`) or set MUS_VM_KERNEL to a local kernel", path.display())]
    KeyringMissing { path: PathBuf },

    #[error(
        "the Debian packages {packages} hold no {what}: the archive layout changed, so teach mus-testbed's debian module where it went (or set MUS_VM_KERNEL)"
    )]
    KernelNotInPackage {
        packages: String,
        what: &'static str,
    },

    #[error(
        "the 6.12 LTS kernel cannot be built here: {tarball} is missing; install the build's packages (`apt-get install -y --no-install-recommends {packages}`)"
    )]
    KernelSourceMissing {
        tarball: String,
        packages: &'static str,
    },

    #[error("building the 6.12 LTS guest kernel failed while {step}: {detail}")]
    KernelBuild { step: String, detail: String },

    #[error("`{tool}` was not found on PATH: install it{}", package.map(|p| format!(" (`apt-get install -y --no-install-recommends {p}`)")).unwrap_or_default())]
    ToolMissing {
        tool: String,
        package: Option<&'static str>,
    },

    #[error("{} needs the shared library {lib}, which ldd cannot find: install the package that ships it", binary.display())]
    MissingLibrary { binary: PathBuf, lib: String },

    #[error("`{command}` failed: {detail}")]
    Command { command: String, detail: String },

    #[error("scenario `{scenario}` is not valid sh: fix the script; sh -n said: {detail}")]
    ScriptSyntax { scenario: String, detail: String },

    #[error("guest path `{path}` cannot be used: {why}")]
    BadGuestPath { path: String, why: &'static str },

    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "qemu exited with {status} before the guest reached /init: check the kernel and qemu; qemu said:\n{stderr}\n--- last console lines ---\n{console_tail}"
    )]
    QemuFailed {
        status: String,
        stderr: String,
        console_tail: String,
    },

    #[error(
        "the guest never reached /init (no `@@MUS kernel` line): read the console below for a panic or a missing initramfs\n--- last console lines ---\n{console_tail}"
    )]
    GuestDidNotStart { console_tail: String },

    #[error(
        "scenario `{scenario}` timed out after {after:?} and qemu was killed: raise Scenario::timeout or find the hang in the console below\n--- last console lines ---\n{console_tail}"
    )]
    Timeout {
        scenario: String,
        after: Duration,
        console_tail: String,
    },

    #[error(
        "the guest printed no `@@MUS {key}` result: the scenario failed before reporting it, see the console below\n--- last console lines ---\n{console_tail}"
    )]
    MissingResult { key: String, console_tail: String },

    #[error(
        "the guest's `@@MUS {key}` value `{value}` is not a {type_name}: fix what the scenario prints\n--- last console lines ---\n{console_tail}"
    )]
    BadResult {
        key: String,
        value: String,
        type_name: &'static str,
        console_tail: String,
    },
}

impl TestbedError {
    /// Wraps an I/O error with a sentence naming what was being done.
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        TestbedError::Io {
            what: what.into(),
            source,
        }
    }
}
