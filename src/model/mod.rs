//! The policy model: Llama / Qwen2 / Qwen3 decoders from Hugging Face safetensors, with LoRA
//! adapters. Token ids in, logits out; it knows no text. Module and field names mirror the
//! checkpoint's tensor names (`model.layers.N.self_attn.q_proj` → `layers[N].self_attn.q_proj`).

pub mod attention;
pub mod causal_lm;
pub mod config;
pub mod dropout;
pub mod error;
pub mod export;
pub mod gguf;
pub mod gguf_file;
pub mod kv_cache;
pub mod layers;
pub mod logprob;
pub mod peft;
pub mod precision;
pub mod quants;
pub mod recompute;
pub mod rope;
pub mod vocab;
pub mod weights;

pub use causal_lm::CausalLm;
pub use config::{Architecture, ModelConfig};
pub use dropout::Adapter;
pub use error::ModelError;
pub use kv_cache::KvCache;
pub use peft::{AdapterConfig, LoraConfig};
pub use precision::{BaseDtype, Precision};

#[cfg(test)]
mod gguf_tests;
#[cfg(test)]
mod quants_tests;
