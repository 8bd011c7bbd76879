//! The GGUF container (versions 2 and 3): header, metadata, tensor table and tensor bytes, read
//! defensively. Every count and length is checked against the bytes the file has left before
//! anything is allocated, tensor sizes are computed with checked arithmetic, and every tensor's
//! data range must lie inside the file, so a truncated or corrupted file is an error naming the
//! file and the key or tensor at fault, never a panic or a huge allocation. What it holds means
//! nothing here: [`super::gguf::Gguf`] turns it into a model.

use std::collections::HashMap;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::error::ModelError;
use super::quants::{GgmlType, dequantise, ggml_type, supported_names};

/// ggml's `GGML_MAX_DIMS`: a GGUF tensor has at most four dimensions.
const MAX_DIMS: u32 = 4;
/// Deepest nesting of metadata arrays accepted (ggml accepts none; some writers nest one level).
const MAX_DEPTH: usize = 4;

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

/// One entry of the tensor table, validated against the file.
#[derive(Clone, Debug)]
pub(crate) struct TensorInfo {
    /// GGUF dims, fastest (the row) first.
    pub(crate) dims: Vec<u64>,
    /// Its ggml type.
    pub(crate) ty: GgmlType,
    /// Offset of its data from the start of the data section.
    pub(crate) offset: u64,
    /// Size of its data.
    pub(crate) bytes: u64,
}

/// An opened GGUF file: its metadata and tensor table (tensor data is read on request).
#[derive(Debug)]
pub struct GgufFile {
    /// The file.
    pub path: PathBuf,
    /// Every metadata key.
    pub metadata: HashMap<String, Meta>,
    pub(crate) tensors: HashMap<String, TensorInfo>,
    /// Where the data section starts.
    pub(crate) data_start: u64,
}

/// Sequential reads that know how many bytes the file has left.
struct Reader {
    inner: BufReader<std::fs::File>,
    pos: u64,
    len: u64,
}

/// Smallest encoding of one metadata value of GGUF type `kind`, `None` for an unknown type.
fn min_size(kind: u32) -> Option<u64> {
    Some(match kind {
        0 | 1 | 7 => 1,
        2 | 3 => 2,
        4..=6 => 4,
        8 | 10..=12 => 8,
        9 => 12,
        _ => return None,
    })
}

impl Reader {
    fn left(&self) -> u64 {
        self.len.saturating_sub(self.pos)
    }
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), String> {
        let n = buf.len() as u64;
        if n > self.left() {
            return Err(format!(
                "the file ends at byte {} but {n} more bytes are needed at byte {}",
                self.len, self.pos
            ));
        }
        self.inner.read_exact(buf).map_err(|e| format!("read failed at byte {}: {e}", self.pos))?;
        self.pos += n;
        Ok(())
    }
    fn bytes<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let mut b = [0u8; N];
        self.fill(&mut b)?;
        Ok(b)
    }
    fn u32(&mut self) -> Result<u32, String> {
        self.bytes::<4>().map(u32::from_le_bytes)
    }
    fn u64(&mut self) -> Result<u64, String> {
        self.bytes::<8>().map(u64::from_le_bytes)
    }
    fn string(&mut self) -> Result<String, String> {
        let len = self.u64()?;
        if len > self.left() {
            return Err(format!(
                "a string of {len} bytes at byte {}, but only {} bytes are left",
                self.pos,
                self.left()
            ));
        }
        let mut buf = vec![0u8; len as usize];
        self.fill(&mut buf)?;
        Ok(String::from_utf8_lossy(&buf).into_owned())
    }
    fn value(&mut self, kind: u32, depth: usize) -> Result<Meta, String> {
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
            9 => {
                if depth >= MAX_DEPTH {
                    return Err(format!("arrays nested more than {MAX_DEPTH} deep"));
                }
                let item = self.u32()?;
                let count = self.u64()?;
                let min = min_size(item).ok_or_else(|| format!("array of unknown metadata type {item}"))?;
                if count.checked_mul(min).is_none_or(|need| need > self.left()) {
                    return Err(format!(
                        "an array of {count} items of type {item} (at least {min} bytes each), but only {} bytes are left",
                        self.left()
                    ));
                }
                let mut items = Vec::with_capacity(count.min(1 << 20) as usize);
                for i in 0..count {
                    items.push(self.value(item, depth + 1).map_err(|e| format!("item {i}: {e}"))?);
                }
                Meta::Array(items)
            }
            10 => Meta::Uint(self.u64()?),
            11 => Meta::Int(i64::from_le_bytes(self.bytes::<8>()?)),
            12 => Meta::Float(f64::from_le_bytes(self.bytes::<8>()?)),
            other => return Err(format!("unknown metadata type {other}")),
        })
    }
}

impl GgufFile {
    /// Reads and checks the header, metadata and tensor table of `path`.
    ///
    /// # Errors
    /// An unreadable file; not GGUF or an unsupported version; a truncated or inconsistent header
    /// (counts the file cannot hold, more than four dimensions, an unknown ggml type, a row
    /// length that is not a multiple of the type's block, a size that overflows, tensor data past
    /// the end of the file, duplicate keys or tensors, an alignment that is not a power of two).
    pub fn open(path: &Path) -> Result<Self, ModelError> {
        let io = |source| ModelError::Read { path: path.into(), source };
        let file = std::fs::File::open(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        let mut r = Reader { inner: BufReader::new(file), pos: 0, len };
        let bad = |what: &str, reason: String| ModelError::Gguf { path: path.into(), what: what.into(), reason };
        let header = |e| bad("header", e);
        if &r.bytes::<4>().map_err(header)? != b"GGUF" {
            return Err(bad("header", "not a GGUF file (no GGUF magic)".into()));
        }
        let version = r.u32().map_err(header)?;
        if !(2..=3).contains(&version) {
            return Err(bad("header", format!("GGUF version {version} (2 and 3 are supported)")));
        }
        let (n_tensors, n_meta) = (r.u64().map_err(header)?, r.u64().map_err(header)?);
        // A metadata entry takes at least 13 bytes (key length, type, one byte); a tensor entry 24.
        let need = n_meta.checked_mul(13).zip(n_tensors.checked_mul(24)).and_then(|(a, b)| a.checked_add(b));
        if need.is_none_or(|need| need > r.left()) {
            return Err(bad(
                "header",
                format!("{n_meta} metadata entries and {n_tensors} tensors cannot fit in the {} bytes left", r.left()),
            ));
        }
        let mut metadata = HashMap::new();
        for i in 0..n_meta {
            let key = r.string().map_err(|e| bad(&format!("metadata entry {i} of {n_meta}"), e))?;
            let what = format!("metadata key {key:?}");
            if key.is_empty() || metadata.contains_key(&key) {
                return Err(bad(&what, if key.is_empty() { "empty key" } else { "duplicate key" }.into()));
            }
            let value = r.u32().and_then(|kind| r.value(kind, 0)).map_err(|e| bad(&what, e))?;
            metadata.insert(key, value);
        }
        let alignment = match metadata.get("general.alignment") {
            None => 32,
            Some(m) => m
                .as_u64()
                .filter(|a| a.is_power_of_two())
                .ok_or_else(|| bad("metadata key \"general.alignment\"", format!("{m:?} is not a power of two")))?,
        };
        let mut tensors = HashMap::new();
        for i in 0..n_tensors {
            let name = r.string().map_err(|e| bad(&format!("tensor entry {i} of {n_tensors}"), e))?;
            let what = format!("tensor {name:?}");
            if tensors.contains_key(&name) {
                return Err(bad(&what, "duplicate tensor name".into()));
            }
            let info = tensor_info(&mut r).map_err(|e| bad(&what, e))?;
            tensors.insert(name, info);
        }
        let data_start = r
            .pos
            .checked_next_multiple_of(alignment)
            .ok_or_else(|| bad("header", format!("data section start overflows (alignment {alignment})")))?;
        for (name, t) in &tensors {
            let end = data_start.checked_add(t.offset).and_then(|s| s.checked_add(t.bytes));
            if end.is_none_or(|end| end > len) {
                return Err(bad(
                    &format!("tensor {name:?}"),
                    format!(
                        "its {} bytes at offset {} of the data section (which starts at byte {data_start}) run past \
                         the end of the file ({len} bytes)",
                        t.bytes, t.offset
                    ),
                ));
            }
        }
        Ok(GgufFile { path: path.into(), metadata, tensors, data_start })
    }

    /// The names of its tensors, sorted.
    pub fn tensor_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.tensors.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }

    /// The ggml type and dims (fastest first) of a tensor.
    pub fn tensor_type(&self, name: &str) -> Option<(GgmlType, &[u64])> {
        self.tensors.get(name).map(|t| (t.ty, t.dims.as_slice()))
    }

    /// A tensor's values as f32, by its GGUF name, in storage order.
    ///
    /// # Errors
    /// No such tensor, a type this crate does not dequantise, an unreadable file.
    pub fn read_f32(&self, name: &str) -> Result<Vec<f32>, ModelError> {
        let info = self.tensors.get(name).ok_or_else(|| ModelError::MissingTensor {
            dir: self.path.clone(),
            name: name.into(),
            files: self.path.display().to_string(),
        })?;
        read_tensor(&self.path, self.data_start, name, info)
    }
}

/// Dims, type, offset of one tensor entry (after its name), checked.
fn tensor_info(r: &mut Reader) -> Result<TensorInfo, String> {
    let n_dims = r.u32()?;
    if n_dims > MAX_DIMS {
        return Err(format!("{n_dims} dimensions (GGUF allows at most {MAX_DIMS})"));
    }
    let dims = (0..n_dims).map(|_| r.u64()).collect::<Result<Vec<_>, _>>()?;
    if dims.iter().any(|&d| d > i64::MAX as u64) {
        return Err(format!("dimensions {dims:?} exceed ggml's int64 range"));
    }
    let id = r.u32()?;
    let ty = ggml_type(id).ok_or_else(|| format!("unknown ggml type id {id}"))?;
    let row = dims.first().copied().unwrap_or(1);
    if !row.is_multiple_of(ty.block) {
        return Err(format!("rows of {row} values are not a multiple of {}'s block of {}", ty.name, ty.block));
    }
    let elements = dims.iter().try_fold(1u64, |n, &d| n.checked_mul(d));
    let bytes = elements.and_then(|n| (n / ty.block).checked_mul(ty.bytes));
    let bytes = bytes.ok_or_else(|| format!("dimensions {dims:?} of type {} overflow a byte count", ty.name))?;
    let offset = r.u64()?;
    Ok(TensorInfo { dims, ty, offset, bytes })
}

/// Reads and dequantises one tensor whose entry [`GgufFile::open`] checked.
pub(crate) fn read_tensor(path: &Path, data_start: u64, name: &str, info: &TensorInfo) -> Result<Vec<f32>, ModelError> {
    if !info.ty.supported() {
        return Err(ModelError::Unsupported {
            path: path.into(),
            what: format!("tensor {name:?} of ggml type {} (awpo reads {})", info.ty.name, supported_names()),
        });
    }
    let read = |source| ModelError::Read { path: path.into(), source };
    let size = usize::try_from(info.bytes).map_err(|_| ModelError::Gguf {
        path: path.into(),
        what: format!("tensor {name:?}"),
        reason: format!("{} bytes do not fit in memory", info.bytes),
    })?;
    let mut data = vec![0u8; size];
    let mut f = std::fs::File::open(path).map_err(read)?;
    f.seek(SeekFrom::Start(data_start + info.offset)).map_err(read)?;
    f.read_exact(&mut data).map_err(read)?;
    dequantise(info.ty.id, &data).ok_or_else(|| ModelError::Unsupported {
        path: path.into(),
        what: format!("tensor {name:?} of ggml type {}", info.ty.name),
    })
}
