//! LoRA in PEFT format: a PEFT-written adapter gives PEFT's logits (and the base model's with
//! the adapter off); only adapter parameters receive gradients and move under AdamW; adapters
//! save and load back bit for bit; a merged checkpoint gives the adapted logits.

use awpo::model::logprob::token_stats;
use awpo::model::{Adapter, CausalLm, LoraConfig, peft};
use burn::optim::{AdamWConfig, GradientsParams};
use burn::tensor::Device;

use crate::common::fixtures::{Reference, fixture, values};

fn adapted(device: &Device) -> CausalLm {
    let mut model = CausalLm::load(&fixture("qwen3_untied"), device).unwrap_or_else(|e| panic!("{e}"));
    peft::load(&mut model, &fixture("qwen3_untied_lora")).unwrap_or_else(|e| panic!("{e}"));
    model
}

fn flat_base(model: &CausalLm) -> Vec<f32> {
    let mut out = model.embed_tokens.values().expect("embedding");
    for (_, layer) in model.linear_layers() {
        out.extend(values(layer.weight.val().reshape([-1])));
    }
    out
}

fn flat_lora(model: &CausalLm) -> Vec<f32> {
    model
        .linear_layers()
        .iter()
        .filter_map(|(_, l)| l.lora_tensors().expect("read back"))
        .flat_map(|[a, b]| a.1.into_iter().chain(b.1))
        .collect()
}

#[test]
fn peft_adapter_matches_peft_and_base_when_off() {
    let device = Device::flex();
    let model = adapted(&device);
    let reference = Reference::load(&fixture("qwen3_untied_lora"));
    let (ids, mask) = reference.inputs(&device);
    let v = model.config().vocab_size;
    let on = values(model.forward(ids.clone(), mask.clone(), Adapter::On).expect("forward"));
    let off = values(model.forward(ids, mask, Adapter::Off).expect("forward"));
    let err_on = reference.max_err(&on, "logits", v, &reference.mask);
    let err_off = reference.max_err(&off, "logits_base", v, &reference.mask);
    let moved = reference.max_err(&on, "logits_base", v, &reference.mask);
    eprintln!("LoRA on: max |logit err| {err_on:.2e}; off (base): {err_off:.2e}; adapter moves logits by {moved:.2}");
    assert!(err_on < 1e-4 && err_off < 1e-4 && moved > 0.5, "{err_on} {err_off} {moved}");
}

#[test]
fn only_adapters_learn_and_adapters_round_trip() {
    let device = Device::flex().autodiff();
    let model = adapted(&device);
    let reference = Reference::load(&fixture("qwen3_untied_lora"));
    let (ids, mask) = reference.inputs(&device);
    let (base_before, lora_before) = (flat_base(&model), flat_lora(&model));
    let stats = token_stats(&model, ids, mask, Adapter::On, 3).expect("stats");
    let loss = stats.logprobs.sum().neg();
    let grads = GradientsParams::from_grads(loss.backward(), &model);
    let lora_params: usize = model.linear_layers().iter().filter(|(_, l)| l.lora.is_some()).count() * 2;
    assert_eq!(grads.len(), lora_params, "gradients reach exactly the adapter factors");
    for (name, layer) in model.linear_layers() {
        assert!(grads.get::<2>(layer.weight.id).is_none(), "{name}: base weight got a gradient");
    }
    let mut optim = AdamWConfig::new().with_epsilon(1e-8).with_weight_decay(0.01).init();
    let model = optim.step(1e-2, model, grads);
    assert_eq!(flat_base(&model), base_before, "base weights bit-identical after an AdamW step");
    let lora_after = flat_lora(&model);
    let changed = lora_after.iter().zip(&lora_before).filter(|(a, b)| a != b).count();
    assert!(changed > lora_after.len() / 2, "adapters moved: {changed}/{}", lora_after.len());

    let dir = std::env::temp_dir().join(format!("awpo-adapter-{}", std::process::id()));
    let cfg = LoraConfig { rank: 4, alpha: 8.0, ..LoraConfig::default() };
    peft::save_adapter(&model, &cfg.into(), "tests/fixtures/models/qwen3_untied", &dir)
        .unwrap_or_else(|e| panic!("{e}"));
    let mut back = CausalLm::load(&fixture("qwen3_untied"), &device).expect("base");
    let loaded = peft::load(&mut back, &dir).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((loaded.lora.rank, loaded.lora.alpha), (4, 8.0));
    assert_eq!(flat_lora(&back), lora_after, "saved adapter loads back bit for bit");
    let (ids, mask) = reference.inputs(&device);
    let before = values(model.forward(ids.clone(), mask.clone(), Adapter::On).expect("forward"));
    let after = values(back.forward(ids, mask, Adapter::On).expect("forward"));
    let differ = before.iter().zip(&after).filter(|(a, b)| a != b).count();
    assert_eq!(differ, 0, "reloaded adapter gives identical logits ({differ} differ)");

    // The files are those PEFT writes: same keys and shapes, same adapter_config values.
    let peft_dir = fixture("qwen3_untied_lora");
    let keys = |d: &std::path::Path| {
        let w = awpo::model::weights::Weights::open(d, "adapter_model.safetensors").expect("adapter");
        let mut k: Vec<(String, Option<Vec<usize>>)> = w.names().map(|n| (n.to_string(), w.shape(n))).collect();
        k.sort();
        k
    };
    assert_eq!(keys(&dir), keys(&peft_dir), "tensor names and shapes equal PEFT's");
    let config = |d: &std::path::Path| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(d.join("adapter_config.json")).expect("config")).expect("json")
    };
    let (ours, theirs) = (config(&dir), config(&peft_dir));
    for key in ours.as_object().expect("object").keys() {
        assert!(theirs.get(key).is_some(), "{key} is not a key PEFT writes");
    }
    for key in ["peft_type", "task_type", "r", "lora_alpha", "bias", "fan_in_fan_out", "use_rslora", "use_dora"] {
        assert_eq!(ours[key], theirs[key], "{key}");
    }
    let sorted = |v: &serde_json::Value| {
        let mut t: Vec<String> =
            v.as_array().into_iter().flatten().filter_map(|x| x.as_str().map(str::to_string)).collect();
        t.sort();
        t
    };
    assert_eq!(sorted(&ours["target_modules"]), sorted(&theirs["target_modules"]));
}

#[test]
fn fresh_adapters_start_at_the_base_and_logprobs_are_chunk_invariant() {
    let device = Device::flex();
    let mut model = CausalLm::load(&fixture("qwen3_untied"), &device).expect("base");
    let reference = Reference::load(&fixture("qwen3_untied"));
    let (ids, mask) = reference.inputs(&device);
    let base = values(model.forward(ids.clone(), mask.clone(), Adapter::Off).expect("forward"));
    peft::attach(&mut model, &LoraConfig::default(), 7);
    assert!(model.linear_layers().iter().all(|(_, l)| l.lora.is_some()));
    let on = values(model.forward(ids.clone(), mask.clone(), Adapter::On).expect("forward"));
    assert_eq!(on, base, "B = 0 at init: adapter-on logits equal the base bit for bit");

    // Log-probs = log_softmax(logits) gathered, for every chunking (boundaries inside and at the end).
    let logits = values(model.forward(ids.clone(), mask.clone(), Adapter::On).expect("forward"));
    let [b, t] = reference.shape;
    let v = model.config().vocab_size;
    let mut expected = vec![0.0f32; b * (t - 1)];
    for r in 0..b {
        for c in 0..t - 1 {
            if reference.mask[r * t + c + 1] == 1 {
                let row = &logits[(r * t + c) * v..(r * t + c + 1) * v];
                let max = row.iter().cloned().fold(f32::MIN, f32::max);
                let lse = max + row.iter().map(|x| (x - max).exp()).sum::<f32>().ln();
                expected[r * (t - 1) + c] = row[reference.ids[r * t + c + 1] as usize] - lse;
            }
        }
    }
    // Dropout acts only in training forwards (`Adapter::Train`), its masks drawn from the seed.
    let cfg = LoraConfig { dropout: 0.5, ..LoraConfig::default() };
    let mut dropped = CausalLm::load(&fixture("qwen3_untied"), &device).expect("base");
    peft::attach(&mut dropped, &cfg, 7);
    assert_eq!(values(dropped.forward(ids.clone(), mask.clone(), Adapter::On).expect("forward")), base);
    let train = Device::flex().autodiff();
    let mut lm = CausalLm::load(&fixture("qwen3_untied"), &train).expect("base");
    peft::attach(&mut lm, &cfg, 7);
    for (_, l) in lm.linear_layers_mut() {
        if let Some(lora) = l.lora.as_mut() {
            lora.lora_b = burn::module::Param::from_data(
                burn::tensor::TensorData::ones::<f32, _>(lora.lora_b.val().dims()),
                &train,
            );
        }
    }
    let (tids, tmask) = reference.inputs(&train);
    let run = |adapter: Adapter| values(lm.forward(tids.clone(), tmask.clone(), adapter).expect("forward"));
    let (plain, first, again, other) = (
        run(Adapter::On),
        run(Adapter::Train { seed: 1 }),
        run(Adapter::Train { seed: 1 }),
        run(Adapter::Train { seed: 2 }),
    );
    assert_eq!(first, again, "the same seed draws the same dropout masks");
    assert_ne!(first, other, "another seed draws other masks");
    assert_ne!(first, plain, "a training forward drops adapter inputs; an inference forward does not");
    assert_eq!(run(Adapter::On), plain, "inference forwards are deterministic");

    // Entropy is a metric: off the autodiff graph, so it adds nothing to any gradient.
    let grads_of = |with_entropy: bool| {
        let stats = token_stats(&lm, tids.clone(), tmask.clone(), Adapter::On, 4).expect("stats");
        let objective = if with_entropy { stats.logprobs.sum() + stats.entropy.sum() } else { stats.logprobs.sum() };
        let grads = GradientsParams::from_grads(objective.backward(), &lm);
        lm.linear_layers()
            .iter()
            .filter_map(|(_, l)| l.lora.as_ref())
            .flat_map(|l| values(grads.get::<2>(l.lora_a.id).expect("tracked")))
            .collect::<Vec<f32>>()
    };
    assert_eq!(grads_of(true), grads_of(false), "the entropy term changes no gradient");

    for chunk in [1, 3, 4, 9, 10, 64] {
        let got = values(token_stats(&model, ids.clone(), mask.clone(), Adapter::On, chunk).expect("stats").logprobs);
        let err = got.iter().zip(&expected).map(|(a, e)| (a - e).abs()).fold(0.0f32, f32::max);
        assert!(err < 1e-5, "chunk {chunk}: max error {err}");
    }
}

#[test]
fn merged_checkpoint_gives_adapted_logits_and_bad_adapters_are_named() {
    let device = Device::flex();
    let model = adapted(&device);
    let out = std::env::temp_dir().join(format!("awpo-merged-{}", std::process::id()));
    peft::merge(&model, &fixture("qwen3_untied"), &out).unwrap_or_else(|e| panic!("{e}"));
    let merged = CausalLm::load(&out, &device).unwrap_or_else(|e| panic!("{e}"));
    let reference = Reference::load(&fixture("qwen3_untied_lora"));
    let (ids, mask) = reference.inputs(&device);
    let logits = values(merged.forward(ids, mask, Adapter::On).expect("forward"));
    let err = reference.max_err(&logits, "logits", merged.config().vocab_size, &reference.mask);
    eprintln!("merged checkpoint: max |logit err| vs PEFT {err:.2e}");
    assert!(err < 1e-4, "{err}");

    // An adapter of another shape: the error names the tensor and both shapes.
    let bad = std::env::temp_dir().join(format!("awpo-bad-adapter-{}", std::process::id()));
    std::fs::create_dir_all(&bad).expect("dir");
    std::fs::copy(fixture("qwen3_untied_lora").join("adapter_config.json"), bad.join("adapter_config.json"))
        .expect("copy");
    let key = "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight".to_string();
    awpo::model::weights::save(&bad.join("adapter_model.safetensors"), &[(key, vec![4, 31], vec![0.0; 124])])
        .expect("save");
    let mut base = CausalLm::load(&fixture("qwen3_untied"), &device).expect("base");
    let e = peft::load(&mut base, &bad).expect_err("wrong shape").to_string();
    assert!(e.contains("q_proj.lora_A.weight") && e.contains("[4, 31]") && e.contains("[4, 32]"), "{e}");
    let extra = "base_model.model.model.layers.9.mlp.up_proj.lora_A.weight".to_string();
    awpo::model::weights::save(&bad.join("adapter_model.safetensors"), &[(extra, vec![4, 32], vec![0.0; 128])])
        .expect("save");
    let e = peft::load(&mut base, &bad).expect_err("no such layer").to_string();
    assert!(e.contains("layers.9.mlp.up_proj") && e.contains("matching no projection"), "{e}");
    let missing = CausalLm::load(&fixture("no_such_model"), &device).expect_err("missing").to_string();
    assert!(missing.contains("no_such_model") && missing.contains("config.json"), "{missing}");
}

/// `awpo perplexity` on a fixture model with a word-level tokenizer built here: the printed
/// value equals exp(mean NLL) computed from the model's own logits, and `awpo merge` writes a
/// checkpoint that `awpo perplexity` scores like base + adapter.
#[test]
fn perplexity_and_merge_from_the_command_line() {
    use burn::tensor::{Int, Tensor, TensorData};
    use tokenizers::models::wordlevel::WordLevel;
    use tokenizers::pre_tokenizers::whitespace::Whitespace;

    let dir = std::env::temp_dir().join(format!("awpo-ppl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    for f in ["config.json", "model.safetensors"] {
        std::fs::copy(fixture("qwen3_untied").join(f), dir.join(f)).expect("copy");
    }
    let vocab = (0..96u32).map(|i| (format!("w{i}"), i)).collect();
    let model = WordLevel::builder().vocab(vocab).unk_token("w0".into()).build().expect("word level");
    let mut tokenizer = tokenizers::Tokenizer::new(model);
    tokenizer.with_pre_tokenizer(Some(Whitespace {}));
    tokenizer.save(dir.join("tokenizer.json"), false).expect("save tokenizer");
    let ids: Vec<i64> = (0..40).map(|i| (i * 37 + 11) % 95 + 1).collect();
    let text: String = ids.iter().map(|i| format!("w{i} ")).collect();
    let file = dir.join("text.txt");
    std::fs::write(&file, &text).expect("text");

    // Independent NLL: full-sequence logits, log-softmax in f64.
    let device = Device::flex();
    let lm = CausalLm::load(&dir, &device).expect("model");
    let n = ids.len();
    let tokens = Tensor::<2, Int>::from_data(TensorData::new(ids.clone(), [1, n]), &device);
    let logits = values(lm.forward(tokens, Tensor::<2, Int>::ones([1, n], &device), Adapter::On).expect("forward"));
    let v = lm.config().vocab_size;
    let mut nll = 0.0f64;
    for t in 0..n - 1 {
        let row: Vec<f64> = logits[t * v..(t + 1) * v].iter().map(|&x| f64::from(x)).collect();
        let max = row.iter().cloned().fold(f64::MIN, f64::max);
        let lse = max + row.iter().map(|x| (x - max).exp()).sum::<f64>().ln();
        nll += lse - row[ids[t + 1] as usize];
    }
    let expected = (nll / (n - 1) as f64).exp();

    let awpo =
        |args: &[&str]| std::process::Command::new(env!("CARGO_BIN_EXE_awpo")).args(args).output().expect("runs");
    let (d, f) = (dir.to_string_lossy().to_string(), file.to_string_lossy().to_string());
    let out = awpo(&["perplexity", "--model", &d, "--file", &f, "--device", "cpu"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    let last = stdout.lines().last().unwrap_or_default();
    let printed: f64 = last.split_whitespace().nth(1).and_then(|p| p.parse().ok()).expect("perplexity: P ...");
    eprintln!("{last}  (independent: {expected:.4})");
    assert!(last.ends_with(&format!("over {} tokens)", n - 1)), "{last}");
    assert!((printed - expected).abs() < 1e-3 * expected, "{printed} vs {expected}");
    let windowed = awpo(&["perplexity", "--model", &d, "--file", &f, "--device", "cpu", "--context", "8"]);
    assert!(String::from_utf8_lossy(&windowed.stdout).contains(&format!("over {} tokens)", n - 1)));

    let merged = dir.join("merged");
    let adapter = fixture("qwen3_untied_lora").to_string_lossy().to_string();
    let out = awpo(&["merge", "--model", &d, "--adapter", &adapter, "--out", &merged.to_string_lossy()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let with_adapter = awpo(&["perplexity", "--model", &d, "--adapter", &adapter, "--file", &f, "--device", "cpu"]);
    let from_merged = awpo(&["perplexity", "--model", &merged.to_string_lossy(), "--file", &f, "--device", "cpu"]);
    let value = |o: &std::process::Output| -> f64 {
        let s = String::from_utf8_lossy(&o.stdout).to_string();
        s.lines().last().and_then(|l| l.split_whitespace().nth(1)).and_then(|p| p.parse().ok()).unwrap_or(f64::NAN)
    };
    let (a, m) = (value(&with_adapter), value(&from_merged));
    assert!((a - m).abs() < 1e-3 * a && (a - printed).abs() > 1e-3, "adapter {a}, merged {m}, base {printed}");

    std::fs::remove_file(dir.join("tokenizer.json")).expect("rm");
    let out = awpo(&["perplexity", "--model", &d, "--file", &f, "--device", "cpu"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.code() == Some(2) && stderr.contains("tokenizer.json") && !stderr.contains("panicked"),
        "{stderr}"
    );
}

/// A PEFT-written rsLoRA adapter (r 6, alpha 9, three projections, dropout 0.05) gives PEFT's
/// logits; trained one step by the trainer's optimizer and saved by its checkpoint code, it keeps
/// PEFT's own `adapter_config.json` (every key and value), PEFT's tensor names and shapes, and
/// loads back to the trained model.
#[test]
fn a_peft_rslora_adapter_keeps_its_config_through_a_training_step() {
    use awpo::train::checkpoint::{FORMAT, State, save_checkpoint};
    let device = Device::flex().autodiff();
    let peft_dir = fixture("qwen3_untied_rslora");
    let mut model = CausalLm::load(&fixture("qwen3_untied"), &device).expect("base");
    let adapter = peft::load(&mut model, &peft_dir).unwrap_or_else(|e| panic!("{e}"));
    let l = &adapter.lora;
    assert_eq!((l.rank, l.alpha, l.use_rslora, l.dropout), (6, 9.0, true, 0.05));
    let reference = Reference::load(&peft_dir);
    let (ids, mask) = reference.inputs(&device);
    let v = model.config().vocab_size;
    let logits = values(model.forward(ids.clone(), mask.clone(), Adapter::On).expect("forward"));
    let err = reference.max_err(&logits, "logits", v, &reference.mask);
    assert!(err < 1e-4, "rsLoRA scaling alpha/sqrt(r): max logit error {err}");

    let stats = token_stats(&model, ids.clone(), mask.clone(), Adapter::Train { seed: 3 }, 4).expect("stats");
    let grads = GradientsParams::from_grads(stats.logprobs.sum().neg().backward(), &model);
    let mut optim = awpo::train::optim::AdamW::new(&awpo::config::OptimSection::default());
    let (model, _) = optim.step(model, &grads, 1e-2).unwrap_or_else(|e| panic!("{e}"));
    let run = std::env::temp_dir().join(format!("awpo-rslora-{}", std::process::id()));
    let state = State { format: FORMAT, step: 1, adam_t: 0, cursor: 0, seed: 0 };
    let saved = save_checkpoint(&run, &model, &adapter, "not-the-adapters-base", &optim, &state)
        .unwrap_or_else(|e| panic!("{e}"))
        .join("adapter");
    let config = |d: &std::path::Path| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(d.join("adapter_config.json")).expect("config")).expect("json")
    };
    assert_eq!(config(&saved), config(&peft_dir), "PEFT's adapter_config.json, key for key and value for value");
    let tensors = |d: &std::path::Path| {
        let w = awpo::model::weights::Weights::open(d, "adapter_model.safetensors").expect("adapter");
        let mut k: Vec<(String, Option<Vec<usize>>)> = w.names().map(|n| (n.to_string(), w.shape(n))).collect();
        k.sort();
        k
    };
    assert_eq!(tensors(&saved), tensors(&peft_dir), "PEFT's tensor names and shapes");
    let mut back = CausalLm::load(&fixture("qwen3_untied"), &Device::flex()).expect("base");
    peft::load(&mut back, &saved).unwrap_or_else(|e| panic!("{e}"));
    let (ids, mask) = reference.inputs(&Device::flex());
    let trained =
        values(burn::module::Module::valid(&model).forward(ids.clone(), mask.clone(), Adapter::On).expect("forward"));
    assert_ne!(trained, logits, "the step moved the adapter");
    assert_eq!(values(back.forward(ids, mask, Adapter::On).expect("forward")), trained, "reloads as trained");
    let _ = std::fs::remove_dir_all(run);
}
