//! The reasoning reward: a [`Judge`] scores the model's reasoning (its `<think>` text) given the
//! user request, the tool schemas and the calls it then made, in [0, 1]. Three judges:
//! [`heuristic`] (no model: does the reasoning name the tool and the argument values it passes,
//! is its length sane), [`http`] (any OpenAI-compatible chat-completions server), and
//! [`local`] (a model loaded through awpo's own stack). [`prompt`] holds the default prompt and
//! the score parser shared by the model judges.

pub mod config;
pub mod heuristic;
pub mod http;
pub mod local;
pub mod prompt;

use serde_json::Value;
use thiserror::Error;

use crate::tools::ToolCall;

pub use config::{JudgeConfig, JudgeKind};

/// What a judge scores.
#[derive(Clone, Debug, PartialEq)]
pub struct JudgeRequest {
    /// The user's request (the last user message).
    pub request: String,
    /// The tool schemas offered.
    pub tools: Vec<Value>,
    /// The model's reasoning.
    pub reasoning: String,
    /// The calls it made after reasoning.
    pub calls: Vec<ToolCall>,
}

/// A scorer of reasoning.
pub trait Judge {
    /// One score in [0, 1] per request, in order (requests may be scored concurrently).
    fn score(&self, requests: &[JudgeRequest]) -> Vec<Result<f64, JudgeError>>;
}

/// The judge `cfg` describes (`device` runs a local judge's model).
///
/// # Errors
/// A missing API key variable, or a local model that cannot be loaded.
pub fn from_config(cfg: &JudgeConfig, device: &burn::tensor::Device) -> Result<Box<dyn Judge>, JudgeError> {
    Ok(match cfg.kind {
        JudgeKind::Heuristic => Box::new(heuristic::Heuristic),
        JudgeKind::Http => Box::new(http::HttpJudge::new(cfg)?),
        JudgeKind::Local => Box::new(local::LocalJudge::load(cfg, device)?),
    })
}

/// Why a judge gave no score.
#[derive(Clone, Debug, Error)]
pub enum JudgeError {
    /// The API key variable is not set.
    #[error("judge: environment variable {0} (the API key) is not set")]
    MissingKey(String),
    /// The server could not be reached, or timed out, after every retry.
    #[error("judge {url}: {reason} (after {attempts} attempts)")]
    Transport {
        /// The endpoint.
        url: String,
        /// The last failure.
        reason: String,
        /// Attempts made.
        attempts: u32,
    },
    /// The server answered with an error status after every retry.
    #[error("judge {url}: HTTP {status} (after {attempts} attempts): {body}")]
    Status {
        /// The endpoint.
        url: String,
        /// The last status.
        status: u16,
        /// The start of the last body.
        body: String,
        /// Attempts made.
        attempts: u32,
    },
    /// An answer that is not a chat completion, or whose text holds no score.
    #[error("judge {url}: no score in the answer ({reason}): {text:?}")]
    Unparsable {
        /// The endpoint (or `local`).
        url: String,
        /// What is wrong.
        reason: String,
        /// The start of the answer.
        text: String,
    },
    /// A request whose scoring stopped without a result (its worker failed).
    #[error("judge {url}: no score for this request (the worker scoring it failed)")]
    Lost {
        /// The endpoint.
        url: String,
    },
    /// The local judge's model failed.
    #[error("local judge: {0}")]
    Model(String),
}
