//! The objective checked against its f64 specification on a device: random inputs from a seed,
//! advantage + loss + gradient through the chosen implementation, scaled maximum errors.
//! Used by `awpo check`, the kernel tests and `examples/kernel_check.rs`.

use std::time::{Duration, Instant};

use burn::tensor::{Device, Tensor, TensorData};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::algo::reference::{self, LossInput, LossStats};
use crate::algo::{AlgoConfig, LossBatch, advantage, loss};
use crate::error::Result;

/// Host-side inputs of one objective evaluation (layouts as in `algo::reference`).
#[derive(Clone, Debug)]
pub struct Inputs {
    /// Prompts `P`.
    pub groups: usize,
    /// Group size `G`.
    pub group_size: usize,
    /// Padded length `T`.
    pub cols: usize,
    /// `[P, G, 2]`.
    pub rewards: Vec<f32>,
    /// `[B, T]`.
    pub logp: Vec<f32>,
    /// `[B, T]`.
    pub old_logp: Vec<f32>,
    /// `[B, T]`.
    pub ref_logp: Vec<f32>,
    /// `[B, T]`, 0/1; every row has at least one 1.
    pub mask: Vec<f32>,
}

impl Inputs {
    /// `B = P·G`.
    pub fn rows(&self) -> usize {
        self.groups * self.group_size
    }

    /// Random inputs shaped like RL rollouts: discrete and continuous rewards, some groups with
    /// all-equal outcomes or reasoning scores, a masked prompt, a generated span, padding.
    /// Sizes of 0 are raised to 1.
    pub fn random(groups: usize, group_size: usize, cols: usize, seed: u64) -> Self {
        let (groups, group_size, cols) = (groups.max(1), group_size.max(1), cols.max(1));
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let (b, t) = (groups * group_size, cols);
        let mut rewards = Vec::with_capacity(b * 2);
        for _ in 0..groups {
            let pattern = rng.random_range(0..4u8);
            let flat_o = f32::from(rng.random_range(0..2u8));
            for _ in 0..group_size {
                let ro = match pattern {
                    0 => flat_o,
                    1 => [0.0, 0.5, 1.0][rng.random_range(0..3)],
                    _ => rng.random::<f32>(),
                };
                let rr = if pattern == 3 { 0.25 } else { rng.random::<f32>() };
                rewards.extend([ro, rr]);
            }
        }
        let logp: Vec<f32> = (0..b * t).map(|_| rng.random_range(-6.0..-0.01)).collect();
        let old_logp = logp.iter().map(|x| x + rng.random_range(-0.35..0.35)).collect();
        let ref_logp = logp.iter().map(|x| x + rng.random_range(-0.5..0.5)).collect();
        let mut mask = vec![0.0f32; b * t];
        for row in mask.chunks_mut(t) {
            let start = rng.random_range(0..t);
            let len = rng.random_range(1..=t - start);
            row[start..start + len].fill(1.0);
        }
        Inputs { groups, group_size, cols, rewards, logp, old_logp, ref_logp, mask }
    }
}

/// Scaled maximum errors against the reference, and wall times.
#[derive(Clone, Debug, Default)]
pub struct Comparison {
    /// `max |A - A_ref| / max(1, |A_ref|)` over `[P, G]`.
    pub adv: f64,
    /// Same over the group statistics (mu, sd, gate, weight, clip share).
    pub group_stats: f64,
    /// `|loss - loss_ref| / sum |row_scale · loss_t|`.
    pub loss: f64,
    /// Largest scaled error of the loss statistics (token count, KL to the reference, ratio
    /// mean, clip shares, approximate KL) against the reference's; each clip share may differ by
    /// the share of tokens on a clip boundary (either side is right there).
    pub loss_stats: f64,
    /// `max |g - g_ref| / max |g_ref|` over tokens not on a clip boundary.
    pub grad: f64,
    /// Tokens whose ratio lies within 1e-5 of a clip boundary (either branch is right there).
    pub boundary_tokens: usize,
    /// Tokens whose gradient was compared.
    pub compared_tokens: usize,
    /// Advantage wall time (kernel launch + read-back).
    pub advantage_time: Duration,
    /// Loss forward + backward + read-back wall time.
    pub loss_time: Duration,
}

/// Largest scaled error; infinite on a length mismatch or any NaN (NaN never passes).
fn scaled_max(x: &[f32], reference: &[f64]) -> f64 {
    if x.len() != reference.len() {
        return f64::INFINITY;
    }
    x.iter()
        .zip(reference)
        .map(|(&a, &r)| (f64::from(a) - r).abs() / r.abs().max(1.0))
        .map(|e| if e.is_nan() { f64::INFINITY } else { e })
        .fold(0.0, f64::max)
}

/// Host values; a failed read is empty, which the comparisons score as infinitely wrong.
fn to_vec<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    crate::device::to_host(t, "a compared tensor").unwrap_or_default()
}

/// Runs advantage, loss and backward of `cfg` on `device` and compares them with the reference.
///
/// # Errors
/// Any objective error (the random inputs are valid, so one means a broken implementation).
#[allow(clippy::needless_range_loop)] // one index walks five parallel [B, T] arrays
pub fn compare(device: &Device, inputs: &Inputs, cfg: &AlgoConfig) -> Result<Comparison> {
    let (p, g, t, b) = (inputs.groups, inputs.group_size, inputs.cols, inputs.rows());
    let want = reference::group_advantage(&inputs.rewards, p, g, &cfg.advantage_spec())?;
    let start = Instant::now();
    let rewards = Tensor::<3>::from_data(TensorData::new(inputs.rewards.clone(), [p, g, 2]), device);
    let (adv, stats) = advantage(rewards, cfg)?;
    let adv = to_vec(adv);
    let advantage_time = start.elapsed();
    let got_stats: Vec<f32> = stats
        .groups
        .iter()
        .flat_map(|s| [s.mu_o, s.sd_o, s.mu_r, s.sd_r, s.gate, s.weight, s.clip_frac].map(|x| x as f32))
        .collect();
    let want_stats: Vec<f64> =
        want.stats.iter().flat_map(|s| [s.mu_o, s.sd_o, s.mu_r, s.sd_r, s.gate, s.weight, s.clip_frac]).collect();

    // The loss sees the reference advantages (as f32), so its check is independent of the above.
    let adv_in: Vec<f32> = want.adv.iter().map(|&a| a as f32).collect();
    let spec = cfg.loss_spec();
    let loss_in = LossInput {
        rows: b,
        cols: t,
        logp: &inputs.logp,
        old_logp: &inputs.old_logp,
        ref_logp: &inputs.ref_logp,
        adv: &adv_in,
        mask: &inputs.mask,
        norm: None,
    };
    let want_loss = reference::awpo_loss(&loss_in, &spec)?;
    let start = Instant::now();
    let grad_device = device.clone().autodiff();
    let tensor2 = |v: &Vec<f32>, d: &Device| Tensor::<2>::from_data(TensorData::new(v.clone(), [b, t]), d);
    let logp = tensor2(&inputs.logp, &grad_device).require_grad();
    let batch = LossBatch {
        logp: logp.clone(),
        old_logp: tensor2(&inputs.old_logp, &grad_device),
        ref_logp: Some(tensor2(&inputs.ref_logp, &grad_device)),
        adv: Tensor::<1>::from_data(TensorData::new(adv_in.clone(), [b]), &grad_device),
        mask: tensor2(&inputs.mask, &grad_device),
        norm: None,
    };
    let (value, got) = loss(batch, cfg)?;
    let grads = value.backward();
    let grad = logp.grad(&grads).map(to_vec).unwrap_or_default();
    let loss_time = start.elapsed();

    let (lo, hi) = (1.0 - spec.eps_low, 1.0 + spec.eps_high);
    let boundary = (0..b * t)
        .filter(|&i| inputs.mask[i] == 1.0)
        .map(|i| (f64::from(inputs.logp[i]) - f64::from(inputs.old_logp[i])).exp())
        .filter(|r| (r - lo).abs() < 1e-5 || (r - hi).abs() < 1e-5)
        .count() as f64;
    let grad_scale = want_loss.grad.iter().fold(0.0f64, |m, x| m.max(x.abs())).max(f64::MIN_POSITIVE);
    let mut cmp = Comparison {
        adv: scaled_max(&adv, &want.adv),
        group_stats: scaled_max(&got_stats, &want_stats),
        loss: nan_is_inf(
            (f64::from(value_of(&value)) - want_loss.stats.loss).abs() / want_loss.abs_mass.max(f64::MIN_POSITIVE),
        ),
        loss_stats: stats_error(&got, &want_loss.stats, boundary),
        advantage_time,
        loss_time,
        ..Comparison::default()
    };
    if grad.len() != b * t {
        cmp.grad = f64::INFINITY;
        return Ok(cmp);
    }
    for i in 0..b * t {
        let ratio = (f64::from(inputs.logp[i]) - f64::from(inputs.old_logp[i])).exp();
        if (ratio - lo).abs() < 1e-5 || (ratio - hi).abs() < 1e-5 {
            cmp.boundary_tokens += 1;
            continue;
        }
        cmp.compared_tokens += 1;
        let err = (f64::from(grad[i]) - want_loss.grad[i]).abs() / grad_scale;
        cmp.grad = cmp.grad.max(nan_is_inf(err));
    }
    Ok(cmp)
}

/// The largest scaled error of `got`'s statistics against the reference's `want`; a clip share
/// may be off by `boundary` tokens out of all of them.
fn stats_error(got: &LossStats, want: &LossStats, boundary: f64) -> f64 {
    let slack = boundary / want.tokens.max(1.0);
    let pairs = [
        (got.tokens, want.tokens, 0.0),
        (got.kl_ref, want.kl_ref, 0.0),
        (got.ratio_mean, want.ratio_mean, 0.0),
        (got.clip_low_frac, want.clip_low_frac, slack),
        (got.clip_high_frac, want.clip_high_frac, slack),
        (got.approx_kl, want.approx_kl, 0.0),
    ];
    pairs
        .iter()
        .map(|&(g, w, allowed)| nan_is_inf((((g - w).abs() - allowed).max(0.0)) / w.abs().max(1.0)))
        .fold(0.0, f64::max)
}

fn value_of(loss: &Tensor<1>) -> f32 {
    to_vec(loss.clone().detach()).first().copied().unwrap_or(f32::NAN)
}

fn nan_is_inf(x: f64) -> f64 {
    if x.is_nan() { f64::INFINITY } else { x }
}
