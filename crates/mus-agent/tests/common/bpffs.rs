//! The node's side of the map: a private bpffs with maps of the scheduler's layout,
//! pinned as mus-runner pins them (the real kernel's BPF maps, not a mock).

use std::path::PathBuf;
use std::process::Command;

use libbpf_rs::{MapHandle, MapType};
use mus_common::stats::NR_STATS;

/// A private bpffs on a temp dir, unmounted on drop.
pub struct BpfFs {
    dir: tempfile::TempDir,
}

impl BpfFs {
    pub fn mount() -> BpfFs {
        assert!(
            nix::unistd::geteuid().is_root(),
            "this test needs root: it mounts a bpffs and creates a BPF map (run cargo test as root)"
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let status = Command::new("mount")
            .args(["-t", "bpf", "bpf"])
            .arg(dir.path())
            .status()
            .expect("run mount");
        assert!(
            status.success(),
            "mount -t bpf bpf {} failed",
            dir.path().display()
        );
        BpfFs { dir }
    }

    pub fn pin(&self) -> PathBuf {
        self.dir.path().join("high_prio_cgroups")
    }

    /// What mus-runner does: a fresh map of the scheduler's layout, pinned.
    pub fn create_map(&self, capacity: u32) -> MapHandle {
        let opts = libbpf_rs::libbpf_sys::bpf_map_create_opts {
            sz: size_of::<libbpf_rs::libbpf_sys::bpf_map_create_opts>() as _,
            ..Default::default()
        };
        let mut map = MapHandle::create(
            MapType::Hash,
            Some("high_prio_cgroups"),
            8,
            8,
            capacity,
            &opts,
        )
        .expect("create a BPF hash map (does this kernel have BPF?)");
        map.pin(self.pin()).expect("pin");
        map
    }

    /// What mus-runner also pins: the scheduler's per-CPU counters, where the
    /// agent looks for them.
    pub fn create_stats(&self) -> MapHandle {
        let opts = libbpf_rs::libbpf_sys::bpf_map_create_opts {
            sz: size_of::<libbpf_rs::libbpf_sys::bpf_map_create_opts>() as _,
            ..Default::default()
        };
        let mut map = MapHandle::create(
            MapType::PercpuArray,
            Some("stats"),
            4,
            8,
            NR_STATS as u32,
            &opts,
        )
        .expect("create a BPF per-CPU array");
        map.pin(mus_common::stats_pin_path(&self.pin()))
            .expect("pin");
        map
    }

    /// What a runner stopping does: the pin goes (the map with it, once unused).
    pub fn unpin(&self, map: MapHandle) {
        std::fs::remove_file(self.pin()).expect("unpin");
        drop(map);
    }
}

impl Drop for BpfFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}
