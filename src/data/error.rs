//! Errors of data files (task JSONL, BFCL): each names the file, and the line and field at fault.

use std::path::PathBuf;

use thiserror::Error;

/// A problem with a data file.
#[derive(Debug, Error)]
pub enum DataError {
    /// Unreadable file.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A malformed line.
    #[error("{path}:{line}: {field}: {reason}")]
    Line {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// JSON path of the offending field (`answers[0][1].arguments.city`).
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// A BFCL answer whose id has no question.
    #[error("{path}:{line}: id {id:?} has no question in the category file")]
    Orphan {
        /// The answer file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// The id.
        id: String,
    },
    /// No task in the file.
    #[error("{path}: no tasks{}", if *.skipped > 0 { format!(" ({} bad lines skipped)", .skipped) } else { String::new() })]
    Empty {
        /// The file.
        path: PathBuf,
        /// Lines skipped as bad.
        skipped: usize,
    },
}
