//! PNG plots of a run (plotters, bitmap backend). Text is drawn with DejaVu Sans read
//! from fonts-dejavu-core's path (or MUS_PLOT_FONT), so no font lookup is needed.

use std::path::Path;

use anyhow::Context;
use plotters::coord::Shift;
use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::prelude::*;

use super::aggregate::{Aggregate, Spread};
use super::bpf_stats::HOT_CALLBACKS;
use super::checks::{RR_MAX_P99_RATIO, RR_MIN_RPS_RATIO};
use super::conditions::{
    BOOST_CONDITIONS, BYSTANDER_HOST_CONDITIONS, CONDITIONS, COST_CONDITIONS,
    LATENCY_HOST_CONDITIONS, OVERHEAD_CONDITIONS, PLAIN_CONDITIONS, RR_CONDITIONS, RR_MODES,
    RR_STOCK, THREADS_CONDITIONS, bystander_conditions, latency_conditions, short_label,
};
use super::theory::{self, share_theory_pct};

const FONT_PATHS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
];
const COLORS: &[RGBColor] = &[
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
];

/// Registers the font once; plotters' ab_glyph backend knows no font otherwise.
pub fn register_font() -> anyhow::Result<()> {
    static DONE: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    DONE.get_or_init(|| {
        let path = std::env::var("MUS_PLOT_FONT")
            .ok()
            .or_else(|| FONT_PATHS.iter().find(|p| Path::new(p).is_file()).map(|p| p.to_string()))
            .ok_or("no DejaVuSans.ttf: install fonts-dejavu-core (scripts/setup-debian.sh) or set MUS_PLOT_FONT")?;
        let bytes = std::fs::read(&path).map_err(|e| format!("reading {path}: {e}"))?;
        plotters::style::register_font("sans-serif", FontStyle::Normal, Box::leak(bytes.into_boxed_slice()))
            .map_err(|_| format!("{path} is not a usable font"))
    })
    .clone()
    .map_err(anyhow::Error::msg)
}

/// One group of bars (a condition): one value per series.
pub struct Group {
    pub label: String,
    pub values: Vec<Option<Spread>>,
}

/// Bars for medians with whiskers for the range of the repeats.
pub struct Bars<'a> {
    pub title: &'a str,
    pub y_desc: &'a str,
    pub series: &'a [&'a str],
    pub groups: Vec<Group>,
    pub log_y: bool,
}

fn draw_bars<DB: DrawingBackend, Y>(
    area: &DrawingArea<DB, Shift>,
    bars: &Bars,
    y_range: Y,
) -> anyhow::Result<()>
where
    Y: AsRangedCoord<Value = f64>,
    Y::CoordDescType: ValueFormatter<f64>,
    DB::ErrorType: 'static,
{
    let n = bars.groups.len().max(1);
    let mut chart = ChartBuilder::on(area)
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(80)
        .build_cartesian_2d(0.0..n as f64, y_range)
        .map_err(|e| anyhow::anyhow!("chart: {e:?}"))?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(0)
        .y_desc(bars.y_desc)
        .label_style(("sans-serif", 14))
        .draw()
        .map_err(|e| anyhow::anyhow!("mesh: {e:?}"))?;
    let base = chart.y_range().start;
    // The condition names under their groups, placed in pixels (plotters' own x labels
    // go where its tick algorithm wants).
    let (ox, oy) = area.get_base_pixel();
    let label_style = TextStyle::from(("sans-serif", 15).into_font()).pos(
        plotters::style::text_anchor::Pos::new(
            plotters::style::text_anchor::HPos::Center,
            plotters::style::text_anchor::VPos::Top,
        ),
    );
    for (i, g) in bars.groups.iter().enumerate() {
        let (px, py) = chart.backend_coord(&(i as f64 + 0.5, base));
        area.draw(&Text::new(
            g.label.clone(),
            (px - ox, py - oy + 8),
            label_style.clone(),
        ))
        .map_err(|e| anyhow::anyhow!("label: {e:?}"))?;
    }
    let k = bars.series.len().max(1) as f64;
    let width = 0.8 / k;
    for (s, name) in bars.series.iter().enumerate() {
        let color = COLORS[s % COLORS.len()];
        let mut rects = Vec::new();
        let mut whiskers = Vec::new();
        for (g, group) in bars.groups.iter().enumerate() {
            let Some(v) = group.values.get(s).copied().flatten() else {
                continue;
            };
            let x0 = g as f64 + 0.1 + s as f64 * width;
            let x1 = x0 + width * 0.9;
            let xm = (x0 + x1) / 2.0;
            rects.push(Rectangle::new(
                [(x0, base), (x1, v.median.max(base))],
                color.filled(),
            ));
            if v.n > 1 {
                whiskers.push(PathElement::new(
                    vec![(xm, v.min.max(base)), (xm, v.max.max(base))],
                    BLACK.stroke_width(2),
                ));
                for y in [v.min, v.max] {
                    whiskers.push(PathElement::new(
                        vec![
                            (xm - width / 4.0, y.max(base)),
                            (xm + width / 4.0, y.max(base)),
                        ],
                        BLACK.stroke_width(2),
                    ));
                }
            }
        }
        chart
            .draw_series(rects)
            .map_err(|e| anyhow::anyhow!("bars: {e:?}"))?
            .label(*name)
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 12, y + 6)], color.filled()));
        chart
            .draw_series(whiskers)
            .map_err(|e| anyhow::anyhow!("whiskers: {e:?}"))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .draw()
        .map_err(|e| anyhow::anyhow!("legend: {e:?}"))?;
    Ok(())
}

/// Draws `bars` to a PNG at `path`.
pub fn bar_chart(path: &Path, bars: &Bars) -> anyhow::Result<()> {
    register_font()?;
    let root = BitMapBackend::new(path, (1100, 600)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let plot_area = root
        .titled(bars.title, ("sans-serif", 20))
        .map_err(|e| anyhow::anyhow!("title: {e:?}"))?;
    let values: Vec<f64> = bars
        .groups
        .iter()
        .flat_map(|g| {
            g.values
                .iter()
                .flatten()
                .flat_map(|s| [s.min, s.max, s.median])
        })
        .filter(|v| v.is_finite())
        .collect();
    let hi = values.iter().copied().fold(0.0, f64::max).max(1e-9);
    if bars.log_y {
        let lo = values
            .iter()
            .copied()
            .filter(|v| *v > 0.0)
            .fold(f64::INFINITY, f64::min);
        let lo = if lo.is_finite() { lo / 2.0 } else { hi / 10.0 };
        draw_bars(&plot_area, bars, (lo..hi * 3.0).log_scale())?;
    } else {
        draw_bars(&plot_area, bars, 0.0..hi * 1.35)?;
    }
    root.present()
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// rr.png's groups: per mode and scheduler but stock, the ratios of its requests/s and
/// of its p99 to stock's in the same round (median, whiskers the range of the rounds),
/// then the targets' bounds.
fn rr_ratio_groups(agg: &Aggregate) -> Vec<Group> {
    let ratios = |bench: &str, c: &str, m: &str| {
        let r: Vec<f64> = agg
            .paired((bench, c, m), &[(bench, RR_STOCK, m)])
            .iter()
            .filter(|p| p.2 > 0.0)
            .map(|(_, x, y)| x / y)
            .collect();
        Spread::of(&r)
    };
    let mut g: Vec<Group> = RR_MODES
        .iter()
        .flat_map(|(bench, _, mode)| {
            RR_CONDITIONS
                .iter()
                .filter(|c| **c != RR_STOCK)
                .map(move |c| Group {
                    label: format!("{}, {mode}", short_label(c)),
                    values: vec![ratios(bench, c, "rps"), ratios(bench, c, "p99_ms")],
                })
        })
        .filter(|g| g.values.iter().any(Option::is_some))
        .collect();
    if !g.is_empty() {
        g.push(Group {
            label: "targets".into(),
            values: vec![
                Spread::of(&[RR_MIN_RPS_RATIO]),
                Spread::of(&[RR_MAX_P99_RATIO]),
            ],
        });
    }
    g
}

/// The run's plots into `dir`, one per benchmark that ran: latency.png, redis.png,
/// redis_sat.png, bystander.png, rr.png, threads.png, weights.png, limit.png, share.png,
/// overhead.png, cost.png. Conditions a run did not measure (e.g. the peers with
/// --no-peers) are left out. Returns the files written.
pub fn plot_all(agg: &Aggregate, dir: &Path) -> anyhow::Result<Vec<std::path::PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    let groups = |bench: &str, conds: &[&str], metrics: &[&str]| -> Vec<Group> {
        conds
            .iter()
            .map(|c| Group {
                label: short_label(c),
                values: metrics.iter().map(|m| agg.get(bench, c, m)).collect(),
            })
            .filter(|g| g.values.iter().any(Option::is_some))
            .collect()
    };
    let theory = |v: f64| Spread::of(&[v]);
    let mut plot = |name: &str, bars: Bars| -> anyhow::Result<()> {
        if bars.groups.is_empty() {
            return Ok(());
        }
        let p = dir.join(name);
        bar_chart(&p, &bars)?;
        written.push(p);
        Ok(())
    };
    let lat = ["p50_us", "p99_us", "p999_us", "max_us"];
    let lat_series = &["p50", "p99", "p99.9", "max"];
    plot(
        "latency.png",
        Bars {
            title: "Wake-up latency of the target's cyclictest probe, noise but for idle (median of repeats, whiskers min-max)",
            y_desc: "latency (µs, log)",
            series: lat_series,
            groups: groups(
                "latency",
                &[&latency_conditions()[..], LATENCY_HOST_CONDITIONS].concat(),
                &lat,
            ),
            log_y: true,
        },
    )?;
    plot(
        "bystander.png",
        Bars {
            title: "Bystander: an unboosted probe next to noise and a busy boosted target (median, min-max)",
            y_desc: "latency (µs, log)",
            series: lat_series,
            groups: groups(
                "bystander",
                &[&bystander_conditions()[..], BYSTANDER_HOST_CONDITIONS].concat(),
                &lat,
            ),
            log_y: true,
        },
    )?;
    let mut g = groups("redis", CONDITIONS, &["p50_ms", "p99_ms", "p999_ms"]);
    if let Some(first) = g.first_mut().filter(|g| g.label == "stock idle") {
        first.label = "Redis alone".into();
    }
    plot(
        "redis.png",
        Bars {
            title: "Redis GET at 100/s in the target cgroup (median of repeats, whiskers min-max)",
            y_desc: "latency (ms, log)",
            series: &["p50", "p99", "p99.9"],
            groups: g,
            log_y: true,
        },
    )?;
    plot(
        "redis_sat.png",
        Bars {
            title: "Redis saturated (redis-benchmark -c 4) in the target, under noise (median, min-max)",
            y_desc: "latency (ms, log)",
            series: &["p50", "p99", "max"],
            groups: groups(
                "redis_sat",
                BOOST_CONDITIONS,
                &["p50_ms", "p99_ms", "max_ms"],
            ),
            log_y: true,
        },
    )?;
    plot(
        "rr.png",
        Bars {
            title: "Request/response, no noise: against stock in the same round (median of the rounds' ratios, whiskers min-max)",
            y_desc: "ratio to stock",
            series: &["requests/s", "p99"],
            groups: rr_ratio_groups(agg),
            log_y: false,
        },
    )?;
    let mut g = groups("threads", THREADS_CONDITIONS, &["target_share_pct"]);
    for group in &mut g {
        group.values.push(theory(theory::threads_target_pct(4.0)));
    }
    plot(
        "threads.png",
        Bars {
            title: "Threads: a 1-thread target against an 8-thread neighbour, target's share",
            y_desc: "target's share of the CPU time (%)",
            series: &["measured", "per-cgroup theory"],
            groups: g,
            log_y: false,
        },
    )?;
    let nested = theory::weights_nested_pct();
    let mut metrics = vec!["wa_share_pct".to_string()];
    metrics.extend(nested.iter().take(3).map(|(n, _)| format!("{n}_share_pct")));
    let metrics: Vec<&str> = metrics.iter().map(String::as_str).collect();
    let mut g: Vec<Group> = PLAIN_CONDITIONS
        .iter()
        .map(|c| Group {
            label: short_label(c),
            values: metrics
                .iter()
                .enumerate()
                .map(|(i, m)| {
                    agg.get(
                        if i == 0 {
                            "weights_flat"
                        } else {
                            "weights_nested"
                        },
                        c,
                        m,
                    )
                })
                .collect(),
        })
        .filter(|g| g.values.iter().any(Option::is_some))
        .collect();
    if !g.is_empty() {
        let mut values = vec![theory(theory::weights_flat_pct())];
        values.extend(nested.iter().take(3).map(|(_, t)| theory(*t)));
        g.push(Group {
            label: "theory".into(),
            values,
        });
    }
    plot(
        "weights.png",
        Bars {
            title: "Weights, empty map: flat 300:100 and the nested tree (share of the CPU time)",
            y_desc: "share (%)",
            series: &[
                "flat: wa (300)",
                "nested: nA (200)",
                "nested: nB (100)",
                "nested: nA/x",
            ],
            groups: g,
            log_y: false,
        },
    )?;
    let mut g = groups("limit", PLAIN_CONDITIONS, &["lim_cpu_pct"]);
    if !g.is_empty() {
        g.push(Group {
            label: "cpu.max".into(),
            values: vec![theory(theory::LIMIT_CPU_PCT)],
        });
    }
    plot(
        "limit.png",
        Bars {
            title: "Limit: cpu.max of half a CPU, 2 busy threads: CPU used",
            y_desc: "% of one CPU",
            series: &["CPU used"],
            groups: g,
            log_y: false,
        },
    )?;
    let weights = agg.share_weights();
    plot(
        "share.png",
        Bars {
            title: "CPU share of the target (2 hogs) against noise (2 hogs) under mus",
            y_desc: "target's share of the CPU time (%)",
            series: &["measured", "theory w/(w+1024)"],
            groups: weights
                .iter()
                .map(|w| Group {
                    label: format!("weight {w}"),
                    values: vec![
                        agg.get("share", &format!("w{w}"), "share_pct"),
                        theory(share_theory_pct(*w as f64)),
                    ],
                })
                .collect(),
            log_y: false,
        },
    )?;
    plot(
        "overhead.png",
        Bars {
            title: "hackbench time, no noise (median of repeats, whiskers min-max)",
            y_desc: "seconds per run",
            series: &["hackbench"],
            groups: groups("overhead", OVERHEAD_CONDITIONS, &["seconds"]),
            log_y: false,
        },
    )?;
    let cost_metrics: Vec<String> = HOT_CALLBACKS.iter().map(|c| format!("{c}_ns")).collect();
    let cost_metrics: Vec<&str> = cost_metrics.iter().map(String::as_str).collect();
    let cost_groups: Vec<Group> = cost_metrics
        .iter()
        .zip(HOT_CALLBACKS)
        .map(|(m, cb)| Group {
            label: cb.to_string(),
            values: COST_CONDITIONS
                .iter()
                .map(|c| agg.get("cost", c, m))
                .collect(),
        })
        .filter(|g| g.values.iter().any(Option::is_some))
        .collect();
    plot(
        "cost.png",
        Bars {
            title: "BPF run time per callback invocation during hackbench (TCG: compare ratios)",
            y_desc: "ns per call",
            series: &["mus", "scx_bpfland", "scx_layered"],
            groups: cost_groups,
            log_y: false,
        },
    )?;
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::results::Row;

    #[test]
    fn plots_a_small_run() {
        if register_font().is_err() {
            eprintln!("no DejaVu font on this machine: skipping the plot test");
            return;
        }
        let mut rows = Vec::new();
        for rep in 1..=3 {
            for (i, c) in CONDITIONS.iter().enumerate() {
                for (m, v) in [
                    ("p50_us", 100.0),
                    ("p99_us", 300.0),
                    ("p999_us", 1000.0),
                    ("max_us", 5000.0),
                ] {
                    rows.push(Row {
                        bench: "latency".into(),
                        condition: c.to_string(),
                        repeat: rep,
                        metric: m.into(),
                        value: v * (i + rep as usize) as f64,
                    });
                }
            }
            for (bench, condition, metric, value) in [
                ("share", "w4096", "share_pct", 78.0),
                ("threads", "mus_boost", "target_share_pct", 33.0),
                ("threads", "stock_w400", "target_share_pct", 49.0),
                ("cost", "mus_idle", "enqueue_ns", 400.0),
                ("cost", "layered_idle", "enqueue_ns", 900.0),
                ("rr_one", "stock_idle", "rps", 4000.0),
                ("rr_one", "mus_boost", "rps", 3800.0),
            ] {
                rows.push(Row {
                    bench: bench.into(),
                    condition: condition.into(),
                    repeat: rep,
                    metric: metric.into(),
                    value: value + rep as f64,
                });
            }
        }
        let dir = tempfile_dir();
        let files = plot_all(&Aggregate::from_rows(&rows), &dir).unwrap();
        let names: Vec<String> = files
            .iter()
            .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        // benchmarks that did not run get no plot
        assert_eq!(
            names,
            [
                "latency.png",
                "rr.png",
                "threads.png",
                "share.png",
                "cost.png"
            ]
        );
        for f in files {
            let bytes = std::fs::read(&f).unwrap();
            assert!(bytes.starts_with(b"\x89PNG"), "{}", f.display());
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn rr_plots_the_rounds_ratios_to_stock_and_the_targets() {
        let mut rows = Vec::new();
        for (rep, stock, mus) in [
            (1, 4000.0, 3600.0),
            (2, 2000.0, 2000.0),
            (3, 3000.0, 2400.0),
        ] {
            rows.push(crate::bench::results::row(
                "rr_all",
                "stock_idle",
                rep,
                "rps",
                stock,
            ));
            rows.push(crate::bench::results::row(
                "rr_all",
                "mus_boost",
                rep,
                "rps",
                mus,
            ));
        }
        let g = rr_ratio_groups(&Aggregate::from_rows(&rows));
        let labels: Vec<&str> = g.iter().map(|g| g.label.as_str()).collect();
        // only what was measured, then the bounds
        assert_eq!(labels, ["mus boost, all CPUs", "targets"]);
        let rps = g[0].values[0].unwrap();
        assert_eq!((rps.median, rps.min, rps.max, rps.n), (0.9, 0.8, 1.0, 3));
        assert_eq!(g[0].values[1], None);
        assert_eq!(g[1].values[0].unwrap().median, RR_MIN_RPS_RATIO);
        assert_eq!(g[1].values[1].unwrap().median, RR_MAX_P99_RATIO);
    }

    fn tempfile_dir() -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("xtask-plot-test-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }
}
