//! Automatic boosts: a boost whose weight follows the pod's latency. [`spec`] is
//! what an operator writes (`spec.auto` of a boost object) and its validation;
//! [`law`] is the control law, pure, which the daemon feeds one sample per
//! interval and whose decisions it applies, logs and reports. The experiment that
//! chose the law (a simulated pod and noise) is in `sim`, run as a test;
//! `writeups/auto.md` has its results.

pub mod law;
#[cfg(test)]
mod sim;
pub mod spec;
