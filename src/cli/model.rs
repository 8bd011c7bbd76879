//! `awpo perplexity` and `awpo merge`: the checks and conversions people run on every checkpoint.

use std::path::{Path, PathBuf};

use burn::tensor::{Device, Int, Tensor, TensorData};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use crate::device::{self, Backend, DeviceConfig};
use crate::error::{Error, Result};
use crate::model::logprob::token_stats;
use crate::model::{Adapter, CausalLm, ModelError, peft};
use crate::tokenizer::TextTokenizer;

/// `awpo perplexity` options.
#[derive(Debug, Args)]
pub struct PerplexityArgs {
    /// A Hugging Face model directory (config.json, model.safetensors or shards, tokenizer.json)
    /// or a llama.cpp `.gguf` file.
    #[arg(long, value_name = "DIR")]
    pub model: PathBuf,
    /// A PEFT LoRA adapter directory to apply.
    #[arg(long, value_name = "DIR")]
    pub adapter: Option<PathBuf>,
    /// The UTF-8 text file to score.
    #[arg(long, value_name = "PATH")]
    pub file: PathBuf,
    /// Window length in tokens (default: the model's max_position_embeddings, at most 2048).
    #[arg(long)]
    pub context: Option<usize>,
    /// Backend: auto (hardware GPU, else CPU), wgpu, cpu or cuda.
    #[arg(long, value_enum, default_value = "auto")]
    pub device: Backend,
    /// Precision of the base weights: auto (bf16/f16 where the device computes it, f32 on the
    /// CPU backend), f32, f16 or bf16.
    #[arg(long, value_enum, default_value = "auto")]
    pub dtype: crate::model::BaseDtype,
}

/// `awpo merge` options.
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The base model directory.
    #[arg(long, value_name = "DIR")]
    pub model: PathBuf,
    /// The PEFT LoRA adapter directory.
    #[arg(long, value_name = "DIR")]
    pub adapter: PathBuf,
    /// Where to write the merged checkpoint (config.json, model.safetensors in f32, tokenizer files).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

/// A model directory or GGUF file, its base weights in `dtype` (the choice printed), with a PEFT
/// adapter attached when one is given.
///
/// # Errors
/// Unreadable or malformed model or adapter.
pub fn load(
    model: &Path,
    adapter: Option<&Path>,
    dtype: crate::model::BaseDtype,
    device: &Device,
) -> std::result::Result<CausalLm, ModelError> {
    let precision = dtype.resolve(device);
    let mut lm = CausalLm::load_as(model, precision, device)?;
    eprintln!("base weights: {}", precision.name());
    if let Some(dir) = adapter {
        peft::load(&mut lm, dir)?;
    }
    Ok(lm)
}

/// Mean negative log-likelihood per token of `ids`, in windows of `context` tokens overlapping
/// by one, so every token after the first is predicted exactly once.
fn nll(
    model: &CausalLm,
    ids: &[u32],
    context: usize,
    progress: &ProgressBar,
) -> std::result::Result<(f64, usize), ModelError> {
    let device = model.device();
    let (mut total, mut count, mut start) = (0.0f64, 0usize, 0usize);
    while start + 1 < ids.len() {
        let end = (start + context).min(ids.len());
        model.check_ids(&ids[start..end], end - start)?;
        let window: Vec<i64> = ids[start..end].iter().map(|&i| i64::from(i)).collect();
        let t = window.len();
        let tokens = Tensor::<2, Int>::from_data(TensorData::new(window, [1, t]), &device);
        let mask = Tensor::<2, Int>::ones([1, t], &device);
        let stats = token_stats(model, tokens, mask, Adapter::On, 256)?;
        let sum = crate::device::to_host(crate::reduce::sum_all(stats.logprobs.reshape([t - 1])), "log-probs")?[0];
        total -= f64::from(sum);
        count += t - 1;
        progress.inc((t - 1) as u64);
        start = end - 1;
    }
    Ok((total / count.max(1) as f64, count))
}

/// Runs `awpo perplexity`; prints `perplexity: P (nll N per token over K tokens)` last.
///
/// # Errors
/// Unreadable model, adapter or text; a text of fewer than two tokens.
pub fn perplexity(args: &PerplexityArgs) -> Result<bool> {
    let selected = device::select(&DeviceConfig { backend: args.device, ..DeviceConfig::default() })?;
    eprintln!("device: {}", selected.description);
    let text =
        std::fs::read_to_string(&args.file).map_err(|source| ModelError::Read { path: args.file.clone(), source })?;
    let ids = TextTokenizer::for_model(&args.model)?.encode(&text)?;
    if ids.len() < 2 {
        return Err(Error::Model(ModelError::Input(format!("{}: fewer than 2 tokens", args.file.display()))));
    }
    let model = load(&args.model, args.adapter.as_deref(), args.dtype, &selected.device)?;
    let context = args.context.unwrap_or(model.config().max_position_embeddings.min(2048)).max(2);
    let progress = ProgressBar::new((ids.len() - 1) as u64);
    progress.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} tokens scored  {per_sec}  eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let (nll, count) = nll(&model, &ids, context, &progress)?;
    progress.finish_and_clear();
    println!("perplexity: {:.4} (nll {nll:.4} per token over {count} tokens)", nll.exp());
    Ok(true)
}

/// Runs `awpo merge`.
///
/// # Errors
/// Unreadable model or adapter, unwritable output.
pub fn merge(args: &MergeArgs) -> Result<bool> {
    let device = device::select(&DeviceConfig { backend: Backend::Cpu, ..DeviceConfig::default() })?.device;
    let model = load(&args.model, Some(&args.adapter), crate::model::BaseDtype::F32, &device)?;
    peft::merge(&model, &args.model, &args.out)?;
    println!("merged {} + {} into {}", args.model.display(), args.adapter.display(), args.out.display());
    Ok(true)
}
