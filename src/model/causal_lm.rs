//! The decoder (`model.*`) and its language-model head: token ids in, logits out; it knows no
//! text. `[B, T]` ids and a `[B, T]` attention mask (1 = token, 0 = right padding) give
//! `[B, T, V]` logits; positions are `0..T` in every row, as Hugging Face numbers them for
//! right-padded batches.

use std::path::Path;

use burn::module::Module;
use burn::tensor::{Bool, Device, Int, Tensor};

use super::attention::{Attention, Context, LayerCache};
use super::config::ModelConfig;
use super::dropout::Adapter;
use super::error::ModelError;
use super::layers::{LoraLinear, Mlp, RmsNorm};
use super::precision::Precision;
use super::vocab::VocabMatrix;
use super::weights::{Limited, RandomWeights, TensorSource, Weights, fits};

/// Every projection of a decoder layer that can carry a LoRA adapter, as `(submodule, name)` in
/// the checkpoint (`self_attn.q_proj`), in the order of [`DecoderLayer::projections`]. The one
/// list of them: checkpoint names ([`CausalLm::linear_layers`]) and PEFT's `target_modules`
/// (`peft::targets`) come from it.
pub const PROJECTIONS: [(&str, &str); 7] = [
    ("self_attn", "q_proj"),
    ("self_attn", "k_proj"),
    ("self_attn", "v_proj"),
    ("self_attn", "o_proj"),
    ("mlp", "gate_proj"),
    ("mlp", "up_proj"),
    ("mlp", "down_proj"),
];

/// One block (`model.layers.N`): pre-norm attention and MLP with residuals.
#[derive(Module, Debug)]
pub struct DecoderLayer {
    /// Before attention.
    pub input_layernorm: RmsNorm,
    /// `self_attn`.
    pub self_attn: Attention,
    /// Before the MLP.
    pub post_attention_layernorm: RmsNorm,
    /// `mlp`.
    pub mlp: Mlp,
}

impl DecoderLayer {
    /// The projections in [`PROJECTIONS`] order.
    pub fn projections(&self) -> [&LoraLinear; 7] {
        let (a, m) = (&self.self_attn, &self.mlp);
        [&a.q_proj, &a.k_proj, &a.v_proj, &a.o_proj, &m.gate_proj, &m.up_proj, &m.down_proj]
    }

    /// The projections in [`PROJECTIONS`] order, mutably.
    pub fn projections_mut(&mut self) -> [&mut LoraLinear; 7] {
        let (a, m) = (&mut self.self_attn, &mut self.mlp);
        [&mut a.q_proj, &mut a.k_proj, &mut a.v_proj, &mut a.o_proj, &mut m.gate_proj, &mut m.up_proj, &mut m.down_proj]
    }

    pub(crate) fn forward(&self, x: Tensor<3>, ctx: &Context, cache: Option<&mut LayerCache>) -> Tensor<3> {
        let x = x.clone() + self.self_attn.forward(self.input_layernorm.forward(x), ctx, cache);
        x.clone() + self.mlp.forward(self.post_attention_layernorm.forward(x), ctx.adapter)
    }
}

/// `model` + `lm_head`.
#[derive(Module, Debug)]
pub struct CausalLm {
    /// `model.embed_tokens.weight`, `[V, D]`, in vocabulary tiles.
    pub embed_tokens: VocabMatrix,
    /// `model.layers`.
    pub layers: Vec<DecoderLayer>,
    /// `model.norm`.
    pub norm: RmsNorm,
    /// `lm_head.weight` `[V, D]` (never a LoRA target), in vocabulary tiles; `None` when tied
    /// to `embed_tokens`.
    pub lm_head: Option<VocabMatrix>,
    #[module(skip)]
    config: ModelConfig,
}

impl CausalLm {
    /// Loads a Hugging Face directory (`config.json` + `model.safetensors` or its shards) or a
    /// llama.cpp `.gguf` file, base weights frozen.
    ///
    /// # Errors
    /// Missing files or tensors, wrong shapes or dtypes, unsupported configurations.
    pub fn load(dir: &Path, device: &Device) -> Result<Self, ModelError> {
        Self::load_as(dir, Precision::F32, device)
    }

    /// The configuration of the model at `path` (a directory's `config.json`, or a GGUF file's
    /// metadata), without loading its weights.
    ///
    /// # Errors
    /// Missing or malformed configuration.
    pub fn config_at(path: &Path) -> Result<ModelConfig, ModelError> {
        if path.extension().is_some_and(|e| e == "gguf") {
            return super::gguf::Gguf::open(path)?.config();
        }
        ModelConfig::from_file(&path.join("config.json"))
    }

    /// As [`CausalLm::load`], the base weights stored in `precision`.
    ///
    /// # Errors
    /// As [`CausalLm::load`].
    pub fn load_as(dir: &Path, precision: Precision, device: &Device) -> Result<Self, ModelError> {
        if dir.extension().is_some_and(|e| e == "gguf") {
            let gguf = super::gguf::Gguf::open(dir)?;
            return Self::from_weights_as(gguf.config()?, &gguf, precision, device);
        }
        let config = ModelConfig::from_file(&dir.join("config.json"))?;
        let weights = Weights::open(dir, "model.safetensors")?;
        Self::from_weights_as(config, &weights, precision, device)
    }

    /// A randomly initialised model of `config` (benchmarks; see [`RandomWeights`]).
    ///
    /// # Errors
    /// None in practice (the random source has every tensor).
    pub fn random(config: ModelConfig, seed: u64, device: &Device) -> Result<Self, ModelError> {
        Self::from_weights(config, &RandomWeights { seed }, device)
    }

    /// As [`CausalLm::random`], the base stored in `precision`.
    ///
    /// # Errors
    /// As [`CausalLm::random`].
    pub fn random_as(
        config: ModelConfig,
        seed: u64,
        precision: Precision,
        device: &Device,
    ) -> Result<Self, ModelError> {
        Self::from_weights_as(config, &RandomWeights { seed }, precision, device)
    }

    /// Bytes the base weights occupy on the device (every parameter, adapters included).
    pub fn weight_bytes(&self) -> u64 {
        struct Bytes(u64);
        impl burn::module::ModuleVisitor for Bytes {
            fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<D>>) {
                let t = param.val();
                self.0 += (t.shape().num_elements() * t.dtype().size()) as u64;
            }
        }
        let mut bytes = Bytes(0);
        self.visit(&mut bytes);
        bytes.0
    }

    /// Builds the model from a tensor source (an opened checkpoint, or random weights), in f32.
    ///
    /// # Errors
    /// Missing tensors, wrong shapes or dtypes.
    pub fn from_weights(config: ModelConfig, w: &dyn TensorSource, device: &Device) -> Result<Self, ModelError> {
        Self::from_weights_as(config, w, Precision::F32, device)
    }

    /// Builds the model from a tensor source, the base projections and vocabulary matrices
    /// stored in `precision` (norms and biases in f32).
    ///
    /// # Errors
    /// Missing tensors, wrong shapes or dtypes, a tensor larger than one storage binding.
    pub fn from_weights_as(
        config: ModelConfig,
        source: &dyn TensorSource,
        precision: Precision,
        device: &Device,
    ) -> Result<Self, ModelError> {
        if let Some((field, reason)) = config.problem() {
            return Err(ModelError::Input(format!("model configuration: {field}: {reason}")));
        }
        let limit = crate::device::binding_limit(device);
        let limited = Limited { inner: source, limit, bytes: precision.bytes() };
        let w: &dyn TensorSource = &limited;
        let c = &config;
        let (d, v, dh) = (c.hidden_size, c.vocab_size, c.head_dim);
        let (q_out, kv_out) = (c.num_attention_heads * dh, c.num_key_value_heads * dh);
        let embed = VocabMatrix::load(source, "model.embed_tokens.weight", [v, d], precision, limit, device)?;
        // Capacity from the file's claim, bounded: a checkpoint claiming 10^12 layers fails at its
        // first missing layer, not in the allocator.
        let mut layers = Vec::with_capacity(c.num_hidden_layers.min(1024));
        for i in 0..c.num_hidden_layers {
            let p = format!("model.layers.{i}");
            let lin = |name: &str, d_in: usize, d_out: usize, bias: bool| {
                LoraLinear::load(w, &format!("{p}.{name}"), [d_in, d_out], bias, precision, device)
            };
            let proj = [
                lin("self_attn.q_proj", d, q_out, c.qkv_bias)?,
                lin("self_attn.k_proj", d, kv_out, c.qkv_bias)?,
                lin("self_attn.v_proj", d, kv_out, c.qkv_bias)?,
                lin("self_attn.o_proj", q_out, d, c.o_bias)?,
            ];
            let norms = if c.qk_norm {
                let n = |name: &str| RmsNorm::load(w, &format!("{p}.self_attn.{name}"), dh, c.rms_norm_eps, device);
                (Some(n("q_norm")?), Some(n("k_norm")?))
            } else {
                (None, None)
            };
            let i_size = c.intermediate_size;
            layers.push(DecoderLayer {
                input_layernorm: RmsNorm::load(w, &format!("{p}.input_layernorm"), d, c.rms_norm_eps, device)?,
                self_attn: Attention::new(c, proj, norms),
                post_attention_layernorm: RmsNorm::load(
                    w,
                    &format!("{p}.post_attention_layernorm"),
                    d,
                    c.rms_norm_eps,
                    device,
                )?,
                mlp: Mlp {
                    gate_proj: lin("mlp.gate_proj", d, i_size, false)?,
                    up_proj: lin("mlp.up_proj", d, i_size, false)?,
                    down_proj: lin("mlp.down_proj", i_size, d, false)?,
                },
            });
        }
        let lm_head = if c.tie_word_embeddings && !w.has("lm_head.weight") {
            None
        } else {
            Some(VocabMatrix::load(source, "lm_head.weight", [v, d], precision, limit, device)?)
        };
        Ok(CausalLm {
            embed_tokens: embed,
            layers,
            norm: RmsNorm::load(w, "model.norm", d, c.rms_norm_eps, device)?,
            lm_head,
            config,
        })
    }

    /// Every projection with its checkpoint name (`model.layers.N.self_attn.q_proj`, …).
    pub fn linear_layers(&self) -> Vec<(String, &LoraLinear)> {
        let mut out = Vec::new();
        for (i, l) in self.layers.iter().enumerate() {
            for ((module, name), layer) in PROJECTIONS.iter().zip(l.projections()) {
                out.push((format!("model.layers.{i}.{module}.{name}"), layer));
            }
        }
        out
    }

    /// As [`CausalLm::linear_layers`], mutably (to attach adapters).
    pub fn linear_layers_mut(&mut self) -> Vec<(String, &mut LoraLinear)> {
        let mut out = Vec::new();
        for (i, l) in self.layers.iter_mut().enumerate() {
            for ((module, name), layer) in PROJECTIONS.iter().zip(l.projections_mut()) {
                out.push((format!("model.layers.{i}.{module}.{name}"), layer));
            }
        }
        out
    }

    /// Checks a batch's token ids against the vocabulary before they reach the embedding (an id
    /// past it panics on the CPU backend and reads garbage on a GPU): `ids` is `[B, T]` row-major.
    ///
    /// # Errors
    /// The first id outside the vocabulary, with its row and position.
    pub fn check_ids(&self, ids: &[u32], t: usize) -> Result<(), ModelError> {
        let v = self.config.vocab_size;
        match ids.iter().position(|&id| id as usize >= v) {
            None => Ok(()),
            Some(i) => Err(ModelError::Input(format!(
                "token id {} (row {}, position {}) is outside the model's vocabulary of {v}: is the tokenizer the model's own?",
                ids[i],
                i / t.max(1),
                i % t.max(1)
            ))),
        }
    }

    /// The configuration it was built from.
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// The device its weights live on.
    pub fn device(&self) -> Device {
        self.embed_tokens.tiles[0].val().device()
    }

    /// The precision the base weights are stored in.
    pub fn precision(&self) -> Precision {
        Precision::of(self.embed_tokens.tiles[0].val().dtype())
    }

    /// The matrix the logits come from: `lm_head`, or the embedding when tied.
    pub fn head(&self) -> &VocabMatrix {
        self.lm_head.as_ref().unwrap_or(&self.embed_tokens)
    }

    /// Final hidden states `[B, T, D]` (after `model.norm`) of `tokens` `[B, T]` (ids below
    /// the vocabulary size: see [`CausalLm::check_ids`]) under `mask`
    /// `[B, T]` (1 = token, 0 = padding); [`Adapter::Off`] runs the base model.
    ///
    /// # Errors
    /// Shapes that differ, or an empty batch.
    pub fn hidden(
        &self,
        tokens: Tensor<2, Int>,
        mask: Tensor<2, Int>,
        adapter: Adapter,
    ) -> Result<Tensor<3>, ModelError> {
        let (x, ctx) = self.prepare(tokens, mask, adapter)?;
        let x = self.layers.iter().fold(x, |x, layer| layer.forward(x, &ctx, None));
        Ok(self.norm.forward(x))
    }

    /// The first decoder layer's input `[B, T, D]` (the token embeddings) and what every layer's
    /// attention needs (RoPE tables, masks) for `tokens` `[B, T]` under `mask` `[B, T]`.
    ///
    /// # Errors
    /// As [`CausalLm::hidden`].
    pub fn prepare(
        &self,
        tokens: Tensor<2, Int>,
        mask: Tensor<2, Int>,
        adapter: Adapter,
    ) -> Result<(Tensor<3>, Context), ModelError> {
        let [b, t] = tokens.dims();
        if mask.dims() != [b, t] || b == 0 || t == 0 {
            return Err(ModelError::Input(format!(
                "tokens {:?} and mask {:?} must be equal, non-empty [B, T]",
                [b, t],
                mask.dims()
            )));
        }
        let device = tokens.device();
        let d = self.config.hidden_size;
        let limit = crate::device::binding_limit(&device);
        let h = self.config.num_attention_heads;
        fits(|| format!("attention scores [{b}, {h}, {t}, {t}]"), 4 * (b * h) as u64 * (t * t) as u64, limit)?;
        fits(
            || format!("MLP activations [{b}, {t}, {}]", self.config.intermediate_size),
            4 * (b * t * self.config.intermediate_size) as u64,
            limit,
        )?;
        let x = self.embed_tokens.embed(tokens.reshape([b * t])).reshape([b, t, d]);
        let (cos, sin) = super::rope::tables(&self.config, 0, t, &device);
        // `tril_mask` is true above the diagonal: the keys a query may not see.
        let causal: Tensor<2, Bool> = Tensor::tril_mask([t, t], 0, &device);
        let padded_key = mask.equal_elem(0).reshape([b, 1, 1, t]).expand([b, 1, t, t]);
        let ctx =
            Context { cos, sin, mask: causal.reshape([1, 1, t, t]).expand([b, 1, t, t]).bool_or(padded_key), adapter };
        Ok((x, ctx))
    }

    /// Logits `[.., V]` of hidden states `[.., D]` (the head carries no adapter, so `adapter`
    /// does not change them).
    pub fn logits_of<const N: usize>(&self, hidden: Tensor<N>, adapter: Adapter) -> Tensor<N> {
        let _ = adapter;
        self.head().logits(hidden)
    }

    /// Logits `[B, T, V]`.
    ///
    /// # Errors
    /// As [`CausalLm::hidden`].
    pub fn forward(
        &self,
        tokens: Tensor<2, Int>,
        mask: Tensor<2, Int>,
        adapter: Adapter,
    ) -> Result<Tensor<3>, ModelError> {
        Ok(self.logits_of(self.hidden(tokens, mask, adapter)?, adapter))
    }
}
