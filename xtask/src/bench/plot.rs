//! PNG plots of a run (plotters, bitmap backend). Text is drawn with DejaVu Sans read
//! from fonts-dejavu-core's path (or MUS_PLOT_FONT), so no font lookup is needed.

use std::path::Path;

use anyhow::Context;
use plotters::coord::Shift;
use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::prelude::*;

use super::results::share_theory_pct;
use super::stats::Spread;
use super::summary::{Aggregate, CONDITIONS, OVERHEAD_CONDITIONS, short_label};

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
        draw_bars(&plot_area, bars, 0.0..hi * 1.15)?;
    }
    root.present()
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// The run's plots into `dir`: latency.png, redis.png, share.png, overhead.png (those
/// whose benchmark ran). Returns the files written.
pub fn plot_all(agg: &Aggregate, dir: &Path) -> anyhow::Result<Vec<std::path::PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    let groups = |bench: &str, conds: &[&str], metrics: &[&str]| -> Vec<Group> {
        conds
            .iter()
            .map(|c| Group {
                label: short_label(c).to_string(),
                values: metrics.iter().map(|m| agg.get(bench, c, m)).collect(),
            })
            .collect()
    };
    if agg.has_bench("latency") {
        let p = dir.join("latency.png");
        bar_chart(
            &p,
            &Bars {
                title: "Wake-up latency of the target's cyclictest probe (median of repeats, whiskers min-max)",
                y_desc: "latency (µs, log)",
                series: &["p50", "p99", "p99.9", "max"],
                groups: groups(
                    "latency",
                    CONDITIONS,
                    &["p50_us", "p99_us", "p999_us", "max_us"],
                ),
                log_y: true,
            },
        )?;
        written.push(p);
    }
    if agg.has_bench("redis") {
        let p = dir.join("redis.png");
        let mut g = groups("redis", CONDITIONS, &["p50_ms", "p99_ms", "p999_ms"]);
        g[0].label = "Redis alone".into();
        bar_chart(
            &p,
            &Bars {
                title: "Redis GET latency in the target cgroup (median of repeats, whiskers min-max)",
                y_desc: "latency (ms, log)",
                series: &["p50", "p99", "p99.9"],
                groups: g,
                log_y: true,
            },
        )?;
        written.push(p);
    }
    let weights = agg.share_weights();
    if !weights.is_empty() {
        let p = dir.join("share.png");
        let g = weights
            .iter()
            .map(|w| Group {
                label: format!("weight {w}"),
                values: vec![
                    agg.get("share", &format!("w{w}"), "share_pct"),
                    Spread::of(&[share_theory_pct(*w as f64)]),
                ],
            })
            .collect();
        bar_chart(
            &p,
            &Bars {
                title: "CPU share of the target (2 hogs) against noise (2 hogs) under mus",
                y_desc: "target's share of the CPU time (%)",
                series: &["measured", "theory w/(w+1024)"],
                groups: g,
                log_y: false,
            },
        )?;
        written.push(p);
    }
    if agg.has_bench("overhead") {
        let p = dir.join("overhead.png");
        bar_chart(
            &p,
            &Bars {
                title: "hackbench time, no noise (median of repeats, whiskers min-max)",
                y_desc: "seconds per run",
                series: &["hackbench"],
                groups: groups("overhead", OVERHEAD_CONDITIONS, &["seconds"]),
                log_y: false,
            },
        )?;
        written.push(p);
    }
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
            rows.push(Row {
                bench: "share".into(),
                condition: "w4096".into(),
                repeat: rep,
                metric: "share_pct".into(),
                value: 78.0 + rep as f64,
            });
        }
        let dir = tempfile_dir();
        let files = plot_all(&Aggregate::from_rows(&rows), &dir).unwrap();
        assert_eq!(files.len(), 2);
        for f in files {
            let bytes = std::fs::read(&f).unwrap();
            assert!(bytes.starts_with(b"\x89PNG"), "{}", f.display());
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

    fn tempfile_dir() -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("xtask-plot-test-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }
}
