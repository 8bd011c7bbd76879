//! One AWPO step, top to bottom: sample P tasks → G episodes each (`rollout`: multi-turn
//! through the environment) → outcome and reasoning rewards → advantages (`algo::advantage`,
//! the WGSL kernel on wgpu) → per-token loss (`algo::loss`, one row per episode scoring all its
//! assistant messages) over micro-batches with gradient accumulation → global-norm clipping → AdamW on the LoRA factors →
//! next learning rate. `num_iterations` > 1 reuses the rollouts.

use std::time::Instant;

use burn::module::Module;
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor, TensorData};
use serde::Serialize;

use super::TrainError;
use super::batch::{Row, Segment, build, pack};
use super::episode::{Context, Episode, collect, tally};
use super::optim::{AdamW, host};
use super::parallel::summed_grads;
use crate::algo::reference::Normaliser;
use crate::algo::{AlgoConfig, LossBatch, advantage, loss};
use crate::data::task::Task;
use crate::model::dropout::seed_of;
use crate::model::logprob::{plain_stats_of_hidden, stats_of_hidden, token_stats};
use crate::model::recompute::{Backprop, gradients};
use crate::model::{Adapter, CausalLm};
use crate::reduce::sum_all;
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
    /// The same share within each task category of the step (`Task::category`, "none" when
    /// unset).
    pub accuracy_by_category: std::collections::BTreeMap<String, f64>,
    /// Mean well-formed calls per episode.
    pub calls: f64,
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
    /// KL to the reference policy (`kl_beta > 0`, `algo.kl_reference`), per token.
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
    /// Per-layer recomputation in backward.
    pub recompute: Backprop,
    /// The KL term's reference with its adapter on (`start::kl_reference`); `None`: the base
    /// model (the step's snapshot with the adapter off).
    pub reference: Option<&'a CausalLm>,
}

/// A step's episodes as loss rows: each episode packed into as few rows as its turns allow
/// ([`pack`]), each row with its episode's advantage and the episode's whole token count, so a
/// packed episode counts once in the sequence-mean aggregations.
pub struct LossRows<'a> {
    /// The rows, episode by episode.
    pub rows: Vec<Row<'a>>,
    /// Each row's advantage `[B]`.
    pub adv: Vec<f32>,
    /// Generated tokens of each row's episode `[B]`.
    pub seq_tokens: Vec<f64>,
    /// Episodes.
    pub sequences: usize,
}

impl<'a> LossRows<'a> {
    /// The rows of `episodes`, whose advantages are `adv` (one per episode).
    pub fn of(episodes: &'a [Episode], adv: &[f32]) -> Self {
        let mut out = LossRows { rows: Vec::new(), adv: Vec::new(), seq_tokens: Vec::new(), sequences: episodes.len() };
        for (e, &a) in episodes.iter().zip(adv) {
            let turns =
                e.turns.iter().map(|t| Segment { context: &t.prompt, response: &t.response, values: &t.old_logps });
            let packed = pack(turns);
            out.adv.extend(std::iter::repeat_n(a, packed.len()));
            out.seq_tokens.extend(std::iter::repeat_n(e.response_tokens() as f64, packed.len()));
            out.rows.extend(packed);
        }
        out
    }

    /// The whole batch's normaliser for rows `range` (`norm_len`: the configured one, else the
    /// whole batch's padded length).
    fn normaliser(&self, range: std::ops::Range<usize>, algo: &AlgoConfig) -> Normaliser {
        let padded = self.rows.iter().map(Row::len).max().unwrap_or(2).max(2) - 1;
        Normaliser {
            sequences: self.sequences as f64,
            tokens: self.tokens(),
            norm_len: f64::from(algo.loss_spec().norm_len.unwrap_or(padded as u32)),
            seq_tokens: self.seq_tokens[range].to_vec(),
        }
    }

    /// Generated tokens of the whole batch.
    pub fn tokens(&self) -> f64 {
        self.rows.iter().map(Row::response_tokens).sum::<usize>() as f64
    }
}

/// The loss statistics of a whole batch: its loss, and token means over all its generated tokens.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LossSummary {
    /// The whole batch's loss (the micro-batches' shares summed).
    pub loss: f64,
    /// Generated tokens.
    pub tokens: f64,
    /// Share of tokens at the lower ratio clip.
    pub clip_low: f64,
    /// Share of tokens at the upper ratio clip.
    pub clip_high: f64,
    /// Mean k3 KL to the reference policy.
    pub kl_ref: f64,
    /// Mean `ratio - 1 - log ratio`.
    pub approx_kl: f64,
    /// Mean ratio.
    pub ratio_mean: f64,
    /// Mean entropy of the next-token distribution.
    pub entropy: f64,
}

/// How the gradients of a batch are computed.
#[derive(Clone, Copy, Debug)]
pub struct Plan<'a> {
    /// The objective.
    pub algo: &'a AlgoConfig,
    /// Rows per forward/backward.
    pub micro_batch: usize,
    /// Threads running micro-batches at once.
    pub threads: usize,
    /// Seed of the LoRA dropout masks (each micro-batch mixes in its index).
    pub seed: u64,
    /// Per-layer recomputation in backward (`train.recompute_layers`).
    pub recompute: Backprop,
    /// The fused log-prob path (always, in the trainer); `false` keeps every chunk's logits on
    /// the graph, as before it existed (for before/after benchmarks).
    pub fused: bool,
}

/// The gradients of the AWPO loss of `batch` with respect to `model`'s trainable weights, and
/// the batch's loss statistics. Each micro-batch is normalised by the whole batch, so neither
/// the gradients nor the statistics depend on `plan.micro_batch`, `plan.threads` or padding.
/// `reference` scores the KL term's reference policy, in its adapter mode, when `kl_beta > 0`.
///
/// # Errors
/// A loss with bad input, or a failed forward pass.
pub fn policy_gradients(
    model: &CausalLm,
    reference: (&CausalLm, Adapter),
    batch: &LossRows<'_>,
    plan: Plan<'_>,
) -> Result<(GradientsParams, LossSummary), TrainError> {
    let device = model.device();
    let size = plan.micro_batch.max(1);
    let parts: Vec<(usize, std::ops::Range<usize>)> =
        (0..batch.rows.len()).step_by(size).map(|s| s..(s + size).min(batch.rows.len())).enumerate().collect();
    let (grads, stats) = summed_grads(model, parts, plan.threads, |m, (index, range)| {
        let b = build(&batch.rows[range.clone()], m)?;
        let adapter = Adapter::Train { seed: seed_of(plan.seed, index) };
        let ref_logp = if plan.algo.kl_beta > 0.0 {
            let base =
                token_stats(reference.0, b.tokens.clone().inner(), b.attention.clone().inner(), reference.1, 128)?;
            let dims = base.logprobs.dims();
            Some(Tensor::<2>::from_data(TensorData::new(host(base.logprobs)?, dims), &device))
        } else {
            None
        };
        let (tokens, attention) = (b.tokens.clone(), b.attention.clone());
        gradients(m, tokens.clone(), attention.clone(), adapter, plan.recompute, |hidden| {
            let stats = if plan.fused {
                stats_of_hidden(m.head(), hidden, tokens, attention, 128)?
            } else {
                plain_stats_of_hidden(m.head(), hidden, tokens, attention, 128)?
            };
            let [rows, cols] = b.mask.dims();
            let entropy =
                host(sum_all(stats.entropy.clone().mul(b.mask.clone()).reshape([rows * cols])).reshape([1, 1]))?;
            let adv = batch.adv[range.clone()].to_vec();
            let rows = adv.len();
            let loss_batch = LossBatch {
                logp: stats.logprobs,
                old_logp: b.values,
                ref_logp,
                adv: Tensor::from_data(TensorData::new(adv, [rows]), &device),
                mask: b.mask,
                norm: Some(batch.normaliser(range, plan.algo)),
            };
            let (l, s) = loss(loss_batch, plan.algo)?;
            Ok::<_, TrainError>((l, (s, f64::from(entropy[0]))))
        })
    })?;
    let mut sum = LossSummary::default();
    for (s, entropy) in stats {
        let w = s.tokens;
        sum.loss += s.loss;
        sum.tokens += w;
        sum.clip_low += s.clip_low_frac * w;
        sum.clip_high += s.clip_high_frac * w;
        sum.kl_ref += s.kl_ref * w;
        sum.approx_kl += s.approx_kl * w;
        sum.ratio_mean += s.ratio_mean * w;
        sum.entropy += entropy;
    }
    let n = sum.tokens.max(1.0);
    for v in [&mut sum.clip_low, &mut sum.clip_high, &mut sum.kl_ref, &mut sum.approx_kl, &mut sum.ratio_mean] {
        *v /= n;
    }
    sum.entropy /= n;
    Ok((grads, sum))
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
) -> Result<(CausalLm, StepMetrics, Vec<Episode>), TrainError> {
    let train_device = model.device();
    let start = Instant::now();
    let opts = GenerateOptions { seed, ..inputs.generate.clone() };
    // One inference snapshot per step: it samples, hosts the advantage computation, and (adapter
    // off) scores the base model for the KL term, whose weights the step never changes, unless
    // the reference is the policy RL started from.
    let snapshot = model.valid();
    let reference = match inputs.reference {
        Some(start) => (start, Adapter::On),
        None => (&snapshot, Adapter::Off),
    };
    let episodes = collect(&snapshot, inputs.ctx, tasks, inputs.group, &opts, true)?;
    let time_rollout = start.elapsed().as_secs_f64();
    let start = Instant::now();
    let (p, g) = (tasks.len(), inputs.group);
    let rewards: Vec<f32> = episodes.iter().flat_map(|e| [e.outcome as f32, e.reasoning as f32]).collect();
    let plain: Device = snapshot.device();
    let rewards = Tensor::<3>::from_data(TensorData::new(rewards, [p, g, 2]), &plain);
    let (adv, adv_stats) = advantage(rewards, inputs.algo)?;
    let adv = host(adv)?;
    let time_reward = start.elapsed().as_secs_f64();
    let start = Instant::now();
    let mut model = model;
    let mut last = LossSummary::default();
    let mut grad_norm = 0.0;
    let batch = LossRows::of(&episodes, &adv);
    for iteration in 0..inputs.num_iterations {
        let plan = Plan {
            algo: inputs.algo,
            micro_batch: inputs.micro_batch,
            threads: inputs.threads,
            seed: seed_of(seed, iteration),
            recompute: inputs.recompute,
            fused: true,
        };
        let (grads, summary) = policy_gradients(&model, reference, &batch, plan)?;
        let (next, st) = optim.step(model, &grads, lr)?;
        model = next;
        grad_norm = st.grad_norm;
        last = summary;
    }
    let time_train = start.elapsed().as_secs_f64();
    let total_tokens: usize = episodes.iter().map(Episode::response_tokens).sum();
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
        accuracy_by_category: tally(
            episodes.iter().map(|e| (tasks.get(e.task).and_then(|t| t.category.as_deref()), e.correct)),
        )
        .by_category,
        calls: episodes.iter().map(|e| e.calls).sum::<usize>() as f64 / episodes.len().max(1) as f64,
        gate: adv_stats.gate(),
        weight: adv_stats.weight(),
        adv_clip_frac: adv_stats.clip_frac(),
        flat_groups: adv_stats.flat_outcome_share(),
        loss: last.loss,
        ratio_clip_low: last.clip_low,
        ratio_clip_high: last.clip_high,
        kl_ref: last.kl_ref,
        approx_kl: last.approx_kl,
        entropy: last.entropy,
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
