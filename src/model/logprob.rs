//! Teacher-forced per-token log-probabilities and entropies, chunked over time so the full
//! `[B, T, V]` log-softmax never sits in memory at once (the hidden states `[B, T, D]` do).

use burn::tensor::activation::log_softmax;
use burn::tensor::{Int, Tensor};

use super::causal_lm::CausalLm;
use super::dropout::Adapter;
use super::error::ModelError;

/// Per-token statistics of a batch, `[B, T - 1]`: position `t` scores `tokens[t + 1]`.
pub struct TokenStats {
    /// `log p(tokens[t + 1] | tokens[..=t])`; 0 where the target is padding.
    pub logprobs: Tensor<2>,
    /// Entropy of the next-token distribution at `t`; 0 where the target is padding. A metric:
    /// computed from detached log-probs, so it is never on the autodiff graph.
    pub entropy: Tensor<2>,
}

/// Log-probs and entropies of `tokens` `[B, T]` (mask `[B, T]`, 1 = token), `chunk` positions
/// of logits at a time; [`Adapter::Off`] scores under the base model (the KL reference).
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
    let [b, t] = tokens.dims();
    if t < 2 || chunk == 0 {
        return Err(ModelError::Input(format!("need T >= 2 tokens and chunk > 0 (T = {t}, chunk = {chunk})")));
    }
    // Each chunk's logits `[B, chunk, V]` must fit one storage binding on wgpu.
    let v = model.config().vocab_size;
    let chunk = match crate::device::binding_limit(&tokens.device()) {
        Some(limit) => {
            let per_position = 4 * (b * v) as u64;
            super::weights::fits(|| format!("logits of one position [{b}, 1, {v}]"), per_position, Some(limit))?;
            chunk.min((limit / per_position) as usize)
        }
        None => chunk,
    };
    let hidden = model.hidden(tokens.clone(), mask.clone(), adapter)?;
    let targets = tokens.narrow(1, 1, t - 1);
    let keep = mask.narrow(1, 1, t - 1).float();
    let (mut logprobs, mut entropy) = (Vec::new(), Vec::new());
    let mut start = 0;
    while start < t - 1 {
        let len = chunk.min(t - 1 - start);
        let logp = log_softmax(model.logits_of(hidden.clone().narrow(1, start, len), adapter), 2);
        let picked = logp.clone().gather(2, targets.clone().narrow(1, start, len).reshape([b, len, 1]));
        logprobs.push(picked.reshape([b, len]));
        let detached = logp.detach();
        entropy.push((detached.clone().exp() * detached).sum_dim(2).neg().reshape([b, len]));
        start += len;
    }
    Ok(TokenStats { logprobs: Tensor::cat(logprobs, 1) * keep.clone(), entropy: Tensor::cat(entropy, 1) * keep })
}
