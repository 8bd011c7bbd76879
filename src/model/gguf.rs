//! llama.cpp's GGUF files (version 2 and 3) as a [`TensorSource`]: the container is read and
//! checked by [`GgufFile`], tensors are read from disk on request and dequantised to f32 (the
//! types of [`super::quants`]), names are mapped to Hugging Face's, and llama.cpp's Q/K row
//! permutation (for its interleaved RoPE, Llama architecture only) is undone. The decoder's configuration comes
//! from the `{arch}.*` metadata keys.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::config::{Architecture, ModelConfig};
use super::error::ModelError;
pub use super::gguf_file::{GgufFile, Meta};
use super::gguf_file::{TensorInfo, read_tensor};
use super::weights::TensorSource;

/// An opened GGUF model.
pub struct Gguf {
    path: PathBuf,
    /// Every metadata key.
    pub metadata: HashMap<String, Meta>,
    tensors: HashMap<String, TensorInfo>,
    data_start: u64,
    architecture: Architecture,
    heads: usize,
    kv_heads: usize,
}

/// Hugging Face tensor name → llama.cpp's.
fn gguf_name(hf: &str) -> Option<String> {
    let direct = match hf {
        "model.embed_tokens.weight" => Some("token_embd.weight"),
        "model.norm.weight" => Some("output_norm.weight"),
        "lm_head.weight" => Some("output.weight"),
        _ => None,
    };
    if let Some(d) = direct {
        return Some(d.to_string());
    }
    let rest = hf.strip_prefix("model.layers.")?;
    let (layer, name) = rest.split_once('.')?;
    let (module, suffix) = name.rsplit_once('.')?;
    let short = match module {
        "input_layernorm" => "attn_norm",
        "post_attention_layernorm" => "ffn_norm",
        "self_attn.q_proj" => "attn_q",
        "self_attn.k_proj" => "attn_k",
        "self_attn.v_proj" => "attn_v",
        "self_attn.o_proj" => "attn_output",
        "self_attn.q_norm" => "attn_q_norm",
        "self_attn.k_norm" => "attn_k_norm",
        "mlp.gate_proj" => "ffn_gate",
        "mlp.up_proj" => "ffn_up",
        "mlp.down_proj" => "ffn_down",
        _ => return None,
    };
    Some(format!("blk.{layer}.{short}.{suffix}"))
}

/// Undoes llama.cpp's `permute` of Q/K rows: `(heads, Dh/2, 2, in)` → `(heads, 2, Dh/2, in)`.
fn unpermute(values: Vec<f32>, heads: usize, rows: usize, cols: usize) -> Vec<f32> {
    if heads == 0 || !rows.is_multiple_of(2 * heads) {
        return values;
    }
    let half = rows / heads / 2;
    let mut out = vec![0.0; values.len()];
    for h in 0..heads {
        for i in 0..half {
            for two in 0..2 {
                let from = (h * half * 2 + i * 2 + two) * cols;
                let to = (h * 2 * half + two * half + i) * cols;
                out[to..to + cols].copy_from_slice(&values[from..from + cols]);
            }
        }
    }
    out
}

impl Gguf {
    /// Parses the header, metadata and tensor table of `path` (see [`GgufFile::open`]) and
    /// checks that it is a decoder this crate builds.
    ///
    /// # Errors
    /// Unreadable file, not GGUF, an unsupported version or architecture, a malformed header.
    pub fn open(path: &Path) -> Result<Self, ModelError> {
        let GgufFile { metadata, tensors, data_start, .. } = GgufFile::open(path)?;
        let arch = metadata.get("general.architecture").and_then(Meta::as_str).unwrap_or("").to_string();
        let architecture = match arch.as_str() {
            "llama" => Architecture::Llama,
            "qwen2" => Architecture::Qwen2,
            "qwen3" => Architecture::Qwen3,
            other => {
                return Err(ModelError::Unsupported {
                    path: path.into(),
                    what: format!("GGUF architecture {other:?}"),
                });
            }
        };
        let key = |k: &str| metadata.get(&format!("{arch}.{k}")).and_then(Meta::as_u64).unwrap_or(0) as usize;
        let (heads, kv_heads) = (key("attention.head_count"), key("attention.head_count_kv"));
        Ok(Gguf { path: path.into(), metadata, tensors, data_start, architecture, heads, kv_heads })
    }

    fn meta_u64(&self, key: &str) -> Result<u64, ModelError> {
        self.metadata.get(key).and_then(Meta::as_u64).ok_or_else(|| ModelError::Json {
            path: self.path.clone(),
            field: key.into(),
            reason: "missing or not an integer".into(),
        })
    }

    /// The decoder configuration the metadata describes.
    ///
    /// # Errors
    /// Missing keys (named).
    pub fn config(&self) -> Result<ModelConfig, ModelError> {
        let arch = match self.architecture {
            Architecture::Llama => "llama",
            Architecture::Qwen2 => "qwen2",
            Architecture::Qwen3 => "qwen3",
        };
        let u = |k: &str| self.meta_u64(&format!("{arch}.{k}")).map(|v| v as usize);
        let f =
            |k: &str, default: f64| self.metadata.get(&format!("{arch}.{k}")).and_then(Meta::as_f64).unwrap_or(default);
        let hidden = u("embedding_length")?;
        let heads = u("attention.head_count")?;
        let vocab = match self.metadata.get("tokenizer.ggml.tokens") {
            Some(Meta::Array(tokens)) => tokens.len(),
            _ => self.tensors.get("token_embd.weight").and_then(|t| t.dims.get(1)).copied().unwrap_or(0) as usize,
        };
        let key_length = self.metadata.get(&format!("{arch}.attention.key_length")).and_then(Meta::as_u64);
        if key_length.is_none() && heads > 0 && !hidden.is_multiple_of(heads) {
            return Err(ModelError::Json {
                path: self.path.clone(),
                field: format!("{arch}.attention.head_count"),
                reason: format!(
                    "{heads} does not divide {arch}.embedding_length {hidden} (and there is no key_length)"
                ),
            });
        }
        let head_dim = key_length.map_or(hidden / heads.max(1), |v| v as usize);
        let config = ModelConfig {
            architecture: self.architecture,
            vocab_size: vocab,
            hidden_size: hidden,
            intermediate_size: u("feed_forward_length")?,
            num_hidden_layers: u("block_count")?,
            num_attention_heads: heads,
            num_key_value_heads: u("attention.head_count_kv").unwrap_or(heads),
            head_dim,
            rms_norm_eps: f("attention.layer_norm_rms_epsilon", 1e-6),
            rope_theta: f("rope.freq_base", 10_000.0),
            rope_scaling: None,
            tie_word_embeddings: !self.tensors.contains_key("output.weight"),
            qkv_bias: self.tensors.contains_key("blk.0.attn_q.bias"),
            o_bias: self.tensors.contains_key("blk.0.attn_output.bias"),
            qk_norm: self.tensors.contains_key("blk.0.attn_q_norm.weight"),
            max_position_embeddings: u("context_length").unwrap_or(4096),
        };
        // The same checks as config.json's, reported under the GGUF key the value came from.
        let Some((field, reason)) = config.problem() else { return Ok(config) };
        let key = match field {
            "vocab_size" => "tokenizer.ggml.tokens".to_string(),
            "hidden_size" => format!("{arch}.embedding_length"),
            "intermediate_size" => format!("{arch}.feed_forward_length"),
            "num_hidden_layers" => format!("{arch}.block_count"),
            "num_attention_heads" => format!("{arch}.attention.head_count"),
            "num_key_value_heads" => format!("{arch}.attention.head_count_kv"),
            "head_dim" => format!("{arch}.attention.key_length"),
            "rms_norm_eps" => format!("{arch}.attention.layer_norm_rms_epsilon"),
            "rope_theta" => format!("{arch}.rope.freq_base"),
            other => other.to_string(),
        };
        Err(ModelError::Json { path: self.path.clone(), field: key, reason })
    }
}

impl TensorSource for Gguf {
    fn tensor(&self, name: &str, expected: &[usize]) -> Result<Vec<f32>, ModelError> {
        let missing = || ModelError::MissingTensor {
            dir: self.path.clone(),
            name: name.into(),
            files: self.path.display().to_string(),
        };
        let gname = gguf_name(name).ok_or_else(missing)?;
        let info = self.tensors.get(&gname).ok_or_else(missing)?;
        let shape: Vec<usize> = info.dims.iter().rev().map(|&d| d as usize).collect();
        if shape != expected {
            return Err(ModelError::Shape {
                path: self.path.clone(),
                name: gname,
                expected: expected.to_vec(),
                found: shape,
            });
        }
        let values = read_tensor(&self.path, self.data_start, &gname, info)?;
        let permuted = self.architecture == Architecture::Llama && expected.len() == 2;
        Ok(match gname.rsplit_once('.').map(|(m, _)| m.rsplit('.').next().unwrap_or("")) {
            Some("attn_q") if permuted => unpermute(values, self.heads, expected[0], expected[1]),
            Some("attn_k") if permuted => unpermute(values, self.kv_heads, expected[0], expected[1]),
            _ => values,
        })
    }

    fn has(&self, name: &str) -> bool {
        gguf_name(name).is_some_and(|g| self.tensors.contains_key(&g))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map() {
        assert_eq!(gguf_name("model.layers.3.self_attn.k_proj.weight").as_deref(), Some("blk.3.attn_k.weight"));
        assert_eq!(
            gguf_name("model.layers.0.post_attention_layernorm.weight").as_deref(),
            Some("blk.0.ffn_norm.weight")
        );
        assert_eq!(gguf_name("model.embed_tokens.weight").as_deref(), Some("token_embd.weight"));
    }

    #[test]
    fn unpermute_inverts_llama_cpp_permute() {
        // llama.cpp: w.reshape(heads, 2, Dh/2, in).swapaxes(1, 2) — rows (h, two, i) → (h, i, two).
        let (heads, rows, cols) = (2, 8, 3);
        let hf: Vec<f32> = (0..rows * cols).map(|x| x as f32).collect();
        let half = rows / heads / 2;
        let mut permuted = vec![0.0; hf.len()];
        for h in 0..heads {
            for two in 0..2 {
                for i in 0..half {
                    let from = (h * 2 * half + two * half + i) * cols;
                    let to = (h * half * 2 + i * 2 + two) * cols;
                    permuted[to..to + cols].copy_from_slice(&hf[from..from + cols]);
                }
            }
        }
        assert_eq!(unpermute(permuted, heads, rows, cols), hf);
    }
}
