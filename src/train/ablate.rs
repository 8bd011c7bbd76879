//! `awpo ablate`: one configuration trained once per seed and variant (AWPO, GRPO, naive-sum, and
//! AWPO with the gate, the difficulty weight or the tailored clip turned off). Every variant of a
//! seed starts from the same warm-up (the first variant's, copied), data order and rollout seeds,
//! so the variants differ only in the objective.
//!
//! Layout: `OUT/seed-S/VARIANT/` is an ordinary run directory (`awpo report` draws it; its
//! adapters are under `checkpoints/`); `OUT/ablation.md` and `OUT/ablation.json` hold the table of
//! held-out accuracies. The same command again skips the finished cells and resumes the
//! interrupted one from its last checkpoint; a cell run with another configuration is refused.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::checkpoint::write_atomic;
use super::record;
use super::{Result, TrainError};
use crate::algo::{Clip, Gate, Mode, Weighting};
use crate::config::RunConfig;
use crate::stats::paired_bootstrap;

/// One objective of the ablation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Variant {
    /// AWPO as configured (`algo.mode = "awpo"`).
    Awpo,
    /// GRPO on the outcome reward (`algo.mode = "grpo"`).
    Grpo,
    /// GRPO on the summed rewards (`algo.mode = "naive-sum"`).
    NaiveSum,
    /// AWPO without the variance-aware gate (`algo.gate = "off"`, `algo.gate_tau_r = 0`).
    NoGate,
    /// AWPO without the difficulty weight (`algo.weight = "off"`).
    NoWeight,
    /// AWPO without the tailored clip (`algo.clip = "off"`).
    NoClip,
}

impl Variant {
    /// Every variant, in the table's order.
    pub const ALL: [Self; 6] = [Self::Awpo, Self::Grpo, Self::NaiveSum, Self::NoGate, Self::NoWeight, Self::NoClip];

    /// The name of its run directory and table row.
    pub fn name(self) -> &'static str {
        match self {
            Self::Awpo => "awpo",
            Self::Grpo => "grpo",
            Self::NaiveSum => "naive-sum",
            Self::NoGate => "no-gate",
            Self::NoWeight => "no-weight",
            Self::NoClip => "no-clip",
        }
    }

    /// The configuration with this variant's objective (the other keys as given).
    pub fn apply(self, cfg: &mut RunConfig) {
        let a = &mut cfg.algo;
        a.mode = match self {
            Self::Grpo => Mode::Grpo,
            Self::NaiveSum => Mode::NaiveSum,
            _ => Mode::Awpo,
        };
        match self {
            Self::NoGate => (a.gate, a.gate_tau_r) = (Gate::Off, 0.0),
            Self::NoWeight => a.weight = Weighting::Off,
            Self::NoClip => a.clip = Clip::Off,
            Self::Awpo | Self::Grpo | Self::NaiveSum => {}
        }
    }
}

/// One finished run of the ablation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Cell {
    /// `seed`.
    pub seed: u64,
    /// The objective.
    pub variant: Variant,
    /// Held-out accuracy before RL (the seed's warm-up, shared by its variants).
    pub before: Option<f64>,
    /// Held-out accuracy after RL.
    pub after: Option<f64>,
    /// Held-out tasks.
    pub held_out: usize,
    /// RL steps.
    pub steps: usize,
    /// Its run directory.
    pub run_dir: PathBuf,
    /// Each held-out task's verdict after RL, in the tasks' order (the same tasks for every
    /// variant of the seed).
    #[serde(default)]
    pub right: Vec<bool>,
}

/// What marks a finished cell, in its run directory.
const CELL_FILE: &str = "ablation-cell.json";

/// Runs (or continues) the ablation of `base` over `seeds` × `variants` under `out`; `on_cell`
/// sees each cell as it finishes (or is found finished). Returns every cell, seeds outermost.
///
/// # Errors
/// No seed or variant, a variant named twice, a cell directory run with another configuration,
/// or any error of [`super::run`].
pub fn run(
    base: &RunConfig,
    (seeds, variants): (&[u64], &[Variant]),
    out: &Path,
    mut on_cell: impl FnMut(&Cell),
) -> Result<Vec<Cell>> {
    let Some(&first) = variants.first() else { return Err(TrainError::Ablation("no variant to run".into())) };
    if seeds.is_empty() {
        return Err(TrainError::Ablation("no seed to run".into()));
    }
    if let Some(v) = variants.iter().enumerate().find_map(|(i, v)| variants[..i].contains(v).then_some(v)) {
        return Err(TrainError::Ablation(format!("variant {} is named twice", v.name())));
    }
    let mut cells = Vec::with_capacity(seeds.len() * variants.len());
    for &seed in seeds {
        let seed_dir = out.join(format!("seed-{seed}"));
        for &variant in variants {
            let dir = seed_dir.join(variant.name());
            let mut cfg = base.clone();
            cfg.seed = seed;
            variant.apply(&mut cfg);
            cfg.train.run_dir = dir.display().to_string();
            let cell = match finished(&dir, &cfg)? {
                Some(cell) => cell,
                None => {
                    if variant != first {
                        share_warm_up(&seed_dir.join(first.name()), &dir)?;
                    }
                    let summary = super::run(&cfg, true)?;
                    let cell = Cell {
                        seed,
                        variant,
                        before: summary.before,
                        after: summary.after,
                        held_out: summary.held_out,
                        steps: summary.steps,
                        run_dir: dir.clone(),
                        right: record::read_verdicts(&dir, "after"),
                    };
                    let text = serde_json::to_string_pretty(&cell).map_err(|e| write_error(&dir, e))?;
                    write_atomic(&dir.join(CELL_FILE), &text)?;
                    cell
                }
            };
            on_cell(&cell);
            cells.push(cell);
        }
    }
    let json = serde_json::to_string_pretty(&cells).map_err(|e| write_error(out, e))?;
    write_atomic(&out.join("ablation.json"), &json)?;
    write_atomic(&out.join("ablation.md"), &table(&cells, variants))?;
    Ok(cells)
}

fn write_error(path: &Path, e: impl std::fmt::Display) -> TrainError {
    TrainError::Write { path: path.into(), source: std::io::Error::other(e.to_string()) }
}

/// The cell recorded in `dir`, if it finished; an error if `dir` was run with another
/// configuration than `cfg`.
fn finished(dir: &Path, cfg: &RunConfig) -> Result<Option<Cell>> {
    if let Ok(previous) = std::fs::read_to_string(dir.join("config.toml"))
        && previous != cfg.to_toml()
    {
        return Err(TrainError::Ablation(format!(
            "{} was run with another configuration (its config.toml differs): choose another --out, or remove it",
            dir.display()
        )));
    }
    let Ok(text) = std::fs::read_to_string(dir.join(CELL_FILE)) else { return Ok(None) };
    Ok(serde_json::from_str(&text).ok())
}

/// Gives `to` the warm-up of `from` (a seed's first variant): the built-in model's `base/`, the
/// adapter's `sft-adapter/`, and the held-out accuracies recorded before and after it, so the
/// variant neither trains nor evaluates them again. Nothing is copied into a run already under
/// way (it has its own).
fn share_warm_up(from: &Path, to: &Path) -> Result<()> {
    if to.join("metrics.jsonl").exists() || to.join("checkpoints").exists() {
        return Ok(());
    }
    for sub in ["base", "sft-adapter"] {
        let src = from.join(sub);
        if src.is_dir() && !to.join(sub).exists() {
            copy_dir(&src, &to.join(sub))?;
        }
    }
    let mut evals = record::evals(to);
    for (k, v) in record::evals(from) {
        if k.starts_with("base") || k.starts_with("before") {
            evals.entry(k).or_insert(v);
        }
    }
    Ok(record::write_evals(to, evals)?)
}

/// Copies the files of `from` (one level) into `to`, each through a temporary name.
fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    let werr = |path: &Path, source| TrainError::Write { path: path.into(), source };
    std::fs::create_dir_all(to).map_err(|e| werr(to, e))?;
    let entries = std::fs::read_dir(from).map_err(|e| werr(from, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| werr(from, e))?;
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        if src.is_file() {
            let tmp = dst.with_extension("part");
            std::fs::copy(&src, &tmp).and_then(|_| std::fs::rename(&tmp, &dst)).map_err(|e| werr(&dst, e))?;
        }
    }
    Ok(())
}

/// The table: one row per variant, one column per seed, the mean, the mean difference to the
/// first variant over the seeds (with its smallest and largest), how many seeds it is above,
/// equal to and below the first variant, and the 95% paired-bootstrap interval of the difference
/// over the held-out tasks of all seeds pooled.
pub fn table(cells: &[Cell], variants: &[Variant]) -> String {
    let mut seeds: Vec<u64> = cells.iter().map(|c| c.seed).collect();
    seeds.dedup();
    let at = |s: u64, v: Variant| cells.iter().find(|c| c.seed == s && c.variant == v).and_then(|c| c.after);
    let pct = |x: Option<f64>| x.map_or("—".to_string(), |x| format!("{:.1}%", 100.0 * x));
    let held_out = cells.first().map_or(0, |c| c.held_out);
    let steps = cells.first().map_or(0, |c| c.steps);
    let plural = if steps == 1 { "" } else { "s" };
    let mut out = format!("Held-out accuracy after {steps} RL step{plural} ({held_out} tasks, greedy).\n\n");
    let before: Vec<String> = seeds
        .iter()
        .map(|&s| format!("seed {s} {}", pct(cells.iter().find(|c| c.seed == s).and_then(|c| c.before))))
        .collect();
    out += &format!("Before RL (each seed's warm-up, shared by its variants): {}.\n\n", before.join(", "));
    let head: Vec<String> = seeds.iter().map(|s| format!("seed {s}")).collect();
    let first = variants.first().map_or("", |v| v.name());
    out += &format!(
        "| variant | {} | mean | mean − {first} (min to max over seeds) | seeds above / equal / below {first} | 95% paired interval (tasks of all seeds) |\n",
        head.join(" | ")
    );
    out += &format!("|---|{}---:|---:|---:|---:|\n", "---:|".repeat(seeds.len()));
    for &v in variants {
        let row: Vec<Option<f64>> = seeds.iter().map(|&s| at(s, v)).collect();
        let mean = mean(row.iter().copied());
        let diffs: Vec<f64> =
            seeds.iter().filter_map(|&s| Some(at(s, v)? - variants.first().and_then(|&f| at(s, f))?)).collect();
        let diff =
            match (mean_of(&diffs), diffs.iter().copied().reduce(f64::min), diffs.iter().copied().reduce(f64::max)) {
                (Some(m), Some(lo), Some(hi)) => {
                    format!("{:+.1} ({:+.1} to {:+.1})", 100.0 * m, 100.0 * lo, 100.0 * hi)
                }
                _ => "—".into(),
            };
        let count = |keep: fn(f64) -> bool| diffs.iter().filter(|&&d| keep(d)).count();
        let signs = format!("{} / {} / {}", count(|d| d > 1e-9), count(|d| d.abs() <= 1e-9), count(|d| d < -1e-9));
        let cols: Vec<String> = row.iter().map(|&x| pct(x)).collect();
        out += &format!(
            "| {} | {} | {} | {diff} | {signs} | {} |\n",
            v.name(),
            cols.join(" | "),
            pct(mean),
            paired(cells, &seeds, (variants[0], v))
        );
    }
    out
}

/// `b − a`'s 95% paired-bootstrap interval over the tasks whose verdicts both runs of a seed
/// recorded, the seeds pooled; "—" for a variant against itself or without verdicts.
fn paired(cells: &[Cell], seeds: &[u64], (a, b): (Variant, Variant)) -> String {
    let verdicts = |s: u64, v: Variant| cells.iter().find(|c| c.seed == s && c.variant == v).map(|c| &c.right);
    let mut pairs = Vec::new();
    for &s in seeds {
        if let (Some(x), Some(y)) = (verdicts(s, a), verdicts(s, b))
            && x.len() == y.len()
        {
            pairs.extend(x.iter().copied().zip(y.iter().copied()));
        }
    }
    if a == b || pairs.is_empty() {
        return "—".into();
    }
    let (lo, hi) = paired_bootstrap(&pairs, 10_000, 0);
    format!("{:+.1} to {:+.1} ({} tasks)", 100.0 * lo, 100.0 * hi, pairs.len())
}

fn mean(xs: impl Iterator<Item = Option<f64>>) -> Option<f64> {
    let xs: Option<Vec<f64>> = xs.collect();
    mean_of(&xs?)
}

fn mean_of(xs: &[f64]) -> Option<f64> {
    (!xs.is_empty()).then(|| xs.iter().sum::<f64>() / xs.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(seed: u64, variant: Variant, after: f64) -> Cell {
        // Verdicts with the accuracy `after` on 10 tasks.
        let right = (0..10).map(|i| (i as f64) < after * 10.0).collect();
        Cell {
            seed,
            variant,
            before: Some(0.5),
            after: Some(after),
            held_out: 10,
            steps: 3,
            run_dir: PathBuf::new(),
            right,
        }
    }

    #[test]
    fn each_variant_sets_its_objective_and_only_that() {
        let base = RunConfig::default();
        for v in Variant::ALL {
            let mut cfg = base.clone();
            v.apply(&mut cfg);
            let changed: Vec<&str> = [
                ("mode", cfg.algo.mode != base.algo.mode),
                ("gate", cfg.algo.gate != base.algo.gate || cfg.algo.gate_tau_r != base.algo.gate_tau_r),
                ("weight", cfg.algo.weight != base.algo.weight),
                ("clip", cfg.algo.clip != base.algo.clip),
            ]
            .into_iter()
            .filter_map(|(k, c)| c.then_some(k))
            .collect();
            let want: &[&str] = match v {
                Variant::Awpo => &[],
                Variant::Grpo | Variant::NaiveSum => &["mode"],
                Variant::NoGate => &["gate"],
                Variant::NoWeight => &["weight"],
                Variant::NoClip => &["clip"],
            };
            assert_eq!(changed, want, "{v:?}");
            let mut again = cfg.clone();
            v.apply(&mut again);
            assert_eq!(again, cfg, "{v:?} applied twice");
        }
        // A GRPO configuration still gives AWPO for the AWPO variants.
        let mut grpo = base.clone();
        grpo.algo.mode = Mode::Grpo;
        Variant::NoClip.apply(&mut grpo);
        assert_eq!(grpo.algo.mode, Mode::Awpo);
    }

    #[test]
    fn the_table_has_a_row_per_variant_and_differences_to_the_first() {
        let vs = [Variant::Awpo, Variant::Grpo];
        let cells = [
            cell(0, Variant::Awpo, 0.9),
            cell(0, Variant::Grpo, 0.7),
            cell(1, Variant::Awpo, 0.6),
            cell(1, Variant::Grpo, 0.7),
        ];
        let t = table(&cells, &vs);
        assert!(t.contains("| awpo | 90.0% | 60.0% | 75.0% | +0.0 (+0.0 to +0.0) | 0 / 2 / 0 | — |"), "{t}");
        // Paired over 20 tasks, seed 0 then seed 1: seed 0 loses tasks 7 and 8, seed 1 gains task 6.
        let (tt, tf, ft, ff) = ((true, true), (true, false), (false, true), (false, false));
        let pairs = [[tt; 7].as_slice(), &[tf, tf, ff], &[tt; 6], &[ft, ff, ff, ff]].concat();
        let (lo, hi) = paired_bootstrap(&pairs, 10_000, 0);
        let row = format!(
            "| grpo | 70.0% | 70.0% | 70.0% | -5.0 (-20.0 to +10.0) | 1 / 0 / 1 | {:+.1} to {:+.1} (20 tasks) |",
            100.0 * lo,
            100.0 * hi
        );
        assert!(t.contains(&row), "{row}\n{t}");
        assert!(lo < -0.05 && hi > -0.05, "{lo} {hi}");
        assert!(t.contains("seed 0 50.0%, seed 1 50.0%"), "{t}");
    }

    #[test]
    fn bad_lists_are_refused_before_any_work() {
        let out = std::env::temp_dir().join(format!("awpo-ablate-{}", std::process::id()));
        let cfg = RunConfig::default();
        let err = |s: &[u64], v: &[Variant]| run(&cfg, (s, v), &out, |_| {}).expect_err("refused").to_string();
        assert!(err(&[0], &[]).contains("no variant"));
        assert!(err(&[], &[Variant::Awpo]).contains("no seed"));
        assert!(err(&[0], &[Variant::Grpo, Variant::Awpo, Variant::Grpo]).contains("grpo is named twice"));
        assert!(!out.exists(), "nothing written");
    }
}
