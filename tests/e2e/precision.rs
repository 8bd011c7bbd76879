//! Half-precision bases (`[model] dtype`) on the CPU backend: the transformers-parity fixtures
//! at a stated tolerance in f16 and bf16, and the real SmolLM2-135M GGUF's perplexity on a fixed
//! text within 1% of f32. Also the fused log-prob path against the plain one (f32, 1e-5).

use awpo::model::logprob::token_stats;
use awpo::model::{Adapter, CausalLm, Precision};
use burn::tensor::{Device, Int, Tensor, TensorData};

use crate::common::fixtures::{parity_as, values};
use crate::common::fused::{fused_vs_plain, model};
use crate::common::generation::smollm2;
use crate::common::seed;

/// A half-precision base keeps 8 (bf16) or 11 (f16) significant bits per weight, and its
/// matmul inputs are rounded the same way: the fixtures' logits are within this (absolute) of
/// transformers' f32 logits (measured: f16 ≤ 9.8e-3, bf16 ≤ 6.6e-2).
const HALF_TOLERANCE: [(Precision, f32); 2] = [(Precision::F16, 2e-2), (Precision::Bf16, 1e-1)];

#[test]
fn hf_logit_parity_in_half_precision() {
    let device = Device::flex();
    for name in ["llama_untied_rope_scaling", "qwen2_tied", "qwen3_untied"] {
        for (precision, tol) in HALF_TOLERANCE {
            parity_as(name, &device, precision, tol);
        }
    }
}

const TEXT: &str = "The Eiffel Tower is a wrought-iron lattice tower on the Champ de Mars in Paris, France. \
It is named after the engineer Gustave Eiffel, whose company designed and built the tower from 1887 to 1889. \
Locally nicknamed \"La dame de fer\", it was constructed as the centerpiece of the 1889 World's Fair, and to \
crown the centennial anniversary of the French Revolution.";

fn perplexity(path: &std::path::Path, ids: &[u32], precision: Precision, device: &Device) -> f64 {
    let model = CausalLm::load_as(path, precision, device).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(model.precision(), precision);
    let t = ids.len();
    let tokens: Vec<i64> = ids.iter().map(|&i| i64::from(i)).collect();
    let tokens = Tensor::<2, Int>::from_data(TensorData::new(tokens, [1, t]), device);
    let mask = Tensor::<2, Int>::ones([1, t], device);
    let logp = values(token_stats(&model, tokens, mask, Adapter::On, 64).expect("stats").logprobs);
    (-logp.iter().map(|&x| f64::from(x)).sum::<f64>() / logp.len() as f64).exp()
}

#[test]
fn smollm2_perplexity_in_half_precision_is_within_one_percent_of_f32() {
    let device = Device::flex();
    let path = smollm2();
    let tokenizer = awpo::tokenizer::TextTokenizer::for_model(&path).unwrap_or_else(|e| panic!("{e}"));
    let ids = tokenizer.encode(TEXT).expect("encode");
    assert!(ids.len() > 60, "{} tokens", ids.len());
    let f32_ppl = perplexity(&path, &ids, Precision::F32, &device);
    assert!(f32_ppl.is_finite() && f32_ppl > 1.0 && f32_ppl < 100.0, "f32 perplexity {f32_ppl}");
    for precision in [Precision::F16, Precision::Bf16] {
        let ppl = perplexity(&path, &ids, precision, &device);
        let rel = (ppl / f32_ppl - 1.0).abs();
        eprintln!(
            "SmolLM2-135M perplexity: f32 {f32_ppl:.4}, {} {ppl:.4} ({:+.3}%)",
            precision.name(),
            100.0 * (ppl / f32_ppl - 1.0)
        );
        assert!(rel < 0.01, "{}: perplexity {ppl} vs f32 {f32_ppl}", precision.name());
    }
}

#[test]
fn fused_log_probs_and_gradients_equal_the_plain_path() {
    let device = Device::flex().autodiff();
    let s = seed("fused log-probs");
    // (tied, rows per vocabulary tile, positions per chunk): one tile, uneven tiles, untied.
    for (i, (tied, tile_rows, chunk)) in
        [(true, 97, 4), (true, 30, 3), (false, 41, 100), (false, 97, 1)].into_iter().enumerate()
    {
        let m = model(&device, s + i as u64, 97, tied, tile_rows);
        assert_eq!(m.head().tiles.len(), 97usize.div_ceil(tile_rows));
        let diff = fused_vs_plain(&m, s + i as u64, chunk);
        eprintln!("tied {tied}, tiles of {tile_rows}, chunk {chunk}: {diff:?}");
        assert!(diff.worst() <= 1e-5, "seed {s}: tied {tied}, tiles of {tile_rows}, chunk {chunk}: {diff:?}");
    }
}
