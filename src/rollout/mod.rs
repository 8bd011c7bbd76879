//! Rollouts: sampling the policy. So far: [`sampler`], next-token sampling from logits.

pub mod sampler;

pub use sampler::{Draw, Sampling, sample};
