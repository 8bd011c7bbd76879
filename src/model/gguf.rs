//! llama.cpp's GGUF files (version 2 and 3) as a [`TensorSource`]: the header and metadata are
//! parsed, tensors are read from disk on request and dequantised (F32, F16, BF16, Q8_0, Q4_0,
//! Q4_1) to f32, names are mapped to Hugging Face's, and llama.cpp's Q/K row permutation (for
//! its interleaved RoPE, Llama architecture only) is undone. The decoder's configuration comes
//! from the `{arch}.*` metadata keys.

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::config::{Architecture, ModelConfig};
use super::error::ModelError;
use super::weights::TensorSource;

/// A metadata value.
#[derive(Clone, Debug, PartialEq)]
pub enum Meta {
    /// Any unsigned integer type.
    Uint(u64),
    /// Any signed integer type.
    Int(i64),
    /// f32 or f64.
    Float(f64),
    /// A boolean.
    Bool(bool),
    /// A UTF-8 string (lossy).
    Str(String),
    /// An array.
    Array(Vec<Meta>),
}

impl Meta {
    /// As an unsigned integer, when it is a non-negative integer.
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Meta::Uint(v) => Some(*v),
            Meta::Int(v) => u64::try_from(*v).ok(),
            _ => None,
        }
    }
    /// As a float, when it is a number.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Meta::Float(v) => Some(*v),
            Meta::Uint(v) => Some(*v as f64),
            Meta::Int(v) => Some(*v as f64),
            _ => None,
        }
    }
    /// As a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Meta::Str(s) => Some(s),
            _ => None,
        }
    }
}

#[derive(Clone, Debug)]
struct TensorInfo {
    /// GGUF dims, fastest first.
    dims: Vec<u64>,
    kind: u32,
    offset: u64,
}

/// An opened GGUF file.
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

struct Reader<R> {
    inner: R,
    path: PathBuf,
}

impl<R: Read> Reader<R> {
    fn bytes<const N: usize>(&mut self) -> Result<[u8; N], ModelError> {
        let mut b = [0u8; N];
        self.inner.read_exact(&mut b).map_err(|e| ModelError::Safetensors {
            path: self.path.clone(),
            reason: format!("truncated GGUF header: {e}"),
        })?;
        Ok(b)
    }
    fn u32(&mut self) -> Result<u32, ModelError> {
        self.bytes::<4>().map(u32::from_le_bytes)
    }
    fn u64(&mut self) -> Result<u64, ModelError> {
        self.bytes::<8>().map(u64::from_le_bytes)
    }
    fn string(&mut self) -> Result<String, ModelError> {
        let len = self.u64()?;
        if len > 1 << 30 {
            return Err(ModelError::Safetensors { path: self.path.clone(), reason: format!("string of {len} bytes") });
        }
        let mut buf = vec![0u8; len as usize];
        self.inner.read_exact(&mut buf).map_err(|e| ModelError::Safetensors {
            path: self.path.clone(),
            reason: format!("truncated GGUF string: {e}"),
        })?;
        Ok(String::from_utf8_lossy(&buf).into_owned())
    }
    fn value(&mut self, kind: u32, depth: usize) -> Result<Meta, ModelError> {
        Ok(match kind {
            0 => Meta::Uint(u64::from(self.bytes::<1>()?[0])),
            1 => Meta::Int(i64::from(i8::from_le_bytes(self.bytes::<1>()?))),
            2 => Meta::Uint(u64::from(u16::from_le_bytes(self.bytes::<2>()?))),
            3 => Meta::Int(i64::from(i16::from_le_bytes(self.bytes::<2>()?))),
            4 => Meta::Uint(u64::from(self.u32()?)),
            5 => Meta::Int(i64::from(i32::from_le_bytes(self.bytes::<4>()?))),
            6 => Meta::Float(f64::from(f32::from_le_bytes(self.bytes::<4>()?))),
            7 => Meta::Bool(self.bytes::<1>()?[0] != 0),
            8 => Meta::Str(self.string()?),
            9 if depth < 4 => {
                let item = self.u32()?;
                let count = self.u64()?;
                if count > 1 << 28 {
                    return Err(ModelError::Safetensors {
                        path: self.path.clone(),
                        reason: format!("array of {count}"),
                    });
                }
                let mut items = Vec::with_capacity(count as usize);
                for _ in 0..count {
                    items.push(self.value(item, depth + 1)?);
                }
                Meta::Array(items)
            }
            10 => Meta::Uint(self.u64()?),
            11 => Meta::Int(i64::from_le_bytes(self.bytes::<8>()?)),
            12 => Meta::Float(f64::from_le_bytes(self.bytes::<8>()?)),
            other => {
                return Err(ModelError::Safetensors {
                    path: self.path.clone(),
                    reason: format!("unknown GGUF metadata type {other}"),
                });
            }
        })
    }
}

/// Bytes per block and values per block of the supported ggml types.
fn block(kind: u32) -> Option<(usize, usize, &'static str)> {
    Some(match kind {
        0 => (4, 1, "F32"),
        1 => (2, 1, "F16"),
        30 => (2, 1, "BF16"),
        2 => (18, 32, "Q4_0"),
        3 => (20, 32, "Q4_1"),
        8 => (34, 32, "Q8_0"),
        _ => return None,
    })
}

fn f16(b: &[u8]) -> f32 {
    half::f16::from_bits(u16::from_le_bytes([b[0], b[1]])).to_f32()
}

/// Dequantises `count` values of ggml type `kind` from `data`.
fn dequantise(kind: u32, data: &[u8], count: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(count);
    match kind {
        0 => out.extend(data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))),
        1 => out.extend(data.chunks_exact(2).map(f16)),
        30 => {
            out.extend(data.chunks_exact(2).map(|c| half::bf16::from_bits(u16::from_le_bytes([c[0], c[1]])).to_f32()))
        }
        8 => {
            for b in data.chunks_exact(34) {
                let d = f16(&b[0..2]);
                out.extend(b[2..34].iter().map(|&q| f32::from(q as i8) * d));
            }
        }
        2 | 3 => {
            let (header, offset) = if kind == 2 { (2, -8.0) } else { (4, 0.0) };
            for b in data.chunks_exact(header + 16) {
                let d = f16(&b[0..2]);
                let m = if kind == 3 { f16(&b[2..4]) } else { 0.0 };
                let qs = &b[header..header + 16];
                out.extend(qs.iter().map(|&q| (f32::from(q & 0x0f) + offset) * d + m));
                out.extend(qs.iter().map(|&q| (f32::from(q >> 4) + offset) * d + m));
            }
        }
        _ => {}
    }
    out.truncate(count);
    out
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
    /// Parses the header, metadata and tensor table of `path`.
    ///
    /// # Errors
    /// Unreadable file, not GGUF, an unsupported version or architecture.
    pub fn open(path: &Path) -> Result<Self, ModelError> {
        let file = std::fs::File::open(path).map_err(|source| ModelError::Read { path: path.into(), source })?;
        let mut r = Reader { inner: std::io::BufReader::new(file), path: path.to_path_buf() };
        let bad = |reason: String| ModelError::Safetensors { path: path.into(), reason };
        if &r.bytes::<4>()? != b"GGUF" {
            return Err(bad("not a GGUF file (no GGUF magic)".into()));
        }
        let version = r.u32()?;
        if !(2..=3).contains(&version) {
            return Err(bad(format!("GGUF version {version} (2 and 3 are supported)")));
        }
        let (n_tensors, n_meta) = (r.u64()?, r.u64()?);
        let mut metadata = HashMap::new();
        for _ in 0..n_meta {
            let key = r.string()?;
            let kind = r.u32()?;
            metadata.insert(key, r.value(kind, 0)?);
        }
        let mut tensors = HashMap::new();
        for _ in 0..n_tensors {
            let name = r.string()?;
            let n_dims = r.u32()?;
            let dims = (0..n_dims.min(8)).map(|_| r.u64()).collect::<Result<Vec<_>, _>>()?;
            let kind = r.u32()?;
            let offset = r.u64()?;
            tensors.insert(name, TensorInfo { dims, kind, offset });
        }
        let alignment = metadata.get("general.alignment").and_then(Meta::as_u64).unwrap_or(32).max(1);
        let position = r.inner.stream_position().map_err(|source| ModelError::Read { path: path.into(), source })?;
        let data_start = position.div_ceil(alignment) * alignment;
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
        let Some((bytes, per_block, _)) = block(info.kind) else {
            return Err(ModelError::Dtype {
                path: self.path.clone(),
                name: gname,
                found: format!("ggml type {}", info.kind),
            });
        };
        let count: usize = expected.iter().product();
        let size = count.div_ceil(per_block) * bytes;
        let mut data = vec![0u8; size];
        let read = |source: std::io::Error| ModelError::Read { path: self.path.clone(), source };
        let mut f = std::fs::File::open(&self.path).map_err(read)?;
        f.seek(SeekFrom::Start(self.data_start + info.offset)).map_err(read)?;
        f.read_exact(&mut data).map_err(read)?;
        let values = dequantise(info.kind, &data, count);
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
    fn blocks_dequantise_and_names_map() {
        // Q8_0: scale 0.5, values -2..29.
        let mut q8 = half::f16::from_f32(0.5).to_bits().to_le_bytes().to_vec();
        q8.extend((0..32).map(|i| (i as i8 - 2) as u8));
        let v = dequantise(8, &q8, 32);
        assert_eq!((v[0], v[31]), (-1.0, 14.5));
        // Q4_1: d = 2, m = -1; low nibbles are the first 16 values, high nibbles the next 16.
        let mut q41 = half::f16::from_f32(2.0).to_bits().to_le_bytes().to_vec();
        q41.extend(half::f16::from_f32(-1.0).to_bits().to_le_bytes());
        q41.extend((0..16).map(|i| (i as u8) | (((15 - i) as u8) << 4)));
        let v = dequantise(3, &q41, 32);
        assert_eq!((v[0], v[15], v[16], v[31]), (-1.0, 29.0, 29.0, -1.0));
        // Q4_0: values (q - 8) * d.
        let mut q40 = half::f16::from_f32(1.0).to_bits().to_le_bytes().to_vec();
        q40.extend(std::iter::repeat_n(0x8fu8, 16));
        let v = dequantise(2, &q40, 32);
        assert_eq!((v[0], v[16]), (7.0, 0.0));
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
