//! Grouped-query self-attention: q/k/v/o projections (optional biases), Qwen3's per-head q/k
//! RMSNorm before RoPE, key/value heads shared by `H / Hkv` query heads, causal and padding
//! masks, and an optional key/value cache for incremental decoding. Shapes: `[B, T, D]` in and
//! out; heads `[B, H, T, Dh]`; cached keys and values `[B, Hkv, C, Dh]` buffers (after `k_norm`
//! and RoPE) written in place, of which the first `S` slots are filled. Key/value heads are never
//! repeated: the `G = H / Hkv` query heads that share one are stacked as `[B, Hkv, G·T, Dh]`.

use burn::module::Module;
use burn::tensor::activation::softmax;
use burn::tensor::{Bool, Tensor};

use super::config::ModelConfig;
use super::layers::{LoraLinear, RmsNorm};

/// Masked scores: a large negative number rather than `-inf`, so a fully masked row stays finite.
const MASKED: f32 = -1.0e9;

/// One layer's cached keys and values: `[B, Hkv, C, Dh]` buffers, allocated at the first call
/// for `capacity` slots (grown by doubling past it), of which the first `len` are filled.
#[derive(Clone, Debug, Default)]
pub struct LayerCache {
    kv: Option<(Tensor<4>, Tensor<4>)>,
    len: usize,
    capacity: usize,
}

impl LayerCache {
    /// An empty cache that allocates `capacity` slots at its first call.
    pub fn with_capacity(capacity: usize) -> Self {
        LayerCache { kv: None, len: 0, capacity }
    }

    /// Writes `k`, `v` `[B, Hkv, T, Dh]` after the filled slots; returns views of all filled
    /// slots `[B, Hkv, S, Dh]`.
    fn append(&mut self, k: Tensor<4>, v: Tensor<4>) -> (Tensor<4>, Tensor<4>) {
        let [b, hkv, t, dh] = k.dims();
        let (used, s) = (self.len, self.len + t);
        let (bk, bv) = match self.kv.take() {
            Some((bk, bv)) if bk.dims()[2] >= s => (bk, bv),
            old => {
                let cap = self.capacity.max(s).max(old.as_ref().map_or(0, |(k, _)| 2 * k.dims()[2]));
                self.capacity = cap;
                let device = k.device();
                let fresh = |old: Option<Tensor<4>>| {
                    let buffer = Tensor::<4>::zeros([b, hkv, cap, dh], &device);
                    match old {
                        Some(o) if used > 0 => {
                            buffer.slice_assign([0..b, 0..hkv, 0..used, 0..dh], o.narrow(2, 0, used))
                        }
                        _ => buffer,
                    }
                };
                match old {
                    Some((ok, ov)) => (fresh(Some(ok)), fresh(Some(ov))),
                    None => (fresh(None), fresh(None)),
                }
            }
        };
        let bk = bk.slice_assign([0..b, 0..hkv, used..s, 0..dh], k);
        let bv = bv.slice_assign([0..b, 0..hkv, used..s, 0..dh], v);
        self.kv = Some((bk.clone(), bv.clone()));
        self.len = s;
        (bk.narrow(2, 0, s), bv.narrow(2, 0, s))
    }

    /// Keeps rows `ids` (in that order).
    pub(crate) fn select_rows(&mut self, ids: &Tensor<1, burn::tensor::Int>) {
        if let Some((k, v)) = self.kv.take() {
            self.kv = Some((k.select(0, ids.clone()), v.select(0, ids.clone())));
        }
    }

    /// The device of the buffers, once allocated.
    pub(crate) fn device(&self) -> Option<burn::tensor::Device> {
        self.kv.as_ref().map(|(k, _)| k.device())
    }

    /// Allocates at least `slots` slots at the next reallocation.
    pub(crate) fn reserve(&mut self, slots: usize) {
        self.capacity = self.capacity.max(slots);
    }

    /// The rows of `parts` (each with its number of rows), in order, as one cache of `slots`
    /// filled slots (at least every part's): a part's missing slots are zeros (its caller marks
    /// them padding). Each part's buffers are dropped once copied.
    pub(crate) fn stack(parts: Vec<(LayerCache, usize)>, slots: usize) -> LayerCache {
        let like = parts.iter().find_map(|(p, _)| p.kv.as_ref().map(|(k, _)| (k.dims(), k.device())));
        let Some(([_, hkv, _, dh], device)) = like.filter(|_| slots > 0) else {
            return LayerCache::with_capacity(slots);
        };
        let (mut ks, mut vs) = (Vec::with_capacity(parts.len()), Vec::with_capacity(parts.len()));
        for (part, rows) in parts.into_iter().filter(|(_, rows)| *rows > 0) {
            let len = if part.kv.is_some() { part.len.min(slots) } else { 0 };
            let widen = |t: Option<Tensor<4>>| match t {
                Some(t) if len == slots => t.narrow(2, 0, slots),
                Some(t) if len > 0 => {
                    let zeros = Tensor::<4>::zeros([rows, hkv, slots - len, dh], &device);
                    Tensor::cat(vec![t.narrow(2, 0, len), zeros], 2)
                }
                _ => Tensor::<4>::zeros([rows, hkv, slots, dh], &device),
            };
            let (k, v) = part.kv.map_or((None, None), |(k, v)| (Some(k), Some(v)));
            ks.push(widen(k));
            vs.push(widen(v));
        }
        if ks.is_empty() {
            return LayerCache::with_capacity(slots);
        }
        LayerCache { kv: Some((Tensor::cat(ks, 0), Tensor::cat(vs, 0))), len: slots, capacity: slots }
    }
}

/// One attention block (`model.layers.N.self_attn`).
#[derive(Module, Debug)]
pub struct Attention {
    /// `[D, H·Dh]`.
    pub q_proj: LoraLinear,
    /// `[D, Hkv·Dh]`.
    pub k_proj: LoraLinear,
    /// `[D, Hkv·Dh]`.
    pub v_proj: LoraLinear,
    /// `[H·Dh, D]`.
    pub o_proj: LoraLinear,
    /// Qwen3: RMSNorm over `Dh` per query head.
    pub q_norm: Option<RmsNorm>,
    /// Qwen3: RMSNorm over `Dh` per key head.
    pub k_norm: Option<RmsNorm>,
    #[module(skip)]
    heads: usize,
    #[module(skip)]
    kv_heads: usize,
    #[module(skip)]
    head_dim: usize,
}

/// What the attention of one forward pass needs besides its input.
pub struct Context {
    /// RoPE `cos` `[B or 1, 1, T, Dh]`.
    pub cos: Tensor<4>,
    /// RoPE `sin` `[B or 1, 1, T, Dh]`.
    pub sin: Tensor<4>,
    /// `true` where query `i` may not see key `j`: `[B, 1, T, S]` (causal or padded key), `S`
    /// the keys after this call: `T`, or the cached ones plus `T`.
    pub mask: Tensor<4, Bool>,
    /// Which weights run.
    pub adapter: super::dropout::Adapter,
}

impl Attention {
    /// Assembles a block from loaded projections.
    pub fn new(cfg: &ModelConfig, proj: [LoraLinear; 4], norms: (Option<RmsNorm>, Option<RmsNorm>)) -> Self {
        let [q_proj, k_proj, v_proj, o_proj] = proj;
        Attention {
            q_proj,
            k_proj,
            v_proj,
            o_proj,
            q_norm: norms.0,
            k_norm: norms.1,
            heads: cfg.num_attention_heads,
            kv_heads: cfg.num_key_value_heads,
            head_dim: cfg.head_dim,
        }
    }

    fn heads_of(&self, x: Tensor<3>, heads: usize, norm: Option<&RmsNorm>) -> Tensor<4> {
        let [b, t, _] = x.dims();
        let x = x.reshape([b, t, heads, self.head_dim]);
        let x = match norm {
            Some(n) => n.forward(x),
            None => x,
        };
        x.swap_dims(1, 2)
    }

    /// `[B, T, D]` → `[B, T, D]`. With `cache`, this call's keys and values are appended to it
    /// and the queries attend over all of them.
    pub fn forward(&self, x: Tensor<3>, ctx: &Context, cache: Option<&mut LayerCache>) -> Tensor<3> {
        let [b, t, _] = x.dims();
        let q = self.heads_of(self.q_proj.forward(x.clone(), ctx.adapter), self.heads, self.q_norm.as_ref());
        let k = self.heads_of(self.k_proj.forward(x.clone(), ctx.adapter), self.kv_heads, self.k_norm.as_ref());
        let v = self.heads_of(self.v_proj.forward(x, ctx.adapter), self.kv_heads, None);
        let q = super::rope::apply(q, &ctx.cos, &ctx.sin);
        let k = super::rope::apply(k, &ctx.cos, &ctx.sin);
        let (k, v) = match cache {
            None => (k, v),
            Some(slot) => slot.append(k, v),
        };
        let s = k.dims()[2];
        let (hkv, g, dh) = (self.kv_heads, self.heads / self.kv_heads, self.head_dim);
        // Query head `h` reads key/value head `h / G`: stack each group's queries.
        let q = q.reshape([b, hkv, g * t, dh]);
        let scores = q.matmul(k.swap_dims(2, 3)).mul_scalar(1.0 / (dh as f64).sqrt());
        let mb = ctx.mask.dims()[0];
        let mask = ctx.mask.clone().reshape([mb, 1, 1, t, s]).expand([b, hkv, g, t, s]).reshape([b, hkv, g * t, s]);
        let scores = scores.mask_fill(mask, MASKED);
        let out = softmax(scores, 3).matmul(v).reshape([b, self.heads, t, dh]);
        let out = out.swap_dims(1, 2).reshape([b, t, self.heads * dh]);
        self.o_proj.forward(out, ctx.adapter)
    }
}
