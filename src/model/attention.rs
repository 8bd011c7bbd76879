//! Grouped-query self-attention: q/k/v/o projections (optional biases), Qwen3's per-head q/k
//! RMSNorm before RoPE, key/value heads shared by `H / Hkv` query heads, causal and padding
//! masks, and an optional key/value cache for incremental decoding. Shapes: `[B, T, D]` in and
//! out; heads `[B, H, T, Dh]`; cached keys and values `[B, Hkv, S, Dh]` (after `k_norm` and RoPE).

use burn::module::Module;
use burn::tensor::activation::softmax;
use burn::tensor::{Bool, Tensor};

use super::config::ModelConfig;
use super::layers::{LoraLinear, RmsNorm};

/// Masked scores: a large negative number rather than `-inf`, so a fully masked row stays finite.
const MASKED: f32 = -1.0e9;

/// One layer's cached keys and values `([B, Hkv, S, Dh], [B, Hkv, S, Dh])`, empty before the
/// first call.
pub type LayerCache = Option<(Tensor<4>, Tensor<4>)>;

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
            Some(slot) => {
                let (k, v) = match slot.take() {
                    Some((old_k, old_v)) => (Tensor::cat(vec![old_k, k], 2), Tensor::cat(vec![old_v, v], 2)),
                    None => (k, v),
                };
                *slot = Some((k.clone(), v.clone()));
                (k, v)
            }
        };
        let s = k.dims()[2];
        let (k, v) = (self.repeat_kv(k), self.repeat_kv(v));
        let scores = q.matmul(k.swap_dims(2, 3)).mul_scalar(1.0 / (self.head_dim as f64).sqrt());
        let scores = scores.mask_fill(ctx.mask.clone().expand([b, self.heads, t, s]), MASKED);
        let out = softmax(scores, 3).matmul(v);
        let out = out.swap_dims(1, 2).reshape([b, t, self.heads * self.head_dim]);
        self.o_proj.forward(out, ctx.adapter)
    }

    /// `[B, Hkv, T, Dh]` → `[B, H, T, Dh]`: query head `h` reads key/value head `h / (H / Hkv)`.
    fn repeat_kv(&self, x: Tensor<4>) -> Tensor<4> {
        let groups = self.heads / self.kv_heads;
        if groups == 1 {
            return x;
        }
        let [b, hkv, t, dh] = x.dims();
        x.reshape([b, hkv, 1, t, dh]).expand([b, hkv, groups, t, dh]).reshape([b, hkv * groups, t, dh])
    }
}
