//! # awpo
//!
//! Reinforcement learning for tool-using language models with AWPO (Advantage-Weighted Policy
//! Optimization, arXiv 2512.19126) on any GPU through wgpu (Vulkan, Metal, DX12), on CUDA, or
//! on the CPU, chosen at run time.
//!
//! ```text
//! rewards [P, G, 2] ──algo::advantage──▶ adv [P, G] ──▶ LossBatch { logp, old_logp, ref_logp, mask [B, T], adv [B] }
//!                      (WGSL kernel | burn ops)                   │
//!                                                        algo::loss ──▶ loss [1] ──backward──▶ d/d logp
//!                                                        (WGSL fwd/bwd kernels | burn ops)
//! ```
//!
//! Owned boundaries: a module imports only from lower layers (enforced by `architecture.rs`):
//! 0. [`tools`], [`data`], [`chat`] (std + serde); [`stats`] (intervals of accuracies);
//!    [`device`], [`kernels`], [`reduce`] (burn);
//! 1. [`model`] (token ids in, logits out), [`algo`] (tensors in, tensors out), [`reward`],
//!    [`mod@env`], [`corpus`] (the generated training corpus of `awpo data synth`);
//! 2. [`tokenizer`];
//! 3. [`prompt`], [`rollout`] (generation), [`synth`] (the generated task set);
//! 4. [`judge`];
//! 5. [`config`] (every section of a run);
//! 6. [`eval`], [`train`];
//! 7. [`error`]; 8. [`selfcheck`]; 9. [`cli`] and the binary.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod algo;
#[cfg(test)]
mod architecture;
pub mod chat;
pub mod cli;
pub mod config;
pub mod corpus;
pub mod data;
pub mod device;
pub mod env;
pub mod error;
pub mod eval;
pub mod judge;
pub mod kernels;
pub mod model;
pub mod prompt;
pub mod reduce;
pub mod reward;
pub mod rollout;
pub mod selfcheck;
pub mod stats;
pub mod synth;
pub mod tokenizer;
pub mod tools;
pub mod train;

pub use algo::{AlgoConfig, LossBatch, ObjectiveError, advantage, loss};
pub use config::RunConfig;
pub use error::{Error, Result};
