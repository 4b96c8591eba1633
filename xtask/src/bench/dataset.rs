//! The dataset: a run's rows as CSV (evaluation/datasets/), with the run's facts as
//! `# key: value` comment lines first, and read back for `cargo xtask bench --from-csv`.
//! The column names are the datasets' format: older files must stay readable.

use std::fmt::Write as _;

use anyhow::bail;

use super::results::Row;

/// Facts about the run: the CSV's `# key: value` header and the summary's first lines.
#[derive(Debug, Default, Clone)]
pub struct Meta {
    pub command: String,
    pub date: String,
    pub kernel: String,
    pub scheduler: String,
    pub repeats: u32,
    pub guest_seconds: f64,
    pub dataset: String,
    pub notes: Vec<String>,
}

/// The CSV text of `rows`, with a header.
pub fn to_csv(rows: &[Row]) -> String {
    let mut out = String::from("bench,condition,repeat,metric,value\n");
    for r in rows {
        let _ = writeln!(
            out,
            "{},{},{},{},{}",
            r.bench, r.condition, r.repeat, r.metric, r.value
        );
    }
    out
}

/// The CSV with the run's facts first, as `# key: value` comment lines.
pub fn to_csv_with_meta(meta: &Meta, rows: &[Row]) -> String {
    let mut out = String::new();
    for (k, v) in [
        ("command", meta.command.clone()),
        ("date", meta.date.clone()),
        ("kernel", meta.kernel.clone()),
        ("scheduler", meta.scheduler.clone()),
        ("repeats", meta.repeats.to_string()),
        ("guest_seconds", format!("{:.0}", meta.guest_seconds)),
    ] {
        let _ = writeln!(out, "# {k}: {v}");
    }
    for n in &meta.notes {
        let _ = writeln!(out, "# note: {n}");
    }
    out + &to_csv(rows)
}

/// Reads back what [`to_csv_with_meta`] wrote.
pub fn from_csv_with_meta(text: &str) -> anyhow::Result<(Meta, Vec<Row>)> {
    let mut meta = Meta::default();
    for line in text.lines() {
        let Some((k, v)) = line.strip_prefix("# ").and_then(|l| l.split_once(": ")) else {
            continue;
        };
        match k {
            "command" => meta.command = v.into(),
            "date" => meta.date = v.into(),
            "kernel" => meta.kernel = v.into(),
            "scheduler" => meta.scheduler = v.into(),
            "repeats" => meta.repeats = v.parse().unwrap_or(0),
            "guest_seconds" => meta.guest_seconds = v.parse().unwrap_or(0.0),
            "note" => meta.notes.push(v.into()),
            _ => {}
        }
    }
    Ok((meta, from_csv(text)?))
}

/// Reads back what [`to_csv`] wrote (`#` comment lines are skipped).
pub fn from_csv(text: &str) -> anyhow::Result<Vec<Row>> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            let [bench, condition, repeat, metric, value] = f[..] else {
                bail!("bad CSV line {line:?}")
            };
            Ok(Row::new(
                bench,
                condition,
                repeat.parse()?,
                metric,
                value.parse()?,
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_round_trips() {
        let rows = vec![
            Row::new("latency", "stock_idle", 1, "p99_us", 248.0),
            Row::new("share", "w2048", 2, "share_pct", 66.25),
        ];
        let text = to_csv(&rows);
        assert!(
            text.starts_with(
                "bench,condition,repeat,metric,value\nlatency,stock_idle,1,p99_us,248\n"
            )
        );
        assert_eq!(from_csv(&text).unwrap(), rows);
        let meta = Meta {
            command: "cargo xtask bench all".into(),
            repeats: 5,
            notes: vec!["lat_config: loops=1500".into()],
            ..Meta::default()
        };
        let text = to_csv_with_meta(&meta, &rows);
        assert!(text.starts_with("# command: cargo xtask bench all\n"));
        let (back, back_rows) = from_csv_with_meta(&text).unwrap();
        assert_eq!(back_rows, rows);
        assert_eq!(
            (back.command.as_str(), back.repeats),
            ("cargo xtask bench all", 5)
        );
        assert_eq!(back.notes, ["lat_config: loops=1500"]);
    }
}
