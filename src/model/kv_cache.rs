//! Incremental decoding: a key/value cache per layer and [`CausalLm::extend`], which runs new
//! tokens after what the cache holds. Rows keep their own positions, so a batch of prompts of
//! different lengths (right-padded) decodes in one call. Shapes: cached keys/values
//! `[B, Hkv, C, Dh]` buffers on the device, written in place (`C` slots, allocated once for the
//! capacity given, grown by doubling past it); which slots hold padding, on the host and as a
//! device mask `[B, 1, 1, C]`; RoPE tables `[C, Dh]` for positions `0..C`, built once. A decode
//! step (one real token per row) uploads only its ids and positions.

use burn::tensor::{Bool, Int, Tensor, TensorData};

use super::attention::{Context, LayerCache};
use super::causal_lm::CausalLm;
use super::error::ModelError;
use super::weights::fits;

/// The keys and values of every layer for `B` rows.
#[derive(Clone)]
pub struct KvCache {
    layers: Vec<LayerCache>,
    /// `[B][S]`: the slot holds a real token (not padding).
    valid: Vec<Vec<bool>>,
    /// `[B]`: the position the row's next token takes.
    next: Vec<usize>,
    /// Slots the buffers are allocated for.
    capacity: usize,
    /// `[B, 1, 1, C]`: true where a filled slot is padding.
    padding: Option<Tensor<4, Bool>>,
    /// RoPE `cos`, `sin` `[C, Dh]` for positions `0..C`.
    rope: Option<(Tensor<2>, Tensor<2>)>,
}

impl KvCache {
    /// An empty cache for `rows` rows of `model`, growing as needed.
    pub fn new(model: &CausalLm, rows: usize) -> Self {
        Self::with_capacity(model, rows, 0)
    }

    /// An empty cache for `rows` rows of `model`, allocated at its first use for `slots` tokens
    /// and padding per row (the longest prompt plus the new tokens: no copy while it lasts).
    pub fn with_capacity(model: &CausalLm, rows: usize, slots: usize) -> Self {
        KvCache {
            layers: vec![LayerCache::with_capacity(slots); model.layers.len()],
            valid: vec![Vec::new(); rows],
            next: vec![0; rows],
            capacity: slots,
            padding: None,
            rope: None,
        }
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
        let device =
            self.layers.iter().find_map(LayerCache::device).or_else(|| self.padding.as_ref().map(Tensor::device));
        let Some(device) = device else { return Ok(()) };
        let ids: Vec<i64> = index.iter().map(|&i| i as i64).collect();
        let ids = Tensor::<1, Int>::from_data(TensorData::new(ids, [index.len()]), &device);
        for layer in &mut self.layers {
            layer.select_rows(&ids);
        }
        self.padding = self.padding.take().map(|p| p.select(0, ids));
        Ok(())
    }

    /// A copy of the rows `index`, in that order (as [`KvCache::select_rows`]).
    ///
    /// # Errors
    /// An index past the rows.
    pub fn rows_of(&self, index: &[usize]) -> Result<KvCache, ModelError> {
        let mut copy = self.clone();
        copy.select_rows(index)?;
        Ok(copy)
    }

    /// The rows of `parts`, in order, as one cache (caches of one model). Rows with fewer
    /// slots than the longest are padded; each part's buffers are dropped layer by layer as they
    /// are copied.
    pub fn stack(parts: Vec<KvCache>) -> KvCache {
        let slots = parts.iter().map(KvCache::slots).max().unwrap_or(0);
        let layers = parts.iter().map(|p| p.layers.len()).max().unwrap_or(0);
        let (mut valid, mut next, mut rope, mut per_part) = (Vec::new(), Vec::new(), None, Vec::new());
        for p in parts {
            let rows = p.rows();
            valid.extend(p.valid.into_iter().map(|mut v| {
                v.resize(slots, false);
                v
            }));
            next.extend(p.next);
            rope = rope.or(p.rope);
            per_part.push((p.layers.into_iter(), rows));
        }
        let layers = (0..layers)
            .map(|_| {
                let parts = per_part.iter_mut().map(|(it, rows)| (it.next().unwrap_or_default(), *rows)).collect();
                LayerCache::stack(parts, slots)
            })
            .collect();
        KvCache { layers, valid, next, capacity: slots, padding: None, rope }
    }

    /// Keeps the first `keep` tokens of `row`: its later slots become padding and its next
    /// token takes position `keep` (a new turn whose prompt shares only that prefix).
    ///
    /// # Errors
    /// A row past the rows, or `keep` past the row's tokens.
    pub fn rewind(&mut self, row: usize, keep: usize) -> Result<(), ModelError> {
        let held = self.next.get(row).copied();
        let Some(held) = held.filter(|&n| keep <= n) else {
            return Err(ModelError::Input(format!(
                "rewind row {row} to {keep} tokens: the cache has {} rows, that row {held:?} tokens",
                self.rows()
            )));
        };
        if keep == held {
            return Ok(());
        }
        let mut seen = 0;
        for v in self.valid[row].iter_mut().filter(|v| **v) {
            if seen < keep {
                seen += 1;
            } else {
                *v = false;
            }
        }
        self.next[row] = keep;
        self.padding = None;
        Ok(())
    }

    /// Makes room for `more` slots past the filled ones, so the calls that fill them copy
    /// nothing.
    pub fn reserve(&mut self, more: usize) {
        let want = self.slots() + more;
        self.capacity = self.capacity.max(want);
        for layer in &mut self.layers {
            layer.reserve(want);
        }
    }

    /// The padding mask `[B, 1, 1, S]` once this call's slots are in `valid`: the device buffer
    /// as it is when the call added only real tokens (its new slots already say "real"), else
    /// rebuilt from `valid` on the host (a prefill with padding, or past the buffer's end).
    fn padding_mask(&mut self, all_real: bool, device: &burn::tensor::Device) -> Tensor<4, Bool> {
        let (b, s) = (self.rows(), self.slots());
        let mask = match self.padding.take() {
            Some(p) if all_real && p.dims()[3] >= s => p,
            _ => {
                if s > self.capacity {
                    self.capacity = s.max(2 * self.capacity);
                }
                let cap = self.capacity;
                let data: Vec<bool> = self
                    .valid
                    .iter()
                    .flat_map(|row| row.iter().map(|&v| !v).chain(std::iter::repeat_n(false, cap - s)))
                    .collect();
                Tensor::<4, Bool>::from_data(TensorData::new(data, [b, 1, 1, cap]), device)
            }
        };
        self.padding = Some(mask.clone());
        mask.narrow(3, 0, s)
    }

    /// RoPE tables `[B, 1, 1, Dh]` at `positions` `[B]` from the cached table (built once).
    fn rope_at(
        &mut self,
        model: &CausalLm,
        positions: &[usize],
        device: &burn::tensor::Device,
    ) -> (Tensor<4>, Tensor<4>) {
        let cfg = model.config();
        let need = positions.iter().max().map_or(0, |m| m + 1);
        if self.rope.as_ref().is_none_or(|(c, _)| c.dims()[0] < need) {
            let len = self.capacity.max(need);
            let all: Vec<usize> = (0..len).collect();
            let (cos, sin) = super::rope::tables_at(cfg, &all, [1, len], device);
            self.rope = Some((cos.reshape([len, cfg.head_dim]), sin.reshape([len, cfg.head_dim])));
        }
        let b = positions.len();
        let ids: Vec<i64> = positions.iter().map(|&p| p as i64).collect();
        let ids = Tensor::<1, Int>::from_data(TensorData::new(ids, [b]), device);
        let (cos, sin) = self.rope.clone().unwrap_or_else(|| unreachable!("built above"));
        let at = |table: Tensor<2>| table.select(0, ids.clone()).reshape([b, 1, 1, cfg.head_dim]);
        (at(cos), at(sin))
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
        for row in 0..b {
            let flags = &real[row * t..(row + 1) * t];
            let mut pos = cache.next[row];
            for &is_real in flags {
                positions.push(pos);
                pos += usize::from(is_real);
            }
            cache.next[row] = pos;
            cache.valid[row].extend_from_slice(flags);
        }
        debug_assert_eq!(cache.slots(), s);
        let padding = cache.padding_mask(real.iter().all(|&r| r), &device);
        let (mask, cos, sin) = if t == 1 {
            let (cos, sin) = cache.rope_at(self, &positions, &device);
            (padding, cos, sin)
        } else {
            // Slot `S - T + j` is hidden from query `i < j` (causal) and wherever it is padding.
            let causal: Vec<bool> = (0..t).flat_map(|i| (0..s).map(move |j| j + t > s + i)).collect();
            let causal = Tensor::<4, Bool>::from_data(TensorData::new(causal, [1, 1, t, s]), &device);
            let mask = padding.expand([b, 1, t, s]).bool_or(causal.expand([b, 1, t, s]));
            let (cos, sin) = super::rope::tables_at(cfg, &positions, [b, t], &device);
            (mask, cos, sin)
        };
        let ids: Vec<i64> = tokens.iter().map(|&i| i64::from(i)).collect();
        let ids = Tensor::<1, Int>::from_data(TensorData::new(ids, [b * t]), &device);
        let x = self.embed_tokens.embed(ids).reshape([b, t, cfg.hidden_size]);
        let ctx = Context { cos, sin, mask, adapter: adapter.into() };
        let mut x = x;
        for (layer, slot) in self.layers.iter().zip(cache.layers.iter_mut()) {
            x = layer.forward(x, &ctx, Some(slot));
        }
        Ok(self.norm.forward(x))
    }
}
