//! `config.json` (Hugging Face) → [`ModelConfig`], validated.

use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use super::error::ModelError;

/// The decoder families this crate runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Architecture {
    /// `LlamaForCausalLM` (also SmolLM2).
    Llama,
    /// `Qwen2ForCausalLM` (Qwen2, Qwen2.5): q/k/v biases.
    Qwen2,
    /// `Qwen3ForCausalLM`: per-head RMSNorm of q and k.
    Qwen3,
}

/// Llama-3 frequency-dependent RoPE scaling (`rope_scaling.rope_type = "llama3"`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Llama3Scaling {
    /// `factor`.
    pub factor: f64,
    /// `low_freq_factor`.
    pub low_freq_factor: f64,
    /// `high_freq_factor`.
    pub high_freq_factor: f64,
    /// `original_max_position_embeddings`.
    pub original_max_position_embeddings: f64,
}

/// A validated decoder configuration; names follow `config.json`.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelConfig {
    /// Which decoder.
    pub architecture: Architecture,
    /// `V`.
    pub vocab_size: usize,
    /// `D`.
    pub hidden_size: usize,
    /// MLP width.
    pub intermediate_size: usize,
    /// Decoder layers.
    pub num_hidden_layers: usize,
    /// Query heads `H`.
    pub num_attention_heads: usize,
    /// Key/value heads `Hkv` (divides `H`).
    pub num_key_value_heads: usize,
    /// Per-head width `Dh`.
    pub head_dim: usize,
    /// RMSNorm epsilon.
    pub rms_norm_eps: f64,
    /// RoPE base.
    pub rope_theta: f64,
    /// Llama-3 RoPE scaling, when configured.
    pub rope_scaling: Option<Llama3Scaling>,
    /// `lm_head` shares `embed_tokens`.
    pub tie_word_embeddings: bool,
    /// q/k/v projections have biases.
    pub qkv_bias: bool,
    /// o projection has a bias.
    pub o_bias: bool,
    /// Per-head q/k RMSNorm (Qwen3).
    pub qk_norm: bool,
    /// Longest context the checkpoint was trained for.
    pub max_position_embeddings: usize,
}

#[derive(Deserialize)]
struct Raw {
    architectures: Option<Vec<String>>,
    model_type: Option<String>,
    vocab_size: usize,
    hidden_size: usize,
    intermediate_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    num_key_value_heads: Option<usize>,
    head_dim: Option<usize>,
    rms_norm_eps: f64,
    rope_theta: Option<f64>,
    rope_scaling: Option<Value>,
    rope_parameters: Option<Value>,
    tie_word_embeddings: Option<bool>,
    attention_bias: Option<bool>,
    mlp_bias: Option<bool>,
    hidden_act: Option<String>,
    max_position_embeddings: Option<usize>,
}

impl ModelConfig {
    /// Reads and validates `config.json`.
    ///
    /// # Errors
    /// Unreadable file, missing or invalid keys (named), unsupported architectures or options.
    pub fn from_file(path: &Path) -> Result<Self, ModelError> {
        let text = std::fs::read_to_string(path).map_err(|source| ModelError::Read { path: path.into(), source })?;
        Self::from_json(path, &text)
    }

    /// Parses `config.json` text; `path` names it in errors.
    ///
    /// # Errors
    /// Missing or invalid keys, unsupported architectures or options.
    pub fn from_json(path: &Path, text: &str) -> Result<Self, ModelError> {
        let bad = |field: &str, reason: String| ModelError::Json { path: path.into(), field: field.into(), reason };
        let raw: Raw = serde_json::from_str(text).map_err(|e| bad("(file)", e.to_string()))?;
        let unsupported = |what: String| ModelError::Unsupported { path: path.into(), what };
        let name =
            raw.architectures.as_ref().and_then(|a| a.first()).cloned().or(raw.model_type.clone()).unwrap_or_default();
        let architecture = match name.as_str() {
            "LlamaForCausalLM" | "llama" => Architecture::Llama,
            "Qwen2ForCausalLM" | "qwen2" => Architecture::Qwen2,
            "Qwen3ForCausalLM" | "qwen3" => Architecture::Qwen3,
            other => return Err(unsupported(format!("architecture {other:?} (Llama, Qwen2, Qwen3 are)"))),
        };
        if let Some(act) = raw.hidden_act.as_deref().filter(|a| *a != "silu") {
            return Err(unsupported(format!("hidden_act {act:?} (silu is)")));
        }
        if raw.mlp_bias == Some(true) {
            return Err(unsupported("mlp_bias = true".into()));
        }
        let heads = raw.num_attention_heads;
        let kv_heads = raw.num_key_value_heads.unwrap_or(heads);
        if raw.head_dim.is_none() && heads > 0 && !raw.hidden_size.is_multiple_of(heads) {
            let reason = format!("{heads} does not divide hidden_size {} (and there is no head_dim)", raw.hidden_size);
            return Err(bad("num_attention_heads", reason));
        }
        let head_dim = raw.head_dim.unwrap_or(raw.hidden_size / heads.max(1));
        // transformers 5 writes `rope_parameters`; 4.x writes `rope_theta` + `rope_scaling`.
        let params = raw.rope_parameters.as_ref();
        let rope_theta = raw.rope_theta.or_else(|| params.and_then(|p| p["rope_theta"].as_f64())).unwrap_or(10_000.0);
        let scaling = raw.rope_scaling.as_ref().filter(|v| !v.is_null()).or(params);
        let rope_scaling = match scaling {
            None => None,
            Some(s) => {
                let kind = s.get("rope_type").or_else(|| s.get("type")).and_then(Value::as_str).unwrap_or("default");
                match kind {
                    "default" => None,
                    "llama3" => {
                        let f = |k: &str| {
                            s.get(k)
                                .and_then(Value::as_f64)
                                .ok_or_else(|| bad(&format!("rope_scaling.{k}"), "missing".into()))
                        };
                        Some(Llama3Scaling {
                            factor: f("factor")?,
                            low_freq_factor: f("low_freq_factor")?,
                            high_freq_factor: f("high_freq_factor")?,
                            original_max_position_embeddings: f("original_max_position_embeddings")?,
                        })
                    }
                    other => return Err(unsupported(format!("rope_scaling type {other:?} (llama3 is)"))),
                }
            }
        };
        let attention_bias = raw.attention_bias.unwrap_or(false);
        let config = ModelConfig {
            architecture,
            vocab_size: raw.vocab_size,
            hidden_size: raw.hidden_size,
            intermediate_size: raw.intermediate_size,
            num_hidden_layers: raw.num_hidden_layers,
            num_attention_heads: heads,
            num_key_value_heads: kv_heads,
            head_dim,
            rms_norm_eps: raw.rms_norm_eps,
            rope_theta,
            rope_scaling,
            tie_word_embeddings: raw.tie_word_embeddings.unwrap_or(false),
            qkv_bias: architecture == Architecture::Qwen2 || attention_bias,
            o_bias: architecture != Architecture::Qwen2 && attention_bias,
            qk_norm: architecture == Architecture::Qwen3,
            max_position_embeddings: raw.max_position_embeddings.unwrap_or(4096),
        };
        config.problem().map_or(Ok(config), |(field, reason)| Err(bad(field, reason)))
    }

    /// The first value no decoder can be built with, as `(config.json key, reason)`: a zero or
    /// absurd size, key/value heads that do not divide the query heads, an odd head width, a
    /// non-finite or non-positive epsilon or RoPE base. Checked for every source (config.json
    /// and GGUF metadata) before anything is allocated.
    pub fn problem(&self) -> Option<(&'static str, String)> {
        // Far above any released checkpoint, far below what would overflow an allocation.
        const MAX_LAYERS: usize = 1024;
        const MAX_WIDTH: usize = 1 << 20;
        const MAX_VOCAB: usize = 1 << 24;
        let sizes = [
            ("vocab_size", self.vocab_size, MAX_VOCAB),
            ("hidden_size", self.hidden_size, MAX_WIDTH),
            ("intermediate_size", self.intermediate_size, MAX_WIDTH),
            ("num_hidden_layers", self.num_hidden_layers, MAX_LAYERS),
            ("num_attention_heads", self.num_attention_heads, MAX_WIDTH),
            ("num_key_value_heads", self.num_key_value_heads, MAX_WIDTH),
            ("head_dim", self.head_dim, MAX_WIDTH),
        ];
        for (field, value, max) in sizes {
            if value == 0 || value > max {
                return Some((field, format!("{value} must be in 1..={max}")));
            }
        }
        let (heads, kv) = (self.num_attention_heads, self.num_key_value_heads);
        if !heads.is_multiple_of(kv) {
            return Some(("num_key_value_heads", format!("{kv} does not divide num_attention_heads {heads}")));
        }
        if !self.head_dim.is_multiple_of(2) {
            return Some(("head_dim", format!("{} must be even (RoPE rotates pairs)", self.head_dim)));
        }
        if (heads * self.head_dim) as u64 > MAX_WIDTH as u64 {
            return Some(("num_attention_heads", format!("{heads} heads of {} are too wide", self.head_dim)));
        }
        for (field, value) in [("rms_norm_eps", self.rms_norm_eps), ("rope_theta", self.rope_theta)] {
            if !(value.is_finite() && value > 0.0) {
                return Some((field, format!("{value} must be finite and > 0")));
            }
        }
        None
    }
}
