//! Command line: `awpo train | report | eval | check | config print | data check | data from-bfcl | perplexity | merge | generate |
//! devices`.

pub mod data;
pub mod eval;
pub mod generate;
pub mod model;
pub mod train;

use std::num::NonZeroUsize;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::algo::KernelMode;
use crate::config::RunConfig;
use crate::device::{self, Backend};
use crate::error::Result;
use crate::selfcheck::{self, Inputs};

/// awpo: AWPO reinforcement learning for tool-using language models, on any GPU (wgpu) or CUDA.
///
/// AWPO (arXiv 2512.19126) mixes a verifiable outcome reward and a judge's reasoning reward at
/// the advantage level, through a variance-aware gate, a difficulty weight and a tailored clip.
/// The exact published gate/weight/clip formulas are not public: awpo implements a documented
/// reconstruction in which every choice is an `[algo]` knob (see `awpo config print`).
#[derive(Debug, Parser)]
#[command(name = "awpo", version, about, long_about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Train a policy with AWPO (the main job). With no configuration: the built-in tiny model
    /// on generated tool-use tasks, finishing in minutes on a laptop CPU; `--set section.key=value`
    /// changes any key (`awpo config print` lists them), `--resume RUN_DIR` continues a killed run.
    Train(crate::cli::train::TrainArgs),
    /// Ablation: the same configuration trained per seed as AWPO, GRPO, naive-sum and AWPO
    /// without the gate, the difficulty weight or the tailored clip, every variant of a seed from
    /// the same warm-up, data order and rollout seeds; writes OUT/ablation.md (held-out accuracy
    /// per variant and seed). Run again, it skips finished runs and resumes a killed one.
    /// `--config` and `--set` give the shared configuration; `algo.mode` and the ablated keys
    /// are set per variant, `seed` and `train.run_dir` per run (OUT/seed-S/VARIANT).
    Ablate(crate::cli::train::AblateArgs),
    /// Render a run's curves (metrics.jsonl, evals.json) to RUN_DIR/report.html.
    Report(crate::cli::train::ReportArgs),
    /// Run the AWPO advantage, loss and gradient on a device and compare them with the f64
    /// specification (exit code 1 when an error exceeds 1e-5).
    Check(CheckArgs),
    /// Configuration commands.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Task data: validate a JSONL task file, or convert BFCL v4 categories to it.
    #[command(subcommand)]
    Data(crate::cli::data::DataCommand),
    /// Perplexity of a text file under a model (+ adapter), in windows of the context length.
    Perplexity(crate::cli::model::PerplexityArgs),
    /// Merge a PEFT LoRA adapter into its base model and write a Hugging Face checkpoint.
    Merge(crate::cli::model::MergeArgs),
    /// Talk to a model: the prompt through its chat template (tools optional), the reply
    /// sampled with a KV cache and streamed (`--temperature 0` is greedy).
    Generate(crate::cli::generate::GenerateArgs),
    /// Score a model (base or base + adapter) on BFCL v4 categories (single- and multi-turn),
    /// a JSONL task file or the built-in held-out split: a table per category, per-item results
    /// with `--out` (resumable), `--model oracle` to self-check the harness, `--compare A B`.
    Eval(crate::cli::eval::EvalArgs),
    /// List the wgpu adapters and the device `--device auto` would pick.
    Devices,
}

/// `config` subcommands.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the resolved configuration as TOML (defaults + file + overrides).
    Print(ConfigArgs),
}

/// Where the configuration comes from.
#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// TOML file; every key is optional (missing keys take their defaults).
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Override one key, e.g. `--set algo.mode=grpo --set algo.lambda=0.5` (repeatable).
    #[arg(long = "set", value_name = "SECTION.KEY=VALUE")]
    pub overrides: Vec<String>,
}

impl ConfigArgs {
    /// The configuration: the file (or the defaults), then the overrides.
    ///
    /// # Errors
    /// The file cannot be read or parsed, or a key or value is wrong.
    pub fn load(&self) -> Result<RunConfig> {
        Ok(RunConfig::load(self.config.as_deref(), &self.overrides)?)
    }
}

/// `awpo check` options.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Configuration.
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Backend: auto (hardware GPU, else CPU), wgpu, cpu or cuda. Overrides `device.backend`.
    #[arg(long, value_enum)]
    pub device: Option<Backend>,
    /// Implementation: auto (WGSL on wgpu), wgsl or tensor. Overrides `algo.kernel`.
    #[arg(long, value_enum)]
    pub kernel: Option<KernelArg>,
    /// Prompts per step `P`.
    #[arg(long, default_value = "64")]
    pub groups: NonZeroUsize,
    /// Rollouts per prompt `G`.
    #[arg(long, default_value = "8")]
    pub group_size: NonZeroUsize,
    /// Padded tokens per rollout `T`.
    #[arg(long, default_value = "512")]
    pub tokens: NonZeroUsize,
}

/// `--kernel` values (mirror of [`KernelMode`], which stays free of clap).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum KernelArg {
    /// WGSL where the device runs it, tensor ops elsewhere.
    Auto,
    /// The WGSL kernels.
    Wgsl,
    /// burn tensor ops.
    Tensor,
}

impl From<KernelArg> for KernelMode {
    fn from(k: KernelArg) -> Self {
        match k {
            KernelArg::Auto => KernelMode::Auto,
            KernelArg::Wgsl => KernelMode::Wgsl,
            KernelArg::Tensor => KernelMode::Tensor,
        }
    }
}

/// Largest scaled error `awpo check` accepts.
pub const CHECK_TOLERANCE: f64 = 1e-5;

/// Runs the parsed command; `Ok(false)` when a check failed.
///
/// # Errors
/// Configuration, device or objective errors.
pub fn run(cli: Cli) -> Result<bool> {
    match cli.command {
        Command::Config(ConfigCommand::Print(args)) => {
            let cfg = args.load()?;
            print!("{}", cfg.to_toml());
            Ok(true)
        }
        Command::Devices => {
            for a in device::adapters() {
                let mut precisions = vec!["f32"];
                if a.f16 {
                    precisions.push("f16");
                }
                if a.compiler != device::Compiler::Wgsl {
                    precisions.push("bf16 if the driver has it");
                }
                let cores = match (a.compiler, a.cooperative_matrix) {
                    (device::Compiler::SpirV, true) => "tensor-core matmuls",
                    (device::Compiler::Msl, _) => "simdgroup matmuls",
                    (_, true) => "tensor cores unused (build with --features vulkan)",
                    _ => "no tensor cores",
                };
                let kernels = if a.compiler == device::Compiler::Wgsl { "WGSL kernels" } else { "tensor-op objective" };
                println!(
                    "{:<8} {:<8} {}\n         compiler {}; {}; {cores}; {kernels}",
                    if a.hardware { "gpu" } else { "software" },
                    a.api,
                    a.name,
                    a.compiler.name(),
                    precisions.join(", "),
                );
            }
            let chosen = device::select(&device::DeviceConfig::default())?;
            println!("--device auto picks: {}", chosen.description);
            Ok(true)
        }
        Command::Check(args) => check(args),
        Command::Data(command) => crate::cli::data::run(command),
        Command::Perplexity(args) => crate::cli::model::perplexity(&args),
        Command::Merge(args) => crate::cli::model::merge(&args),
        Command::Generate(args) => crate::cli::generate::run(&args),
        Command::Train(args) => crate::cli::train::train(&args),
        Command::Report(args) => crate::cli::train::report(&args),
        Command::Ablate(args) => crate::cli::train::ablate(&args),
        Command::Eval(args) => crate::cli::eval::run(&args),
    }
}

fn check(args: CheckArgs) -> Result<bool> {
    let mut cfg = args.config.load()?;
    cfg.device.backend = args.device.unwrap_or(cfg.device.backend);
    cfg.algo.kernel = args.kernel.map_or(cfg.algo.kernel, KernelMode::from);
    let selected = device::select(&cfg.device)?;
    let wgsl = crate::algo::wgsl_available(&selected.device) && cfg.algo.kernel != KernelMode::Tensor;
    println!("device: {} ({})", selected.description, if wgsl { "WGSL kernels" } else { "burn tensor ops" });
    let (groups, group_size, tokens) = (args.groups.get(), args.group_size.get(), args.tokens.get());
    let inputs = Inputs::random(groups, group_size, tokens, cfg.seed);
    println!("P = {groups}, G = {group_size}, T = {tokens}, mode = {:?}", cfg.algo.mode);
    // The first run compiles the kernels; the second is timed.
    selfcheck::compare(&selected.device, &inputs, &cfg.algo)?;
    let c = selfcheck::compare(&selected.device, &inputs, &cfg.algo)?;
    let rows = [
        ("advantage", c.adv),
        ("group stats", c.group_stats),
        ("loss", c.loss),
        ("loss statistics", c.loss_stats),
        ("d loss/d logp", c.grad),
    ];
    for (name, err) in rows {
        println!("{name:<16} max scaled error {err:.2e}");
    }
    println!("tokens on a clip boundary (excluded from the gradient check): {}", c.boundary_tokens);
    println!("advantage {:.2?}, loss forward+backward {:.2?} (warm, incl. read-back)", c.advantage_time, c.loss_time);
    let ok = rows.iter().all(|(_, e)| *e <= CHECK_TOLERANCE);
    println!("{}", if ok { "check passed" } else { "check FAILED" });
    Ok(ok)
}
