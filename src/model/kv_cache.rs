//! Incremental decoding: a key/value cache per layer and [`CausalLm::extend`], which runs new
//! tokens after what the cache holds. Rows keep their own positions, so a batch of prompts of
//! different lengths (right-padded) decodes in one call. Shapes: cached keys/values
//! `[B, Hkv, S, Dh]` on the device; which of the `S` slots hold a real token, and each row's next
//! position, on the host.

use burn::tensor::{Bool, Int, Tensor, TensorData};

use super::attention::{Context, LayerCache};
use super::causal_lm::CausalLm;
use super::error::ModelError;
use super::weights::fits;

/// The keys and values of every layer for `B` rows.
pub struct KvCache {
    layers: Vec<LayerCache>,
    /// `[B][S]`: the slot holds a real token (not padding).
    valid: Vec<Vec<bool>>,
    /// `[B]`: the position the row's next token takes.
    next: Vec<usize>,
}

impl KvCache {
    /// An empty cache for `rows` rows of `model`.
    pub fn new(model: &CausalLm, rows: usize) -> Self {
        KvCache { layers: vec![None; model.layers.len()], valid: vec![Vec::new(); rows], next: vec![0; rows] }
    }

    /// `B`.
    pub fn rows(&self) -> usize {
        self.next.len()
    }

    /// `S`: slots per row (tokens and padding).
    pub fn slots(&self) -> usize {
        self.valid.first().map_or(0, Vec::len)
    }

    /// Each row's next position (its number of real tokens so far).
    pub fn positions(&self) -> &[usize] {
        &self.next
    }

    /// Keeps the rows `index` in that order; repeats share one prefill among the samples of a
    /// group, omissions drop finished rows.
    ///
    /// # Errors
    /// An index past the rows.
    pub fn select_rows(&mut self, index: &[usize]) -> Result<(), ModelError> {
        if let Some(&bad) = index.iter().find(|&&i| i >= self.rows()) {
            return Err(ModelError::Input(format!("row {bad} of a cache with {} rows", self.rows())));
        }
        self.valid = index.iter().map(|&i| self.valid[i].clone()).collect();
        self.next = index.iter().map(|&i| self.next[i]).collect();
        for layer in self.layers.iter_mut().flatten() {
            let device = layer.0.device();
            let ids: Vec<i64> = index.iter().map(|&i| i as i64).collect();
            let ids = Tensor::<1, Int>::from_data(TensorData::new(ids, [index.len()]), &device);
            *layer = (layer.0.clone().select(0, ids.clone()), layer.1.clone().select(0, ids));
        }
        Ok(())
    }
}

impl CausalLm {
    /// Runs `tokens` `[B, T]` (row-major; `real[i]` false marks right padding) after what `cache`
    /// holds and appends them to it. Returns the final hidden states `[B, T, D]` (after
    /// `model.norm`); padded slots hold garbage and stay invisible to later tokens.
    ///
    /// # Errors
    /// Sizes that do not match the cache, an empty call, or an attention that does not fit.
    pub fn extend(
        &self,
        tokens: &[u32],
        real: &[bool],
        t: usize,
        cache: &mut KvCache,
        adapter: bool,
    ) -> Result<Tensor<3>, ModelError> {
        let b = cache.rows();
        if t == 0 || b == 0 || tokens.len() != b * t || real.len() != b * t {
            return Err(ModelError::Input(format!(
                "extend: {} tokens and {} flags for {b} cached rows of {t}",
                tokens.len(),
                real.len()
            )));
        }
        self.check_ids(tokens, t)?;
        let cfg = self.config();
        let device = self.device();
        let s = cache.slots() + t;
        let h = cfg.num_attention_heads;
        let limit = crate::device::binding_limit(&device);
        fits(|| format!("attention scores [{b}, {h}, {t}, {s}]"), 4 * (b * h * t * s) as u64, limit)?;
        let mut positions = Vec::with_capacity(b * t);
        let mut mask = Vec::with_capacity(b * t * s);
        for row in 0..b {
            let flags = &real[row * t..(row + 1) * t];
            let mut pos = cache.next[row];
            for &is_real in flags {
                positions.push(pos);
                pos += usize::from(is_real);
            }
            cache.next[row] = pos;
            for j in 0..t {
                mask.extend(cache.valid[row].iter().map(|&v| !v));
                mask.extend((0..t).map(|k| k > j || !flags[k]));
            }
            cache.valid[row].extend_from_slice(flags);
        }
        debug_assert_eq!(cache.slots(), s);
        let ids: Vec<i64> = tokens.iter().map(|&i| i64::from(i)).collect();
        let ids = Tensor::<1, Int>::from_data(TensorData::new(ids, [b * t]), &device);
        let x = self.embed_tokens.embed(ids).reshape([b, t, cfg.hidden_size]);
        let (cos, sin) = super::rope::tables_at(cfg, &positions, [b, t], &device);
        let mask = Tensor::<4, Bool>::from_data(TensorData::new(mask, [b, 1, t, s]), &device);
        let ctx = Context { cos, sin, mask, adapter: adapter.into() };
        let mut x = x;
        for (layer, slot) in self.layers.iter().zip(cache.layers.iter_mut()) {
            x = layer.forward(x, &ctx, Some(slot));
        }
        Ok(self.norm.forward(x))
    }
}
