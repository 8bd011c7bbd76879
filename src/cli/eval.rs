//! `awpo eval`: score a model (base or base + adapter, or the `oracle` self-check) on BFCL v4,
//! a JSONL task file or the built-in held-out split; `--compare A B` sets two results files
//! side by side.

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};

use crate::device::{self, Backend, DeviceConfig};
use crate::env::process::ProcessConfig;
use crate::error::{Error, Result};
use crate::eval::items::{self, DEFAULT_CATEGORIES, EvalItem, ItemKind};
use crate::eval::results::{self, Header, ResultsFile};
use crate::eval::{EvalError, EvalOptions, ItemResult, Oracle, Policy, Responder};
use crate::model::ModelError;
use crate::prompt::{PromptConfig, Prompter, ToolsIn};
use crate::rollout::{GenerateOptions, Sampling};

/// What to evaluate on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SuiteArg {
    /// BFCL v4 categories (`--categories`), from `--bfcl-dir`.
    BfclV4,
    /// A JSONL task file (`--tasks`; the format of `awpo data check`).
    Tasks,
    /// The built-in held-out split `awpo train` measures (`--seed` as its seed).
    Builtin,
}

/// `awpo eval` options.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// The model: a Hugging Face directory (a built-in run's `RUN_DIR/base` too), a `.gguf` file,
    /// or `oracle`, a pseudo-model answering every item with its first acceptable ground-truth
    /// answer (it must score 100% wherever answers exist: a self-check of the harness).
    #[arg(long, value_name = "PATH|oracle", required_unless_present = "compare")]
    pub model: Option<String>,
    /// A PEFT LoRA adapter directory (e.g. `RUN_DIR/checkpoints/step-40/adapter`).
    #[arg(long, value_name = "DIR")]
    pub adapter: Option<PathBuf>,
    /// What to evaluate on.
    #[arg(long, value_enum, default_value = "bfcl-v4")]
    pub suite: SuiteArg,
    /// BFCL v4 categories, comma-separated (single-turn: simple_python, simple_java,
    /// simple_javascript, multiple, parallel, parallel_multiple, irrelevance, live_*;
    /// multi-turn: multi_turn_base, multi_turn_miss_param, multi_turn_miss_func,
    /// multi_turn_long_context).
    #[arg(long, value_delimiter = ',', default_values_t = DEFAULT_CATEGORIES.map(String::from))]
    pub categories: Vec<String>,
    /// The task file of `--suite tasks`.
    #[arg(long, value_name = "PATH")]
    pub tasks: Option<PathBuf>,
    /// An unpacked BFCL folder: the `bfcl-eval` wheel or its `bfcl_eval/data` (default: the one
    /// `scripts/fetch-assets.sh bfcl` fetched). Multi-turn needs the wheel's Python package too.
    #[arg(long, value_name = "DIR")]
    pub bfcl_dir: Option<PathBuf>,
    /// Only the first N items of each category (quick runs).
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// Per-item results as JSON lines (id, prompt, output, parsed calls, verdict, reason). An
    /// existing file from the same model and settings is continued: a killed eval resumes.
    #[arg(long, value_name = "PATH")]
    pub out: Option<PathBuf>,
    /// Items generated together: single-turn items, and task-file conversations played side by
    /// side (one message of each per round).
    #[arg(long, default_value_t = 16)]
    pub batch: usize,
    /// CPU backend: threads that generate parts of each batch at once (0 = one per core). The
    /// replies do not depend on it, sampled ones included. GPU backends use one.
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Replies per item: 1 = greedy (with `--temperature 0`); k > 1 scores pass@k.
    #[arg(long, default_value_t = 1)]
    pub samples: usize,
    /// Sampling temperature (0 = greedy; pass@k needs > 0).
    #[arg(long, default_value_t = 0.0)]
    pub temperature: f64,
    /// Longest reply, in tokens.
    #[arg(long, default_value_t = 256)]
    pub max_new_tokens: usize,
    /// Assistant steps allowed per user turn in multi-turn categories (BFCL's limit: 20).
    #[arg(long, default_value_t = 20)]
    pub max_steps: usize,
    /// Seed of sampling and of the built-in split.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Size of the built-in held-out split.
    #[arg(long, default_value_t = 200)]
    pub builtin_size: usize,
    /// Tools listed in each built-in task's prompt: its own, then others at random, up to this
    /// many (0 = all nine; as `data.builtin_tools` of the run whose held-out split it re-scores).
    #[arg(long, default_value_t = 0)]
    pub builtin_tools: usize,
    /// Where tool schemas go in the prompt: the template's tools branch, or the system message.
    #[arg(long, value_enum, default_value = "auto")]
    pub tools_in: ToolsIn,
    /// Backend: auto (hardware GPU, else CPU), wgpu, cpu or cuda.
    #[arg(long, value_enum, default_value = "auto")]
    pub device: Backend,
    /// Precision of the base weights: auto (bf16/f16 where the device computes it, f32 on the
    /// CPU backend), f32, f16 or bf16.
    #[arg(long, value_enum, default_value = "auto")]
    pub dtype: crate::model::BaseDtype,
    /// Compare two results files (A = base, B = trained): accuracies per category, B - A and its
    /// 95% paired-bootstrap interval, on the items both scored.
    #[arg(long, num_args = 2, value_names = ["A", "B"], conflicts_with = "model")]
    pub compare: Option<Vec<PathBuf>>,
}

fn input(message: String) -> Error {
    Error::Model(ModelError::Input(message))
}

fn load_items(args: &EvalArgs, bfcl_dir: &Path) -> Result<(Vec<EvalItem>, String)> {
    let (mut items, suite) = match args.suite {
        SuiteArg::BfclV4 => (items::bfcl_items(bfcl_dir, &args.categories)?, format!("bfcl-v4 {}", bfcl_dir.display())),
        SuiteArg::Tasks => {
            let Some(path) = &args.tasks else { return Err(input("--suite tasks needs --tasks FILE".into())) };
            (items::task_items(path)?, format!("tasks {}", path.display()))
        }
        SuiteArg::Builtin => (
            items::builtin_items(args.seed, args.builtin_size, args.builtin_tools),
            match args.builtin_tools {
                0 => format!("builtin seed {} size {}", args.seed, args.builtin_size),
                n => format!("builtin seed {} size {} tools {n}", args.seed, args.builtin_size),
            },
        ),
    };
    if let Some(limit) = args.limit {
        let mut seen: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
        items.retain(|i| {
            let n = seen.entry(i.category().to_string()).or_default();
            *n += 1;
            *n <= limit
        });
    }
    Ok((items, suite))
}

/// `python3 bfcl_env.py --bfcl-dir ROOT`, the script written from the binary to a temp file.
fn simulator(data_dir: &Path) -> Result<ProcessConfig> {
    let root = data_dir.parent().and_then(Path::parent).map(Path::to_path_buf).unwrap_or_default();
    if !root.join("bfcl_eval").join("eval_checker").is_dir() {
        return Err(input(format!(
            "multi-turn categories run BFCL's own simulators: {} is not inside an unpacked bfcl-eval wheel",
            data_dir.display()
        )));
    }
    let script = std::env::temp_dir().join(format!("awpo-bfcl-env-{}.py", env!("CARGO_PKG_VERSION")));
    std::fs::write(&script, include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/bfcl_env.py")))
        .map_err(|source| Error::Write { path: script.clone(), source })?;
    Ok(ProcessConfig {
        program: PathBuf::from("python3"),
        args: vec![script.display().to_string(), "--bfcl-dir".into(), root.display().to_string()],
        timeout: std::time::Duration::from_secs(120),
    })
}

fn responder(args: &EvalArgs, model: &str) -> Result<Box<dyn Responder>> {
    if model == "oracle" {
        return Ok(Box::new(Oracle));
    }
    let sampling = Sampling { temperature: args.temperature, top_k: 0, top_p: 1.0 };
    if let Some((_, why)) = sampling.problems().into_iter().next() {
        return Err(input(format!("--temperature: {why}")));
    }
    if args.samples > 1 && args.temperature == 0.0 {
        return Err(input("--samples > 1 (pass@k) needs --temperature > 0".into()));
    }
    let path = Path::new(model);
    let selected = device::select(&DeviceConfig { backend: args.device, ..DeviceConfig::default() })?;
    eprintln!("device: {}", selected.description);
    let tokenizer = crate::tokenizer::TextTokenizer::for_model(path)?;
    let prompter = Prompter::new(&tokenizer, &PromptConfig { tools_in: args.tools_in, ..PromptConfig::default() })?;
    let lm = crate::cli::model::load(path, args.adapter.as_deref(), args.dtype, &selected.device)?;
    let options = GenerateOptions {
        sampling,
        max_new_tokens: args.max_new_tokens,
        seed: args.seed,
        adapter: args.adapter.is_some(),
        ..GenerateOptions::default()
    };
    let threads = crate::rollout::parallel::threads(&selected.device, args.threads);
    eprintln!("threads: {threads}");
    Ok(Box::new(Policy::new(lm, tokenizer, prompter, options).with_threads(threads)))
}

/// Runs `awpo eval`: the score table on stdout; `Ok(true)` unless nothing could be scored.
///
/// # Errors
/// Bad flags, unreadable model or data, a results file of another run, generation failures.
pub fn run(args: &EvalArgs) -> Result<bool> {
    if let Some(files) = &args.compare {
        let [a, b] = files.as_slice() else { return Err(input("--compare takes two results files".into())) };
        let ((ha, ra), (hb, rb)) = (results::read(a)?, results::read(b)?);
        let name = |h: &Header, p: &Path| {
            format!(
                "{} ({}{}, {})",
                p.display(),
                h.model,
                h.adapter.as_ref().map(|d| format!(" + {d}")).unwrap_or_default(),
                h.suite
            )
        };
        let rows = results::compare(&ra, &rb);
        print!("{}", results::format_compare(&rows, &name(&ha, a), &name(&hb, b)));
        return Ok(!rows.is_empty());
    }
    let model = args.model.clone().unwrap_or_default();
    if model != "oracle" && !Path::new(&model).exists() {
        return Err(input(format!("--model {model}: no such file or directory")));
    }
    let bfcl_dir = items::bfcl_data_dir(&args.bfcl_dir.clone().unwrap_or_else(crate::cli::data::default_bfcl_dir));
    let (items, suite) = load_items(args, &bfcl_dir)?;
    if items.is_empty() {
        return Err(input(format!("{suite}: no items to evaluate")));
    }
    let header = Header {
        awpo_eval: results::FORMAT,
        model: model.clone(),
        adapter: args.adapter.as_ref().map(|p| p.display().to_string()),
        suite: format!("{suite} limit {:?}", args.limit),
        samples: args.samples,
        temperature: args.temperature,
        max_new_tokens: args.max_new_tokens,
    };
    // A results file of another run is refused before the model loads; a new one is created only
    // once the model has loaded, so a model that fails to load leaves no file behind.
    let previous = match &args.out {
        Some(path) if results::exists(path) => {
            let (found, previous) = results::read(path)?;
            results::same_run(path, &found, &header)?;
            previous
        }
        _ => Vec::new(),
    };
    let finished: std::collections::HashSet<String> = previous.iter().map(|r| r.id.clone()).collect();
    let pending: Vec<EvalItem> = items.into_iter().filter(|i| !finished.contains(&i.task.id)).collect();
    if !previous.is_empty() {
        eprintln!("continuing {}: {} items already scored, {} to go", header.model, previous.len(), pending.len());
    }
    let env = if pending.iter().any(|i| matches!(i.kind, ItemKind::MultiTurn { .. })) {
        Some(simulator(&bfcl_dir)?)
    } else {
        None
    };
    let mut responder = responder(args, &model)?;
    let (mut file, mut done) = match &args.out {
        Some(path) => {
            let (f, done) = ResultsFile::open(path, &header)?;
            (Some(f), done)
        }
        None => (None, Vec::new()),
    };
    let opts = EvalOptions { batch: args.batch, samples: args.samples, max_steps: args.max_steps, env };
    let bar = ProgressBar::new(pending.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("eval {bar:30} {pos}/{len} {msg}  {per_sec}  eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let start = std::time::Instant::now();
    let (mut right, mut seen) = (0usize, 0usize);
    let mut sink = |r: ItemResult| -> std::result::Result<(), EvalError> {
        if let Some(f) = file.as_mut() {
            f.append(&r)?;
        }
        seen += 1;
        right += usize::from(r.correct);
        bar.set_message(format!("right {right}/{seen}"));
        bar.inc(1);
        done.push(r);
        Ok(())
    };
    let outcome = crate::eval::run(&pending, responder.as_mut(), &opts, &mut sink);
    bar.finish_and_clear();
    outcome?;
    let elapsed = start.elapsed().as_secs_f64();
    print!("{}", results::format_table(&results::table(&done)));
    if seen > 0 {
        println!("{seen} items in {elapsed:.1} s ({:.2} items/s)", seen as f64 / elapsed.max(1e-9));
    }
    if let Some(path) = &args.out {
        println!("per-item results: {}", path.display());
    }
    Ok(true)
}
