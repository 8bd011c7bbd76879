//! `awpo report RUN_DIR`: the run's curves as one self-contained HTML file (inline SVG, no
//! scripts, no network), from `metrics.jsonl` and `evals.json`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::ablate::{Cell, Variant};
use super::checkpoint::write_atomic;
use super::record::read_metrics;
use crate::model::ModelError;

const COLORS: [&str; 6] = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"];

/// Points (step, value) of one line.
type Series = Vec<(f64, f64)>;

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// One chart of `series` (name, points) as SVG.
fn chart(title: &str, series: &[(&str, Vec<(f64, f64)>)]) -> String {
    let (w, h, pad) = (460.0, 200.0, 40.0);
    let points: Vec<(f64, f64)> =
        series.iter().flat_map(|(_, p)| p.iter().copied()).filter(|(_, y)| y.is_finite()).collect();
    if points.is_empty() {
        return String::new();
    }
    let (x0, x1) = points.iter().fold((f64::MAX, f64::MIN), |(a, b), (x, _)| (a.min(*x), b.max(*x)));
    let (mut y0, mut y1) = points.iter().fold((f64::MAX, f64::MIN), |(a, b), (_, y)| (a.min(*y), b.max(*y)));
    if (y1 - y0).abs() < 1e-12 {
        y0 -= 0.5;
        y1 += 0.5;
    }
    let sx = |x: f64| pad + (x - x0) / (x1 - x0).max(1e-12) * (w - 2.0 * pad);
    let sy = |y: f64| h - pad + (y0 - y) / (y1 - y0) * (h - 2.0 * pad);
    let mut svg = format!(
        "<figure><figcaption>{}</figcaption><svg width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\">\
         <rect x=\"{pad}\" y=\"{pad}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#ccc\"/>\
         <text x=\"2\" y=\"{}\" font-size=\"10\">{y1:.3}</text><text x=\"2\" y=\"{}\" font-size=\"10\">{y0:.3}</text>\
         <text x=\"{pad}\" y=\"{}\" font-size=\"10\">step {x0}</text><text x=\"{}\" y=\"{}\" font-size=\"10\">{x1}</text>",
        escape(title),
        w - 2.0 * pad,
        h - 2.0 * pad,
        pad + 4.0,
        h - pad,
        h - pad + 14.0,
        w - pad - 20.0,
        h - pad + 14.0,
    );
    for (i, (name, pts)) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let path: Vec<String> =
            pts.iter().filter(|(_, y)| y.is_finite()).map(|(x, y)| format!("{:.1},{:.1}", sx(*x), sy(*y))).collect();
        let _ = write!(
            svg,
            "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"1.5\" points=\"{}\"/>",
            path.join(" ")
        );
        if pts.len() <= 3 {
            for (x, y) in pts {
                let _ = write!(svg, "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"{color}\"/>", sx(*x), sy(*y));
            }
        }
        let _ = write!(
            svg,
            "<text x=\"{}\" y=\"{}\" font-size=\"11\" fill=\"{color}\">{}</text>",
            // Three names to a row, rows above the plot.
            pad + 4.0 + 140.0 * (i % 3) as f64,
            pad - 6.0 - 12.0 * (i / 3) as f64,
            escape(name)
        );
    }
    svg + "</svg></figure>"
}

/// The held-out accuracies of `evals.json` against the step ("before" at 0, "after" at `last`,
/// "step-N" at N): overall, and per category from the `…_by_category` entries.
fn held_out_series(evals: &Value, last: f64) -> (Series, BTreeMap<String, Series>) {
    let (mut overall, mut by_category) = (Series::new(), BTreeMap::<String, Series>::new());
    for (k, v) in evals.as_object().into_iter().flatten() {
        let (point, categories) = match k.strip_suffix("_by_category") {
            Some(point) => (point, true),
            None => (k.as_str(), false),
        };
        let x = match point {
            "before" => 0.0,
            "after" => last,
            other => other.strip_prefix("step-").and_then(|n| n.parse().ok()).unwrap_or(f64::NAN),
        };
        if !x.is_finite() {
            continue;
        }
        if categories {
            for (category, y) in v.as_object().into_iter().flatten() {
                by_category.entry(category.clone()).or_default().extend(y.as_f64().map(|y| (x, y)));
            }
        } else {
            overall.extend(v.as_f64().map(|y| (x, y)));
        }
    }
    overall.sort_by(|a, b| a.0.total_cmp(&b.0));
    for series in by_category.values_mut() {
        series.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    (overall, by_category)
}

/// Writes `RUN_DIR/report.html` (for the directory of `awpo ablate`, its table and every
/// variant's curves per seed); returns its path.
///
/// # Errors
/// No metrics in the run directory, or the file cannot be written.
pub fn write(run_dir: &Path) -> Result<PathBuf, ModelError> {
    if run_dir.join("ablation.json").exists() {
        return write_ablation(run_dir);
    }
    let rows = read_metrics(run_dir);
    if rows.is_empty() {
        return Err(ModelError::Input(format!("{} has no metrics.jsonl lines", run_dir.display())));
    }
    let s = |key: &str| -> Vec<(f64, f64)> {
        rows.iter().filter_map(|r| Some((r["step"].as_f64()?, r[key].as_f64()?))).collect()
    };
    let evals = Value::Object(super::record::evals(run_dir));
    let last = rows.last().and_then(|r| r["step"].as_f64()).unwrap_or(0.0);
    let (held, by_category) = held_out_series(&evals, last);
    let mut rollout_categories: BTreeMap<String, Series> = BTreeMap::new();
    for r in &rows {
        for (category, y) in r["accuracy_by_category"].as_object().into_iter().flatten() {
            let point = r["step"].as_f64().zip(y.as_f64());
            rollout_categories.entry(category.clone()).or_default().extend(point);
        }
    }
    let charts = [
        chart("Rewards (mean over rollouts)", &[("outcome", s("outcome_mean")), ("reasoning", s("reasoning_mean"))]),
        chart("Accuracy", &[("rollouts", s("accuracy")), ("held-out (greedy)", held)]),
        chart(
            "Held-out accuracy by category",
            &by_category.iter().map(|(k, v)| (k.as_str(), v.clone())).collect::<Vec<_>>(),
        ),
        chart(
            "Rollout accuracy by category (the step's tasks)",
            &rollout_categories.iter().map(|(k, v)| (k.as_str(), v.clone())).collect::<Vec<_>>(),
        ),
        chart("Calls per episode", &[("calls", s("calls"))]),
        chart("Loss", &[("loss", s("loss"))]),
        chart("Gradient norm (before clipping)", &[("grad norm", s("grad_norm"))]),
        chart(
            "AWPO gate and weight",
            &[("gate", s("gate")), ("weight", s("weight")), ("flat groups", s("flat_groups"))],
        ),
        chart("Ratio clipping", &[("low", s("ratio_clip_low")), ("high", s("ratio_clip_high"))]),
        chart("KL", &[("approx KL", s("approx_kl")), ("KL to reference", s("kl_ref"))]),
        chart("Entropy", &[("entropy", s("entropy"))]),
        chart("Reply tokens per episode", &[("length", s("response_len"))]),
        chart("Assistant messages per episode", &[("messages", s("turns"))]),
        chart(
            "Seconds per step",
            &[("rollout", s("time_rollout")), ("reward", s("time_reward")), ("train", s("time_train"))],
        ),
        chart("Rollout tokens/s", &[("tokens/s", s("tokens_per_s"))]),
    ];
    let summary = match (evals["before"].as_f64(), evals["after"].as_f64()) {
        (Some(b), Some(a)) => {
            format!("<p>Held-out accuracy: {:.1}% before RL → {:.1}% after.</p>", 100.0 * b, 100.0 * a)
        }
        _ => String::new(),
    };
    let body = format!(
        "<p>{}: {} steps.</p>{summary}{}",
        escape(&run_dir.display().to_string()),
        rows.len(),
        charts.join("\n")
    );
    page(run_dir, "awpo run", &body)
}

/// Writes `dir/report.html`: `title` and `body` in the reports' page.
fn page(dir: &Path, title: &str, body: &str) -> Result<PathBuf, ModelError> {
    let html = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{title} {}</title><style>body{{font-family:sans-serif;max-width:1000px;margin:auto}}figure{{display:inline-block;margin:8px}}figcaption{{font-weight:bold;font-size:13px}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:2px 6px;text-align:right}}</style></head>\
         <body><h1>{title}</h1>{body}</body></html>\n",
        escape(&dir.display().to_string()),
    );
    let path = dir.join("report.html");
    write_atomic(&path, &html)?;
    Ok(path)
}

/// The report of an `awpo ablate` directory: its table, then per seed one chart per metric with
/// a line per variant.
fn write_ablation(out: &Path) -> Result<PathBuf, ModelError> {
    let path = out.join("ablation.json");
    let text = std::fs::read_to_string(&path).map_err(|e| ModelError::Input(format!("{}: {e}", path.display())))?;
    let cells: Vec<Cell> =
        serde_json::from_str(&text).map_err(|e| ModelError::Input(format!("{}: {e}", path.display())))?;
    let mut variants: Vec<Variant> = Vec::new();
    let mut seeds: Vec<u64> = Vec::new();
    for c in &cells {
        if !variants.contains(&c.variant) {
            variants.push(c.variant);
        }
        if !seeds.contains(&c.seed) {
            seeds.push(c.seed);
        }
    }
    let mut body = markdown_table(&super::ablate::table(&cells, &variants));
    let metrics = [
        ("Outcome reward (mean over rollouts)", "outcome_mean"),
        ("Rollout accuracy", "accuracy"),
        ("AWPO gate", "gate"),
        ("Reasoning terms clipped", "adv_clip_frac"),
        ("Entropy", "entropy"),
        ("Gradient norm", "grad_norm"),
    ];
    for seed in seeds {
        let runs: Vec<(&str, Vec<Value>)> =
            cells.iter().filter(|c| c.seed == seed).map(|c| (c.variant.name(), read_metrics(&c.run_dir))).collect();
        let _ = write!(body, "<h2>seed {seed}</h2>");
        for (title, key) in metrics {
            let series: Vec<(&str, Series)> = runs
                .iter()
                .map(|(name, rows)| {
                    (*name, rows.iter().filter_map(|r| Some((r["step"].as_f64()?, r[key].as_f64()?))).collect())
                })
                .collect();
            body += &chart(title, &series);
        }
    }
    page(out, "awpo ablation", &body)
}

/// The text before a markdown table as paragraphs, the table's `|` lines as an HTML table.
fn markdown_table(md: &str) -> String {
    let mut html = String::new();
    let mut in_table = false;
    for line in md.lines() {
        let cells: Vec<&str> = line.trim().trim_matches('|').split('|').map(str::trim).collect();
        if in_table && !line.starts_with('|') {
            html += "</table>";
            in_table = false;
        }
        match line.starts_with('|') {
            true if cells.iter().all(|c| c.chars().all(|ch| matches!(ch, '-' | ':'))) => {}
            true => {
                let tag = if in_table { "td" } else { "th" };
                html += if in_table { "" } else { "<table>" };
                in_table = true;
                let row: Vec<String> = cells.iter().map(|c| format!("<{tag}>{}</{tag}>", escape(c))).collect();
                let _ = write!(html, "<tr>{}</tr>", row.concat());
            }
            false if !line.trim().is_empty() => {
                let _ = write!(html, "<p>{}</p>", escape(line));
            }
            false => {}
        }
    }
    if in_table {
        html += "</table>";
    }
    html
}
