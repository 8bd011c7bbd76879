//! Errors of checkpoint and adapter loading; each names the file and, where one is at fault, the
//! tensor with its expected and found shape or dtype.

use std::path::PathBuf;

use thiserror::Error;

/// A problem with a model or adapter directory.
#[derive(Debug, Error)]
pub enum ModelError {
    /// A file that is missing or unreadable.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A JSON file that does not say what it must (`config.json`, an index, `adapter_config.json`).
    #[error("{path}: {field}: {reason}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The offending key.
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// A safetensors file that does not parse.
    #[error("{path}: not a safetensors file: {reason}")]
    Safetensors {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        reason: String,
    },
    /// A GGUF file that is truncated or inconsistent.
    #[error("{path}: malformed GGUF file: {what}: {reason}")]
    Gguf {
        /// The file.
        path: PathBuf,
        /// Where: `header`, `metadata key "…"`, `tensor "…"`.
        what: String,
        /// What is wrong.
        reason: String,
    },
    /// A tensor the architecture needs is in no file.
    #[error("{dir}: tensor {name} is missing (looked in {files})")]
    MissingTensor {
        /// The checkpoint or adapter directory.
        dir: PathBuf,
        /// The tensor name.
        name: String,
        /// The files searched.
        files: String,
    },
    /// A tensor of the wrong shape.
    #[error("{path}: tensor {name} has shape {found:?}, expected {expected:?}")]
    Shape {
        /// The file holding it.
        path: PathBuf,
        /// The tensor name.
        name: String,
        /// What the config implies.
        expected: Vec<usize>,
        /// What the file holds.
        found: Vec<usize>,
    },
    /// A tensor of a dtype that cannot be cast to f32 (ints, f8…).
    #[error("{path}: tensor {name} has dtype {found}, expected F32, F16 or BF16")]
    Dtype {
        /// The file holding it.
        path: PathBuf,
        /// The tensor name.
        name: String,
        /// What the file holds.
        found: String,
    },
    /// Something the configuration asks for that this crate does not implement.
    #[error("{path}: {what} is not supported")]
    Unsupported {
        /// The file.
        path: PathBuf,
        /// What.
        what: String,
    },
    /// A tensor larger than one storage binding of the wgpu adapter allows.
    #[error(
        "{what} needs {bytes} bytes in one buffer, more than this wgpu adapter's storage binding limit of {limit} bytes; \
         use --device cpu (or cuda), a GPU with larger bindings, or a smaller batch/context"
    )]
    TooLarge {
        /// The tensor (a weight name or an activation).
        what: String,
        /// Its size.
        bytes: u64,
        /// The adapter's limit.
        limit: u64,
    },
    /// Token ids outside the vocabulary, or shapes that do not fit.
    #[error("bad model input: {0}")]
    Input(String),
    /// A computation gave NaN or infinity, or a device read-back failed.
    #[error("{0}")]
    Compute(String),
    /// A device read-back failed.
    #[error(transparent)]
    Readback(#[from] crate::device::ReadbackError),
    /// A tensor of a file that cannot be what the file claims (an optimizer moment of the wrong
    /// rank, without its partner, or for a parameter the model does not have).
    #[error("{path}: tensor {name}: {reason}")]
    Tensor {
        /// The file holding it.
        path: PathBuf,
        /// The tensor name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// A file that could not be written.
    #[error("cannot write {path}: {reason}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}
