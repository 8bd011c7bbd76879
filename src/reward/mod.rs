//! Rewards from transcripts. Leaf module (std + serde): no tensors.
//!
//! [`bfcl`]: BFCL's AST checker (Python, Java, JavaScript categories), rule for rule;
//! [`outcome`]: the outcome components of a turn (format, exact, partial, bfcl), each in [0, 1];
//! [`config`]: `[reward]`, the weights that form the outcome reward.

pub mod bfcl;
pub mod config;
pub mod outcome;

pub use config::RewardConfig;
pub use outcome::{Expectation, OutcomeScores, PartialCredit, score};
