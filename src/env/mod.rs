//! Multi-turn tool environments: an [`Environment`] turns the model's tool calls into
//! observations (tool results, the next user turn) until the episode ends. Two kinds:
//! [`builtin`], deterministic tools in process (calculator, unit conversion, key-value store,
//! file system), and [`process`], any program speaking the JSON-lines [`protocol`] on its
//! stdin/stdout (`scripts/bfcl_env.py` serves BFCL's own multi-turn simulators through it).
//!
//! Every message an environment returns is environment text (role `tool` or `user`): the trainer
//! never trains on it; only the model's own tokens carry loss.

pub mod builtin;
pub mod process;
pub mod protocol;

use std::path::PathBuf;

use thiserror::Error;

use crate::data::task::{Message, Task};
use crate::tools::ToolCall;

/// What one step gives back.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    /// Tool results (role `tool`, one per call, in call order) or the next user turn.
    pub messages: Vec<Message>,
    /// The episode is over.
    pub done: bool,
    /// A reward the environment computed itself (e.g. BFCL's multi-turn verdict), if any.
    pub reward: Option<f64>,
}

/// A multi-turn episode server.
pub trait Environment {
    /// Starts an episode of `task`; returns the messages the model sees first.
    ///
    /// # Errors
    /// The environment cannot start the task.
    fn reset(&mut self, task: &Task) -> Result<Vec<Message>, EnvError>;

    /// The calls of one assistant message; no calls means the model answered in text and ends
    /// its turn.
    ///
    /// # Errors
    /// The environment failed (not a failing tool: that is a result the model sees).
    fn step(&mut self, calls: &[ToolCall]) -> Result<Step, EnvError>;
}

/// An environment that failed; messages name the program and end with its stderr tail.
#[derive(Debug, Error)]
pub enum EnvError {
    /// The program could not be started.
    #[error("cannot start environment {program}: {source}")]
    Spawn {
        /// The program.
        program: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The program exited (or closed its stdout) while an answer was due.
    #[error("environment {program} exited ({status}) during `{op}`{}", tail(.stderr))]
    Exited {
        /// The program.
        program: PathBuf,
        /// The request.
        op: String,
        /// Its exit status, as text.
        status: String,
        /// The last lines it wrote to stderr.
        stderr: Vec<String>,
    },
    /// No answer within the timeout; the program was killed.
    #[error("environment {program} did not answer `{op}` within {seconds} s and was killed{}", tail(.stderr))]
    Timeout {
        /// The program.
        program: PathBuf,
        /// The request.
        op: String,
        /// The timeout.
        seconds: f64,
        /// The last lines it wrote to stderr.
        stderr: Vec<String>,
    },
    /// An answer that is not protocol JSON; the program was killed.
    #[error("environment {program} answered `{op}` with garbage ({reason}): {line:?}{}", tail(.stderr))]
    Garbage {
        /// The program.
        program: PathBuf,
        /// The request.
        op: String,
        /// The line (cut to 200 characters).
        line: String,
        /// What is wrong with it.
        reason: String,
        /// The last lines it wrote to stderr.
        stderr: Vec<String>,
    },
    /// The environment answered `{"ok": false, "error": …}`.
    #[error("environment {program} refused `{op}`: {message}")]
    Refused {
        /// The program.
        program: PathBuf,
        /// The request.
        op: String,
        /// Its message.
        message: String,
    },
    /// A protocol version this client does not speak.
    #[error("environment {program} speaks protocol {found}, this awpo speaks {expected}")]
    Version {
        /// The program.
        program: PathBuf,
        /// Ours.
        expected: u32,
        /// Theirs.
        found: String,
    },
    /// A call out of order (a step before reset, after the end).
    #[error("environment: {0}")]
    State(String),
}

fn tail(stderr: &[String]) -> String {
    if stderr.is_empty() {
        "; it wrote nothing to stderr".to_string()
    } else {
        format!("; its stderr ends with:\n  {}", stderr.join("\n  "))
    }
}
