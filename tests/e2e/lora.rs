//! LoRA in PEFT format: a PEFT-written adapter gives PEFT's logits (and the base model's with
//! the adapter off); only adapter parameters receive gradients and move under AdamW; adapters
//! save and load back bit for bit; a merged checkpoint gives the adapted logits.

use awpo::model::logprob::token_stats;
use awpo::model::{CausalLm, LoraConfig, peft};
use burn::optim::{AdamWConfig, GradientsParams};
use burn::tensor::Device;

use crate::model::{Reference, fixture, values};

fn adapted(device: &Device) -> CausalLm {
    let mut model = CausalLm::load(&fixture("qwen3_untied"), device).unwrap_or_else(|e| panic!("{e}"));
    peft::load(&mut model, &fixture("qwen3_untied_lora")).unwrap_or_else(|e| panic!("{e}"));
    model
}

fn flat_base(model: &CausalLm) -> Vec<f32> {
    let mut out = values(model.embed_tokens.val().reshape([-1]));
    for (_, layer) in model.linear_layers() {
        out.extend(values(layer.weight.val().reshape([-1])));
    }
    out
}

fn flat_lora(model: &CausalLm) -> Vec<f32> {
    model
        .linear_layers()
        .iter()
        .filter_map(|(_, l)| l.lora_tensors())
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
    let on = values(model.forward(ids.clone(), mask.clone(), true).expect("forward"));
    let off = values(model.forward(ids, mask, false).expect("forward"));
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
    let stats = token_stats(&model, ids, mask, true, 3).expect("stats");
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
    peft::save_adapter(&model, &cfg, "tests/fixtures/models/qwen3_untied", &dir).unwrap_or_else(|e| panic!("{e}"));
    let mut back = CausalLm::load(&fixture("qwen3_untied"), &Device::flex()).expect("base");
    let loaded = peft::load(&mut back, &dir).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((loaded.rank, loaded.alpha), (4, 8.0));
    assert_eq!(flat_lora(&back), lora_after, "saved adapter loads back bit for bit");
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
    let logits = values(merged.forward(ids, mask, true).expect("forward"));
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
