//! From a pod or container to its cgroup, and back: the kubelet's directory names
//! ([`paths`]), containerd's answer ([`containerd`]), the order they are asked in
//! ([`resolve`]), which listed pod owns a map entry ([`index`]), CPU usage
//! ([`cpu`]) and CPU pressure ([`pressure`]).

pub mod containerd;
pub mod cpu;
pub mod index;
pub mod paths;
pub mod pressure;
pub mod resolve;
