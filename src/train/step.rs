//! One AWPO step, top to bottom: sample P tasks → G episodes each (`rollout`: multi-turn
//! through the environment) → outcome and reasoning rewards → advantages (`algo::advantage`,
//! the WGSL kernel on wgpu) → per-token loss (`algo::loss`, one row per episode scoring all its
//! assistant messages) over micro-batches with gradient accumulation → global-norm clipping → AdamW on the LoRA factors →
//! next learning rate. `num_iterations` > 1 reuses the rollouts.

use std::time::Instant;

use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};
use serde::Serialize;

use super::batch::{Row, Segment, build, pack};
use super::optim::{AdamW, host};
use super::parallel::summed_grads;
use super::rollout::{Context, Episode, collect};
use crate::algo::{AlgoConfig, LossBatch, advantage, loss};
use crate::data::task::Task;
use crate::model::logprob::token_stats;
use crate::model::{CausalLm, ModelError};
use crate::rollout::GenerateOptions;

/// Everything a step records (one line of `metrics.jsonl`).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct StepMetrics {
    /// 1-based step.
    pub step: usize,
    /// Learning rate used.
    pub lr: f64,
    /// Outcome reward mean / std over the rollouts.
    pub outcome_mean: f64,
    /// Outcome reward std.
    pub outcome_std: f64,
    /// Reasoning reward mean.
    pub reasoning_mean: f64,
    /// Reasoning reward std.
    pub reasoning_std: f64,
    /// Share of rollouts whose calls are right (BFCL checker).
    pub accuracy: f64,
    /// Mean AWPO gate over groups.
    pub gate: f64,
    /// Mean difficulty weight.
    pub weight: f64,
    /// Share of reasoning terms clipped.
    pub adv_clip_frac: f64,
    /// Share of groups with no outcome variance.
    pub flat_groups: f64,
    /// Loss (last iteration, batch-weighted).
    pub loss: f64,
    /// Share of tokens at the lower / upper ratio clip.
    pub ratio_clip_low: f64,
    /// Upper ratio clip share.
    pub ratio_clip_high: f64,
    /// KL to the base model (`kl_beta > 0`), per token.
    pub kl_ref: f64,
    /// Approximate KL between the rollout and the updated policy.
    pub approx_kl: f64,
    /// Mean entropy of the next-token distribution on reply tokens.
    pub entropy: f64,
    /// Mean reply tokens per episode (all its assistant messages).
    pub response_len: f64,
    /// Mean assistant messages per episode.
    pub turns: f64,
    /// Global gradient norm before clipping.
    pub grad_norm: f64,
    /// Seconds sampling.
    pub time_rollout: f64,
    /// Seconds scoring (rewards, judge, advantages).
    pub time_reward: f64,
    /// Seconds in forward/backward and the optimizer.
    pub time_train: f64,
    /// Generated tokens per second of rollout time.
    pub tokens_per_s: f64,
    /// Device memory reserved by the allocator, MiB (when the backend reports it).
    pub memory_mib: Option<f64>,
}

fn mean_std(xs: impl Iterator<Item = f64> + Clone) -> (f64, f64) {
    let n = xs.clone().count().max(1) as f64;
    let mean = xs.clone().sum::<f64>() / n;
    let var = xs.map(|x| (x - mean).powi(2)).sum::<f64>() / n;
    (mean, var.sqrt())
}

/// Inputs of a step that do not change between steps.
pub struct StepInputs<'a> {
    /// Rollouts: tokenizer, prompter, rewards, judge.
    pub ctx: &'a Context<'a>,
    /// The algorithm.
    pub algo: &'a AlgoConfig,
    /// Sampling options (the seed is set per step).
    pub generate: &'a GenerateOptions,
    /// G.
    pub group: usize,
    /// Rows per forward/backward.
    pub micro_batch: usize,
    /// Updates per batch of rollouts.
    pub num_iterations: usize,
    /// Threads running micro-batches at once (as resolved by `parallel::threads`).
    pub threads: usize,
}

/// Runs one step on `tasks` (P of them) with rollout seed `seed`; returns the updated model,
/// the metrics and the episodes.
///
/// # Errors
/// Generation, scoring, a loss with bad input, or a non-finite gradient.
pub fn step(
    model: CausalLm,
    optim: &mut AdamW,
    inputs: &StepInputs<'_>,
    tasks: &[&Task],
    seed: u64,
    lr: f64,
) -> Result<(CausalLm, StepMetrics, Vec<Episode>), ModelError> {
    let train_device = model.device();
    let start = Instant::now();
    let opts = GenerateOptions { seed, ..inputs.generate.clone() };
    // One inference snapshot per step: it samples, hosts the advantage computation, and (adapter
    // off) scores the base model for the KL term, whose weights the step never changes.
    let snapshot = model.valid();
    let episodes = collect(&snapshot, inputs.ctx, tasks, inputs.group, &opts, true)?;
    let time_rollout = start.elapsed().as_secs_f64();
    let start = Instant::now();
    let (p, g) = (tasks.len(), inputs.group);
    let rewards: Vec<f32> = episodes.iter().flat_map(|e| [e.outcome as f32, e.reasoning as f32]).collect();
    let plain: Device = snapshot.device();
    let rewards = Tensor::<3>::from_data(TensorData::new(rewards, [p, g, 2]), &plain);
    let (adv, adv_stats) = advantage(rewards, inputs.algo).map_err(|e| ModelError::Compute(e.to_string()))?;
    let adv = host(adv)?;
    let time_reward = start.elapsed().as_secs_f64();
    let start = Instant::now();
    let mut model = model;
    let mut last = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    let mut grad_norm = 0.0;
    let total_tokens: usize = episodes.iter().map(Episode::response_tokens).sum();
    // One row per episode (its assistant messages scored in one pass when each turn's prompt
    // extends the one before), with its episode's advantage.
    let mut rows: Vec<Row> = Vec::new();
    let mut row_adv: Vec<f32> = Vec::new();
    for (e, &a) in episodes.iter().zip(&adv) {
        let packed =
            pack(e.turns.iter().map(|t| Segment { context: &t.prompt, response: &t.response, values: &t.old_logps }));
        row_adv.extend(std::iter::repeat_n(a, packed.len()));
        rows.extend(packed);
    }
    for _ in 0..inputs.num_iterations {
        let parts: Vec<(&[Row], &[f32])> =
            rows.chunks(inputs.micro_batch).zip(row_adv.chunks(inputs.micro_batch)).collect();
        let (grads, stats) = summed_grads(&model, parts, inputs.threads, |m, (chunk, advs)| {
            let b = build(chunk, &train_device);
            let stats = token_stats(m, b.tokens.clone(), b.attention.clone(), true, 128)?;
            let ref_logp = if inputs.algo.kl_beta > 0.0 {
                let base = token_stats(&snapshot, b.tokens.clone(), b.attention.clone(), false, 128)?;
                let dims = base.logprobs.dims();
                Some(Tensor::<2>::from_data(TensorData::new(host(base.logprobs)?, dims), &train_device))
            } else {
                None
            };
            let entropy = host(stats.entropy.clone().detach().mul(b.mask.clone()).sum().reshape([1, 1]))?;
            let batch = LossBatch {
                logp: stats.logprobs,
                old_logp: b.values,
                ref_logp,
                adv: Tensor::from_data(TensorData::new(advs.to_vec(), [advs.len()]), &train_device),
                mask: b.mask,
            };
            let (l, s) = loss(batch, inputs.algo).map_err(|e| ModelError::Compute(e.to_string()))?;
            // Token-mean over the whole batch: weight each micro-batch by its share of tokens.
            let share = b.response_tokens as f64 / total_tokens.max(1) as f64;
            Ok((l.mul_scalar(share), (s, f64::from(entropy[0]), b.response_tokens as f64, share)))
        })?;
        let mut sums = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
        for (s, entropy, w, share) in stats {
            sums.0 += s.loss * share;
            sums.1 += s.clip_low_frac * w;
            sums.2 += s.clip_high_frac * w;
            sums.3 += s.kl_ref * w;
            sums.4 += s.approx_kl * w;
            sums.5 += entropy;
            sums.6 += w;
        }
        let (next, st) = optim.step(model, &grads, lr)?;
        model = next;
        grad_norm = st.grad_norm;
        last = sums;
    }
    let time_train = start.elapsed().as_secs_f64();
    let w = last.6.max(1.0);
    let (outcome_mean, outcome_std) = mean_std(episodes.iter().map(|e| e.outcome));
    let (reasoning_mean, reasoning_std) = mean_std(episodes.iter().map(|e| e.reasoning));
    let metrics = StepMetrics {
        step: 0,
        lr,
        outcome_mean,
        outcome_std,
        reasoning_mean,
        reasoning_std,
        accuracy: episodes.iter().filter(|e| e.correct).count() as f64 / episodes.len().max(1) as f64,
        gate: adv_stats.gate(),
        weight: adv_stats.weight(),
        adv_clip_frac: adv_stats.clip_frac(),
        flat_groups: adv_stats.flat_outcome_share(),
        loss: last.0,
        ratio_clip_low: last.1 / w,
        ratio_clip_high: last.2 / w,
        kl_ref: last.3 / w,
        approx_kl: last.4 / w,
        entropy: last.5 / w,
        response_len: total_tokens as f64 / episodes.len().max(1) as f64,
        turns: episodes.iter().map(|e| e.turns.len()).sum::<usize>() as f64 / episodes.len().max(1) as f64,
        grad_norm,
        time_rollout,
        time_reward,
        time_train,
        tokens_per_s: total_tokens as f64 / time_rollout.max(1e-9),
        memory_mib: train_device.memory_pool_usage().map(|u| u.bytes_reserved as f64 / 1_048_576.0),
    };
    Ok((model, metrics, episodes))
}
