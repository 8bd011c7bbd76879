//! `awpo::Error`: one enum over every module's typed errors.

use thiserror::Error;

use crate::algo::ObjectiveError;
use crate::config::ConfigError;
use crate::device::DeviceError;

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
}

/// `Result` with [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
