//! Next-token draws on the device, for a batch of rows at once: greedy, temperature, top-k and
//! top-p, with the same rules as the host sampler ([`super::sampler::sample`], the reference).
//! Only `[N, 4]` numbers come back per step (token, its logit, the row's log-sum-exp, its
//! sampling log-prob), never the `[N, V]` logits.
//!
//! - Greedy: the lowest id holding the row's maximum (the host's tie rule, exactly).
//! - Truncation: top-k and top-p keep the tokens whose tempered logit is at least a threshold,
//!   found by bisection on the device (a fixed number of halvings, no host round trip): the
//!   highest threshold keeping at least `k` tokens, and the highest keeping at least `p` of the
//!   tempered probability mass. Without ties this is exactly the host's sorted prefix.
//! - The draw: inverse CDF in id order with the row's uniform (drawn on the host from its own
//!   stream, so rows replay exactly). The cumulative sums run in two levels, `[N, C, L]`, so the
//!   search is two counts instead of a scan of `V`.
//!
//! Rows are padded to `Vp`, a multiple of [`CHUNK`], with `-inf` (probability 0), and every
//! reduction over the vocabulary runs in two levels of at most `CHUNK`: burn's reductions go
//! wrong on wgpu when one launch needs more than 65535 workgroups (see `crate::reduce`).

use burn::tensor::{Int, Tensor, TensorData};

use super::sampler::{Draw, Sampling, is_greedy};
use crate::model::ModelError;

/// Halvings of a threshold search over [`SPAN`]: below f32 resolution.
const BISECTIONS: usize = 32;
/// Tempered logits this far below the row's maximum have probability 0 in f32 (`exp(-104)`
/// underflows): thresholds are searched in `[max - SPAN, max]`.
const SPAN: f32 = 200.0;
/// Longest axis of one burn reduction.
pub const CHUNK: usize = crate::reduce::CHUNK;
/// Block length of the two-level cumulative sums (divides `CHUNK`).
const BLOCK: usize = 256;
/// Most rows times `Vp / CHUNK` in one call (burn reductions over more rows go wrong on wgpu).
pub const MAX_PARTS: usize = crate::reduce::MAX_ROWS;

/// Draws one token per row of `logits` `[N, V]`, with `uniforms[n]` in `[0, 1)` the row's
/// random number (ignored when greedy).
///
/// # Errors
/// A row with a NaN or `+inf` logit, a wrong number of uniforms, or a device read that fails.
pub fn draw(logits: Tensor<2>, s: &Sampling, uniforms: &[f64]) -> Result<Vec<Draw>, ModelError> {
    let [n, v] = logits.dims();
    let greedy = is_greedy(s, v);
    if !greedy && uniforms.len() != n {
        return Err(ModelError::Input(format!("{} uniforms for {n} rows", uniforms.len())));
    }
    if n * v.div_ceil(CHUNK) > MAX_PARTS {
        return Err(ModelError::Input(format!("{n} rows of {v} logits: at most {MAX_PARTS} rows of {CHUNK} per call")));
    }
    let vp = v.next_multiple_of(CHUNK);
    let logits = if vp > v {
        let pad = Tensor::full([n, vp - v], f32::NEG_INFINITY, &logits.device());
        Tensor::cat(vec![logits, pad], 1)
    } else {
        logits
    };
    let packed = if greedy { greedy_columns(logits) } else { sampled_columns(logits, s, uniforms) };
    let values = crate::device::to_host(packed, "sampled tokens")?;
    values
        .chunks_exact(4)
        .enumerate()
        .map(|(row, c)| {
            let (token, logit, lse, logq) = (c[0], f64::from(c[1]), f64::from(c[2]), f64::from(c[3]));
            if !(logit.is_finite() && lse.is_finite() && logq.is_finite()) {
                return Err(ModelError::Compute(format!("row {row} has a non-finite logit (log-sum-exp {lse})")));
            }
            Ok(Draw { token: token as u32, logp: logit - lse, sample_logp: logq })
        })
        .collect()
}

/// Row reductions of `x` `[N, Vp]` (`Vp` a multiple of `CHUNK`) → `[N, 1]`, in two levels.
fn row_max(x: Tensor<2>) -> Tensor<2> {
    let [n, vp] = x.dims();
    x.reshape([n, vp / CHUNK, CHUNK]).max_dim(2).reshape([n, vp / CHUNK]).max_dim(1)
}

fn row_min(x: Tensor<2>) -> Tensor<2> {
    let [n, vp] = x.dims();
    x.reshape([n, vp / CHUNK, CHUNK]).min_dim(2).reshape([n, vp / CHUNK]).min_dim(1)
}

fn row_sum(x: Tensor<2>) -> Tensor<2> {
    let [n, _] = x.dims();
    crate::reduce::sum_rows(x).reshape([n, 1])
}

/// `[N, 1]` log-sum-exp of `x` `[N, Vp]` and its row maxima.
fn log_sum_exp(x: Tensor<2>) -> (Tensor<2>, Tensor<2>) {
    let [n, v] = x.dims();
    let max = row_max(x.clone());
    let lse = max.clone() + row_sum((x - max.clone().expand([n, v])).exp()).log();
    (lse, max)
}

/// Ids `0..V` as floats `[N, V]` (exact below 2^24).
fn ids(n: usize, v: usize, device: &burn::tensor::Device) -> Tensor<2> {
    Tensor::<1, Int>::arange(0..v as i64, device).float().reshape([1, v]).expand([n, v])
}

/// `[N, 4]`: the lowest id at the maximum, its logit, the log-sum-exp, 0.
fn greedy_columns(logits: Tensor<2>) -> Tensor<2> {
    let [n, v] = logits.dims();
    let device = logits.device();
    let (lse, max) = log_sum_exp(logits.clone());
    let below = logits.lower(max.clone().expand([n, v]));
    let token = row_min(ids(n, v, &device).mask_fill(below, v as f32));
    Tensor::cat(vec![token, max, lse.clone(), lse.zeros_like()], 1)
}

/// `[N, 4]`: the drawn token, its logit, the log-sum-exp, its log-prob under the tempered and
/// truncated distribution.
fn sampled_columns(logits: Tensor<2>, s: &Sampling, uniforms: &[f64]) -> Tensor<2> {
    let [n, v] = logits.dims();
    let device = logits.device();
    let (lse, _) = log_sum_exp(logits.clone());
    let tempered = logits.clone().mul_scalar(1.0 / s.temperature);
    let (lse_t, max_t) = log_sum_exp(tempered.clone());
    let probs = (tempered.clone() - lse_t.clone().expand([n, v])).exp();
    let mut floor = max_t.clone().sub_scalar(SPAN);
    if s.top_k != 0 && s.top_k < v {
        let k = s.top_k as f32;
        let count = |t: &Tensor<2>| row_sum(tempered.clone().greater_equal(t.clone().expand([n, v])).float());
        floor = bisect(floor, max_t.clone(), |t| count(t).greater_equal_elem(k));
    }
    if s.top_p < 1.0 {
        let p = s.top_p as f32;
        let mass =
            |t: &Tensor<2>| probs.clone().mask_fill(tempered.clone().lower(t.clone().expand([n, v])), 0.0).sum_dim(1);
        floor = bisect(floor, max_t.clone(), |t| mass(t).greater_equal_elem(p));
    }
    let kept = if (s.top_k != 0 && s.top_k < v) || s.top_p < 1.0 {
        probs.mask_fill(tempered.clone().lower(floor.expand([n, v])), 0.0)
    } else {
        probs
    };
    let u: Vec<f32> = uniforms.iter().map(|&u| (u as f32).clamp(1e-9, 1.0 - 1e-7)).collect();
    let u = Tensor::<2>::from_data(TensorData::new(u, [n, 1]), &device);
    let (token, total) = inverse_cdf(kept, u);
    let index = token.clone().int();
    let logit = logits.gather(1, index.clone());
    let logq = tempered.gather(1, index) - lse_t - total.log();
    Tensor::cat(vec![token, logit, lse, logq], 1)
}

/// The highest threshold `t` in `[lo, hi]` (`[N, 1]` each) with `ok(t)` true, `ok` true at `lo`
/// and decreasing in `t`, to within `BISECTIONS` halvings.
fn bisect(mut lo: Tensor<2>, mut hi: Tensor<2>, ok: impl Fn(&Tensor<2>) -> Tensor<2, burn::tensor::Bool>) -> Tensor<2> {
    hi = hi.add_scalar(1.0);
    for _ in 0..BISECTIONS {
        let mid = (lo.clone() + hi.clone()).mul_scalar(0.5);
        let good = ok(&mid);
        lo = lo.mask_where(good.clone(), mid.clone());
        hi = mid.mask_where(good, hi);
    }
    lo
}

/// The smallest id whose cumulative weight reaches `u·total` in each row of `weights` `[N, Vp]`
/// (non-negative, a positive total; `Vp` a multiple of `BLOCK`), and the totals, both `[N, 1]`.
fn inverse_cdf(weights: Tensor<2>, u: Tensor<2>) -> (Tensor<2>, Tensor<2>) {
    let [n, v] = weights.dims();
    let device = weights.device();
    let (c, l) = (v / BLOCK, BLOCK);
    let blocks = weights.reshape([n, c, l]);
    let within = blocks.clone().cumsum(2);
    let block_mass = within.clone().narrow(2, l - 1, 1).reshape([n, c]);
    let upto = block_mass.cumsum(1);
    let total = upto.clone().narrow(1, c - 1, 1);
    let target = u * total.clone();
    let block = upto.clone().lower(target.clone().expand([n, c])).float().sum_dim(1).clamp_max((c - 1) as f32);
    let previous = (block.clone() - 1.0).clamp_min(0.0).int();
    let before = upto.gather(1, previous).mask_fill(block.clone().lower_equal_elem(0.0), 0.0);
    let pick = block.clone().int().reshape([n, 1, 1]).expand([n, 1, l]);
    let row = within.gather(1, pick.clone()).reshape([n, l]);
    let rest = target - before;
    let mut at = row.lower(rest.expand([n, l])).float().sum_dim(1);
    // Rounding may step past the block's first or last token of positive weight: clamp onto them.
    let weight = blocks.gather(1, pick).reshape([n, l]);
    let empty = weight.lower_equal_elem(0.0);
    let first = ids(n, l, &device).mask_fill(empty.clone(), l as f32).min_dim(1);
    let last = ids(n, l, &device).mask_fill(empty, -1.0).max_dim(1);
    at = at.max_pair(first).min_pair(last);
    (block.mul_scalar(l as f32) + at, total)
}
