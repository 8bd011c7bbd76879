//! How RL starts: the adapter's supervised warm-up (`train.adapter_sft_steps`) and the policy
//! the KL term measures against (`algo.kl_reference`).

use std::path::{Path, PathBuf};

use burn::module::Module;

use super::{Result, episode, progress, record, sft};
use crate::algo::KlReference;
use crate::config::RunConfig;
use crate::data::task::Task;
use crate::model::{AdapterConfig, CausalLm, peft};

/// The settings of a supervised warm-up (`full`: every weight, else the adapter) from `[train]`.
pub(super) fn warm_up_settings(
    cfg: &RunConfig,
    (threads, recompute): (usize, bool),
    device: &burn::tensor::Device,
    steps: usize,
    lr: f64,
    full: bool,
) -> sft::WarmUp {
    let t = &cfg.train;
    sft::WarmUp {
        steps,
        batch: t.sft_batch,
        micro_batch: match t.sft_micro_batch {
            0 if crate::device::is_cpu(device) => 1,
            0 => t.sft_batch,
            n => n,
        },
        threads,
        lr,
        mistake_rate: t.sft_mistake_rate,
        seed: cfg.seed,
        full,
        recompute: crate::model::recompute::Backprop::recompute(recompute),
    }
}

/// The adapter's supervised warm-up (`train.adapter_sft_steps`) of a fresh run: records the
/// held-out accuracy before it as `base`, trains `model`'s LoRA weights on the training tasks'
/// demonstrations and saves them as `RUN_DIR/sft-adapter` (atomically), or reloads them from
/// there when a killed run starts again.
pub(super) fn adapter_warm_up(
    cfg: &RunConfig,
    run_dir: &Path,
    (mut model, adapter): (CausalLm, &AdapterConfig),
    data: (&[Task], &[Task]),
    (ctx, recompute): (&episode::Context, bool),
) -> Result<CausalLm> {
    let (train, held_out) = data;
    let saved = run_dir.join("sft-adapter");
    if saved.join("adapter_config.json").exists() {
        peft::load(&mut model, &saved)?;
        eprintln!("adapter warm-up: reloaded {}", saved.display());
        return Ok(model);
    }
    if !held_out.is_empty() && record::read_eval(run_dir, "base").is_none() {
        let acc = episode::accuracy(&model.valid(), ctx, held_out, cfg.rollout.max_new_tokens)?;
        record::write_eval(run_dir, "base", &acc)?;
        eprintln!("held-out accuracy before the adapter warm-up: {} ({} tasks)", render_accuracy(&acc), held_out.len());
    }
    let steps = cfg.train.adapter_sft_steps;
    let demos = sft::demonstrations(train, ctx.tokenizer, ctx.prompter)?;
    let bar = progress(steps as u64, "adapter warm-up");
    let device = model.device();
    let warm = warm_up_settings(cfg, (ctx.threads, recompute), &device, steps, cfg.train.adapter_sft_lr, false);
    let (model, loss) = sft::warm_up(model, &demos, warm, &bar)?;
    bar.finish_and_clear();
    eprintln!("adapter warm-up: {steps} steps, final loss {loss:.3}");
    peft::save_adapter(&model, adapter, &cfg.model.path, &saved)?;
    Ok(model)
}

/// "61.0% (simple 80.0%, irrelevance 40.0%)".
pub(super) fn render_accuracy(acc: &episode::HeldOutAccuracy) -> String {
    let parts: Vec<String> = acc.by_category.iter().map(|(k, v)| format!("{k} {:.1}%", 100.0 * v)).collect();
    format!("{:.1}% ({})", 100.0 * acc.overall, parts.join(", "))
}

/// The model the KL term scores, when it is not the base model. `None` without a KL term, with
/// `algo.kl_reference = "base"`, or when RL starts from a fresh adapter (zero `B`: the base
/// model); the step then scores its own snapshot with the adapter off. Otherwise the base model
/// with the adapter RL started from, read from where that adapter is kept, so that `--resume`
/// rebuilds the same reference: `RUN_DIR/sft-adapter` after an adapter warm-up, else
/// `model.adapter`.
///
/// # Errors
/// The adapter cannot be read (its error names the file).
pub fn kl_reference(cfg: &RunConfig, run_dir: &Path, model: &CausalLm) -> Result<Option<CausalLm>> {
    if cfg.algo.kl_beta <= 0.0 || cfg.algo.kl_reference == KlReference::Base {
        return Ok(None);
    }
    let dir = if cfg.train.adapter_sft_steps > 0 {
        run_dir.join("sft-adapter")
    } else if !cfg.model.adapter.is_empty() {
        PathBuf::from(&cfg.model.adapter)
    } else {
        return Ok(None);
    };
    let mut reference = model.clone();
    peft::load(&mut reference, &dir)?;
    Ok(Some(reference.valid()))
}
