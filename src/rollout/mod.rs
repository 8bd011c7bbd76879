//! Rollouts: sampling the policy. [`sampler`] draws one token from a row of logits;
//! [`generate`] runs batched, KV-cached generation with one shared prefill per group.

pub mod generate;
pub mod sampler;

pub use generate::{Finish, GenerateOptions, Generation, Sample, Stats, generate, generate_part};
pub use sampler::{Draw, Sampling, sample};
