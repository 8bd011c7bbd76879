//! The decoder against Hugging Face transformers: logits of tiny random Llama / Qwen2 / Qwen3
//! checkpoints (tied and untied, Llama-3 rope scaling, right padding) written by
//! `scripts/gen-model-fixtures.py` (versions and seed in `tests/fixtures/models/PROVENANCE.json`),
//! on the CPU backend; sharded and bf16 copies load to the same logits. (The same check on wgpu
//! runs in `tests/kernels.rs`.)

use burn::tensor::Device;

use crate::common::fixtures::parity;

#[test]
fn hf_logit_parity_on_cpu() {
    let device = Device::flex();
    for name in [
        "llama_tied",
        "llama_untied_rope_scaling",
        "qwen2_untied",
        "qwen2_tied",
        "qwen3_tied",
        "qwen3_untied",
        "qwen3_untied_sharded",
        "qwen3_untied_bf16",
    ] {
        parity(name, &device);
    }
}
