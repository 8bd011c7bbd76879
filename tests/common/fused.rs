//! The fused log-prob path (`model::logprob`, vocabulary tiles, online log-sum-exp, gradient
//! computed in the forward pass) against the plain one (full logits, burn's `log_softmax` and
//! autodiff), shared by the CPU and wgpu test binaries.

use awpo::model::logprob::{fused_stats_of_hidden, plain_stats_of_hidden, plain_token_stats, token_stats};
use awpo::model::{Adapter, CausalLm, LoraConfig, peft};
use awpo::train::parallel::flat_grads;
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor, TensorData};
use rand::{Rng, SeedableRng};

use super::fixtures::values;
use super::generation::{padded, prompts};

/// Largest differences, each relative to the largest magnitude of the plain path's values.
#[derive(Debug)]
pub struct Diff {
    /// Log-probs.
    pub logp: f32,
    /// Entropies.
    pub entropy: f32,
    /// Gradient of `Σ w·logp` with respect to the hidden states.
    pub hidden: f32,
    /// Gradient with respect to every LoRA factor.
    pub lora: f32,
}

impl Diff {
    /// The largest of the four.
    pub fn worst(&self) -> f32 {
        self.logp.max(self.entropy).max(self.hidden).max(self.lora)
    }
}

fn relative(got: &[f32], want: &[f32]) -> f32 {
    assert_eq!(got.len(), want.len());
    assert!(got.iter().chain(want).all(|x| x.is_finite()), "non-finite values");
    let scale = want.iter().fold(0f32, |m, x| m.max(x.abs()));
    assert!(scale > 0.0, "all zero: the check would not see anything");
    got.iter().zip(want).fold(0f32, |m, (a, b)| m.max((a - b).abs())) / scale
}

/// A random decoder (vocabulary `vocab`, tied when `tied`) with LoRA on every projection, `B`
/// random, on `device` (autodiff), its vocabulary matrices in tiles of `tile_rows`.
pub fn model(device: &Device, seed: u64, vocab: usize, tied: bool, tile_rows: usize) -> CausalLm {
    let mut cfg = awpo::train::builtin_policy::model_config(vocab);
    (cfg.hidden_size, cfg.intermediate_size, cfg.num_hidden_layers) = (32, 48, 2);
    (cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim) = (4, 2, 8);
    cfg.tie_word_embeddings = tied;
    // Random weights, with an `lm_head.weight` when untied.
    struct Source(awpo::model::weights::RandomWeights, bool);
    impl awpo::model::weights::TensorSource for Source {
        fn tensor(&self, name: &str, expected: &[usize]) -> Result<Vec<f32>, awpo::model::ModelError> {
            self.0.tensor(name, expected)
        }
        fn has(&self, name: &str) -> bool {
            !self.1 || name != "lm_head.weight"
        }
    }
    let source = Source(awpo::model::weights::RandomWeights { seed }, tied);
    let mut model = CausalLm::from_weights(cfg, &source, device).expect("model");
    peft::attach(&mut model, &LoraConfig { rank: 4, ..LoraConfig::default() }, seed);
    super::randomise_lora_b(&mut model, seed);
    model.embed_tokens = model.embed_tokens.retiled(tile_rows);
    model.lm_head = model.lm_head.as_ref().map(|h| h.retiled(tile_rows));
    model
}

/// The fused path against the plain one on `model` (autodiff device), `chunk` positions per
/// chunk, ragged random rows.
pub fn fused_vs_plain(model: &CausalLm, seed: u64, chunk: usize) -> Diff {
    let device = model.device();
    let v = model.config().vocab_size;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let lengths: Vec<usize> = (0..3).map(|_| rng.random_range(3..12)).collect();
    let rows = prompts(seed, &lengths, v);
    let (ids, mask, t) = padded(&rows, &device);
    let b = rows.len();
    let w: Vec<f32> = (0..b * (t - 1)).map(|_| rng.random_range(-1.0..1.0)).collect();
    let w = Tensor::<2>::from_data(TensorData::new(w, [b, t - 1]), &device);
    let weighted = |logp: Tensor<2>| (logp * w.clone()).reshape([b * (t - 1)]).sum();

    // With respect to the hidden states (a leaf).
    let hidden = model.hidden(ids.clone(), mask.clone(), Adapter::On).expect("hidden").detach();
    let by_hidden = |fused: bool| {
        let leaf = hidden.clone().require_grad();
        let f = if fused { fused_stats_of_hidden } else { plain_stats_of_hidden };
        let stats = f(model.head(), leaf.clone(), ids.clone(), mask.clone(), chunk).expect("stats");
        let (logp, entropy) = (values(stats.logprobs.clone()), values(stats.entropy));
        let grads = weighted(stats.logprobs).backward();
        (logp, entropy, values(leaf.grad(&grads).expect("hidden gradient")))
    };
    let (fused, plain) = (by_hidden(true), by_hidden(false));

    // With respect to the LoRA factors, through the whole model.
    let lora = |fused: bool| {
        let f = if fused { token_stats } else { plain_token_stats };
        let stats = f(model, ids.clone(), mask.clone(), Adapter::On, chunk).expect("stats");
        let grads = GradientsParams::from_grads(weighted(stats.logprobs).backward(), model);
        flat_grads(model, &grads).expect("gradients")
    };
    Diff {
        logp: relative(&fused.0, &plain.0),
        entropy: relative(&fused.1, &plain.1),
        hidden: relative(&fused.2, &plain.2),
        lora: relative(&lora(true), &lora(false)),
    }
}
