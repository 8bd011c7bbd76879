//! Typed errors of the objective: each names the offending group, row or tensor.

use thiserror::Error;

/// Which reward stream a value belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RewardStream {
    /// Tool-call correctness (component 0).
    Outcome,
    /// Judge score of the reasoning (component 1).
    Reasoning,
}

impl std::fmt::Display for RewardStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Outcome => "outcome",
            Self::Reasoning => "reasoning",
        })
    }
}

/// A per-token input of the loss.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LossTensor {
    /// Current policy log-probs `[B, T]`.
    LogProb,
    /// Log-probs at sampling time `[B, T]`.
    OldLogProb,
    /// Reference-policy log-probs `[B, T]` (read only when `kl_beta > 0`).
    RefLogProb,
    /// Advantages `[B]`.
    Advantage,
    /// Loss mask `[B, T]`.
    Mask,
    /// Rewards `[P, G, 2]`.
    Rewards,
}

impl std::fmt::Display for LossTensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::LogProb => "logp",
            Self::OldLogProb => "old_logp",
            Self::RefLogProb => "ref_logp",
            Self::Advantage => "adv",
            Self::Mask => "mask",
            Self::Rewards => "rewards",
        })
    }
}

impl From<crate::device::ReadbackError> for ObjectiveError {
    fn from(e: crate::device::ReadbackError) -> Self {
        ObjectiveError::Readback { what: e.what, reason: e.reason }
    }
}

/// Bad input to the advantage or the loss.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum ObjectiveError {
    /// `G = 0` or `P = 0`, or `B = 0` / `T = 0`.
    #[error("{tensor} is empty: shape {shape:?} (every dimension must be at least 1)")]
    Empty {
        /// The tensor.
        tensor: LossTensor,
        /// Its shape.
        shape: Vec<usize>,
    },
    /// A tensor whose shape disagrees with the others.
    #[error("{tensor} has shape {found:?}, expected {expected:?}")]
    Shape {
        /// The tensor.
        tensor: LossTensor,
        /// What the other inputs imply.
        expected: Vec<usize>,
        /// What was passed.
        found: Vec<usize>,
    },
    /// NaN or infinite reward.
    #[error("non-finite {stream} reward {value} in group {group}, sample {sample}")]
    NonFiniteReward {
        /// Prompt group index `p`.
        group: usize,
        /// Sample index `g` within the group.
        sample: usize,
        /// Which stream.
        stream: RewardStream,
        /// The value.
        value: f32,
    },
    /// NaN or infinite log-prob or advantage on a token the loss reads.
    #[error("non-finite {tensor} {value} at row {row}, token {col}")]
    NonFinite {
        /// The tensor.
        tensor: LossTensor,
        /// Row `b`.
        row: usize,
        /// Token `t` (0 for per-row tensors).
        col: usize,
        /// The value.
        value: f32,
    },
    /// A mask value other than 0 or 1.
    #[error("mask value {value} at row {row}, token {col} (must be 0 or 1)")]
    BadMask {
        /// Row `b`.
        row: usize,
        /// Token `t`.
        col: usize,
        /// The value.
        value: f32,
    },
    /// A row with no token to learn from.
    #[error("row {row} has an empty loss mask (no generated token)")]
    EmptyMask {
        /// Row `b`.
        row: usize,
    },
    /// Finite inputs whose result overflowed f32 (e.g. `logp - old_logp > 88` makes the ratio
    /// infinite): reported instead of a silent inf/NaN.
    #[error("the {what} of {unit} {index} is not finite ({value}): inputs overflow f32 arithmetic")]
    Overflow {
        /// The quantity.
        what: &'static str,
        /// "group" or "batch".
        unit: &'static str,
        /// Its index.
        index: usize,
        /// The value.
        value: f32,
    },
    /// A whole-batch normaliser that cannot normalise (see `reference::Normaliser`).
    #[error("loss normaliser: {field} = {value} (must be finite and > 0, one entry per row)")]
    BadNormaliser {
        /// The field.
        field: &'static str,
        /// Its value (the length, for a per-row list of the wrong length).
        value: f64,
    },
    /// WGSL requested on a device that cannot run it.
    #[error("algo.kernel = \"wgsl\" but the device {device} cannot run WGSL kernels (use \"auto\" or \"tensor\")")]
    KernelUnavailable {
        /// The device, as burn prints it.
        device: String,
    },
    /// Reading results back from the device failed.
    #[error("reading {what} back from the device failed: {reason}")]
    Readback {
        /// What was read.
        what: &'static str,
        /// burn's message.
        reason: String,
    },
}
