//! A pod next to CPU noise, as the control law sees it: its share follows its weight
//! against the noise's, `share = w / (w + n)`, and its run-queue wait p99 is its own
//! part plus a part behind the noise that grows as the share falls,
//! `p99 = own + behind * n / w` (the queue behind a sibling of weight `n` drains at
//! `w / n` of the pod's rate). Each interval's reading is that value times a
//! log-normal measurement noise, and the attribution is the noise's part of it,
//! jittered. Deterministic: the same seed gives the same noise, whatever the
//! weights, so laws run on the same trace are compared on the same draws.

use std::time::Duration;

use crate::auto::law::Sample;
use crate::auto::spec::Signal;

/// The plant's constants, in milliseconds.
pub const OWN_MS: f64 = 0.2;
pub const BEHIND_MS: f64 = 2.0;
/// Standard deviation of the log of the measurement noise.
const SIGMA: f64 = 0.3;
/// Relative jitter of the measured attribution.
const ATTRIBUTION_JITTER: f64 = 0.2;

/// The p99 a pod at weight `w` would see, without measurement noise, next to
/// noise of weight `n` (0: none).
pub fn expected_p99_ms(w: u32, n: u32) -> f64 {
    OWN_MS + BEHIND_MS * f64::from(n) / f64::from(w)
}

/// The least weight that meets `target_ms` next to noise of weight `n`.
pub fn needed_weight(n: u32, target_ms: f64) -> f64 {
    BEHIND_MS * f64::from(n) / (target_ms - OWN_MS)
}

pub struct Plant {
    rng: u64,
}

impl Plant {
    pub fn new(seed: u64) -> Plant {
        Plant { rng: seed }
    }

    /// One interval's reading, ending at second `t`, for weight `w` and noise `n`.
    pub fn measure(&mut self, t: u64, w: u32, n: u32) -> Sample {
        let expected = expected_p99_ms(w, n);
        let measured = expected * (SIGMA * self.normal()).exp();
        let behind = (expected - OWN_MS) / expected;
        let jitter = 1.0 + ATTRIBUTION_JITTER * (2.0 * self.uniform() - 1.0);
        Sample {
            at: Duration::from_secs(t),
            signal: Signal::WaitP99(Duration::from_secs_f64(measured / 1e3)),
            neighbour_fraction: Some((behind * jitter).clamp(0.0, 1.0)),
            idle: false,
        }
    }

    /// splitmix64, as a float in [0, 1).
    fn uniform(&mut self) -> f64 {
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) as f64 / (u64::MAX as f64 + 1.0)
    }

    /// A standard normal draw (Box-Muller).
    fn normal(&mut self) -> f64 {
        let (u1, u2) = (1.0 - self.uniform(), self.uniform());
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}
