//! How much of a node's CPU a pod can take: the CPU limit the kubelet gives its pod
//! cgroup, which the node cap counts. A request is not a bound: a boosted pod that
//! requests `1m` and has no limit takes every CPU it finds idle, and under
//! contention 8 shares in 9 of what it competes for.

use k8s_openapi::api::core::v1::{Container, Pod, ResourceRequirements};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

/// Why a pod's CPU is not bounded (or not as far as this agent can read).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Unbounded {
    #[error("container {0} has no CPU limit and the pod has no pod-level one")]
    NoLimit(String),
    #[error("the CPU quantity {value:?} of {of} cannot be read")]
    Unreadable { of: String, value: String },
    #[error("the pod has no spec")]
    NoSpec,
}

/// The pod's CPU limit in millicores, as the kubelet computes the pod cgroup's
/// `cpu.max`: the pod-level limit (`spec.resources`) if it has one; otherwise every
/// container, init containers included, must have a limit, and the pod may take the
/// larger of its running phase (containers plus restartable init containers, the
/// sidecars, which share the pod's cgroup) and each init container with the sidecars
/// started before it. Plus the RuntimeClass's overhead, which the pod cgroup holds too.
pub fn pod_cpu_limit_millis(pod: &Pod) -> Result<u64, Unbounded> {
    let spec = pod.spec.as_ref().ok_or(Unbounded::NoSpec)?;
    let overhead = match spec.overhead.as_ref().and_then(|o| o.get("cpu")) {
        Some(q) => quantity_millis(q, "the pod's overhead")?,
        None => 0,
    };
    if let Some(q) = limit_of(spec.resources.as_ref()) {
        return Ok(quantity_millis(q, "the pod-level limit")?.saturating_add(overhead));
    }
    let limit = |c: &Container| -> Result<u64, Unbounded> {
        let q = limit_of(c.resources.as_ref()).ok_or_else(|| Unbounded::NoLimit(c.name.clone()))?;
        quantity_millis(q, &format!("container {}'s limit", c.name))
    };
    let mut sidecars = 0u64;
    let mut init_peak = 0u64;
    for c in spec.init_containers.iter().flatten() {
        let millis = limit(c)?;
        if c.restart_policy.as_deref() == Some("Always") {
            sidecars = sidecars.saturating_add(millis);
        } else {
            init_peak = init_peak.max(sidecars.saturating_add(millis));
        }
    }
    let mut running = sidecars;
    for c in &spec.containers {
        running = running.saturating_add(limit(c)?);
    }
    Ok(running.max(init_peak).saturating_add(overhead))
}

fn limit_of(resources: Option<&ResourceRequirements>) -> Option<&Quantity> {
    resources?.limits.as_ref()?.get("cpu")
}

fn quantity_millis(q: &Quantity, of: &str) -> Result<u64, Unbounded> {
    cpu_millis(q).ok_or_else(|| Unbounded::Unreadable {
        of: of.into(),
        value: q.0.clone(),
    })
}

/// A CPU quantity in millicores, rounded up as the kubelet rounds it: `250m`, `2`,
/// `0.5`, `100u`, `1k`, `1Ki`, `1e3`; `None` for what is not a non-negative
/// Kubernetes quantity or does not fit.
pub fn cpu_millis(q: &Quantity) -> Option<u64> {
    let s = q.0.trim();
    let s = s.strip_prefix('+').unwrap_or(s);
    let digits_end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, suffix) = s.split_at(digits_end);
    let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() && frac.is_empty() || frac.contains('.') {
        return None;
    }
    // The number as an integer mantissa and a power of ten: 1.25 = 125e-2.
    let mut mantissa: u128 = 0;
    for b in whole.bytes().chain(frac.bytes()) {
        mantissa = mantissa
            .checked_mul(10)?
            .checked_add(u128::from(b - b'0'))?;
    }
    let (power2, power10): (u32, i32) = match suffix {
        "n" => (0, -9),
        "u" => (0, -6),
        "m" => (0, -3),
        "" => (0, 0),
        "k" => (0, 3),
        "M" => (0, 6),
        "G" => (0, 9),
        "T" => (0, 12),
        "P" => (0, 15),
        "E" => (0, 18),
        "Ki" => (10, 0),
        "Mi" => (20, 0),
        "Gi" => (30, 0),
        "Ti" => (40, 0),
        "Pi" => (50, 0),
        "Ei" => (60, 0),
        e => (0, e.strip_prefix(['e', 'E'])?.parse().ok()?),
    };
    let mantissa = mantissa.checked_mul(1u128.checked_shl(power2)?)?;
    // Millicores: three more powers of ten, less the fraction's digits.
    let exponent = power10 + 3 - i32::try_from(frac.len()).ok()?;
    let millis = if exponent >= 0 {
        mantissa.checked_mul(10u128.checked_pow(exponent.unsigned_abs())?)?
    } else {
        match 10u128.checked_pow(exponent.unsigned_abs()) {
            Some(divisor) => mantissa.div_ceil(divisor),
            // Smaller than any divisor that fits: a sliver of a millicore, or nothing.
            None => u128::from(mantissa > 0),
        }
    };
    u64::try_from(millis).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::PodSpec;
    use std::collections::BTreeMap;

    #[test]
    fn cpu_quantities() {
        let q = |s: &str| cpu_millis(&Quantity(s.into()));
        assert_eq!(q("250m"), Some(250));
        assert_eq!(q("2"), Some(2000));
        assert_eq!(q("0.5"), Some(500));
        assert_eq!(q("1.25"), Some(1250));
        assert_eq!(q(".5"), Some(500));
        assert_eq!(q("1e3"), Some(1_000_000));
        assert_eq!(q("1k"), Some(1_000_000));
        assert_eq!(q("1Ki"), Some(1_024_000));
        assert_eq!(q("100u"), Some(1), "rounded up to a millicore");
        assert_eq!(q("0.0001"), Some(1));
        assert_eq!(q("0"), Some(0));
        assert_eq!(q("1n"), Some(1));
        for bad in [
            "",
            "m",
            "-1",
            "1.2.3",
            "1x",
            "lots",
            "1e",
            "99999999999999E",
        ] {
            assert_eq!(q(bad), None, "{bad:?}");
        }
    }

    fn container(name: &str, limit: Option<&str>, restart: Option<&str>) -> Container {
        Container {
            name: name.into(),
            restart_policy: restart.map(Into::into),
            resources: Some(ResourceRequirements {
                // A request never counts: it bounds nothing.
                requests: Some(BTreeMap::from([("cpu".into(), Quantity("1m".into()))])),
                limits: limit.map(|l| BTreeMap::from([("cpu".into(), Quantity(l.into()))])),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn spec(p: &mut Pod) -> &mut PodSpec {
        p.spec.as_mut().expect("spec")
    }

    fn pod_of(containers: Vec<Container>, init: Vec<Container>) -> Pod {
        Pod {
            spec: Some(PodSpec {
                containers,
                init_containers: Some(init),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn a_request_without_a_limit_bounds_nothing() {
        let p = pod_of(vec![container("app", None, None)], vec![]);
        assert_eq!(
            pod_cpu_limit_millis(&p),
            Err(Unbounded::NoLimit("app".into()))
        );
        let p = pod_of(
            vec![container("app", Some("500m"), None)],
            vec![container("proxy", None, Some("Always"))],
        );
        assert_eq!(
            pod_cpu_limit_millis(&p),
            Err(Unbounded::NoLimit("proxy".into())),
            "a sidecar shares the pod's cgroup"
        );
        let p = pod_of(
            vec![container("app", Some("500m"), None)],
            vec![container("migrate", None, None)],
        );
        assert_eq!(
            pod_cpu_limit_millis(&p),
            Err(Unbounded::NoLimit("migrate".into()))
        );
    }

    #[test]
    fn sidecars_init_containers_pod_level_limits_and_overhead_count() {
        let p = pod_of(
            vec![
                container("app", Some("500m"), None),
                container("log", Some("100m"), None),
            ],
            vec![
                container("proxy", Some("200m"), Some("Always")),
                // Runs alone (with the sidecar before it): 2000m + 200m.
                container("warm", Some("2"), None),
            ],
        );
        assert_eq!(pod_cpu_limit_millis(&p), Ok(2200));
        let mut p = pod_of(vec![container("app", Some("500m"), None)], vec![]);
        let cpu = |q: &str| Some(BTreeMap::from([("cpu".into(), Quantity(q.into()))]));
        spec(&mut p).overhead = cpu("250m");
        assert_eq!(pod_cpu_limit_millis(&p), Ok(750));
        // A pod-level limit bounds containers that have none.
        spec(&mut p).containers.push(container("free", None, None));
        spec(&mut p).resources = Some(ResourceRequirements {
            limits: cpu("1"),
            ..Default::default()
        });
        assert_eq!(pod_cpu_limit_millis(&p), Ok(1250));
        spec(&mut p).overhead = cpu("much");
        assert!(matches!(
            pod_cpu_limit_millis(&p),
            Err(Unbounded::Unreadable { .. })
        ));
    }
}
