//! WGSL kernels against the f64 specification on a real wgpu adapter (lavapipe in CI), with
//! outputs poisoned (NaN) before every launch; naga validation of every rendered shader (CPU).
//!
//! A harness of its own (libtest-mimic), so that on a machine without a wgpu adapter the GPU
//! tests are reported as *ignored*, with the reason, instead of passing without running; with
//! `AWPO_REQUIRE_GPU=1` (CI) a missing adapter fails them.

mod common;

use awpo::algo::error::{LossTensor, RewardStream};
use awpo::algo::{AlgoConfig, KernelMode, LossBatch, ObjectiveError, advantage, loss};
use awpo::kernels::source::{ALL, WORKGROUP_SIZE, render};
use awpo::selfcheck::{Inputs, compare};
use burn::tensor::{Device, Tensor, TensorData};
use common::{assert_close, configs, finite_difference_check, gpu_device, seed, split_check};

fn naga_validates_every_rendered_shader() {
    for shader in ALL {
        let text = render(&shader, WORKGROUP_SIZE);
        let module = naga::front::wgsl::parse_str(&text)
            .unwrap_or_else(|e| panic!("{}: {}", shader.name, e.emit_to_string(&text)));
        let mut validator =
            naga::valid::Validator::new(naga::valid::ValidationFlags::all(), naga::valid::Capabilities::default());
        validator.validate(&module).unwrap_or_else(|e| panic!("{}: {}", shader.name, e.emit_to_string(&text)));
    }
}

fn wgsl_matches_the_reference_across_group_sizes_and_knobs(device: &Device) {
    let device = device.clone();
    assert!(awpo::algo::wgsl_available(&device));
    // (P, G, T): G = 1 gives zero advantages; G = 256 fills a workgroup; G = 300 loops past it.
    let shapes = [(5, 1, 33), (7, 2, 64), (6, 8, 129), (4, 16, 300), (3, 64, 40), (2, 256, 20), (1, 300, 17)];
    let base_seed = seed("wgsl sweep");
    for (i, (p, g, t)) in shapes.into_iter().enumerate() {
        let inputs = Inputs::random(p, g, t, base_seed + i as u64);
        for (k, cfg) in configs(KernelMode::Wgsl).iter().enumerate() {
            let c = compare(&device, &inputs, cfg).expect("valid inputs");
            assert_close(&c, &format!("P={p} G={g} T={t} config {k}"));
        }
    }
}

fn wgsl_handles_grids_past_65535_workgroups(device: &Device) {
    let device = device.clone();
    let cfg = AlgoConfig { kernel: KernelMode::Wgsl, kl_beta: 0.02, ..AlgoConfig::default() };
    // 70,000 groups: the advantage grid needs a second dimension.
    let inputs = Inputs::random(70_000, 2, 1, seed("grids: 70000 groups"));
    let c = compare(&device, &inputs, &cfg).expect("valid inputs");
    assert_close(&c, "P=70000 G=2");
    // 65,600 rows × 256 tokens: the row grid and the token grid (65,600 workgroups of 256) both
    // split; 16.8M tokens, 67 MB per tensor (under lavapipe's 128 MiB binding limit).
    let inputs = Inputs::random(32_800, 2, 256, seed("grids: 65600 rows"));
    let c = compare(&device, &inputs, &cfg).expect("valid inputs");
    assert_close(&c, "B=65600 T=256");
}

fn tensor_twin_on_wgpu_matches_the_reference(device: &Device) {
    let device = device.clone();
    let inputs = Inputs::random(8, 8, 96, seed("tensor twin on wgpu"));
    for (k, cfg) in configs(KernelMode::Tensor).iter().enumerate() {
        let c = compare(&device, &inputs, cfg).expect("valid inputs");
        assert_close(&c, &format!("tensor twin on wgpu, config {k}"));
    }
}

fn micro_batches_under_the_whole_batch_normaliser_sum_to_the_whole_batch_on_wgpu(device: &Device) {
    let device = device.clone();
    split_check(&device, KernelMode::Wgsl, "wgsl split");
    split_check(&device, KernelMode::Tensor, "tensor twin split on wgpu");
}

fn wgsl_gradient_matches_finite_differences(device: &Device) {
    let device = device.clone();
    finite_difference_check(&device, KernelMode::Wgsl, "wgsl finite differences");
}

fn bad_input_is_a_typed_error_on_wgpu(device: &Device) {
    let device = device.clone();
    let cfg = AlgoConfig { kernel: KernelMode::Wgsl, ..AlgoConfig::default() };
    let mut r = vec![0.5f32; 3 * 4 * 2];
    r[2 * (4 + 2) + 1] = f32::NAN; // group 1, sample 2, reasoning
    let rewards = Tensor::<3>::from_data(TensorData::new(r, [3, 4, 2]), &device);
    let err = advantage(rewards, &cfg).unwrap_err();
    assert!(
        matches!(err, ObjectiveError::NonFiniteReward { group: 1, sample: 2, stream: RewardStream::Reasoning, .. }),
        "{err}"
    );

    let (b, t) = (3, 5);
    let base = Inputs::random(1, 3, t, seed("bad input"));
    let run = |edit: &dyn Fn(&mut Inputs)| {
        let mut x = base.clone();
        x.mask = vec![1.0; b * t];
        edit(&mut x);
        let t2 = |v: &[f32]| Tensor::<2>::from_data(TensorData::new(v.to_vec(), [b, t]), &device);
        let batch = LossBatch {
            logp: t2(&x.logp),
            old_logp: t2(&x.old_logp),
            ref_logp: None,
            adv: Tensor::<1>::from_data(TensorData::new(vec![1.0f32, -1.0, 0.5], [b]), &device),
            mask: t2(&x.mask),
            norm: None,
        };
        loss(batch, &cfg)
    };
    let err = run(&|x| x.logp[2 * t + 3] = f32::INFINITY).unwrap_err();
    assert!(matches!(err, ObjectiveError::NonFinite { tensor: LossTensor::LogProb, row: 2, col: 3, .. }), "{err}");
    let err = run(&|x| x.old_logp[t + 1] = f32::NAN).unwrap_err();
    assert!(matches!(err, ObjectiveError::NonFinite { tensor: LossTensor::OldLogProb, row: 1, col: 1, .. }), "{err}");
    let err = run(&|x| x.mask[t..2 * t].fill(0.0)).unwrap_err();
    assert_eq!(err, ObjectiveError::EmptyMask { row: 1 });
    let err = run(&|x| x.mask[4] = 0.5).unwrap_err();
    assert!(matches!(err, ObjectiveError::BadMask { row: 0, col: 4, .. }), "{err}");
    // Garbage under a zero mask is ignored, not propagated.
    let (value, stats) = run(&|x| {
        x.mask[t + 2] = 0.0;
        x.logp[t + 2] = f32::NAN;
        x.old_logp[t + 2] = f32::NEG_INFINITY;
    })
    .expect("masked garbage is fine");
    let v = value.into_data().try_to_vec::<f32>().unwrap()[0];
    assert!(v.is_finite() && stats.tokens == (b * t - 1) as f64, "{v} {stats:?}");
}

fn the_global_gradient_norm_is_right_for_factors_past_262144_elements(device: &Device) {
    let device = device.clone();
    // A [2048, 160] LoRA factor (327,680 elements: a plain 1-D burn sum of its squares is
    // wrong on lavapipe) next to a small one; the norm on wgpu against the CPU backend and f64.
    let big: Vec<f32> = (0..2048 * 160).map(|i| ((i * 37 % 101) as f32 - 50.0) * 1e-3).collect();
    let small: Vec<f32> = (0..8 * 3).map(|i| i as f32 * 0.5).collect();
    let want = big.iter().chain(&small).map(|&x| f64::from(x) * f64::from(x)).sum::<f64>().sqrt();
    let norm = |d: &Device| {
        let t = |v: &[f32], shape: [usize; 2]| Tensor::<2>::from_data(TensorData::new(v.to_vec(), shape), d);
        awpo::train::optim::global_norm([t(&big, [2048, 160]), t(&small, [8, 3])]).expect("read back")
    };
    let (gpu, cpu) = (norm(&device), norm(&Device::flex()));
    assert!((gpu - want).abs() <= 1e-5 * want, "wgpu {gpu} vs f64 {want}");
    assert!((gpu - cpu).abs() <= 1e-5 * want, "wgpu {gpu} vs cpu {cpu}");
}

fn guarded_sums_are_right_where_burn_reductions_are_not(device: &Device) {
    let device = device.clone();
    // Shapes from burn-0.22.md where cubecl 0.11.3's reduce returns wrong sums on lavapipe.
    let long: Vec<f32> = (0..2 * 300_000).map(|i| ((i % 7) as f32) * 0.25).collect();
    let want: Vec<f64> = long.chunks(300_000).map(|r| r.iter().map(|&x| f64::from(x)).sum()).collect();
    let x = Tensor::<2>::from_data(TensorData::new(long, [2, 300_000]), &device);
    let got = awpo::reduce::sum_rows(x).into_data().try_to_vec::<f32>().unwrap();
    for (g, w) in got.iter().zip(&want) {
        assert!((f64::from(*g) - w).abs() <= 1e-6 * w, "sum_rows [2, 300000]: {g} vs {w}");
    }
    let tall: Vec<f32> = (0..70_000 * 8).map(|i| ((i % 5) as f32) * 0.5).collect();
    let want: Vec<f64> = (0..8).map(|c| (0..70_000).map(|r| f64::from(tall[r * 8 + c])).sum()).collect();
    let x = Tensor::<2>::from_data(TensorData::new(tall, [70_000, 8]), &device);
    let got = awpo::reduce::sum_rows(x.transpose()).into_data().try_to_vec::<f32>().unwrap();
    assert_eq!(got.len(), 8);
    for (g, w) in got.iter().zip(&want) {
        assert!((f64::from(*g) - w).abs() <= 1e-6 * w, "column sums of [70000, 8]: {g} vs {w}");
    }
}

/// Reductions over a short last axis of many rows, as RMSNorm, softmax and log-softmax do on
/// `[B·T, D]` and `[B·T, V]`: right on wgpu past 65,535 rows (the reduced axis is what burn's
/// >65535-workgroup bug needs to be long, not the row count).
fn row_reductions_past_65535_rows_are_right(device: &Device) {
    let (rows, cols) = (70_000, 24);
    let x: Vec<f32> = (0..rows * cols).map(|i| ((i * 13 % 29) as f32 - 14.0) * 0.125).collect();
    let on = |d: &Device| {
        let t = Tensor::<2>::from_data(TensorData::new(x.clone(), [rows, cols]), d);
        let mean = t.clone().square().mean_dim(1).into_data().try_to_vec::<f32>().expect("read");
        let soft = burn::tensor::activation::log_softmax(t, 1).into_data().try_to_vec::<f32>().expect("read");
        (mean, soft)
    };
    let (gpu, cpu) = (on(device), on(&Device::flex()));
    let worst = |a: &[f32], b: &[f32]| a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs()));
    assert_eq!(gpu.0.len(), rows);
    assert!(worst(&gpu.0, &cpu.0) < 1e-4, "mean of squares over [{rows}, {cols}]: {}", worst(&gpu.0, &cpu.0));
    assert!(worst(&gpu.1, &cpu.1) < 1e-4, "log-softmax over [{rows}, {cols}]: {}", worst(&gpu.1, &cpu.1));
}

/// The decoder on wgpu (lavapipe in CI) against Hugging Face's logits: one fixture per family.
fn hf_logit_parity_on_wgpu(device: &Device) {
    let device = device.clone();
    for name in ["llama_untied_rope_scaling", "qwen2_untied", "qwen3_tied"] {
        common::fixtures::parity(name, &device);
    }
}

/// A projection larger than one storage binding is refused with a clear error before any upload
/// (on wgpu it would otherwise fail in a background thread and leave wrong results).
fn oversized_weights_are_refused_on_wgpu(device: &Device) {
    let device = device.clone();
    let limit = awpo::device::binding_limit(&device).expect("wgpu has a binding limit");
    let text = std::fs::read_to_string(common::fixtures::fixture("qwen3_tied").join("config.json")).expect("config");
    let path = std::path::Path::new("config.json");
    let mut config = awpo::model::ModelConfig::from_json(path, &text).expect("config");
    // The widest MLP the configuration accepts (2^20), over a hidden size that makes it too large.
    config.intermediate_size = 1 << 20;
    config.hidden_size = (limit / (4 << 20)) as usize + 1;
    let err = awpo::model::CausalLm::random(config, 0, &device).expect_err("too large").to_string();
    assert!(err.contains("mlp.gate_proj") && err.contains(&limit.to_string()), "{err}");
}

/// A vocabulary larger than one storage binding (as Qwen's 151936 x D embedding is on lavapipe)
/// runs in vocabulary tiles: the embedding lookup and the fused log-probs on wgpu equal the CPU
/// backend's, which needs no tiles; the fused path equals the plain one on wgpu too.
fn vocabularies_past_one_binding_run_in_tiles_on_wgpu(device: &Device) {
    use awpo::model::logprob::token_stats;
    let limit = awpo::device::binding_limit(device).expect("wgpu has a binding limit");
    let mut config = awpo::train::builtin_policy::model_config(61);
    (config.hidden_size, config.intermediate_size, config.num_hidden_layers) = (32, 48, 1);
    (config.num_attention_heads, config.num_key_value_heads, config.head_dim) = (2, 1, 16);
    config.vocab_size = (limit / (4 * config.hidden_size as u64)) as usize + 1000;
    let seed = common::seed("vocabularies_past_one_binding_run_in_tiles_on_wgpu");
    let gpu = awpo::model::CausalLm::random(config.clone(), seed, device).expect("tiled on wgpu");
    let tiles = gpu.embed_tokens.tiles.len();
    assert!(tiles >= 2, "{} rows in {tiles} tiles of at most {limit} bytes", config.vocab_size);
    let cpu = awpo::model::CausalLm::random(config.clone(), seed, &Device::flex()).expect("cpu");
    let v = config.vocab_size as u32;
    // Ids on both sides of the tile boundary.
    let rows = vec![vec![1, v - 1, v - 900, 5, v - 2, 7], vec![v - 1000, 3, v - 999, v - 1001]];
    let run = |model: &awpo::model::CausalLm, d: &Device| {
        let (ids, mask, _) = common::generation::padded(&rows, d);
        let stats = token_stats(model, ids, mask, awpo::model::Adapter::On, 4).expect("stats");
        (common::fixtures::values(stats.logprobs), common::fixtures::values(stats.entropy))
    };
    let (g, c) = (run(&gpu, device), run(&cpu, &Device::flex()));
    let worst = g.0.iter().chain(&g.1).zip(c.0.iter().chain(&c.1)).fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    // Log-probs and entropies near ln(10^6) ≈ 13.8, each a sum of a million exponentials in f32,
    // summed in another order on each backend: compared relatively.
    let scale = c.0.iter().chain(&c.1).fold(0f32, |m, x| m.max(x.abs()));
    eprintln!("vocabulary {}: max |wgpu - cpu| log-prob/entropy {worst:.2e} (scale {scale:.1})", config.vocab_size);
    assert!(scale > 10.0 && worst <= 2e-4 * scale, "seed {seed}: {worst} (scale {scale})");
    // The fused path against the plain one on wgpu, uneven tiles.
    let model = common::fused::model(&device.clone().autodiff(), seed, 97, true, 40);
    let diff = common::fused::fused_vs_plain(&model, seed, 5);
    eprintln!("wgpu fused vs plain: {diff:?}");
    assert!(diff.worst() <= 1e-5, "seed {seed}: {diff:?}");
}

/// A half-precision base on wgpu (lavapipe has SHADER_F16): transformers parity at the f16
/// tolerance of the CPU test.
fn half_precision_base_on_wgpu(device: &Device) {
    for name in ["qwen2_tied", "qwen3_untied"] {
        common::fixtures::parity_as(name, device, awpo::model::Precision::F16, 2e-2);
    }
}

/// KV-cached decoding on wgpu: cached logits equal a full recompute on ragged rows, and the real
/// SmolLM2-135M-Instruct GGUF answers "Paris" under greedy decoding.
fn kv_cached_generation_on_wgpu(device: &Device) {
    let device = device.clone();
    let seed = common::seed("kv_cached_generation_on_wgpu");
    let model = common::generation::tiny(&device);
    let rows = common::generation::prompts(seed, &[7, 3, 10], model.config().vocab_size);
    let err = common::generation::cache_vs_recompute(&model, &rows, &[2, 3, 6]);
    eprintln!("wgpu: max |cached - recomputed logit| = {err:.2e}");
    assert!(err < 1e-4, "{err}");
    let (text, finish) = common::generation::capital_of_france(&device);
    eprintln!("SmolLM2-135M-Instruct (GGUF, wgpu, greedy): {text:?} ({finish:?})");
    assert!(text.contains("Paris"), "{text:?}");
}

/// A smoke run of the trainer's step on wgpu (lavapipe in CI): the built-in tiny model, two AWPO
/// steps through the WGSL advantage and loss kernels; finite metrics, adapters move, base fixed.
fn two_training_steps_on_wgpu(device: &Device) {
    use awpo::model::export::base_tensors;
    use awpo::prompt::{PromptConfig, Prompter, ToolsIn};
    use awpo::train::{builtin_policy, optim::AdamW, step};
    let device = device.clone();
    let device = device.autodiff();
    // naive-sum: the varying reasoning scores alone give a random-init policy advantages.
    let sets = ["algo.kernel=wgsl".to_string(), "algo.mode=naive-sum".to_string()];
    let cfg = awpo::config::RunConfig::load(None, &sets).expect("config");
    let tokenizer = builtin_policy::tokenizer().expect("tokenizer");
    let prompt = PromptConfig { tools_in: ToolsIn::Template, ..PromptConfig::default() };
    let prompter = Prompter::new(&tokenizer, &prompt).expect("template");
    let mut model =
        awpo::model::CausalLm::random(builtin_policy::model_config(tokenizer.vocab_size()), 5, &device).expect("model");
    awpo::model::peft::attach(&mut model, &cfg.lora, 5);
    let base = base_tensors(&model).expect("base");
    let judge = common::Varying::default();
    let ctx = common::builtin_context(&tokenizer, &prompter, &cfg.reward, &judge, 0, 1);
    let generate = awpo::rollout::GenerateOptions {
        max_new_tokens: 8,
        stop_tokens: tokenizer.stop_ids.clone(),
        ..Default::default()
    };
    let inputs = step::StepInputs {
        ctx: &ctx,
        algo: &cfg.algo,
        generate: &generate,
        group: 4,
        micro_batch: 3,
        num_iterations: 1,
        threads: 1,
        recompute: awpo::model::recompute::Backprop::RECOMPUTE,
        reference: None,
    };
    let tasks = awpo::synth::tasks(5, awpo::synth::Split::Train, 4);
    let mut optim = AdamW::new(&cfg.optim);
    for s in 0..2 {
        let batch: Vec<_> = tasks[2 * s..2 * s + 2].iter().collect();
        let (next, m, _) =
            step::step(model, &mut optim, &inputs, &batch, s as u64, 1e-2).unwrap_or_else(|e| panic!("{e}"));
        model = next;
        eprintln!("wgpu step {s}: loss {:.4}, grad norm {:.4}, {:.0} tokens/s", m.loss, m.grad_norm, m.tokens_per_s);
        assert!(m.loss.is_finite() && m.grad_norm.is_finite() && m.grad_norm > 0.0, "{m:?}");
    }
    assert_eq!(base_tensors(&model).expect("base"), base, "base weights bit-identical on wgpu");
}

fn device_draws_equal_the_host_sampler_on_wgpu(device: &Device) {
    let seed = common::seed("device_draws_equal_the_host_sampler_on_wgpu");
    common::draws::greedy_equals_the_host(device, seed);
    common::draws::inverse_cdf_equals_the_host_walk(device, seed);
    common::draws::truncated_draws_follow_the_host_distribution(device, seed);
}

/// A test that needs a wgpu adapter.
type GpuTest = fn(&Device);

/// The tests that need a wgpu adapter, by name.
const GPU_TESTS: &[(&str, GpuTest)] = &[
    (
        "wgsl_matches_the_reference_across_group_sizes_and_knobs",
        wgsl_matches_the_reference_across_group_sizes_and_knobs,
    ),
    ("wgsl_handles_grids_past_65535_workgroups", wgsl_handles_grids_past_65535_workgroups),
    ("tensor_twin_on_wgpu_matches_the_reference", tensor_twin_on_wgpu_matches_the_reference),
    (
        "micro_batches_under_the_whole_batch_normaliser_sum_to_the_whole_batch_on_wgpu",
        micro_batches_under_the_whole_batch_normaliser_sum_to_the_whole_batch_on_wgpu,
    ),
    ("wgsl_gradient_matches_finite_differences", wgsl_gradient_matches_finite_differences),
    ("bad_input_is_a_typed_error_on_wgpu", bad_input_is_a_typed_error_on_wgpu),
    (
        "the_global_gradient_norm_is_right_for_factors_past_262144_elements",
        the_global_gradient_norm_is_right_for_factors_past_262144_elements,
    ),
    ("guarded_sums_are_right_where_burn_reductions_are_not", guarded_sums_are_right_where_burn_reductions_are_not),
    ("row_reductions_past_65535_rows_are_right", row_reductions_past_65535_rows_are_right),
    ("hf_logit_parity_on_wgpu", hf_logit_parity_on_wgpu),
    ("oversized_weights_are_refused_on_wgpu", oversized_weights_are_refused_on_wgpu),
    ("vocabularies_past_one_binding_run_in_tiles_on_wgpu", vocabularies_past_one_binding_run_in_tiles_on_wgpu),
    ("half_precision_base_on_wgpu", half_precision_base_on_wgpu),
    ("kv_cached_generation_on_wgpu", kv_cached_generation_on_wgpu),
    ("device_draws_equal_the_host_sampler_on_wgpu", device_draws_equal_the_host_sampler_on_wgpu),
    ("two_training_steps_on_wgpu", two_training_steps_on_wgpu),
];

fn main() {
    let args = libtest_mimic::Arguments::from_args();
    awpo::kernels::set_poison_outputs(true);
    let device = gpu_device();
    if device.is_none() {
        eprintln!(
            "{} GPU kernel tests ignored: no wgpu adapter on this machine (install Debian's mesa-vulkan-drivers for lavapipe; AWPO_REQUIRE_GPU=1 makes this a failure)",
            GPU_TESTS.len()
        );
    }
    let mut trials = vec![libtest_mimic::Trial::test("naga_validates_every_rendered_shader", || {
        naga_validates_every_rendered_shader();
        Ok(())
    })];
    for &(name, test) in GPU_TESTS {
        let on = device.clone();
        let trial = libtest_mimic::Trial::test(name, move || {
            if let Some(d) = &on {
                test(d);
            }
            Ok(())
        });
        trials.push(trial.with_ignored_flag(device.is_none()));
    }
    libtest_mimic::run(&args, trials).exit();
}
