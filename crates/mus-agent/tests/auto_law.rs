//! The auto boost's control law on traces (tests/fixtures/auto/): recorded-style
//! ones (what weight a pod holds as noise arrives and leaves, when its own threads
//! are the cause, when it is idle, when the signal flaps, and under a cap) and the
//! readings the daemon recorded in the guest experiment (`guest_*.trace`).

use std::collections::BTreeMap;
use std::time::Duration;

use mus_agent::auto::law::{Change, Controller, Decision, Reason, Sample, behind_other_pods};
use mus_agent::auto::spec::{AutoSpec, Signal, TargetSpec};
use mus_agent::daemon::auto_loop::OTHER_PODS_IDLE_PERCENT;
use mus_common::Weight;

const NOISE_ARRIVES_LEAVES: &str = include_str!("fixtures/auto/noise_arrives_leaves.trace");
const OWN_THREADS: &str = include_str!("fixtures/auto/own_threads.trace");
const IDLE: &str = include_str!("fixtures/auto/idle.trace");
const FLAPPING: &str = include_str!("fixtures/auto/flapping.trace");

/// A trace file's samples, one a second from 1 s (the format is in each file's header).
fn samples(trace: &str) -> Vec<Sample> {
    let mut out = Vec::new();
    for line in trace
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let count: usize = fields[0].parse().expect("count");
        let waits: Vec<u64> = fields[1]
            .split('/')
            .map(|w| w.parse().expect("wait"))
            .collect();
        let behind = match fields[2] {
            "-" => None,
            p => Some(p.parse::<f64>().expect("percent") / 100.0),
        };
        let idle = fields.get(3) == Some(&"idle");
        for i in 0..count {
            out.push(Sample {
                at: Duration::from_secs(out.len() as u64 + 1),
                signal: Signal::WaitP99(Duration::from_micros(waits[i % waits.len()])),
                neighbour_fraction: behind,
                idle,
            });
        }
    }
    out
}

/// The defaults: a 1 ms wait p99 target, 1024 to 4096, x2 up, -1024 down, 30 s cool-down.
fn controller() -> Controller {
    Controller::new(AutoSpec::default().validate().unwrap())
}

/// Each sample's decision under `cap`.
fn run(controller: &mut Controller, samples: &[Sample], cap: u64) -> Vec<Decision> {
    let cap = Weight::new(cap).unwrap();
    samples.iter().map(|s| controller.step(*s, cap)).collect()
}

fn weights(decisions: &[Decision]) -> Vec<u32> {
    decisions.iter().map(|d| d.to.get()).collect()
}

/// Changes of direction: up then down, or down then up.
fn reversals(decisions: &[Decision]) -> usize {
    let moves: Vec<Change> = decisions
        .iter()
        .map(Decision::change)
        .filter(|c| *c != Change::Held)
        .collect();
    moves.windows(2).filter(|m| m[0] != m[1]).count()
}

#[test]
fn noise_arriving_raises_the_weight_within_two_intervals() {
    let decisions = run(&mut controller(), &samples(NOISE_ARRIVES_LEAVES), 65536);
    let w = weights(&decisions);
    // Samples 1-30 are quiet: no boost.
    assert!(w[..30].iter().all(|&w| w == 1024), "{w:?}");
    // The noise arrives with sample 31: doubled at once, 4096 by the next.
    assert_eq!(&w[30..33], &[2048, 4096, 4096]);
    assert_eq!(decisions[30].reason, Reason::NeighbourMiss);
    assert_eq!(
        decisions[30].to_string(),
        "raised weight 1024 -> 2048: the target is missed, mostly behind other pods \
         (wait p99 2.2ms, target 1ms, 90% of the wait behind other pods)"
    );
    assert_eq!(decisions[31].reason, Reason::NeighbourMiss);
}

#[test]
fn noise_leaving_returns_the_weight_to_1024_after_the_cool_down() {
    let decisions = run(&mut controller(), &samples(NOISE_ARRIVES_LEAVES), 65536);
    let w = weights(&decisions);
    // Boosted while the noise is there (0.7 ms: met, but not with room to spare).
    assert!(w[31..90].iter().all(|&w| w == 4096), "{w:?}");
    assert_eq!(decisions[60].reason, Reason::InBand);
    // Calm from sample 91 (index 90): held until three in four of the 30 s
    // cool-down's samples are calm (23 of 30)...
    assert!(w[90..112].iter().all(|&w| w == 4096), "{w:?}");
    assert_eq!(
        decisions[100].reason,
        Reason::Unsettled { calm_percent: 37 }
    );
    // ...then one step of 1024 per interval, back to no boost.
    assert_eq!(&w[112..116], &[3072, 2048, 1024, 1024]);
    assert_eq!(decisions[112].reason, Reason::Calm);
    assert_eq!(decisions[115].reason, Reason::AtFloor);
    assert!(
        decisions[112]
            .to_string()
            .starts_with("lowered weight 4096 -> 3072: ")
    );
    assert_eq!(reversals(&decisions), 1);
}

#[test]
fn misses_behind_the_pods_own_threads_never_raise_it() {
    let decisions = run(&mut controller(), &samples(OWN_THREADS), 65536);
    assert!(weights(&decisions).iter().all(|&w| w == 1024));
    assert_eq!(decisions[30].reason, Reason::OwnMiss);
    assert!(
        decisions[30].to_string().contains("own threads"),
        "{}",
        decisions[30]
    );
}

#[test]
fn own_misses_hold_a_boost_the_neighbours_made_necessary() {
    // Boosted by noise, then the pod's own threads overload it: neither raised
    // further nor lowered, and the cool-down starts over.
    let mut c = controller();
    let noise = samples("2 2200 90");
    let own = samples("40 3000 20");
    run(&mut c, &noise, 65536);
    let decisions = run(&mut c, &own, 65536);
    assert!(weights(&decisions).iter().all(|&w| w == 4096));
}

#[test]
fn an_idle_pod_goes_back_to_1024_after_the_cool_down() {
    let decisions = run(&mut controller(), &samples(IDLE), 65536);
    let w = weights(&decisions);
    assert_eq!(w[12], 4096);
    // Idle from sample 14 (index 13): held for the cool-down, then dropped in one
    // move (however high its readings, an idle pod is owed nothing).
    assert!(w[13..43].iter().all(|&w| w == 4096), "{w:?}");
    assert_eq!(w[43], 1024);
    assert_eq!(decisions[43].reason, Reason::Idle);
    assert!(w[43..].iter().all(|&w| w == 1024), "{w:?}");
}

#[test]
fn a_signal_flapping_around_the_target_or_the_band_does_not_oscillate() {
    let decisions = run(&mut controller(), &samples(FLAPPING), 65536);
    // Two raises (1024 -> 2048 -> 4096) on the first misses, and then nothing:
    // around the target each miss restarts the cool-down, around its lower edge
    // only half the cool-down's samples are calm (lowering asks three in four).
    let changes = decisions
        .iter()
        .filter(|d| d.change() != Change::Held)
        .count();
    assert_eq!(changes, 2, "{:?}", weights(&decisions));
    assert_eq!(reversals(&decisions), 0);
    assert_eq!(decisions.last().unwrap().to.get(), 4096);
}

#[test]
fn the_cap_bounds_every_raise() {
    let decisions = run(&mut controller(), &samples(NOISE_ARRIVES_LEAVES), 3000);
    let w = weights(&decisions);
    assert_eq!(&w[30..33], &[2048, 3000, 3000]);
    assert_eq!(w.iter().max(), Some(&3000));
    assert_eq!(decisions[32].reason, Reason::InBand);
    // A miss at the ceiling holds it and says so.
    let mut c = controller();
    let at_ceiling = run(&mut c, &samples("5 2200 90"), 2048);
    assert_eq!(at_ceiling[4].reason, Reason::AtCeiling);
    assert!(at_ceiling[4].to_string().contains("at the ceiling 2048"));
}

#[test]
fn a_cap_lowered_under_a_held_boost_takes_effect_at_once() {
    let mut c = controller();
    run(&mut c, &samples("3 2200 90"), 65536);
    assert_eq!(c.weight().get(), 4096);
    let [d] = run(&mut c, &samples("1 2200 90"), 1536)[..] else {
        unreachable!()
    };
    assert_eq!(
        (d.from.get(), d.to.get(), d.reason),
        (4096, 1536, Reason::Clamped)
    );
    // A cap under minWeight wins too: the admin policy bounds every boost.
    let [d] = run(&mut c, &samples("1 200 5"), 512)[..] else {
        unreachable!()
    };
    assert_eq!(
        (d.to.get(), d.floor.get(), d.ceiling.get()),
        (512, 512, 512)
    );
}

#[test]
fn a_psi_target_raises_on_unattributed_pressure() {
    let spec = AutoSpec {
        target: TargetSpec {
            wait_p99: None,
            psi_some_avg10: Some(5),
        },
        ..AutoSpec::default()
    };
    let mut c = Controller::new(spec.validate().unwrap());
    let sample = |psi| Sample {
        at: Duration::from_secs(1),
        signal: Signal::PsiSomeAvg10(psi),
        neighbour_fraction: None,
        idle: false,
    };
    let d = c.step(sample(12.0), Weight::MAX);
    assert_eq!((d.to.get(), d.reason), (2048, Reason::NeighbourMiss));
    assert!(
        d.to_string()
            .ends_with("(PSI some avg10 12.0%, target 5.0%, the wait not attributed)"),
        "{d}"
    );
    // A wait reading for a PSI target is the daemon's mistake: held, and said.
    let wrong = c.step(samples("1 5000 90")[0], Weight::MAX);
    assert_eq!((wrong.to.get(), wrong.reason), (2048, Reason::WrongSignal));
}

#[test]
fn a_resumed_boost_keeps_its_weight_and_new_bounds_apply_at_once() {
    // A restarted daemon resumes the weight in force: no drop to 1024 and back
    // while the noise is still there.
    let settings = AutoSpec::default().validate().unwrap();
    let mut c = Controller::holding(Weight::new(4096).unwrap(), settings);
    let decisions = run(&mut c, &samples("5 700 70"), 65536);
    assert!(weights(&decisions).iter().all(|&w| w == 4096));
    // The operator lowers maxWeight to 2048: the next step holds 2048, and says why.
    let lower = AutoSpec {
        max_weight: 2048,
        ..AutoSpec::default()
    };
    let mut c = Controller::holding(c.weight(), lower.validate().unwrap());
    let d = c.step(samples("1 700 70")[0], Weight::MAX);
    assert_eq!(
        (d.from.get(), d.to.get(), d.reason),
        (4096, 2048, Reason::Clamped)
    );
    assert!(d.to_string().contains("kept within 1024 to 2048"), "{d}");
}

/// The guest's recorded readings (`cargo xtask bench auto`, the mus_auto runs;
/// see each file's header) with the wait p99 target they were taken under.
const GUEST: [(&str, &str); 2] = [
    (include_str!("fixtures/auto/guest_wait5ms.trace"), "5ms"),
    (include_str!("fixtures/auto/guest_wait2ms.trace"), "2ms"),
];
/// The guest run's phases: noise from second 10 to second 30 of each run. A
/// reading taken in second s covers the second before it, so the first one of
/// the noise is taken in second 10 or 11, the first after it in 30 or 31.
const NOISE_ON: u64 = 10;
const NOISE_OFF: u64 = 30;

/// Each round's readings, by the second they were taken in, as the daemon hands
/// them to the law: the share behind other cgroups passed through
/// `behind_other_pods` with the other pods' CPU of the same interval.
fn guest_rounds(trace: &str) -> BTreeMap<u32, Vec<Sample>> {
    let mut rounds: BTreeMap<u32, Vec<Sample>> = BTreeMap::new();
    let number = |f: &str| (f != "-").then(|| f.parse::<f64>().expect("number"));
    for line in trace
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let f: Vec<&str> = line.split_whitespace().collect();
        let [round, second, wait, behind, other_pods] = f[..] else {
            panic!("{line:?}: want 5 fields");
        };
        rounds
            .entry(round.parse().expect("round"))
            .or_default()
            .push(Sample {
                at: Duration::from_secs(second.parse().expect("second")),
                signal: Signal::WaitP99(Duration::from_micros(wait.parse().expect("wait"))),
                neighbour_fraction: behind_other_pods(
                    number(behind).map(|p| p / 100.0),
                    number(other_pods),
                    OTHER_PODS_IDLE_PERCENT,
                ),
                idle: false,
            });
    }
    rounds
}

/// The bench's settings: a wait p99 target (`target`), 1024 to 4096, x2 up, a 5 s
/// cool-down.
fn guest_controller(target: &str) -> Controller {
    let spec = AutoSpec {
        target: TargetSpec {
            wait_p99: Some(target.into()),
            psi_some_avg10: None,
        },
        cool_down: "5s".into(),
        ..AutoSpec::default()
    };
    Controller::new(spec.validate().unwrap())
}

/// Each round of each guest run replayed through the law under the target it
/// was recorded with: ("target round", [(second, the weight after that second's
/// reading)]).
fn guest_weights() -> BTreeMap<String, Vec<(u64, u32)>> {
    GUEST
        .iter()
        .flat_map(|&(trace, target)| {
            guest_rounds(trace)
                .into_iter()
                .map(move |(round, samples)| {
                    let mut c = guest_controller(target);
                    let w = samples
                        .iter()
                        .map(|s| (s.at.as_secs(), c.step(*s, Weight::MAX).to.get()))
                        .collect();
                    (format!("{target} {round}"), w)
                })
        })
        .collect()
}

#[test]
fn on_the_guests_readings_no_boost_is_held_before_the_noise() {
    for (round, w) in guest_weights() {
        let quiet: Vec<_> = w.iter().filter(|(s, _)| *s < NOISE_ON).collect();
        assert!(quiet.len() >= 8, "round {round}: {w:?}");
        assert!(
            quiet.iter().all(|(_, w)| *w == 1024),
            "round {round}: {w:?}"
        );
    }
}

#[test]
fn on_the_guests_readings_the_weight_rises_with_the_noise() {
    for (round, w) in guest_weights() {
        let rose = w
            .iter()
            .find(|(s, w)| *s >= NOISE_ON && *w >= 2048)
            .map(|(s, _)| s - NOISE_ON);
        assert!(rose.is_some_and(|s| s <= 3), "round {round}: {w:?}");
    }
}

#[test]
fn on_the_guests_readings_the_weight_is_back_to_1024_within_12_s_of_the_noise_leaving() {
    for (round, w) in guest_weights() {
        let back = w
            .iter()
            .filter(|(s, _)| *s > NOISE_OFF)
            .find(|(s, _)| w.iter().filter(|(t, _)| t >= s).all(|(_, w)| *w == 1024))
            .map(|(s, _)| s - NOISE_OFF);
        assert!(back.is_some_and(|s| s <= 12), "round {round}: {w:?}");
    }
}

/// Closed loop against a 5 ms target: steady noise, all of the wait
/// behind other pods, for `noise_s` seconds, under which a second's reading is
/// `wait_ms` of the weight held the second before; then the noise leaves (1 ms,
/// other pods quiet). The weight after each second.
fn closed_loop(noise_s: u64, quiet_s: u64, wait_ms: fn(u32) -> u64) -> Vec<(u64, u32, Reason)> {
    let mut c = guest_controller("5ms");
    let mut out = Vec::new();
    for at in 1..=noise_s + quiet_s {
        let noisy = at <= noise_s;
        let wait = if noisy { wait_ms(c.weight().get()) } else { 1 };
        let sample = Sample {
            at: Duration::from_secs(at),
            signal: Signal::WaitP99(Duration::from_millis(wait)),
            neighbour_fraction: Some(if noisy { 1.0 } else { 0.0 }),
            idle: false,
        };
        let d = c.step(sample, Weight::MAX);
        out.push((at, d.to.get(), d.reason));
    }
    out
}

/// Noise that 4096 holds off (1 ms, calm) and anything less does not (8 ms).
fn held_off_noise(noise_s: u64, quiet_s: u64) -> Vec<(u64, u32, Reason)> {
    closed_loop(noise_s, quiet_s, |w| if w >= 4096 { 1 } else { 8 })
}

#[test]
fn a_probe_that_misses_returns_to_the_weight_it_started_from() {
    // Guest run 6, round 1, in miniature (5 ms target, all of the wait behind
    // other pods): two misses raise to 4096; calm readings, then, a cool-down
    // later, one step down per cool-down until the reading of 1024 misses;
    // after it the readings sit in the band (4 ms), as they did at 2048.
    let mut waits = vec![8, 8];
    waits.extend([1; 16]);
    waits.push(8);
    waits.extend([4; 5]);
    let mut c = guest_controller("5ms");
    let decisions: Vec<Decision> = waits
        .iter()
        .enumerate()
        .map(|(i, &ms)| {
            let sample = Sample {
                at: Duration::from_secs(i as u64 + 1),
                signal: Signal::WaitP99(Duration::from_millis(ms)),
                neighbour_fraction: Some(1.0),
                idle: false,
            };
            c.step(sample, Weight::MAX)
        })
        .collect();
    let w = weights(&decisions);
    let mut probe = vec![2048];
    probe.extend([4096; 6]);
    probe.extend([3072; 5]);
    probe.extend([2048; 5]);
    probe.push(1024);
    assert_eq!(&w[..18], &probe[..], "{decisions:?}");
    // Doubled from the bottom it would stop at 2048, held there in the band for
    // the rest of the noise; the weight before the probe held the noise off.
    assert_eq!(&w[18..], &[4096; 6], "{decisions:?}");
}

#[test]
fn while_other_pods_are_busy_a_probe_steps_down_once_per_cool_down() {
    // Noise that 3072 still holds off: the probe finds 3072 enough, and its
    // next step, a cool-down later, misses and goes back to 4096. No second at
    // 1024, where stepping every calm second took the guest's probes.
    let run = closed_loop(30, 0, |w| if w >= 3072 { 1 } else { 8 });
    let lowered: Vec<(u64, u32)> = run
        .windows(2)
        .filter(|w| w[1].1 < w[0].1)
        .map(|w| (w[1].0, w[1].1))
        .collect();
    assert_eq!(lowered, [(8, 3072), (13, 2048), (25, 3072)], "{run:?}");
    assert!(run[2..].iter().all(|&(_, w, _)| w >= 2048), "{run:?}");
}

#[test]
fn a_boost_that_holds_steady_noise_off_is_probed_ever_more_rarely() {
    let run = held_off_noise(60, 20);
    let noisy = &run[..60];
    let lowered: Vec<u64> = noisy
        .windows(2)
        .filter(|w| w[1].1 < w[0].1)
        .map(|w| w[1].0)
        .collect();
    // Every 5 s cool-down would be eight dips in a minute; the back-off makes it
    // three, at 5, 10 and 20 s of calm (seconds 8, 20 and 42).
    assert_eq!(lowered, [8, 20, 42], "{run:?}");
    assert!(
        noisy[42..].iter().all(|&(_, w, _)| w == 4096),
        "a dip is undone by the next second: {run:?}"
    );
}

#[test]
fn once_the_noise_has_gone_the_back_off_ends_and_the_weight_comes_down() {
    let run = held_off_noise(60, 20);
    // The other pods went quiet at 61: the cool-down (5 s since the last miss,
    // at 43) has long passed, so one step a second.
    let quiet: Vec<u32> = run[60..64].iter().map(|&(_, w, _)| w).collect();
    assert_eq!(quiet, [3072, 2048, 1024, 1024], "{run:?}");
    assert_eq!(run[63].2, Reason::AtFloor);
}
