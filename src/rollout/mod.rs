//! Rollouts: sampling the policy. [`sampler`] draws one token from a row of logits on the host
//! (the reference); [`device_draw`] draws a batch's tokens on the device;
//! [`generate()`] runs batched, KV-cached generation with one shared prefill per group;
//! [`parallel`] runs parts of a batch on threads (CPU backend).

pub mod device_draw;
pub mod generate;
pub mod parallel;
pub mod sampler;

pub use generate::{Finish, GenerateOptions, Generation, Held, Sample, Stats, generate, generate_held, generate_part};
pub use sampler::{Draw, Sampling, sample};
