//! The prefill of [`super::generate`]: every prompt's cache rows (continuing a held cache where a
//! row shares a prefix with it), run `GenerateOptions::prefill_chunk` prompt columns at a time.

use burn::tensor::{Int, Tensor, TensorData};

use super::{GenerateOptions, Held, Stats};
use crate::model::{CausalLm, KvCache, ModelError};

/// The prefill: a cache holding every prompt (from `prior`'s rows where they share a prefix)
/// and the final hidden state of each `[P, D]`.
pub(super) fn prefill(
    model: &CausalLm,
    prompts: &[Vec<u32>],
    opts: &GenerateOptions,
    prior: Option<Held>,
    stats: &mut Stats,
) -> Result<(KvCache, Tensor<2>), ModelError> {
    let p = prompts.len();
    let (mut cache, start) = match prior {
        None => (KvCache::new(model, p), vec![0; p]),
        Some(held) => {
            if held.rows() != p {
                return Err(ModelError::Input(format!("{} held rows for {p} prompts", held.rows())));
            }
            let mut cache = held.cache;
            let mut start = Vec::with_capacity(p);
            for (r, (ids, prompt)) in held.ids.iter().zip(prompts).enumerate() {
                let shared = ids.iter().zip(prompt).take_while(|(a, b)| a == b).count();
                let keep = shared.min(prompt.len() - 1);
                cache.rewind(r, keep)?;
                start.push(keep);
            }
            (cache, start)
        }
    };
    let rest: Vec<&[u32]> = prompts.iter().zip(&start).map(|(pr, &s)| &pr[s..]).collect();
    let t = rest.iter().map(|r| r.len()).max().unwrap_or(1);
    cache.reserve(t + opts.max_new_tokens);
    // In chunks of columns: the cache ends as one call would leave it (the same slots, the same
    // padding), the transient scores are `[P, H, chunk, S]` rather than `[P, H, T, S]`.
    let chunk = match opts.prefill_chunk {
        0 => t,
        c => c.min(t),
    };
    let (device, d) = (model.device(), model.config().hidden_size);
    let mut picked = Vec::new();
    let mut order = Vec::with_capacity(p);
    for from in (0..t).step_by(chunk) {
        let c = chunk.min(t - from);
        // Columns `from..from + c` of every row, right-padded where a row's prompt is shorter.
        let mut tokens = vec![0u32; p * c];
        let mut real = vec![false; p * c];
        for (i, r) in rest.iter().enumerate() {
            let part = r.get(from..r.len().min(from + c)).unwrap_or_default();
            tokens[i * c..i * c + part.len()].copy_from_slice(part);
            real[i * c..i * c + part.len()].fill(true);
        }
        let hidden = model.extend(&tokens, &real, c, &mut cache, opts.adapter)?;
        // The rows whose last prompt token is in this chunk: their final hidden state.
        let here: Vec<(usize, i64)> = rest
            .iter()
            .enumerate()
            .filter(|(_, r)| (from..from + c).contains(&(r.len() - 1)))
            .map(|(i, r)| (i, (i * c + r.len() - 1 - from) as i64))
            .collect();
        if !here.is_empty() {
            let at = TensorData::new(here.iter().map(|h| h.1).collect::<Vec<_>>(), [here.len()]);
            picked.push(hidden.reshape([p * c, d]).select(0, Tensor::<1, Int>::from_data(at, &device)));
            order.extend(here.iter().map(|h| h.0));
        }
    }
    stats.prefill_rows = p;
    stats.prefill_tokens = rest.iter().map(|r| r.len()).sum();
    stats.reused_tokens = start.iter().sum();
    // Back to prompt order: row `order[k]` is at `k`.
    let mut at = vec![0i64; p];
    for (k, &row) in order.iter().enumerate() {
        at[row] = k as i64;
    }
    let at = Tensor::<1, Int>::from_data(TensorData::new(at, [p]), &device);
    Ok((cache, Tensor::cat(picked, 0).select(0, at)))
}
