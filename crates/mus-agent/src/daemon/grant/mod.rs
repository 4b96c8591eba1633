//! What a pass grants each pod, as pure steps from what the daemon read: the
//! CPUBoost objects judged under the policy ([`boosts`]), the boost [`policy`]
//! (its namespace [`selector`]s) and the [`annotations`] it honours, the
//! [`node_cap`] that bounds them by what each pod can take of the node's CPU
//! ([`pod_cpu`]), and the step from pods to the boosts they are granted
//! ([`wishes`]), each pod left out with its [`refusal`].

pub mod annotations;
pub mod boosts;
pub mod node_cap;
pub mod pod_cpu;
pub mod policy;
pub mod refusal;
pub mod selector;
pub mod wishes;
