//! `TrainError`: everything that stops a training run, typed, each naming what failed (the
//! task, the file, the key), so the trainer never turns another module's error into a string.

use std::path::PathBuf;

use thiserror::Error;

use crate::algo::ObjectiveError;
use crate::chat::ChatError;
use crate::data::DataError;
use crate::device::DeviceError;
use crate::env::EnvError;
use crate::judge::JudgeError;
use crate::model::ModelError;

/// Why a training run (or one of its steps) stopped.
#[derive(Debug, Error)]
pub enum TrainError {
    /// A model, adapter, tokenizer, checkpoint file or device computation.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// Bad input to the objective (advantages, loss).
    #[error(transparent)]
    Objective(#[from] ObjectiveError),
    /// A task file.
    #[error(transparent)]
    Data(#[from] DataError),
    /// Device selection.
    #[error(transparent)]
    Device(#[from] DeviceError),
    /// The memory plan does not fit the device.
    #[error("memory plan: {0}")]
    Memory(#[from] super::memory::DoesNotFit),
    /// The reasoning judge gave no score.
    #[error("reasoning judge: {0}")]
    Judge(#[from] JudgeError),
    /// The model's chat template does not compile.
    #[error("chat template: {0}")]
    Chat(#[from] ChatError),
    /// The chat template failed on a task's conversation.
    #[error("task {task}: chat template: {source}")]
    Template {
        /// The task's id.
        task: String,
        /// The template's error.
        source: ChatError,
    },
    /// An environment failed during a task's episode.
    #[error("task {task}: {source}")]
    Environment {
        /// The task's id.
        task: String,
        /// The environment's error (boxed: it carries the program's stderr tail).
        source: Box<EnvError>,
    },
    /// A task set with no task.
    #[error("data.train {0:?} holds no tasks")]
    NoTasks(String),
    /// `train.adapter_sft_tasks` keeps every training task for the warm-up.
    #[error(
        "data.train {spec:?} holds {total} tasks and train.adapter_sft_tasks = {kept} keeps them all for the adapter's warm-up: none is left for RL"
    )]
    NoRlTasks {
        /// `data.train`.
        spec: String,
        /// Tasks it holds.
        total: usize,
        /// `train.adapter_sft_tasks`.
        kept: usize,
    },
    /// `model.path` names nothing.
    #[error("model.path {0} does not exist")]
    NoModel(String),
    /// A fresh run would overwrite another.
    #[error("{0} already holds a run: continue it with `awpo train --resume {0}`, or set train.run_dir")]
    RunExists(PathBuf),
    /// The run directory cannot be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The directory or file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// `awpo ablate` cannot run as asked.
    #[error("ablation: {0}")]
    Ablation(String),
    /// The supervised warm-up's loss stopped being finite.
    #[error("supervised loss is {value} at warm-up step {step}")]
    NonFiniteLoss {
        /// Its value.
        value: f64,
        /// The 0-based step.
        step: usize,
    },
}
