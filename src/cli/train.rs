//! `awpo train`, `awpo ablate` and `awpo report`.

use std::path::PathBuf;

use clap::Args;

use crate::cli::ConfigArgs;
use crate::config::RunConfig;
use crate::device::Backend;
use crate::error::Result;
use crate::train::ablate::{self, Variant};

/// `awpo train` options.
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Configuration (`awpo config print` shows every key).
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Continue the run in this directory from its last checkpoint (its config.toml, plus any
    /// `--set`), on the same trajectory as if it had not stopped.
    #[arg(long, value_name = "RUN_DIR", conflicts_with = "config")]
    pub resume: Option<PathBuf>,
    /// Backend: auto (hardware GPU, else CPU), wgpu, cpu or cuda (overrides device.backend).
    #[arg(long, value_enum)]
    pub device: Option<Backend>,
}

/// `awpo ablate` options.
#[derive(Debug, Args)]
pub struct AblateArgs {
    /// The configuration shared by every run (`algo.mode` and the ablated keys are set per
    /// variant, `seed` and `train.run_dir` per run).
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Seeds, comma-separated; each gets its own warm-up.
    #[arg(long, value_delimiter = ',', default_value = "0,1")]
    pub seeds: Vec<u64>,
    /// Variants, comma-separated; the first runs each seed's warm-up and is the table's
    /// reference row.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "awpo,grpo,naive-sum,no-gate,no-weight,no-clip")]
    pub variants: Vec<Variant>,
    /// Directory of the runs (OUT/seed-S/VARIANT) and of the table (OUT/ablation.md).
    #[arg(long, value_name = "OUT", default_value = "runs/ablation")]
    pub out: PathBuf,
    /// Backend: auto (hardware GPU, else CPU), wgpu, cpu or cuda (overrides device.backend).
    #[arg(long, value_enum)]
    pub device: Option<Backend>,
}

/// `awpo report` options.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The run directory (train.run_dir).
    pub run_dir: PathBuf,
}

/// Runs `awpo train`; its last lines give the held-out accuracy before and after RL and the run
/// directory.
///
/// # Errors
/// Configuration, data, model, device or I/O errors, each naming what is wrong.
pub fn train(args: &TrainArgs) -> Result<bool> {
    let mut cfg = match &args.resume {
        Some(dir) => {
            let mut sets = args.config.overrides.clone();
            sets.push(format!("train.run_dir={:?}", dir.display().to_string()));
            RunConfig::load(Some(&dir.join("config.toml")), &sets)?
        }
        None => args.config.load()?,
    };
    if let Some(b) = args.device {
        cfg.device.backend = b;
    }
    let start = std::time::Instant::now();
    let summary = crate::train::run(&cfg, args.resume.is_some())?;
    eprintln!(
        "{} RL steps done; this command took {:.1} s (warm-up and held-out evaluations included)",
        summary.steps,
        start.elapsed().as_secs_f64()
    );
    if let Some(b) = summary.base {
        println!("held-out accuracy before the adapter warm-up: {:.1}%", 100.0 * b);
    }
    match (summary.before, summary.after) {
        (Some(b), Some(a)) => println!(
            "held-out accuracy: {:.1}% before RL -> {:.1}% after RL ({} held-out tasks)",
            100.0 * b,
            100.0 * a,
            summary.held_out
        ),
        (_, Some(a)) => println!("held-out accuracy after RL: {:.1}% ({} tasks)", 100.0 * a, summary.held_out),
        _ => println!("no held-out tasks (data.held_out is empty)"),
    }
    println!("run directory: {} (curves: awpo report {})", summary.run_dir.display(), summary.run_dir.display());
    Ok(true)
}

/// Runs `awpo ablate`: prints each run's result as it finishes, then the table.
///
/// # Errors
/// Configuration, data, model, device or I/O errors of any run, each naming what is wrong.
pub fn ablate(args: &AblateArgs) -> Result<bool> {
    let mut cfg = args.config.load()?;
    if let Some(b) = args.device {
        cfg.device.backend = b;
    }
    let pct = |x: Option<f64>| x.map_or("—".into(), |x| format!("{:.1}%", 100.0 * x));
    let (total, mut done) = (args.seeds.len() * args.variants.len(), 0);
    let cells = ablate::run(&cfg, (&args.seeds, &args.variants), &args.out, |c| {
        done += 1;
        eprintln!(
            "ablation {done}/{total}: seed {} {}: held-out {} before RL -> {} after RL ({} steps; {})",
            c.seed,
            c.variant.name(),
            pct(c.before),
            pct(c.after),
            c.steps,
            c.run_dir.display()
        );
    })?;
    println!("{}\nwrote {}", ablate::table(&cells, &args.variants), args.out.join("ablation.md").display());
    Ok(true)
}

/// Runs `awpo report`.
///
/// # Errors
/// A run directory without metrics, or an unwritable report.
pub fn report(args: &ReportArgs) -> Result<bool> {
    let path = crate::train::report::write(&args.run_dir)?;
    println!("wrote {}", path.display());
    Ok(true)
}
