//! Teacher-forced per-token log-probabilities and entropies whose training memory does not
//! grow with the vocabulary: a fused *LM head → log-softmax → gather*.
//!
//! The idea behind Liger Kernel's fused linear cross-entropy, with tensor ops: the hidden states
//! `h` `[N, D]` are scored a chunk of rows at a time, and within a chunk one vocabulary tile at
//! a time (`[rows, V_i]` logits, an online log-sum-exp as in flash attention), outside the
//! autodiff graph. Each position's log-prob `l_y − lse` depends on `h` only, so its gradient is
//! a vector of `D` numbers, `J = W[y] − Σ_v p_v·W[v]` (with `W` the head `[V, D]`, `p` the
//! softmax), computed in the same pass. The graph then carries `logp = value + Σ_d (h − h̄)·J`
//! (`h̄` = `h` detached): exactly `value` forward, exactly `upstream · J` backward. What it keeps
//! for backward is `J`, the size of the hidden states; the `[N, V]` logits, their softmax and
//! exp are never kept. The head carries no LoRA (it is not a target), so `h` is its only input
//! with a gradient. Entropy is a metric, computed in the same pass and never on the graph.

use burn::tensor::activation::log_softmax;
use burn::tensor::{Int, Tensor};

use super::causal_lm::CausalLm;
use super::dropout::Adapter;
use super::error::ModelError;
use super::precision::base_matmul;
use super::vocab::VocabMatrix;

/// The most bytes one chunk's logits tile `[rows, V_i]` (f32) may take; a chunk holds about four
/// such buffers at once (logits, their exp, products), whatever the vocabulary.
pub const LOGIT_TILE_BYTES: u64 = 64 << 20;

/// Per-token statistics of a batch, `[B, T - 1]`: position `t` scores `tokens[t + 1]`.
pub struct TokenStats {
    /// `log p(tokens[t + 1] | tokens[..=t])`; 0 where the target is padding.
    pub logprobs: Tensor<2>,
    /// Entropy of the next-token distribution at `t`; 0 where the target is padding. A metric:
    /// never on the autodiff graph.
    pub entropy: Tensor<2>,
}

fn check(tokens: &Tensor<2, Int>, chunk: usize) -> Result<[usize; 2], ModelError> {
    let [b, t] = tokens.dims();
    if t < 2 || chunk == 0 {
        return Err(ModelError::Input(format!("need T >= 2 tokens and chunk > 0 (T = {t}, chunk = {chunk})")));
    }
    Ok([b, t])
}

/// [`check`], and that `hidden` `[B, T, D]` and `mask` share the tokens' `[B, T]`; returns
/// `[B, T, D]`.
fn check_hidden(
    hidden: &Tensor<3>,
    tokens: &Tensor<2, Int>,
    mask: &Tensor<2, Int>,
    chunk: usize,
) -> Result<[usize; 3], ModelError> {
    let [b, t] = check(tokens, chunk)?;
    let [hb, ht, d] = hidden.dims();
    if [hb, ht] != [b, t] || mask.dims() != [b, t] {
        return Err(ModelError::Input(format!(
            "hidden {:?}, tokens {:?} and mask {:?} must share [B, T]",
            hidden.dims(),
            [b, t],
            mask.dims()
        )));
    }
    Ok([b, t, d])
}

/// Log-probs and entropies of `tokens` `[B, T]` (mask `[B, T]`, 1 = token), scoring `chunk`
/// positions of every row at a time (fewer when the logits tile would pass
/// [`LOGIT_TILE_BYTES`] or a storage binding); [`Adapter::Off`] scores under the base model
/// (the KL reference).
///
/// # Errors
/// Shapes that differ, `T < 2`, `chunk = 0`.
pub fn token_stats(
    model: &CausalLm,
    tokens: Tensor<2, Int>,
    mask: Tensor<2, Int>,
    adapter: Adapter,
    chunk: usize,
) -> Result<TokenStats, ModelError> {
    check(&tokens, chunk)?;
    let hidden = model.hidden(tokens.clone(), mask.clone(), adapter)?;
    stats_of_hidden(model.head(), hidden, tokens, mask, chunk)
}

/// Rows of one chunk: `chunk` positions of each of `b` rows, bounded so that a `[rows, V_i]`
/// f32 logits tile stays under [`LOGIT_TILE_BYTES`] and the device's binding limit.
pub fn chunk_rows(head: &VocabMatrix, b: usize, chunk: usize, limit: Option<u64>) -> usize {
    let widest = head.spans().iter().map(|&(_, rows)| rows).max().unwrap_or(1).max(1) as u64;
    let budget = limit.map_or(LOGIT_TILE_BYTES, |l| l.min(LOGIT_TILE_BYTES));
    ((budget / (4 * widest)) as usize).clamp(1, (b * chunk).max(1))
}

/// [`token_stats`] from the final hidden states `[B, T, D]` (after `model.norm`), scored by
/// `head`: fused, unless the head itself is being trained (the built-in model's full warm-up),
/// which needs the head's own gradient and takes the plain path.
///
/// # Errors
/// Shapes that differ, `T < 2`, `chunk = 0`.
pub fn stats_of_hidden(
    head: &VocabMatrix,
    hidden: Tensor<3>,
    tokens: Tensor<2, Int>,
    mask: Tensor<2, Int>,
    chunk: usize,
) -> Result<TokenStats, ModelError> {
    if head.tiles.iter().any(|t| t.val().is_require_grad()) {
        return plain_stats_of_hidden(head, hidden, tokens, mask, chunk);
    }
    fused_stats_of_hidden(head, hidden, tokens, mask, chunk)
}

/// The fused path of [`stats_of_hidden`] (gradients with respect to `hidden` only).
///
/// # Errors
/// Shapes that differ, `T < 2`, `chunk = 0`.
pub fn fused_stats_of_hidden(
    head: &VocabMatrix,
    hidden: Tensor<3>,
    tokens: Tensor<2, Int>,
    mask: Tensor<2, Int>,
    chunk: usize,
) -> Result<TokenStats, ModelError> {
    let [b, t, d] = check_hidden(&hidden, &tokens, &mask, chunk)?;
    let n = b * (t - 1);
    let h = hidden.narrow(1, 0, t - 1).reshape([n, d]);
    let targets = tokens.narrow(1, 1, t - 1).reshape([n]);
    let keep = mask.narrow(1, 1, t - 1).float();
    let tracked = h.is_tracked();
    let fixed = h.clone().detach();
    let rows = chunk_rows(head, b, chunk, crate::device::binding_limit(&fixed.device()));
    let (mut values, mut entropies, mut jacobians) = (Vec::new(), Vec::new(), Vec::new());
    let mut start = 0;
    while start < n {
        let len = rows.min(n - start);
        let part = scored(head, fixed.clone().narrow(0, start, len), targets.clone().narrow(0, start, len), tracked);
        values.push(part.logp);
        entropies.push(part.entropy);
        jacobians.extend(part.jacobian);
        start += len;
    }
    let value = Tensor::cat(values, 0);
    let logprobs = if tracked {
        // Zero in value, `J` in gradient: the fused op's backward.
        value + (h - fixed).mul(Tensor::cat(jacobians, 0)).sum_dim(1)
    } else {
        value
    };
    let entropy = Tensor::cat(entropies, 0);
    Ok(TokenStats {
        logprobs: logprobs.reshape([b, t - 1]) * keep.clone(),
        entropy: entropy.reshape([b, t - 1]) * keep,
    })
}

/// One chunk's results, `[rows, 1]` and `[rows, D]`.
struct Scored {
    logp: Tensor<2>,
    entropy: Tensor<2>,
    jacobian: Option<Tensor<2>>,
}

/// Scores `x` `[rows, D]` (detached) against `targets` `[rows]`, one vocabulary tile at a time
/// with an online log-sum-exp: running max `m`, `s = Σ e^(l−m)`, `Σ e^(l−m)·l` (entropy) and,
/// when `jacobian`, `Σ e^(l−m)·W[v]`, each rescaled by `e^(m_old − m_new)` when the max grows.
fn scored(head: &VocabMatrix, x: Tensor<2>, targets: Tensor<1, Int>, jacobian: bool) -> Scored {
    let n = x.dims()[0];
    let mut state: Option<(Tensor<2>, Tensor<2>, Tensor<2>, Option<Tensor<2>>)> = None;
    let mut picked = Tensor::<2>::zeros([n, 1], &x.device());
    for (i, (first, rows)) in head.spans().into_iter().enumerate() {
        let logits = head.tile_logits(i, x.clone());
        let (local, outside) = super::vocab::locate(&targets, (first, rows));
        picked = picked + logits.clone().gather(1, local.reshape([n, 1])).mask_fill(outside.reshape([n, 1]), 0.0);
        let tile_max = logits.clone().max_dim(1);
        let (m, rescale) = match &state {
            None => (tile_max, None),
            Some((m, ..)) => {
                let m_new = m.clone().max_pair(tile_max);
                let rescale = (m.clone() - m_new.clone()).exp();
                (m_new, Some(rescale))
            }
        };
        let e = (logits.clone() - m.clone()).exp();
        let s_tile = e.clone().sum_dim(1);
        let el_tile = (e.clone() * logits).sum_dim(1);
        let j_tile = jacobian.then(|| base_matmul(e, head.tiles[i].val()));
        state = Some(match (state.take(), rescale) {
            (Some((_, s, el, j)), Some(r)) => {
                (m, s * r.clone() + s_tile, el * r.clone() + el_tile, j.zip(j_tile).map(|(j, jt)| j * r + jt))
            }
            _ => (m, s_tile, el_tile, j_tile),
        });
    }
    let Some((m, s, el, j)) = state else {
        let zero = Tensor::<2>::zeros([n, 1], &x.device());
        return Scored { logp: zero.clone(), entropy: zero, jacobian: None };
    };
    let lse = m + s.clone().log();
    let entropy = lse.clone() - el / s.clone();
    let jacobian = j.map(|j| head.embed(targets) - j / s);
    Scored { logp: picked - lse, entropy, jacobian }
}

/// The unfused path, for checks: the full logits of each chunk through burn's `log_softmax`
/// and `gather`, every intermediate on the autodiff graph (memory `~3·B·T·V` floats in
/// training).
///
/// # Errors
/// As [`token_stats`].
pub fn plain_token_stats(
    model: &CausalLm,
    tokens: Tensor<2, Int>,
    mask: Tensor<2, Int>,
    adapter: Adapter,
    chunk: usize,
) -> Result<TokenStats, ModelError> {
    check(&tokens, chunk)?;
    let hidden = model.hidden(tokens.clone(), mask.clone(), adapter)?;
    plain_stats_of_hidden(model.head(), hidden, tokens, mask, chunk)
}

/// The unfused path from hidden states `[B, T, D]`.
///
/// # Errors
/// As [`stats_of_hidden`].
pub fn plain_stats_of_hidden(
    head: &VocabMatrix,
    hidden: Tensor<3>,
    tokens: Tensor<2, Int>,
    mask: Tensor<2, Int>,
    chunk: usize,
) -> Result<TokenStats, ModelError> {
    let [b, t, _] = check_hidden(&hidden, &tokens, &mask, chunk)?;
    // Each chunk's logits `[B, chunk, V]` must fit one storage binding on wgpu.
    let v = head.dims()[0];
    let chunk = match crate::device::binding_limit(&hidden.device()) {
        Some(limit) => {
            let per_position = 4 * (b * v) as u64;
            super::weights::fits(|| format!("logits of one position [{b}, 1, {v}]"), per_position, Some(limit))?;
            chunk.min((limit / per_position) as usize)
        }
        None => chunk,
    };
    let targets = tokens.narrow(1, 1, t - 1);
    let keep = mask.narrow(1, 1, t - 1).float();
    let (mut logprobs, mut entropy) = (Vec::new(), Vec::new());
    let mut start = 0;
    while start < t - 1 {
        let len = chunk.min(t - 1 - start);
        let logp = log_softmax(head.logits(hidden.clone().narrow(1, start, len)), 2);
        let picked = logp.clone().gather(2, targets.clone().narrow(1, start, len).reshape([b, len, 1]));
        logprobs.push(picked.reshape([b, len]));
        let detached = logp.detach();
        entropy.push((detached.clone().exp() * detached).sum_dim(2).neg().reshape([b, len]));
        start += len;
    }
    Ok(TokenStats { logprobs: Tensor::cat(logprobs, 1) * keep.clone(), entropy: Tensor::cat(entropy, 1) * keep })
}
