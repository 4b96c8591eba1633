//! From a pod or container to its cgroup, and back: the kubelet's directory names
//! ([`paths`]), containerd's answer ([`containerd`]), the order they are asked in
//! ([`resolve`]), which listed pod owns a map entry ([`index`]), and CPU usage
//! ([`cpu`]).

pub mod containerd;
pub mod cpu;
pub mod index;
pub mod paths;
pub mod resolve;
