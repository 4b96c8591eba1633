//! `CPUBoost` objects: a boost an operator runs, with an expiry and an audit trail.
//! [`resource`] is the type (and the CRD generated from it); [`check`] turns an
//! object into what it asks for, or the sentence saying why it cannot be run, with
//! [`expiry`] for when it ends; [`select`] says which object a pod gets when several
//! select it; [`status`] is what the agents write back. No I/O here: the daemon
//! (`crate::daemon`) judges objects under its policy and writes their status.

pub mod check;
pub mod expiry;
pub mod resource;
pub mod select;
pub mod status;

pub use resource::{CPUBoost, CPUBoostSpec, CPUBoostStatus, NodeBoost};

/// A CPUBoost object, for logs, metrics and precedence (namespace, then name).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BoostRef {
    pub namespace: String,
    pub name: String,
}

impl BoostRef {
    pub fn of(boost: &CPUBoost) -> BoostRef {
        BoostRef {
            namespace: boost.metadata.namespace.clone().unwrap_or_default(),
            name: boost.metadata.name.clone().unwrap_or_default(),
        }
    }
}

impl std::fmt::Display for BoostRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cpuboost {}/{}", self.namespace, self.name)
    }
}
