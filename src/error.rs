//! `awpo::Error`: one enum over every module's typed errors.

use thiserror::Error;

use std::path::PathBuf;

use crate::algo::ObjectiveError;
use crate::config::ConfigError;
use crate::data::DataError;
use crate::device::DeviceError;
use crate::model::ModelError;

/// Any error of the library.
#[derive(Debug, Error)]
pub enum Error {
    /// Configuration file, override or validation.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Device selection.
    #[error(transparent)]
    Device(#[from] DeviceError),
    /// Bad input to the objective.
    #[error(transparent)]
    Objective(#[from] ObjectiveError),
    /// A data file (tasks, BFCL).
    #[error(transparent)]
    Data(#[from] DataError),
    /// A model, adapter or tokenizer.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// A reasoning judge.
    #[error(transparent)]
    Judge(#[from] crate::judge::JudgeError),
    /// An evaluation.
    #[error(transparent)]
    Eval(#[from] crate::eval::EvalError),
    /// A training run (boxed: it carries other modules' errors with their context).
    #[error(transparent)]
    Train(Box<crate::train::TrainError>),
    /// A chat template.
    #[error(transparent)]
    Chat(#[from] crate::chat::ChatError),
    /// An output file.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

impl From<crate::train::TrainError> for Error {
    fn from(e: crate::train::TrainError) -> Self {
        Error::Train(Box::new(e))
    }
}

/// `Result` with [`enum@Error`].
pub type Result<T> = std::result::Result<T, Error>;
