//! The project's targets, in two areas (what a boost gives the boosted cgroup; fairness
//! to everything else), each judged by one of two rules (judge.rs has them as code):
//!
//! - **Paired rounds** (every latency and time target: the probes' and Redis's tails and
//!   hackbench's time, against stock and against the peers, quiet host or contended).
//!   Each repeat of the one boot is a round in which mus's condition and its reference ran
//!   interleaved, under the same host. Per round i the ratio r_i = mus's figure / the
//!   reference's figure *in the same round* (against several references, the smallest
//!   of them). Round i is a win for mus when r_i meets the target's bound (r_i <= k for
//!   "at most k times", r_i < k for "below"; k = 1 for "no worse than"; r_i >= k for
//!   "at least k times", a throughput against one reference). The target
//!   holds when at least 5 rounds paired (judge.rs's `MIN_ROUNDS`), the median of the
//!   r_i meets the bound, **and** mus wins more than half of the rounds. With fewer
//!   rounds the figures are shown but the target is not judged. This replaced "the worst repeat decides",
//!   under which one host stall in one of three repeats failed a target that held in
//!   the other two: here one bad round of five moves neither the median nor the
//!   majority, while a loss in most rounds (even a consistent 10 %) fails.
//! - **Every repeat** (the CPU-share targets: shares against a theory, the `cpu.max`
//!   band, shares against stock's share). These hold within a point or two from repeat
//!   to repeat and do not ride on the host's stalls, so a target holds only if it held
//!   in every repeat that measured it (the worst repeat decides). No ejection of mus is
//!   judged at every stop of it.
//!
//! The SCHED_FIFO floor (the probe as SCHED_FIFO 90 under stock with the same noise) is
//! not a target: the summary prints it as a row of each latency table, and the boosted
//! probe's targets, whose bound is a multiple of stock idle's tail, say beside their
//! figure where the floor stood against that same reference (a boot whose floor is
//! past the bound is one whose host no scheduler could meet it on).

use super::aggregate::Aggregate;
use super::conditions::{FIFO_FLOOR, HOST, RR_MODES, RR_STOCK};
use super::judge::{
    Area, Bound, Check, MS, RPS, Rule, SECS, US, Verdict, paired, share_fixed, share_vs,
    with_floor, with_peers,
};
use super::theory::{self, share_theory_pct};

/// The request/response targets (issue 20): with mus boosted, at least this fraction of
/// stock's requests/s and at most this multiple of its p99, in the same round.
pub const RR_MIN_RPS_RATIO: f64 = 0.95;
pub const RR_MAX_P99_RATIO: f64 = 1.1;
/// The peers' conditions in the rr benchmark, whose figures each rr target shows beside
/// mus's: is the bound within reach of a sched_ext scheduler in this boot?
const RR_PEERS: [(&str, &str); 2] = [
    ("scx_bpfland", "bpfland_idle"),
    ("scx_layered", "layered_boost"),
];

/// How far a share may be from its theory, in points of the CPU time of the cgroups
/// measured: the CPU time no cgroup gets (idle moments, the guest's own work) moves
/// every share by a point or two.
const SHARE_POINTS: f64 = 3.0;

/// The boost's targets: the boosted probe's and Redis's tails under noise against the
/// machine idle and the kernel's own knobs (the probe also with the host contended), the
/// share at each weight, the overhead of an empty map, and no cost to a boosted
/// request/response pair where nothing contends (confined to one CPU and not).
fn boost_targets(agg: &Aggregate, out: &mut Vec<Check>) {
    if agg.has_bench("latency") {
        for (host, when) in [("", ""), (HOST, ", host contended")] {
            for (m, name, k) in [("p99_us", "p99", 1.5), ("p999_us", "p99.9", 2.0)] {
                let idle = format!("stock_idle{host}");
                let check = paired(
                    agg,
                    Area::Boost,
                    format!(
                        "latency{when}: boosted probe under noise {name} <= {k}x stock idle {name}"
                    ),
                    ("latency", &format!("mus_boost{host}"), m),
                    &[("latency", &idle, m)],
                    &US,
                    Bound::AtMost(k),
                );
                let floor = format!("{FIFO_FLOOR}{host}");
                out.push(with_floor(
                    check,
                    agg,
                    ("latency", &floor, m),
                    ("latency", &idle, m),
                ));
            }
        }
    }
    if agg.has_bench("redis") {
        for (m, name) in [("p99_ms", "p99"), ("p999_ms", "p99.9")] {
            out.push(paired(
                agg,
                Area::Boost,
                format!("redis: {name} with mus boosted below every stock condition with noise"),
                ("redis", "mus_boost", m),
                &[("redis", "stock_noise", m), ("redis", "stock_knobs", m)],
                &MS,
                Bound::Below(1.0),
            ));
            out.push(paired(
                agg,
                Area::Boost,
                format!("redis: {name} with mus boosted <= 1.5x Redis alone"),
                ("redis", "mus_boost", m),
                &[("redis", "stock_idle", m)],
                &MS,
                Bound::AtMost(1.5),
            ));
        }
    }
    for w in agg.share_weights() {
        let theory = share_theory_pct(w as f64);
        let cond = format!("w{w}");
        out.push(share_fixed(
            agg,
            Area::Boost,
            format!("share: weight {w} within {SHARE_POINTS} points of {theory:.1}%"),
            ("share", &cond, "share_pct"),
            theory,
            |a, t| (a - t).abs() <= SHARE_POINTS,
        ));
    }
    if agg.has_bench("overhead") {
        out.push(paired(
            agg,
            Area::Boost,
            "overhead: hackbench with an empty map within 5% of stock".into(),
            ("overhead", "mus_empty_idle", "seconds"),
            &[("overhead", "stock_idle", "seconds")],
            &SECS,
            Bound::AtMost(1.05),
        ));
    }
    for (bench, mode, _) in RR_MODES.iter().filter(|(b, _, _)| agg.has_bench(b)) {
        for (what, m, f, bound) in [
            ("requests/s", "rps", &RPS, Bound::AtLeast(RR_MIN_RPS_RATIO)),
            ("p99", "p99_ms", &MS, Bound::AtMost(RR_MAX_P99_RATIO)),
        ] {
            let check = paired(
                agg,
                Area::Boost,
                format!("rr, {mode}, no noise: {what} with mus boosted {bound} stock's"),
                (bench, "mus_boost", m),
                &[(bench, RR_STOCK, m)],
                f,
                bound,
            );
            let peers = RR_PEERS.map(|(name, cond)| (name, (*bench, cond, m)));
            out.push(with_peers(check, agg, &peers, (bench, RR_STOCK, m), bound));
        }
    }
}

/// Within [`SHARE_POINTS`] of the stock scheduler's share, or closer than stock to the theory.
fn like_stock(theory: f64) -> impl Fn(f64, f64) -> bool {
    move |mus, stock| {
        (mus - stock).abs() <= SHARE_POINTS || (mus - theory).abs() <= (stock - theory).abs()
    }
}

/// The fairness targets that the bench measures (the kubelet tree and the cpu.idle
/// stress are guest tests, not benchmarks): an empty map shares like the kernel's fair
/// class (weights, cpu.max), a boost is at least the kernel's own 4x, the bystander's
/// wake-ups (quiet host and contended), mus against the peers, and no ejection.
fn fairness_targets(agg: &Aggregate, out: &mut Vec<Check>) {
    if agg.has_bench("weights_flat") {
        let t = theory::weights_flat_pct();
        out.push(share_vs(
            agg,
            Area::Fairness,
            format!(
                "weights, empty map: flat 300:100 share within {SHARE_POINTS} points of stock's (theory {t:.1}%)"
            ),
            ("weights_flat", "mus_empty", "wa_share_pct"),
            ("weights_flat", "stock_plain", "wa_share_pct"),
            like_stock(t),
        ));
    }
    if agg.has_bench("weights_nested") {
        for (cg, t) in theory::weights_nested_pct() {
            let metric = format!("{cg}_share_pct");
            out.push(share_vs(
                agg,
                Area::Fairness,
                format!("weights, empty map: nested {cg} share within {SHARE_POINTS} points of stock's (theory {t:.1}%)"),
                ("weights_nested", "mus_empty", &metric),
                ("weights_nested", "stock_plain", &metric),
                like_stock(t),
            ));
        }
    }
    if agg.has_bench("threads") {
        out.push(share_vs(
            agg,
            Area::Fairness,
            "threads: boosted 1-thread cgroup's share >= stock's with cpu.weight 400:100".into(),
            ("threads", "mus_boost", "target_share_pct"),
            ("threads", "stock_w400", "target_share_pct"),
            |a, b| a >= b,
        ));
        out.push(share_vs(
            agg,
            Area::Fairness,
            "threads: boosted share never below the same cgroup unboosted (mus, empty map)".into(),
            ("threads", "mus_boost", "target_share_pct"),
            ("threads", "mus_empty", "target_share_pct"),
            |a, b| a >= b,
        ));
    }
    if agg.has_bench("limit") {
        out.push(share_fixed(
            agg,
            Area::Fairness,
            "limit: cpu.max of half a CPU, 2 busy threads: 45-55% of one CPU".into(),
            ("limit", "mus_empty", "lim_cpu_pct"),
            theory::LIMIT_CPU_PCT,
            |a, _| (45.0..=55.0).contains(&a),
        ));
    }
    if agg.has_bench("bystander") {
        for (host, when) in [("", ""), (HOST, ", host contended")] {
            out.push(paired(
                agg,
                Area::Fairness,
                format!(
                    "bystander{when}: unboosted probe's p99 no worse than stock's (cpu.weight 400:100 boost)"
                ),
                ("bystander", &format!("mus_boost{host}"), "p99_us"),
                &[("bystander", &format!("stock_w400{host}"), "p99_us")],
                &US,
                Bound::AtMost(1.0),
            ));
        }
    }
    if agg.has_bench("redis_sat") {
        out.push(paired(
            agg,
            Area::Fairness,
            "redis saturated (redis-benchmark -c 4): p99 with mus boosted below stock's with cpu.weight 400:100".into(),
            ("redis_sat", "mus_boost", "p99_ms"),
            &[("redis_sat", "stock_w400", "p99_ms")],
            &MS,
            Bound::Below(1.0),
        ));
        // A boost is a factor, not a priority: a 4x boost's cgroup may take 80 % of the
        // two cgroups' CPU time when it could use more (Redis could: stock's 4x gave it
        // less for want of prompt wake-ups, not of demand), within the points every
        // share target allows, and the tail above must not be bought with more.
        // `mus-agent boost`'s default weight: 4096 against 1024.
        let due = share_theory_pct(4096.0);
        out.push(share_fixed(
            agg,
            Area::Fairness,
            format!(
                "redis saturated: the 4x boosted cgroup takes at most {SHARE_POINTS} points above its {due:.0}% of the two cgroups' CPU time"
            ),
            ("redis_sat", "mus_boost", "target_share_pct"),
            due,
            |target, due| target <= due + SHARE_POINTS,
        ));
    }
    // mus against the peers, each in its condition that answers the same question
    for (bench, metric, f, peer, what) in [
        (
            "bystander",
            "p99_us",
            &US,
            "bpfland_noise",
            "bystander's p99 no worse than scx_bpfland's",
        ),
        (
            "redis_sat",
            "p99_ms",
            &MS,
            "layered_boost",
            "saturated Redis p99 no worse than scx_layered's 4x layer",
        ),
        (
            "latency",
            "p99_us",
            &US,
            "layered_boost",
            "boosted probe's p99 under noise no worse than scx_layered's 4x layer",
        ),
        (
            "redis",
            "p99_ms",
            &MS,
            "layered_boost",
            "fixed-rate Redis p99 no worse than scx_layered's 4x layer",
        ),
    ] {
        if agg.has_bench(bench) {
            out.push(paired(
                agg,
                Area::Fairness,
                format!("peers: {what}"),
                (bench, "mus_boost", metric),
                &[(bench, peer, metric)],
                f,
                Bound::AtMost(1.0),
            ));
        }
    }
    let ejections = agg.per_repeat("health", "mus", "ejected");
    if !ejections.is_empty() {
        let n = ejections.values().filter(|v| **v > 0.0).count();
        out.push(Check {
            area: Area::Fairness,
            rule: Rule::EveryRepeat,
            target: "no watchdog ejection of mus during the bench".into(),
            figure: format!("mus found detached at {n} of {} stops", ejections.len()),
            verdict: if n == 0 {
                Verdict::Met
            } else {
                Verdict::Missed
            },
        });
    }
}

/// Every target this run measured, the boost's first.
pub fn checks(agg: &Aggregate) -> Vec<Check> {
    let mut out = Vec::new();
    boost_targets(agg, &mut out);
    fairness_targets(agg, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::results::{Row, row};

    fn find<'a>(checks: &'a [Check], prefix: &str) -> &'a Check {
        checks
            .iter()
            .find(|c| c.target.starts_with(prefix))
            .unwrap_or_else(|| panic!("{prefix}: {checks:?}"))
    }

    /// The check whose target starts with `prefix`, judged on `rows`.
    fn judge(rows: &[Row], prefix: &str) -> Check {
        find(&checks(&Aggregate::from_rows(rows)), prefix).clone()
    }

    /// `rounds` rounds of `bench`'s `metric`: the reference at `reference` and mus at
    /// reference times each round's ratio.
    fn rounds(
        bench: &str,
        (mus, reference): (&str, &str),
        metric: &str,
        reference_value: f64,
        ratios: &[f64],
    ) -> Vec<Row> {
        let mut rows = Vec::new();
        for (i, k) in ratios.iter().enumerate() {
            let r = i as u32 + 1;
            // the host drifts from round to round; the pairs move together
            let base = reference_value * (1.0 + 0.1 * i as f64);
            rows.push(row(bench, reference, r, metric, base));
            rows.push(row(bench, mus, r, metric, base * k));
        }
        rows
    }

    /// The bystander's p99 under mus boosted against stock's 4x knob, round by round.
    fn bystander_rounds(ratios: &[f64]) -> Vec<Row> {
        rounds(
            "bystander",
            ("mus_boost", "stock_w400"),
            "p99_us",
            4000.0,
            ratios,
        )
    }

    #[test]
    fn one_bad_round_of_five_does_not_fail_a_paired_target() {
        // mus at 1.25x stock idle in four rounds and 4.5x in round 3 (a host stall): the
        // old rule (the worst repeat decides) failed this target
        let rows = rounds(
            "latency",
            ("mus_boost", "stock_idle"),
            "p99_us",
            200.0,
            &[1.25, 1.25, 4.5, 1.25, 1.25],
        );
        let c = judge(&rows, "latency: boosted probe under noise p99 ");
        assert_eq!((c.verdict, c.rule), (Verdict::Met, Rule::Paired), "{c:?}");
        assert!(
            c.figure
                .starts_with("median 1.25x (<= 1.50x to hold), mus wins 4/5; medians "),
            "{}",
            c.figure
        );
        assert!(
            c.figure.contains("(lost r3: 1080 vs 240 = 4.50x)"),
            "{}",
            c.figure
        );
    }

    #[test]
    fn a_probe_target_says_where_the_fifo_floor_stood_and_is_judged_without_it() {
        // mus at 2.4x stock idle in every round, the SCHED_FIFO floor at 2.0x: the bound
        // (1.5x) was out of every scheduler's reach in this boot, which the figure says;
        // the verdict stays the bound's
        let mut rows = rounds(
            "latency",
            ("mus_boost", "stock_idle"),
            "p99_us",
            200.0,
            &[2.4; 5],
        );
        rows.extend(
            rounds(
                "latency",
                ("stock_fifo", "stock_idle"),
                "p99_us",
                200.0,
                &[2.0; 5],
            )
            .into_iter()
            .filter(|r| r.condition == "stock_fifo"),
        );
        let c = judge(&rows, "latency: boosted probe under noise p99 ");
        assert_eq!(c.verdict, Verdict::Missed, "{c:?}");
        assert!(
            c.figure
                .ends_with("; the SCHED_FIFO floor: median 2.00x in the same rounds"),
            "{}",
            c.figure
        );
        // no floor measured (an older CSV): the figure is as before
        let c = judge(&rows[..10], "latency: boosted probe under noise p99 ");
        assert!(!c.figure.contains("floor"), "{}", c.figure);
    }

    #[test]
    fn a_consistent_small_loss_fails_a_paired_target() {
        // 10 % worse than stock's knob in every round: no single round is far off
        let rows = bystander_rounds(&[1.1; 5]);
        let c = judge(&rows, "bystander: unboosted");
        assert_eq!(c.verdict, Verdict::Missed, "{c:?}");
        assert!(c.figure.contains("median 1.10x"), "{}", c.figure);
        assert!(c.figure.contains("mus wins 0/5"), "{}", c.figure);
    }

    #[test]
    fn a_paired_target_needs_the_median_and_a_majority_of_rounds() {
        // six rounds, three far ahead and three behind: the median (0.85x) meets the
        // bound, but mus wins only half of the rounds
        let rows = bystander_rounds(&[0.5, 1.2, 0.5, 1.2, 0.5, 1.2]);
        let c = judge(&rows, "bystander: unboosted");
        assert_eq!(c.verdict, Verdict::Missed, "{c:?}");
        assert!(c.figure.contains("median 0.85x"), "{}", c.figure);
        assert!(c.figure.contains("mus wins 3/6"), "{}", c.figure);
        // and with fewer than five rounds it is not judged
        let c = judge(&rows[..6], "bystander: unboosted");
        assert_eq!(c.verdict, Verdict::TooFewRounds, "{c:?}");
        assert!(
            c.figure.ends_with("(only 3 round(s), 5 needed)"),
            "{}",
            c.figure
        );
    }

    #[test]
    fn host_contended_conditions_are_judged_against_their_own_references() {
        let mut rows = rounds(
            "bystander",
            ("mus_boost_host", "stock_w400_host"),
            "p99_us",
            13000.0,
            &[1.7, 0.6, 1.8, 1.1, 1.2],
        );
        rows.extend(rounds(
            "bystander",
            ("mus_boost", "stock_w400"),
            "p99_us",
            6000.0,
            &[0.6; 5],
        ));
        rows.extend(rounds(
            "latency",
            ("mus_boost_host", "stock_idle_host"),
            "p99_us",
            2000.0,
            &[0.9; 5],
        ));
        let checks = checks(&Aggregate::from_rows(&rows));
        assert_eq!(find(&checks, "bystander: unboosted").verdict, Verdict::Met);
        let host = find(&checks, "bystander, host contended: unboosted");
        assert_eq!(host.verdict, Verdict::Missed, "{host:?}");
        assert!(host.figure.contains("mus wins 1/5"), "{}", host.figure);
        assert_eq!(
            find(
                &checks,
                "latency, host contended: boosted probe under noise p99 "
            )
            .verdict,
            Verdict::Met
        );
        // the quiet latency conditions did not run
        assert_eq!(
            find(&checks, "latency: boosted probe under noise p99 ").verdict,
            Verdict::NotMeasured
        );
    }

    #[test]
    fn request_response_needs_the_throughput_and_the_tail_confined_and_not() {
        // confined: two rounds behind, three at 0.95x or better, the p99 not reported;
        // unconfined: a steady 0.9x, with a p99 10 % better than stock's
        let mut rows = Vec::new();
        for (bench, metric, base, ratios) in [
            ("rr_one", "rps", 4500.0, [0.96, 0.5, 1.0, 0.97, 0.9]),
            ("rr_all", "rps", 10000.0, [0.9; 5]),
            ("rr_all", "p99_ms", 1.5, [0.9; 5]),
        ] {
            rows.extend(rounds(
                bench,
                ("mus_boost", "stock_idle"),
                metric,
                base,
                &ratios,
            ));
        }
        let checks = checks(&Aggregate::from_rows(&rows));
        let one = find(&checks, "rr, confined to one CPU, no noise: requests/s");
        assert_eq!(one.area, Area::Boost);
        assert_eq!(
            one.figure,
            "median 0.96x (>= 0.95x to hold), mus wins 3/5; medians 5400 vs 5400 requests/s \
             (lost r2: 2475 vs 4950 = 0.50x, r5: 5670 vs 6300 = 0.90x)"
        );
        for (prefix, verdict) in [
            (
                "rr, confined to one CPU, no noise: requests/s with mus boosted >= 0.95x",
                Verdict::Met,
            ),
            (
                "rr, confined to one CPU, no noise: p99",
                Verdict::NotMeasured,
            ),
            (
                "rr, unconfined, no noise: requests/s with mus boosted >= 0.95x",
                Verdict::Missed,
            ),
            (
                "rr, unconfined, no noise: p99 with mus boosted <= 1.10x",
                Verdict::Met,
            ),
        ] {
            assert_eq!(find(&checks, prefix).verdict, verdict, "{prefix}");
        }
    }

    #[test]
    fn request_response_targets_show_where_the_peers_stood_in_the_same_rounds() {
        // mus at 1.2x stock's p99 in every round; scx_layered past the bound in 4 of 5
        let mut rows = rounds(
            "rr_all",
            ("mus_boost", "stock_idle"),
            "p99_ms",
            1.0,
            &[1.2; 5],
        );
        for (i, k) in [1.3, 1.5, 1.0, 1.4, 1.6].iter().enumerate() {
            let base = 1.0 + 0.1 * i as f64;
            rows.push(row(
                "rr_all",
                "layered_boost",
                i as u32 + 1,
                "p99_ms",
                base * k,
            ));
        }
        let check = judge(&rows, "rr, unconfined, no noise: p99");
        assert_eq!(check.verdict, Verdict::Missed);
        assert!(
            check
                .figure
                .ends_with("; in the same rounds scx_layered median 1.40x, held 1/5"),
            "{}",
            check.figure
        );
    }

    #[test]
    fn boost_targets_mix_paired_and_every_repeat_rules() {
        let mut rows = Vec::new();
        for (rep, k) in [(1, 1.0), (2, 1.2), (3, 0.9), (4, 1.0), (5, 1.1)] {
            rows.push(row("redis", "stock_idle", rep, "p99_ms", 1.0 * k));
            rows.push(row("redis", "stock_noise", rep, "p99_ms", 4.0 * k));
            rows.push(row("redis", "stock_knobs", rep, "p99_ms", 3.0 * k));
            rows.push(row("redis", "mus_boost", rep, "p99_ms", 1.4 * k));
            rows.push(row("share", "w4096", rep, "share_pct", 78.0 * k.min(1.0)));
            rows.push(row("overhead", "stock_idle", rep, "seconds", 10.0 * k));
            rows.push(row("overhead", "mus_empty_idle", rep, "seconds", 10.4 * k));
        }
        let checks = checks(&Aggregate::from_rows(&rows));
        // 1.4 against min(4, 3) and against 1.0: every round a win
        let below = find(&checks, "redis: p99 with mus boosted below");
        assert_eq!(below.verdict, Verdict::Met);
        assert!(
            below
                .figure
                .starts_with("median 0.47x (< 1.00x to hold), mus wins 5/5"),
            "{}",
            below.figure
        );
        assert_eq!(
            find(&checks, "redis: p99 with mus boosted <=").verdict,
            Verdict::Met
        );
        // p99.9 was not reported: not measured, not a pass
        assert_eq!(
            find(&checks, "redis: p99.9 with mus boosted below").verdict,
            Verdict::NotMeasured
        );
        // a share is judged in every repeat: 70.2 in repeat 3 is 9.8 points off 80
        let share = find(&checks, "share: weight 4096");
        assert_eq!(
            (share.verdict, share.rule),
            (Verdict::Missed, Rule::EveryRepeat)
        );
        assert!(
            share
                .figure
                .contains("held in 4/5 repeats (failed r3: 70.2 vs 80.0)"),
            "{}",
            share.figure
        );
        assert_eq!(find(&checks, "overhead").verdict, Verdict::Met);
        // without the peers' conditions, the peer target of redis is not measured
        let peers: Vec<&Check> = checks.iter().filter(|c| c.area == Area::Fairness).collect();
        assert_eq!(peers.len(), 1, "{peers:?}");
        assert!(peers[0].target.starts_with("peers:") && peers[0].verdict == Verdict::NotMeasured);
    }

    #[test]
    fn fairness_targets_are_judged_against_stock_theory_and_peers() {
        let mut rows = Vec::new();
        for rep in 1..=5 {
            rows.push(row(
                "weights_flat",
                "stock_plain",
                rep,
                "wa_share_pct",
                74.0,
            ));
            // 49 is 25 points from stock and further from 75 than stock is
            rows.push(row("weights_flat", "mus_empty", rep, "wa_share_pct", 49.0));
            rows.push(row(
                "weights_nested",
                "stock_plain",
                rep,
                "nA_share_pct",
                60.0,
            ));
            // 4 points from stock, but closer to the theory (66.7) than stock
            rows.push(row(
                "weights_nested",
                "mus_empty",
                rep,
                "nA_share_pct",
                64.0,
            ));
            rows.push(row("threads", "stock_w400", rep, "target_share_pct", 49.0));
            rows.push(row("threads", "mus_empty", rep, "target_share_pct", 11.0));
            rows.push(row("threads", "mus_boost", rep, "target_share_pct", 33.0));
            rows.push(row(
                "limit",
                "mus_empty",
                rep,
                "lim_cpu_pct",
                if rep == 2 { 56.0 } else { 50.0 },
            ));
            rows.push(row("bystander", "stock_w400", rep, "p99_us", 4600.0));
            rows.push(row("bystander", "bpfland_noise", rep, "p99_us", 4400.0));
            rows.push(row("bystander", "mus_boost", rep, "p99_us", 4500.0));
            rows.push(row("redis_sat", "stock_w400", rep, "p99_ms", 5.0));
            rows.push(row("redis_sat", "layered_boost", rep, "p99_ms", 4.5));
            rows.push(row("redis_sat", "mus_boost", rep, "p99_ms", 7.0));
            rows.push(row("redis_sat", "mus_boost", rep, "target_share_pct", 82.5));
            rows.push(row("health", "mus", rep, "ejected", 0.0));
        }
        let checks = checks(&Aggregate::from_rows(&rows));
        let v = |prefix| find(&checks, prefix).verdict;
        assert_eq!(v("weights, empty map: flat"), Verdict::Missed);
        assert_eq!(v("weights, empty map: nested nA share"), Verdict::Met);
        // nested children that were not measured
        assert_eq!(v("weights, empty map: nested nA/x"), Verdict::NotMeasured);
        assert_eq!(v("threads: boosted 1-thread"), Verdict::Missed);
        assert_eq!(v("threads: boosted share never below"), Verdict::Met);
        // the cpu.max band is judged in every repeat: repeat 2 fails it
        let limit = find(&checks, "limit:");
        assert_eq!(limit.verdict, Verdict::Missed);
        assert!(
            limit.figure.contains("failed r2: 56.0 vs 50.0"),
            "{}",
            limit.figure
        );
        assert_eq!(v("bystander: unboosted"), Verdict::Met);
        // no host-contended conditions in this run
        assert_eq!(
            v("bystander, host contended: unboosted"),
            Verdict::NotMeasured
        );
        assert_eq!(v("peers: bystander"), Verdict::Missed);
        assert_eq!(v("redis saturated"), Verdict::Missed);
        assert_eq!(v("peers: saturated Redis"), Verdict::Missed);
        // 82.5 % against 80 %: within the points
        assert_eq!(v("redis saturated: the 4x boosted cgroup"), Verdict::Met);
        assert_eq!(v("no watchdog ejection"), Verdict::Met);
        // benchmarks that did not run have no checks
        assert!(!checks.iter().any(
            |c| c.target.starts_with("latency") || c.target.starts_with("peers: boosted probe")
        ));
    }
}
