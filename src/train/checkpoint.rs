//! Checkpoints: `RUN_DIR/checkpoints/step-N/` holds the PEFT adapter, the optimizer moments
//! (`optimizer.safetensors`), and `state.json` (format version, step, optimizer step count, data
//! cursor, seed). Each is written to a temporary directory and renamed into place, and
//! `checkpoints/latest` is replaced atomically after it, so a run killed at any instant leaves
//! either the previous checkpoint or the new one, never a partial one.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::optim::AdamW;
use crate::model::weights::{TensorSource, Weights, save};
use crate::model::{AdapterConfig, CausalLm, ModelError, peft};

/// The checkpoint format this awpo writes and reads.
pub const FORMAT: u32 = 1;

/// `state.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// Checkpoint format version.
    pub format: u32,
    /// RL steps done.
    pub step: usize,
    /// Optimizer steps done.
    pub adam_t: u64,
    /// Tasks consumed from the training stream.
    pub cursor: usize,
    /// The run's seed.
    pub seed: u64,
}

fn write_err(path: &Path, e: impl std::fmt::Display) -> ModelError {
    ModelError::Write { path: path.into(), reason: e.to_string() }
}

/// Writes `text` to `path` through a temporary file and a rename.
///
/// # Errors
/// The file cannot be written.
pub fn write_atomic(path: &Path, text: &str) -> Result<(), ModelError> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).map_err(|e| write_err(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| write_err(path, e))
}

/// Saves a checkpoint of `model`'s adapter and `optim`; returns its directory.
///
/// # Errors
/// Files cannot be written or the device cannot be read.
pub fn save_checkpoint(
    run_dir: &Path,
    model: &CausalLm,
    adapter: &AdapterConfig,
    base: &str,
    optim: &AdamW,
    state: &State,
) -> Result<PathBuf, ModelError> {
    let dir = run_dir.join("checkpoints");
    std::fs::create_dir_all(&dir).map_err(|e| write_err(&dir, e))?;
    let name = format!("step-{}", state.step);
    let tmp = dir.join(format!(".{name}.tmp"));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(|e| write_err(&tmp, e))?;
    peft::save_adapter(model, adapter, base, &tmp.join("adapter"))?;
    let (t, tensors) = optim.state()?;
    save(&tmp.join("optimizer.safetensors"), &tensors)?;
    let text = serde_json::to_string_pretty(&State { adam_t: t, ..state.clone() }).map_err(|e| write_err(&tmp, e))?;
    std::fs::write(tmp.join("state.json"), text).map_err(|e| write_err(&tmp, e))?;
    let final_dir = dir.join(&name);
    if final_dir.exists() {
        std::fs::remove_dir_all(&final_dir).map_err(|e| write_err(&final_dir, e))?;
    }
    std::fs::rename(&tmp, &final_dir).map_err(|e| write_err(&final_dir, e))?;
    write_atomic(&dir.join("latest"), &name)?;
    // Keep the two newest checkpoints.
    let mut steps: Vec<(usize, PathBuf)> = std::fs::read_dir(&dir)
        .map_err(|e| write_err(&dir, e))?
        .flatten()
        .filter_map(|e| {
            let n = e.file_name().to_string_lossy().strip_prefix("step-")?.parse().ok()?;
            Some((n, e.path()))
        })
        .collect();
    steps.sort();
    for (_, old) in steps.iter().rev().skip(2) {
        let _ = std::fs::remove_dir_all(old);
    }
    Ok(final_dir)
}

/// The newest checkpoint of a run and its state, if any.
///
/// # Errors
/// A `latest` pointer to a missing or unreadable checkpoint, or another format version.
pub fn latest(run_dir: &Path) -> Result<Option<(PathBuf, State)>, ModelError> {
    let pointer = run_dir.join("checkpoints").join("latest");
    let name = match std::fs::read_to_string(&pointer) {
        Ok(name) => name,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(ModelError::Read { path: pointer, source }),
    };
    let name = name.trim();
    if name.strip_prefix("step-").is_none_or(|n| n.parse::<usize>().is_err()) {
        return Err(ModelError::Json {
            path: pointer,
            field: "(file)".into(),
            reason: format!("{name:?} is not a checkpoint name (step-N)"),
        });
    }
    let dir = run_dir.join("checkpoints").join(name);
    if !dir.is_dir() {
        let source = std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("{} names it, but it does not exist", pointer.display()),
        );
        return Err(ModelError::Read { path: dir, source });
    }
    let path = dir.join("state.json");
    let text = std::fs::read_to_string(&path).map_err(|source| ModelError::Read { path: path.clone(), source })?;
    let state: State = serde_json::from_str(&text).map_err(|e| ModelError::Json {
        path: path.clone(),
        field: "(file)".into(),
        reason: e.to_string(),
    })?;
    if state.format != FORMAT {
        return Err(ModelError::Json {
            path,
            field: "format".into(),
            reason: format!("checkpoint format {} (this awpo reads {FORMAT})", state.format),
        });
    }
    Ok(Some((dir, state)))
}

/// Loads the optimizer moments of checkpoint `dir` into `optim`, checked against `model`'s LoRA
/// factors.
///
/// # Errors
/// A missing or malformed `optimizer.safetensors`, or moments that do not fit the model (each
/// error names the file and the tensor).
pub fn restore_optimizer(
    dir: &Path,
    optim: &mut AdamW,
    model: &CausalLm,
    state: &State,
    device: &burn::tensor::Device,
) -> Result<(), ModelError> {
    let file = "optimizer.safetensors";
    let w = Weights::open(dir, file)?;
    let mut names: Vec<String> = w.names().map(str::to_string).collect();
    names.sort();
    let mut tensors = Vec::new();
    for name in names {
        let shape = w.shape(&name).unwrap_or_default();
        let values = w.tensor(&name, &shape)?;
        tensors.push((name, shape, values));
    }
    optim.restore(model, state.adam_t, tensors, &dir.join(file), device)
}
