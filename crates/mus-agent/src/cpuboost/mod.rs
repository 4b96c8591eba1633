//! `CPUBoost` objects: a boost an operator runs, with an expiry and an audit trail.
//! [`resource`] is the type (and the CRD generated from it).

pub mod resource;

pub use resource::{CPUBoost, CPUBoostSpec, CPUBoostStatus, NodeBoost};
