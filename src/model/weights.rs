//! Hugging Face safetensors checkpoints: one `model.safetensors`, or shards listed by
//! `model.safetensors.index.json`; F32, F16 and BF16 tensors read as f32 (the compute dtype
//! on every device: WGSL has no bf16). Only the headers are read up front; each tensor's bytes
//! are read from disk when it is requested, so a multi-GB checkpoint never sits in memory whole.

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use safetensors::Dtype;
use serde_json::Value;

use super::error::ModelError;

/// Where one tensor lives.
#[derive(Clone, Debug)]
struct Entry {
    file: usize,
    dtype: String,
    shape: Vec<usize>,
    start: u64,
    end: u64,
}

/// The tensors of a checkpoint or adapter directory, by name.
pub struct Weights {
    dir: PathBuf,
    files: Vec<PathBuf>,
    index: HashMap<String, Entry>,
}

/// Reads a safetensors header: `u64` length, then JSON `{name: {dtype, shape, data_offsets}}`.
fn header(path: &Path, file: usize, index: &mut HashMap<String, Entry>) -> Result<(), ModelError> {
    let bad = |reason: String| ModelError::Safetensors { path: path.into(), reason };
    let mut f = std::fs::File::open(path).map_err(|source| ModelError::Read { path: path.into(), source })?;
    let size = f.metadata().map_err(|source| ModelError::Read { path: path.into(), source })?.len();
    let mut len = [0u8; 8];
    f.read_exact(&mut len).map_err(|e| bad(format!("no header length: {e}")))?;
    let len = u64::from_le_bytes(len);
    if len > 100_000_000 || 8 + len > size {
        return Err(bad(format!("header length {len} does not fit a {size}-byte file")));
    }
    let mut text = vec![0u8; len as usize];
    f.read_exact(&mut text).map_err(|e| bad(format!("truncated header: {e}")))?;
    let json: Value = serde_json::from_slice(&text).map_err(|e| bad(format!("header is not JSON: {e}")))?;
    let map = json.as_object().ok_or_else(|| bad("header is not an object".into()))?;
    for (name, info) in map.iter().filter(|(k, _)| k.as_str() != "__metadata__") {
        // Every dimension and offset a non-negative integer (none silently dropped).
        let integers = |key: &str| -> Option<Vec<u64>> { info[key].as_array()?.iter().map(Value::as_u64).collect() };
        let shape: Option<Vec<usize>> =
            integers("shape").and_then(|dims| dims.into_iter().map(|d| usize::try_from(d).ok()).collect());
        let offsets = integers("data_offsets");
        let (Some(dtype), Some(shape), Some([start, end])) =
            (info["dtype"].as_str(), shape, offsets.as_deref().and_then(|o| <[u64; 2]>::try_from(o).ok()))
        else {
            let entry: String = info.to_string().chars().take(200).collect();
            return Err(bad(format!("tensor {name}: malformed entry {entry}")));
        };
        let data = 8 + len;
        let (Some(start), Some(end)) = (data.checked_add(start), data.checked_add(end)) else {
            return Err(bad(format!("tensor {name}: data offsets {start}..{end} past the {size}-byte file")));
        };
        if start > end || end > size {
            return Err(bad(format!("tensor {name}: bytes {start}..{end} outside the {size}-byte file")));
        }
        index.insert(name.clone(), Entry { file, dtype: dtype.to_string(), shape, start, end });
    }
    Ok(())
}

impl Weights {
    /// Opens `dir/<file>` (e.g. `model.safetensors`), or the shards its `.index.json` lists.
    ///
    /// # Errors
    /// Missing files (named), malformed index or safetensors headers.
    pub fn open(dir: &Path, file: &str) -> Result<Self, ModelError> {
        let index_path = dir.join(format!("{file}.index.json"));
        let single = dir.join(file);
        let shard_names: Vec<String> = if index_path.exists() {
            let text = std::fs::read_to_string(&index_path)
                .map_err(|source| ModelError::Read { path: index_path.clone(), source })?;
            let json: Value = serde_json::from_str(&text).map_err(|e| ModelError::Json {
                path: index_path.clone(),
                field: "(file)".into(),
                reason: e.to_string(),
            })?;
            let map = json["weight_map"].as_object().ok_or_else(|| ModelError::Json {
                path: index_path.clone(),
                field: "weight_map".into(),
                reason: "missing or not an object".into(),
            })?;
            let mut names: Vec<String> = map.values().filter_map(Value::as_str).map(str::to_string).collect();
            names.sort();
            names.dedup();
            names
        } else if single.exists() {
            vec![file.to_string()]
        } else {
            let source =
                std::io::Error::new(std::io::ErrorKind::NotFound, format!("neither {file} nor {file}.index.json"));
            return Err(ModelError::Read { path: single, source });
        };
        let mut files = Vec::new();
        let mut index = HashMap::new();
        for name in shard_names {
            let path = dir.join(&name);
            header(&path, files.len(), &mut index)?;
            files.push(path);
        }
        Ok(Weights { dir: dir.to_path_buf(), files, index })
    }

    /// Whether a tensor is present.
    pub fn contains(&self, name: &str) -> bool {
        self.index.contains_key(name)
    }

    /// The stored shape of a tensor.
    pub fn shape(&self, name: &str) -> Option<Vec<usize>> {
        self.index.get(name).map(|e| e.shape.clone())
    }

    /// Every tensor name.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.index.keys().map(String::as_str)
    }

    /// The tensor `name` as f32, checked against `expected` (row-major, the file's layout).
    ///
    /// # Errors
    /// Missing tensor, other shape, non-float dtype, unreadable bytes; each names the file and tensor.
    pub fn get(&self, name: &str, expected: &[usize]) -> Result<Vec<f32>, ModelError> {
        let Some(entry) = self.index.get(name) else {
            let files = self.files.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ");
            return Err(ModelError::MissingTensor { dir: self.dir.clone(), name: name.into(), files });
        };
        let path = &self.files[entry.file];
        if entry.shape != expected {
            return Err(ModelError::Shape {
                path: path.clone(),
                name: name.into(),
                expected: expected.to_vec(),
                found: entry.shape.clone(),
            });
        }
        let width = match entry.dtype.as_str() {
            "F32" => 4,
            "F16" | "BF16" => 2,
            other => return Err(ModelError::Dtype { path: path.clone(), name: name.into(), found: other.into() }),
        };
        let count = element_count(expected);
        let bytes = count.and_then(|c| c.checked_mul(width));
        if bytes.is_none_or(|b| entry.end - entry.start != b as u64) {
            let reason = format!(
                "tensor {name}: {} bytes for shape {expected:?} of {} values",
                entry.end - entry.start,
                entry.dtype
            );
            return Err(ModelError::Safetensors { path: path.clone(), reason });
        }
        // Checked just above: the bytes are in the file, so the count fits.
        let mut data = vec![0u8; bytes.unwrap_or(0)];
        let read = |e: std::io::Error| ModelError::Read { path: path.clone(), source: e };
        let mut f = std::fs::File::open(path).map_err(read)?;
        f.seek(SeekFrom::Start(entry.start)).map_err(read)?;
        f.read_exact(&mut data).map_err(read)?;
        let pairs = data.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]]));
        Ok(match entry.dtype.as_str() {
            "F32" => data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect(),
            "F16" => pairs.map(|b| half::f16::from_bits(b).to_f32()).collect(),
            _ => pairs.map(|b| half::bf16::from_bits(b).to_f32()).collect(),
        })
    }
}

/// The number of values of a tensor of shape `dims`, if it fits a `usize`.
pub fn element_count(dims: &[usize]) -> Option<usize> {
    dims.iter().try_fold(1usize, |n, &d| n.checked_mul(d))
}

/// Where a model's tensors come from: a checkpoint ([`Weights`]) or a seeded random init
/// ([`RandomWeights`], for benchmarks of shapes no registry ships).
pub trait TensorSource {
    /// The tensor `name` as f32 values of shape `expected` (HF layout).
    ///
    /// # Errors
    /// Missing tensor, other shape or dtype, unreadable bytes.
    fn tensor(&self, name: &str, expected: &[usize]) -> Result<Vec<f32>, ModelError>;
    /// Whether the source holds `name`.
    fn has(&self, name: &str) -> bool;
}

impl TensorSource for Weights {
    fn tensor(&self, name: &str, expected: &[usize]) -> Result<Vec<f32>, ModelError> {
        self.get(name, expected)
    }
    fn has(&self, name: &str) -> bool {
        self.contains(name)
    }
}

/// A source whose tensors must each fit one storage binding of `limit` bytes (wgpu).
pub struct Limited<'a> {
    /// The tensors.
    pub inner: &'a dyn TensorSource,
    /// The binding limit, if any.
    pub limit: Option<u64>,
    /// Bytes per stored value (the base precision's).
    pub bytes: u64,
}

/// `Err` when `bytes` exceed `limit`.
///
/// # Errors
/// [`ModelError::TooLarge`].
pub fn fits(what: impl FnOnce() -> String, bytes: u64, limit: Option<u64>) -> Result<(), ModelError> {
    match limit {
        Some(limit) if bytes > limit => Err(ModelError::TooLarge { what: what(), bytes, limit }),
        _ => Ok(()),
    }
}

impl TensorSource for Limited<'_> {
    fn tensor(&self, name: &str, expected: &[usize]) -> Result<Vec<f32>, ModelError> {
        let bytes =
            element_count(expected).and_then(|n| u64::try_from(n).ok()?.checked_mul(self.bytes)).unwrap_or(u64::MAX);
        fits(|| format!("weight {name} {expected:?} ({} bytes each)", self.bytes), bytes, self.limit)?;
        self.inner.tensor(name, expected)
    }
    fn has(&self, name: &str) -> bool {
        self.inner.has(name)
    }
}

/// Deterministic random weights: norms 1, everything else uniform in ±0.02·√3 (std 0.02,
/// HF's `initializer_range`), from a seed mixed with each tensor's name.
pub struct RandomWeights {
    /// The seed.
    pub seed: u64,
}

impl TensorSource for RandomWeights {
    fn tensor(&self, name: &str, expected: &[usize]) -> Result<Vec<f32>, ModelError> {
        use rand::{Rng, SeedableRng};
        let count: usize = expected.iter().product();
        if name.contains("norm") {
            return Ok(vec![1.0; count]);
        }
        let mixed = name
            .bytes()
            .fold(self.seed ^ 0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(mixed);
        let bound = 0.02 * 3f32.sqrt();
        Ok((0..count).map(|_| rng.random_range(-bound..bound)).collect())
    }
    fn has(&self, name: &str) -> bool {
        name != "lm_head.weight"
    }
}

/// An f32 tensor on the host: `(name, shape, row-major values)`.
pub type NamedTensor = (String, Vec<usize>, Vec<f32>);

/// Writes f32 tensors `(name, shape, values)` to a safetensors file, through a temporary file
/// renamed into place (a killed write leaves no half file).
///
/// # Errors
/// The file cannot be written.
pub fn save(path: &Path, tensors: &[NamedTensor]) -> Result<(), ModelError> {
    let bytes: Vec<Vec<u8>> =
        tensors.iter().map(|(_, _, v)| v.iter().flat_map(|x| x.to_le_bytes()).collect()).collect();
    let mut views = Vec::new();
    for ((name, shape, _), data) in tensors.iter().zip(&bytes) {
        let view = safetensors::tensor::TensorView::new(Dtype::F32, shape.clone(), data)
            .map_err(|e| ModelError::Write { path: path.into(), reason: format!("{name}: {e}") })?;
        views.push((name.clone(), view));
    }
    let tmp = path.with_extension("safetensors.tmp");
    let metadata = HashMap::from([("format".to_string(), "pt".to_string())]);
    safetensors::serialize_to_file(views, Some(metadata), &tmp)
        .map_err(|e| ModelError::Write { path: tmp.clone(), reason: e.to_string() })?;
    std::fs::rename(&tmp, path).map_err(|e| ModelError::Write { path: path.into(), reason: e.to_string() })
}
