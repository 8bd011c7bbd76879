//! THE SPEC: the AWPO objective in std-only f64 over slices. The WGSL kernels and the burn-op
//! twin are tested against this file; when they disagree, this file is right.
//!
//! Layouts (row-major, batch first): rewards `[P, G, 2]` (outcome, reasoning); advantages `[P·G]`
//! = `[B]`; log-probs, mask and gradient `[B, T]`. Equations in `docs` of `crate::algo`.

use super::config::{AdvantageSpec, Aggregation, Clip, Gate, LossSpec, Mix, Scale, Weighting};
use super::error::{LossTensor, ObjectiveError, RewardStream};

/// Reward components per rollout: outcome, reasoning.
pub const REWARD_COMPONENTS: usize = 2;

/// Statistics of one prompt group.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct GroupStats {
    /// Mean of the outcome stream (the summed reward in naive-sum).
    pub mu_o: f64,
    /// Population std of the outcome stream.
    pub sd_o: f64,
    /// Mean of the reasoning reward.
    pub mu_r: f64,
    /// Population std of the reasoning reward.
    pub sd_r: f64,
    /// Variance-aware gate `g = g_o · g_r`.
    pub gate: f64,
    /// Difficulty weight `w(mu_o)`.
    pub weight: f64,
    /// Share of the group's reasoning terms that hit the tailored clip.
    pub clip_frac: f64,
}

/// Output of [`group_advantage`].
#[derive(Clone, Debug, PartialEq)]
pub struct AdvantageOutput {
    /// Mixed advantage `A_i = Ao_i + c_i`, `[P·G]`.
    pub adv: Vec<f64>,
    /// Outcome advantage `Ao_i`, `[P·G]`.
    pub outcome_adv: Vec<f64>,
    /// Reasoning term before the clip, `lambda·g·w·Ar_i`, `[P·G]`.
    pub reasoning_raw: Vec<f64>,
    /// The clip bound applied to it, `[P·G]`.
    pub clip_bound: Vec<f64>,
    /// One entry per group, `[P]`.
    pub stats: Vec<GroupStats>,
}

/// Checks the shape and finiteness of `[P, G, 2]` rewards; the first bad value is named.
pub fn check_rewards(rewards: &[f32], groups: usize, group_size: usize) -> Result<(), ObjectiveError> {
    let shape = vec![groups, group_size, REWARD_COMPONENTS];
    if groups == 0 || group_size == 0 {
        return Err(ObjectiveError::Empty { tensor: LossTensor::Rewards, shape });
    }
    if rewards.len() != groups * group_size * REWARD_COMPONENTS {
        let found = vec![rewards.len()];
        return Err(ObjectiveError::Shape { tensor: LossTensor::Rewards, expected: shape, found });
    }
    for (i, &value) in rewards.iter().enumerate() {
        if !value.is_finite() {
            let stream = if i % 2 == 0 { RewardStream::Outcome } else { RewardStream::Reasoning };
            let (group, sample) = (i / 2 / group_size, i / 2 % group_size);
            return Err(ObjectiveError::NonFiniteReward { group, sample, stream, value });
        }
    }
    Ok(())
}

/// Mean and snapped deviations of one stream: `|x - mean| <= zero_tol` becomes exactly 0.
fn centre(xs: &[f64], zero_tol: f64) -> (f64, Vec<f64>, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let dev: Vec<f64> = xs.iter().map(|x| x - mean).map(|d| if d.abs() <= zero_tol { 0.0 } else { d }).collect();
    let sd = (dev.iter().map(|d| d * d).sum::<f64>() / n).sqrt();
    (mean, dev, sd)
}

/// Population std over the whole batch (no snapping).
fn batch_sd(xs: &[f64]) -> f64 {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    (xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n).sqrt()
}

/// Outcome factor times reasoning factor of the variance-aware gate.
pub fn gate(spec: &AdvantageSpec, sd_o: f64, sd_r: f64) -> f64 {
    let g_o = match spec.gate {
        Gate::Soft => (1.0 - sd_o / spec.sd_max).clamp(0.0, 1.0),
        Gate::Hard => f64::from(u8::from(sd_o <= spec.tau)),
        Gate::Off => 1.0,
    };
    let g_r = if spec.tau_r > 0.0 { (sd_r / spec.tau_r).min(1.0) } else { 1.0 };
    g_o * g_r
}

/// Difficulty-aware weight of a group with outcome mean `mu_o`.
pub fn weight(spec: &AdvantageSpec, mu_o: f64) -> f64 {
    match spec.weight {
        Weighting::HardFirst => 1.0 - mu_o,
        Weighting::Mid => 4.0 * mu_o * (1.0 - mu_o),
        Weighting::Off => 1.0,
    }
}

/// Group-relative AWPO advantages of `[P, G, 2]` rewards.
pub fn group_advantage(
    rewards: &[f32],
    groups: usize,
    group_size: usize,
    spec: &AdvantageSpec,
) -> Result<AdvantageOutput, ObjectiveError> {
    check_rewards(rewards, groups, group_size)?;
    let lambda_sum = if spec.mix == Mix::RewardSum { spec.lambda } else { 0.0 };
    let xo: Vec<f64> = rewards.chunks(2).map(|r| f64::from(r[0]) + lambda_sum * f64::from(r[1])).collect();
    let xr: Vec<f64> = rewards.chunks(2).map(|r| f64::from(r[1])).collect();
    let (batch_o, batch_r) = (batch_sd(&xo), batch_sd(&xr));
    let b = groups * group_size;
    let mut out = AdvantageOutput {
        adv: Vec::with_capacity(b),
        outcome_adv: Vec::with_capacity(b),
        reasoning_raw: Vec::with_capacity(b),
        clip_bound: Vec::with_capacity(b),
        stats: Vec::with_capacity(groups),
    };
    for p in 0..groups {
        let span = p * group_size..(p + 1) * group_size;
        let (mu_o, dev_o, sd_o) = centre(&xo[span.clone()], spec.zero_tol);
        let (mu_r, dev_r, sd_r) = centre(&xr[span], spec.zero_tol);
        let (den_o, den_r) = match spec.scale {
            Scale::Group => (sd_o + spec.eps, sd_r + spec.eps),
            Scale::Batch => (batch_o + spec.eps, batch_r + spec.eps),
            Scale::None => (1.0, 1.0),
        };
        let g = gate(spec, sd_o, sd_r);
        let w = weight(spec, mu_o);
        // The tailored clip is keyed on the group: `c_max` only where every outcome is alike
        // (all centred outcomes snapped to 0), `kappa·|Ao_i|` for every sample of any other
        // group, so a sample at its group's mean (Ao_i = 0) gets no reasoning term at all.
        let flat = dev_o.iter().all(|&d| d == 0.0);
        let mut clipped = 0usize;
        for (d_o, d_r) in dev_o.iter().zip(&dev_r) {
            let ao = d_o / den_o;
            let c_raw = match spec.mix {
                Mix::Advantage => spec.lambda * g * w * (d_r / den_r),
                Mix::RewardSum => 0.0,
            };
            let bound = match spec.clip {
                Clip::Off => f64::INFINITY,
                Clip::Tailored if flat => spec.c_max,
                Clip::Tailored => spec.kappa * ao.abs(),
            };
            clipped += usize::from(c_raw.abs() > bound);
            out.adv.push(ao + c_raw.clamp(-bound, bound));
            out.outcome_adv.push(ao);
            out.reasoning_raw.push(c_raw);
            out.clip_bound.push(bound);
        }
        let clip_frac = clipped as f64 / group_size as f64;
        out.stats.push(GroupStats { mu_o, sd_o, mu_r, sd_r, gate: g, weight: w, clip_frac });
    }
    Ok(out)
}

/// The whole batch's normaliser, for a loss computed over parts (micro-batches) of a batch:
/// with it, each part's loss is its exact share of the whole batch's loss, whatever the split,
/// the padding or the order, and the parts' losses and gradients sum to the whole batch's.
///
/// Row `b` of a part is weighted by
/// - `token-mean`: `1 / tokens`;
/// - `seq-mean-token-mean`: `1 / (sequences · seq_tokens[b])`;
/// - `seq-mean-token-sum-norm`: `1 / (sequences · norm_len)`.
///
/// A sequence (an episode) may be packed into several rows: each of its rows carries the
/// sequence's whole token count, so the sequence counts once.
#[derive(Clone, Debug, PartialEq)]
pub struct Normaliser {
    /// Sequences (episodes) in the whole batch.
    pub sequences: f64,
    /// Generated tokens in the whole batch.
    pub tokens: f64,
    /// The constant length of `seq-mean-token-sum-norm` (`loss_norm_len`, else the whole
    /// batch's padded length).
    pub norm_len: f64,
    /// Generated tokens of the sequence each row of this part belongs to, `[B]`.
    pub seq_tokens: Vec<f64>,
}

impl Normaliser {
    /// The normaliser of a batch taken alone: each row a sequence, `norm_len` the
    /// configured length or the padded length `cols`. `counts` are the rows' generated tokens.
    pub fn of_rows(counts: &[f64], cols: usize, spec: &LossSpec) -> Self {
        Normaliser {
            sequences: counts.len() as f64,
            tokens: counts.iter().sum(),
            norm_len: f64::from(spec.norm_len.unwrap_or(cols as u32)),
            seq_tokens: counts.to_vec(),
        }
    }

    /// The first value that cannot normalise a loss (not finite, or not positive), named.
    ///
    /// # Errors
    /// [`ObjectiveError::BadNormaliser`].
    pub fn check(&self, rows: usize) -> Result<(), ObjectiveError> {
        let bad = |field: &'static str, value: f64| ObjectiveError::BadNormaliser { field, value };
        for (field, value) in [("sequences", self.sequences), ("tokens", self.tokens), ("norm_len", self.norm_len)] {
            if !(value.is_finite() && value > 0.0) {
                return Err(bad(field, value));
            }
        }
        if self.seq_tokens.len() != rows {
            return Err(bad("seq_tokens (length)", self.seq_tokens.len() as f64));
        }
        match self.seq_tokens.iter().find(|v| !(v.is_finite() && **v > 0.0)) {
            Some(&v) => Err(bad("seq_tokens", v)),
            None => Ok(()),
        }
    }
}

/// Inputs of the token-level loss; all `[B, T]` except `adv` (`[B]`).
#[derive(Clone, Copy, Debug)]
pub struct LossInput<'a> {
    /// `B`.
    pub rows: usize,
    /// `T`.
    pub cols: usize,
    /// Current log-probs.
    pub logp: &'a [f32],
    /// Sampling-time log-probs.
    pub old_logp: &'a [f32],
    /// Reference log-probs; read only when `beta > 0`.
    pub ref_logp: &'a [f32],
    /// One advantage per row.
    pub adv: &'a [f32],
    /// 1 on generated tokens, 0 elsewhere.
    pub mask: &'a [f32],
    /// The whole batch's normaliser when this is a part of it; `None` = this batch alone.
    pub norm: Option<&'a Normaliser>,
}

/// Step statistics of the loss (token means over masked tokens).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LossStats {
    /// The aggregated loss.
    pub loss: f64,
    /// Masked (generated) tokens.
    pub tokens: f64,
    /// Mean k3 KL to the reference policy (0 when `beta = 0`).
    pub kl_ref: f64,
    /// Mean ratio `exp(logp - old_logp)`.
    pub ratio_mean: f64,
    /// Share of tokens clipped below (`A < 0`, ratio < 1 - eps_low).
    pub clip_low_frac: f64,
    /// Share of tokens clipped above (`A > 0`, ratio > 1 + eps_high).
    pub clip_high_frac: f64,
    /// Mean of `ratio - 1 - log ratio` (k3 estimate of KL(old ‖ new)).
    pub approx_kl: f64,
}

/// Output of [`awpo_loss`].
#[derive(Clone, Debug, PartialEq)]
pub struct LossOutput {
    /// Statistics, `loss` included.
    pub stats: LossStats,
    /// `d loss / d logp`, `[B, T]`.
    pub grad: Vec<f64>,
    /// Aggregation weight of each row, `[B]`.
    pub row_scale: Vec<f64>,
    /// `sum |row_scale · loss_t|`: the scale against which the loss's rounding is judged.
    pub abs_mass: f64,
}

/// One token's loss terms.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TokenTerm {
    /// `-min(r·A, clip(r)·A) + beta·kl`.
    pub loss: f64,
    /// Its derivative with respect to `logp`.
    pub dloss: f64,
    /// `r = exp(logp - old_logp)`.
    pub ratio: f64,
    /// `-1` clipped low, `1` clipped high, `0` not clipped.
    pub clip: i8,
    /// k3 KL to the reference.
    pub kl: f64,
    /// `r - 1 - log r`.
    pub approx_kl: f64,
}

/// The per-token clipped surrogate (+ k3 KL) and its gradient.
pub fn token_term(logp: f64, old_logp: f64, ref_logp: f64, adv: f64, spec: &LossSpec) -> TokenTerm {
    let log_ratio = logp - old_logp;
    let ratio = log_ratio.exp();
    let (lo, hi) = (1.0 - spec.eps_low, 1.0 + spec.eps_high);
    let clip = if adv > 0.0 && ratio > hi {
        1
    } else if adv < 0.0 && ratio < lo {
        -1
    } else {
        0
    };
    let surr = (ratio * adv).min(ratio.clamp(lo, hi) * adv);
    let mut loss = -surr;
    let mut dloss = if clip == 0 { -adv * ratio } else { 0.0 };
    let mut kl = 0.0;
    if spec.beta > 0.0 {
        let x = ref_logp - logp;
        kl = x.exp() - x - 1.0;
        loss += spec.beta * kl;
        dloss += spec.beta * (1.0 - x.exp());
    }
    TokenTerm { loss, dloss, ratio, clip, kl, approx_kl: ratio - 1.0 - log_ratio }
}

/// Checks every input shape of the loss.
pub fn check_loss_shapes(input: &LossInput<'_>, use_ref: bool) -> Result<(), ObjectiveError> {
    let (b, t) = (input.rows, input.cols);
    if b == 0 || t == 0 {
        return Err(ObjectiveError::Empty { tensor: LossTensor::LogProb, shape: vec![b, t] });
    }
    let mut tensors = vec![
        (LossTensor::LogProb, input.logp.len(), b * t),
        (LossTensor::OldLogProb, input.old_logp.len(), b * t),
        (LossTensor::Advantage, input.adv.len(), b),
        (LossTensor::Mask, input.mask.len(), b * t),
    ];
    if use_ref {
        tensors.push((LossTensor::RefLogProb, input.ref_logp.len(), b * t));
    }
    for (tensor, found, expected) in tensors {
        if found != expected {
            let expected = if expected == b { vec![b] } else { vec![b, t] };
            return Err(ObjectiveError::Shape { tensor, expected, found: vec![found] });
        }
    }
    Ok(())
}

/// Checks the values of one row: advantage, then each token's mask and masked log-probs, then
/// that the row has a generated token. `row_*` slices are that row's `[T]` values.
pub fn check_row(
    row: usize,
    adv: f32,
    logp: &[f32],
    old_logp: &[f32],
    ref_logp: Option<&[f32]>,
    mask: &[f32],
) -> Result<(), ObjectiveError> {
    let bad = |tensor, col, value| ObjectiveError::NonFinite { tensor, row, col, value };
    if !adv.is_finite() {
        return Err(bad(LossTensor::Advantage, 0, adv));
    }
    let mut tokens = 0usize;
    for (col, &m) in mask.iter().enumerate() {
        if m != 0.0 && m != 1.0 {
            return Err(ObjectiveError::BadMask { row, col, value: m });
        }
        if m == 0.0 {
            continue;
        }
        tokens += 1;
        let mut values = vec![(LossTensor::LogProb, logp[col]), (LossTensor::OldLogProb, old_logp[col])];
        if let Some(r) = ref_logp {
            values.push((LossTensor::RefLogProb, r[col]));
        }
        if let Some((tensor, value)) = values.into_iter().find(|(_, v)| !v.is_finite()) {
            return Err(bad(tensor, col, value));
        }
    }
    if tokens == 0 {
        return Err(ObjectiveError::EmptyMask { row });
    }
    Ok(())
}

/// Aggregation weight of each row under the normaliser `norm`.
pub fn row_scales(norm: &Normaliser, spec: &LossSpec) -> Vec<f64> {
    norm.seq_tokens
        .iter()
        .map(|&n| match spec.agg {
            Aggregation::TokenMean => 1.0 / norm.tokens,
            Aggregation::SeqMeanTokenMean => 1.0 / (norm.sequences * n),
            Aggregation::SeqMeanTokenSumNorm => 1.0 / (norm.sequences * norm.norm_len),
        })
        .collect()
}

/// The aggregated token-level loss, its statistics and its gradient with respect to `logp`.
#[allow(clippy::needless_range_loop)] // (row, col) indexing is the specification's notation
pub fn awpo_loss(input: &LossInput<'_>, spec: &LossSpec) -> Result<LossOutput, ObjectiveError> {
    let use_ref = spec.beta > 0.0;
    check_loss_shapes(input, use_ref)?;
    let (b, t) = (input.rows, input.cols);
    for row in 0..b {
        let span = row * t..(row + 1) * t;
        let ref_row = use_ref.then(|| &input.ref_logp[span.clone()]);
        let (lp, olp, m) = (&input.logp[span.clone()], &input.old_logp[span.clone()], &input.mask[span]);
        check_row(row, input.adv[row], lp, olp, ref_row, m)?;
    }
    let counts: Vec<f64> = input.mask.chunks(t).map(|m| m.iter().map(|&x| f64::from(x)).sum()).collect();
    let own = Normaliser::of_rows(&counts, t, spec);
    let norm = input.norm.unwrap_or(&own);
    norm.check(b)?;
    let row_scale = row_scales(norm, spec);
    let mut grad = vec![0.0; b * t];
    let (mut loss, mut abs_mass) = (0.0, 0.0);
    let mut sums = LossStats::default();
    for row in 0..b {
        for col in 0..t {
            let i = row * t + col;
            if input.mask[i] == 0.0 {
                continue;
            }
            let r = if use_ref { f64::from(input.ref_logp[i]) } else { 0.0 };
            let term =
                token_term(f64::from(input.logp[i]), f64::from(input.old_logp[i]), r, f64::from(input.adv[row]), spec);
            loss += row_scale[row] * term.loss;
            abs_mass += (row_scale[row] * term.loss).abs();
            grad[i] = row_scale[row] * term.dloss;
            sums.kl_ref += term.kl;
            sums.ratio_mean += term.ratio;
            sums.clip_low_frac += f64::from(u8::from(term.clip < 0));
            sums.clip_high_frac += f64::from(u8::from(term.clip > 0));
            sums.approx_kl += term.approx_kl;
        }
    }
    let n: f64 = counts.iter().sum();
    let stats = LossStats {
        loss,
        tokens: n,
        kl_ref: sums.kl_ref / n,
        ratio_mean: sums.ratio_mean / n,
        clip_low_frac: sums.clip_low_frac / n,
        clip_high_frac: sums.clip_high_frac / n,
        approx_kl: sums.approx_kl / n,
    };
    Ok(LossOutput { stats, grad, row_scale, abs_mass })
}
