//! The agent binary as a child process: its kubeconfig and its log.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A kubeconfig in `dir` naming `server` and nothing else (no credentials).
pub fn kubeconfig(dir: &Path, server: &str) -> PathBuf {
    let path = dir.join("kubeconfig");
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: f\n  cluster:\n    server: {server}\ncontexts:\n- name: f\n  context:\n    cluster: f\n    user: f\ncurrent-context: f\nusers:\n- name: f\n  user: {{}}\n"
        ),
    )
    .expect("write");
    path
}

/// What a run of the agent against a fake API server needs on disk: a kubeconfig
/// naming the server, and a `--pin-path` where no map is pinned, both as arguments.
/// The scratch directory holding them goes when this is dropped.
pub struct AgentFiles {
    pub kubeconfig: String,
    pub pin: String,
    _dir: tempfile::TempDir,
}

impl AgentFiles {
    pub fn new(server: &str) -> AgentFiles {
        let dir = tempfile::tempdir().expect("tempdir");
        AgentFiles {
            kubeconfig: kubeconfig(dir.path(), server).display().to_string(),
            pin: dir.path().join("no-map").display().to_string(),
            _dir: dir,
        }
    }
}

/// Where this machine mounts cgroup2 (`/sys/fs/cgroup`, or on a hybrid host
/// `/sys/fs/cgroup/unified`), from /proc/self/mounts: the daemon refuses any other
/// cgroup root.
pub fn cgroup2_mount() -> PathBuf {
    let mounts = std::fs::read_to_string("/proc/self/mounts").expect("/proc/self/mounts");
    mounts
        .lines()
        .find_map(|l| match l.split_whitespace().collect::<Vec<_>>()[..] {
            [_, at, "cgroup2", ..] => Some(PathBuf::from(at)),
            _ => None,
        })
        .expect(
            "this test runs mus-agent watch, which needs a cgroup2 mount: this machine has none",
        )
}

/// `mus-agent watch --node n` on `files` and this machine's cgroup2 mount, stdin
/// and stdout closed, stderr piped; the caller adds its own flags and spawns it
/// with [`spawn_logged`].
pub fn watch_command(files: &AgentFiles) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mus-agent"));
    cmd.args(["watch", "--node", "n", "--kubeconfig"])
        .args([&files.kubeconfig, "--pin-path", &files.pin])
        .arg("--cgroup-root")
        .arg(cgroup2_mount())
        .env_remove("KUBECONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd
}

/// Spawns `cmd` (stderr piped) and collects its stderr.
pub fn spawn_logged(cmd: &mut Command) -> (Child, Log) {
    let mut child = cmd.spawn().expect("spawn mus-agent watch");
    let log = Log::collect(child.stderr.take().expect("stderr"));
    (child, log)
}

/// Waits up to `limit` for `child` to exit: its status, or `None` if it still
/// runs (and then it is left running).
pub fn exit_within(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        match child.try_wait().expect("wait") {
            Some(status) => return Some(status),
            None if Instant::now() > deadline => return None,
            None => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// A child's stderr, collected line by line on a thread of its own; clones share it.
#[derive(Clone)]
pub struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    pub fn collect(from: impl Read + Send + 'static) -> Log {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&lines);
        std::thread::spawn(move || {
            for line in BufReader::new(from).lines() {
                let Ok(line) = line else { break };
                sink.lock().expect("log").push(line);
            }
        });
        Log(lines)
    }

    pub fn text(&self) -> String {
        self.0.lock().expect("log").join("\n")
    }

    /// The first line containing `needle`, waiting up to `limit` for it.
    pub fn wait_for(&self, needle: &str, limit: Duration) -> Option<String> {
        let deadline = Instant::now() + limit;
        loop {
            let found = self
                .0
                .lock()
                .expect("log")
                .iter()
                .find(|l| l.contains(needle))
                .cloned();
            if found.is_some() || Instant::now() > deadline {
                return found;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// [`Log::wait_for`] from async code: it waits on a blocking thread, so that the
    /// runtime (and the fake API server on it) goes on meanwhile.
    pub async fn wait_for_async(&self, needle: &str, limit: Duration) -> Option<String> {
        let log = self.clone();
        let needle = needle.to_string();
        tokio::task::spawn_blocking(move || log.wait_for(&needle, limit))
            .await
            .expect("join")
    }
}
