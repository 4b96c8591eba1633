//! One PNG per condition (`plots/auto_<condition>.png`): three panels over the run's
//! seconds, each round a thin line and the median of the rounds a thick one, the noise's
//! seconds shaded: the fixed-rate Redis p99 per second (log scale), the pod's weight
//! (mus's map; stock's cpu.weight as its factor), and each pod's CPU.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;

use super::figures::{BENCH_S, Phases};
use crate::bench::aggregate::Spread;
use crate::bench::plot::register_font;
use crate::bench::results::Row;

/// metric → round → second → value, for one condition.
type Series = BTreeMap<String, BTreeMap<u32, BTreeMap<u32, f64>>>;

fn by_condition(rows: &[Row]) -> BTreeMap<String, Series> {
    let mut out: BTreeMap<String, Series> = BTreeMap::new();
    for r in rows.iter().filter(|r| r.bench == BENCH_S) {
        let Some((metric, s)) = r.metric.split_once('@') else {
            continue;
        };
        let Ok(s) = s.parse() else { continue };
        out.entry(r.condition.clone())
            .or_default()
            .entry(metric.to_string())
            .or_default()
            .entry(r.repeat)
            .or_default()
            .insert(s, r.value);
    }
    out
}

/// The median over the rounds, second by second.
fn median(rounds: &BTreeMap<u32, BTreeMap<u32, f64>>) -> Vec<(f64, f64)> {
    let mut by_s: BTreeMap<u32, Vec<f64>> = BTreeMap::new();
    for series in rounds.values() {
        for (s, v) in series {
            by_s.entry(*s).or_default().push(*v);
        }
    }
    by_s.into_iter()
        .filter_map(|(s, v)| Some((f64::from(s) + 0.5, Spread::of(&v)?.median)))
        .collect()
}

const MUTED: [RGBColor; 2] = [RGBColor(150, 170, 210), RGBColor(240, 180, 140)];
const STRONG: [RGBColor; 2] = [RGBColor(31, 119, 180), RGBColor(255, 127, 14)];

/// One panel: `metrics` (up to two) of `series`, rounds thin, median thick.
fn panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    series: &Series,
    metrics: &[(&str, &str)],
    y_desc: &str,
    phases: Phases,
    log_y: bool,
) -> anyhow::Result<()>
where
    DB::ErrorType: 'static,
{
    let values: Vec<f64> = metrics
        .iter()
        .filter_map(|(m, _)| series.get(*m))
        .flat_map(|rounds| rounds.values().flat_map(|s| s.values().copied()))
        .filter(|v| v.is_finite() && (!log_y || *v > 0.0))
        .collect();
    let hi = values.iter().copied().fold(1.0, f64::max);
    let x = 0.0..f64::from(phases.total());
    let err = |e: &dyn std::fmt::Debug| anyhow::anyhow!("{y_desc}: {e:?}");
    let mut builder = ChartBuilder::on(area);
    builder
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(70);
    macro_rules! draw {
        ($chart:expr, $lo:expr) => {{
            let mut chart = $chart;
            chart
                .configure_mesh()
                .x_desc("second of the run")
                .y_desc(y_desc)
                .x_label_formatter(&|v| format!("{v:.0}"))
                .y_label_formatter(&|v| format!("{v:.0}"))
                .label_style(("sans-serif", 13))
                .draw()
                .map_err(|e| err(&e))?;
            let (on, off) = (
                f64::from(phases.quiet1),
                f64::from(phases.quiet1 + phases.noise),
            );
            chart
                .draw_series([Rectangle::new(
                    [(on, $lo), (off, hi * 2.0)],
                    RGBColor(230, 230, 230).filled(),
                )])
                .map_err(|e| err(&e))?;
            for (i, (m, label)) in metrics.iter().enumerate() {
                let Some(rounds) = series.get(*m) else {
                    continue;
                };
                for s in rounds.values() {
                    let pts = s.iter().map(|(t, v)| (f64::from(*t) + 0.5, v.max($lo)));
                    chart
                        .draw_series(LineSeries::new(pts, MUTED[i % 2].stroke_width(1)))
                        .map_err(|e| err(&e))?;
                }
                let color = STRONG[i % 2];
                chart
                    .draw_series(LineSeries::new(
                        median(rounds).into_iter().map(|(t, v)| (t, v.max($lo))),
                        color.stroke_width(3),
                    ))
                    .map_err(|e| err(&e))?
                    .label(format!("{label} (median of the rounds)"))
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(3))
                    });
            }
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperRight)
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .label_font(("sans-serif", 13))
                .draw()
                .map_err(|e| err(&e))?;
        }};
    }
    if log_y {
        let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
        let lo = if lo.is_finite() { lo / 2.0 } else { 1.0 };
        draw!(
            builder
                .build_cartesian_2d(x, (lo..hi * 2.0).log_scale())
                .map_err(|e| err(&e))?,
            lo
        );
    } else {
        draw!(
            builder
                .build_cartesian_2d(x, 0.0..hi * 1.25)
                .map_err(|e| err(&e))?,
            0.0
        );
    }
    Ok(())
}

/// Writes `auto_<condition>.png` into `dir` for every condition in `rows`.
pub fn plot_all(rows: &[Row], phases: Phases, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    register_font()?;
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    for (cond, series) in by_condition(rows) {
        let path = dir.join(format!("auto_{cond}.png"));
        {
            let root = BitMapBackend::new(&path, (1100, 1000)).into_drawing_area();
            root.fill(&WHITE).map_err(|e| anyhow::anyhow!("{e:?}"))?;
            let root = root
                .titled(
                    &format!(
                        "{cond}: noise in the sibling pod from {} s to {} s (shaded)",
                        phases.quiet1,
                        phases.quiet1 + phases.noise
                    ),
                    ("sans-serif", 20),
                )
                .map_err(|e| anyhow::anyhow!("{e:?}"))?;
            let panels = root.split_evenly((3, 1));
            panel(
                &panels[0],
                &series,
                &[("p99_us", "Redis 100/s p99")],
                "p99 per second (µs)",
                phases,
                true,
            )?;
            panel(
                &panels[1],
                &series,
                &[("weight", "weight")],
                "weight (1024 = none)",
                phases,
                false,
            )?;
            panel(
                &panels[2],
                &series,
                &[
                    ("pod_cpu_pct", "the Redis pod"),
                    ("noise_cpu_pct", "the noise pod"),
                ],
                "CPU (% of one CPU)",
                phases,
                false,
            )?;
            root.present()
                .map_err(|e| anyhow::anyhow!("writing {}: {e:?}", path.display()))?;
        }
        written.push(path);
    }
    Ok(written)
}
