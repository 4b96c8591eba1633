//! The agent binary as a child process: its kubeconfig and its log.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
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
}
