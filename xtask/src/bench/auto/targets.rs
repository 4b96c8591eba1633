//! The four targets for auto, judged as paired rounds (judge.rs's rule: the
//! median of the per-round ratios meets the bound and auto wins most rounds, on at
//! least five rounds).

use super::figures::{AUTO, BENCH, MANUAL, P99_SLACK};
use crate::bench::aggregate::Aggregate;
use crate::bench::judge::{self, Area, Bound, Check, Fmt};

/// The settling target, seconds.
pub const SETTLE_S: f64 = 5.0;

const SECONDS: Fmt = Fmt {
    unit: " s",
    decimals: 0,
};
const WEIGHT: Fmt = Fmt {
    unit: "",
    decimals: 0,
};
const CPU_S: Fmt = Fmt {
    unit: " CPU s",
    decimals: 1,
};

/// auto's `metric` in each round against a fixed `value`.
fn against_fixed(agg: &Aggregate, metric: &str, value: f64) -> Vec<(u32, f64, f64)> {
    agg.per_repeat(BENCH, AUTO, metric)
        .into_iter()
        .map(|(r, x)| (r, x, value))
        .collect()
}

pub fn checks(agg: &Aggregate) -> Vec<Check> {
    vec![
        judge::paired(
            agg,
            Area::Boost,
            format!(
                "during the noise, after auto's settling time: auto's Redis p99 <= {P99_SLACK}x the permanent 4x boost's"
            ),
            (BENCH, AUTO, "p99_after_us"),
            &[(BENCH, MANUAL, "p99_after_us")],
            &judge::US,
            Bound::AtMost(P99_SLACK),
        ),
        judge::paired_rounds(
            Area::Boost,
            format!(
                "settling: the p99 back within {P99_SLACK}x the permanent boost's <= {SETTLE_S} s after the noise starts"
            ),
            &against_fixed(agg, "settle_s", SETTLE_S),
            &SECONDS,
            Bound::AtMost(1.0),
        ),
        judge::paired_rounds(
            Area::Fairness,
            "with no noise (before it starts) the weight stays 1024: no entry held".into(),
            &against_fixed(agg, "weight_quiet_max", 1024.0),
            &WEIGHT,
            Bound::AtMost(1.0),
        ),
        judge::paired(
            agg,
            Area::Fairness,
            "over the whole run the noise gets more CPU under auto than under the permanent boost (read: the permanent boost's noise CPU / auto's < 1)".into(),
            (BENCH, MANUAL, "noise_cpu_s"),
            &[(BENCH, AUTO, "noise_cpu_s")],
            &CPU_S,
            Bound::Below(1.0),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::judge::Verdict;
    use crate::bench::results::Row;

    fn rows(per_round: &[(f64, f64, f64, f64, f64, f64)]) -> Vec<Row> {
        let mut out = Vec::new();
        for (i, &(auto_p99, manual_p99, settle, quiet_w, auto_noise, manual_noise)) in
            per_round.iter().enumerate()
        {
            let r = i as u32 + 1;
            out.push(Row::new(BENCH, AUTO, r, "p99_after_us", auto_p99));
            out.push(Row::new(BENCH, MANUAL, r, "p99_after_us", manual_p99));
            out.push(Row::new(BENCH, AUTO, r, "settle_s", settle));
            out.push(Row::new(BENCH, AUTO, r, "weight_quiet_max", quiet_w));
            out.push(Row::new(BENCH, AUTO, r, "noise_cpu_s", auto_noise));
            out.push(Row::new(BENCH, MANUAL, r, "noise_cpu_s", manual_noise));
        }
        out
    }

    #[test]
    fn five_good_rounds_meet_every_target() {
        let good = (1100.0, 1000.0, 3.0, 1024.0, 30.0, 25.0);
        let agg = Aggregate::from_rows(&rows(&[good; 5]));
        let c = checks(&agg);
        assert!(c.iter().all(|c| c.verdict == Verdict::Met), "{c:#?}");
    }

    #[test]
    fn a_slow_settle_a_held_weight_or_a_hungrier_auto_misses() {
        let bad = (1300.0, 1000.0, 8.0, 2048.0, 24.0, 25.0);
        let good = (1100.0, 1000.0, 3.0, 1024.0, 30.0, 25.0);
        // three bad rounds of five: every target missed
        let agg = Aggregate::from_rows(&rows(&[bad, good, bad, good, bad]));
        let c = checks(&agg);
        assert!(c.iter().all(|c| c.verdict == Verdict::Missed), "{c:#?}");
        assert!(c[1].figure.contains("lost r1: 8 vs 5"), "{}", c[1].figure);
        // two bad rounds of five: every target held
        let agg = Aggregate::from_rows(&rows(&[bad, good, good, good, bad]));
        assert!(checks(&agg).iter().all(|c| c.verdict == Verdict::Met));
        // one round is figures only
        let agg = Aggregate::from_rows(&rows(&[good]));
        assert!(
            checks(&agg)
                .iter()
                .all(|c| c.verdict == Verdict::TooFewRounds)
        );
    }
}
