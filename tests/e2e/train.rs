//! The trainer on the CPU backend with the built-in tiny model: two AWPO steps move the LoRA
//! factors and leave the base bit-identical; an AWPO-mode run has its gate, difficulty weight and
//! tailored clip live, and killed with SIGKILL it resumes to exactly the metrics of an
//! uninterrupted run (LoRA dropout on); the adapter's supervised warm-up trains the LoRA factors
//! only and is reloaded, not redone, when a run starts again; bad input is a one-line error
//! naming the thing.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use awpo::config::RunConfig;
use awpo::model::export::base_tensors;
use awpo::model::{CausalLm, peft};
use awpo::prompt::{PromptConfig, Prompter, ToolsIn};
use awpo::rollout::GenerateOptions;
use awpo::synth::{Split, tasks};
use awpo::train::episode::collect;
use awpo::train::optim::{AdamW, host};
use awpo::train::step::{StepInputs, step};
use awpo::train::{builtin_policy, sft};
use burn::tensor::Device;

pub(crate) fn awpo(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_awpo")).args(args).output().expect("the binary runs")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("dir").flatten() {
        std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy");
    }
}

pub(crate) fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("awpo-train-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// A short built-in run: tiny warm-up, 2 prompts × 2 samples, short replies.
pub(crate) const SMALL: [&str; 9] = [
    "train.sft_steps=3",
    "train.sft_batch=4",
    "rollout.prompts_per_step=2",
    "rollout.group_size=2",
    "rollout.max_new_tokens=16",
    "data.builtin_train=64",
    "data.builtin_held_out=4",
    "optim.micro_batch=2",
    "train.transcripts_every=1",
];

fn lora_values(model: &CausalLm) -> Vec<f32> {
    let mut out = Vec::new();
    for (_, l) in model.linear_layers() {
        if let Some(lora) = &l.lora {
            out.extend(host(lora.lora_a.val()).expect("read"));
            out.extend(host(lora.lora_b.val()).expect("read"));
        }
    }
    out
}

#[test]
fn two_steps_move_only_the_adapters() {
    // naive-sum: outcome + λ·reasoning, so the varying reasoning scores alone give advantages.
    let cfg = RunConfig::load(None, &["algo.mode=naive-sum".to_string()]).expect("config");
    let device = Device::flex().autodiff();
    let tokenizer = builtin_policy::tokenizer().expect("tokenizer");
    let prompter = Prompter::new(&tokenizer, &PromptConfig { tools_in: ToolsIn::Template, ..PromptConfig::default() })
        .expect("template");
    let mut model = CausalLm::random(builtin_policy::model_config(tokenizer.vocab_size()), 3, &device).expect("model");
    peft::attach(&mut model, &cfg.lora, 3);
    let base = base_tensors(&model).expect("base");
    let lora = lora_values(&model);
    let judge = crate::common::Varying::default();
    let ctx = crate::common::builtin_context(&tokenizer, &prompter, &cfg.reward, &judge, 4, 2);
    let generate =
        GenerateOptions { max_new_tokens: 12, stop_tokens: tokenizer.stop_ids.clone(), ..GenerateOptions::default() };
    let inputs = StepInputs {
        ctx: &ctx,
        algo: &cfg.algo,
        generate: &generate,
        group: 4,
        micro_batch: 3,
        num_iterations: 1,
        threads: 2,
        recompute: awpo::model::recompute::Backprop::RECOMPUTE,
        reference: None,
    };
    let train = tasks(3, Split::Train, 8);
    let mut optim = AdamW::new(&cfg.optim);
    for s in 0..2 {
        let batch: Vec<_> = train[2 * s..2 * s + 2].iter().collect();
        let (next, m, episodes) =
            step(model, &mut optim, &inputs, &batch, s as u64, 1e-2).unwrap_or_else(|e| panic!("{e}"));
        model = next;
        assert_eq!(episodes.len(), 8);
        for v in [m.loss, m.grad_norm, m.entropy, m.outcome_mean, m.reasoning_mean, m.response_len, m.approx_kl] {
            assert!(v.is_finite(), "{m:?}");
        }
        assert!(m.grad_norm > 0.0, "gradients reached the adapters: {m:?}");
        // One category here: its rollout accuracy is the step's; calls counted per episode.
        let builtin = m.accuracy_by_category.get("builtin").copied();
        assert!(m.accuracy_by_category.len() == 1 && builtin == Some(m.accuracy), "{m:?}");
        let calls = episodes.iter().map(|e| e.calls).sum::<usize>() as f64 / 8.0;
        assert!(m.calls.is_finite() && (m.calls - calls).abs() < 1e-12, "{m:?}");
    }
    assert_eq!(base_tensors(&model).expect("base"), base, "base weights bit-identical");
    let moved = lora_values(&model).iter().zip(&lora).filter(|(a, b)| a != b).count();
    assert!(moved > lora.len() / 4, "LoRA factors moved: {moved}/{}", lora.len());
    assert_eq!(optim.t, 2);
}

#[test]
fn rollouts_do_not_depend_on_the_thread_count() {
    let cfg = RunConfig::default();
    let device = Device::flex();
    let tokenizer = builtin_policy::tokenizer().expect("tokenizer");
    let prompter = Prompter::new(&tokenizer, &PromptConfig { tools_in: ToolsIn::Template, ..PromptConfig::default() })
        .expect("template");
    let model = CausalLm::random(builtin_policy::model_config(tokenizer.vocab_size()), 7, &device).expect("model");
    let judge = crate::common::Varying::default();
    let opts = GenerateOptions {
        max_new_tokens: 10,
        stop_tokens: tokenizer.stop_ids.clone(),
        seed: rand::random(),
        ..GenerateOptions::default()
    };
    let train = tasks(5, Split::Train, 5);
    let batch: Vec<_> = train.iter().collect();
    let episodes = |threads: usize| {
        let ctx = crate::common::builtin_context(&tokenizer, &prompter, &cfg.reward, &judge, 6, threads);
        collect(&model, &ctx, &batch, 3, &opts, true).unwrap_or_else(|e| panic!("{e}"))
    };
    let one = episodes(1);
    assert_eq!(one.len(), 15);
    assert!(one.iter().any(|e| e.response_tokens() > 0));
    assert_eq!(episodes(3), one, "seed {}: the same episodes on 1 and 3 threads", opts.seed);
}

/// Metrics that must replay exactly (timings and memory excluded).
pub(crate) fn replayable(run: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(run.join("metrics.jsonl")).expect("metrics");
    text.lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).expect("json line");
            let obj = v.as_object_mut().expect("object");
            obj.retain(|k, _| !k.starts_with("time_") && k != "tokens_per_s" && k != "memory_mib");
            v.to_string()
        })
        .collect()
}

/// The straight run's metrics show AWPO's machinery at work: a step whose groups differ on
/// outcome, a gate strictly between 0 and 1, a difficulty weight below 1, reasoning terms that hit
/// the tailored clip, and gradients on most steps.
fn assert_awpo_is_live(run: &Path) {
    let text = std::fs::read_to_string(run.join("metrics.jsonl")).expect("metrics");
    let steps: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).expect("json")).collect();
    let any = |f: &dyn Fn(&serde_json::Value) -> bool| steps.iter().any(f);
    let num = |m: &serde_json::Value, k: &str| m[k].as_f64().unwrap_or(f64::NAN);
    assert!(any(&|m| num(m, "flat_groups") < 1.0), "some group's outcomes differ");
    assert!(any(&|m| (0.0..1.0).contains(&num(m, "gate")) && num(m, "gate") > 0.0), "a gate in (0, 1)");
    assert!(any(&|m| num(m, "weight") < 1.0), "a difficulty weight below 1");
    assert!(any(&|m| num(m, "adv_clip_frac") > 0.0), "reasoning terms hit the tailored clip");
    let moving = steps.iter().filter(|m| num(m, "grad_norm") > 0.0).count();
    assert!(2 * moving > steps.len(), "gradients on most steps ({moving} of {})", steps.len());
}

#[test]
fn a_killed_run_resumes_on_the_same_trajectory() {
    let (a, b) = (temp("killed"), temp("straight"));
    let run = |dir: &Path, extra: &[&str]| {
        let mut args: Vec<String> = vec!["train".into(), "--device".into(), "cpu".into()];
        // AWPO mode (the default) on a model warmed up enough that its groups' outcomes differ
        // (some replies right, not merely some better formed: a format credit no longer tells
        // wrong replies apart by kind), 4 samples per prompt; LoRA dropout on: its masks are drawn from the run seed, the step
        // and the micro-batch.
        let fixed = [
            "train.steps=30",
            "train.save_every=2",
            "lora.dropout=0.1",
            "train.sft_steps=200",
            "train.sft_batch=16",
            "rollout.group_size=4",
            "rollout.max_new_tokens=64",
        ];
        for s in SMALL.iter().chain(fixed.iter()).chain(extra) {
            args.push("--set".into());
            args.push((*s).into());
        }
        args.push("--set".into());
        args.push(format!("train.run_dir={:?}", dir.display().to_string()));
        args
    };
    // The straight run first; the killed one starts from its warmed-up base (same seed, same
    // weights), so the warm-up runs once.
    let straight = Command::new(env!("CARGO_BIN_EXE_awpo")).args(run(&b, &[])).output().expect("runs");
    assert!(straight.status.success(), "{}", String::from_utf8_lossy(&straight.stderr));
    assert_awpo_is_live(&b);
    copy_dir(&b.join("base"), &a.join("base"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_awpo"))
        .args(run(&a, &[]))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawns");
    // Kill it (SIGKILL) once step 3 is recorded: the checkpoint of step 2 exists, step 3 is lost.
    let start = Instant::now();
    while std::fs::read_to_string(a.join("metrics.jsonl")).map_or(0, |t| t.lines().count()) < 3 {
        assert!(start.elapsed() < Duration::from_secs(600), "the run did not reach step 3");
        assert!(child.try_wait().expect("wait").is_none(), "the run ended before it was killed");
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    let lines = std::fs::read_to_string(a.join("metrics.jsonl")).expect("metrics").lines().count();
    assert!(lines < 30, "killed mid-run ({lines} steps recorded)");
    let latest = std::fs::read_to_string(a.join("checkpoints/latest")).expect("a checkpoint");
    assert!(latest.starts_with("step-"), "{latest}");
    let leftovers: Vec<_> = std::fs::read_dir(a.join("checkpoints"))
        .expect("dir")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.len() <= 1, "at most the one being written when killed");
    let resumed = awpo(&["train", "--device", "cpu", "--resume", &a.display().to_string()]);
    let log = String::from_utf8_lossy(&resumed.stderr);
    assert!(resumed.status.success() && log.contains("resuming"), "{log}");
    let (ra, rb) = (replayable(&a), replayable(&b));
    assert_eq!(ra.len(), 30);
    assert_eq!(ra, rb, "the resumed run's metrics equal the uninterrupted run's, step for step");
    // The run's base is a model directory `awpo eval` loads; its held-out scores are the run's.
    let evals: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(b.join("evals.json")).expect("evals")).expect("json");
    for point in ["before", "after"] {
        let by_category = &evals[format!("{point}_by_category")];
        assert_eq!(by_category.as_object().map(|m| m.len()), Some(1), "{evals}");
        assert_eq!(by_category["builtin"], evals[point], "one category: its accuracy is the overall one");
    }
    let step = std::fs::read_to_string(b.join("checkpoints/latest")).expect("latest");
    let adapter = b.join("checkpoints").join(step.trim()).join("adapter");
    for (which, extra) in [("before", None), ("after", Some(adapter))] {
        let base = b.join("base").display().to_string();
        let mut args = vec!["eval", "--model", &base, "--suite", "builtin", "--builtin-size", "4"];
        args.extend(["--max-new-tokens", "48", "--device", "cpu"]);
        let adapter = extra.map(|p| p.display().to_string());
        if let Some(p) = &adapter {
            args.extend(["--adapter", p.as_str()]);
        }
        let out = awpo(&args);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        // `all items N RIGHT …` when several categories, else the one `builtin/… N RIGHT …` row.
        let words: Vec<Vec<&str>> = text.lines().map(|l| l.split_whitespace().collect()).collect();
        let right = match words.iter().find(|w| w.starts_with(&["all", "items"])) {
            Some(w) => w[3],
            None => words.iter().find(|w| w.first().is_some_and(|c| c.starts_with("builtin/"))).expect("a row")[2],
        };
        let right: usize = right.parse().unwrap_or(usize::MAX);
        let want = evals[which].as_f64().expect("recorded") * 4.0;
        assert_eq!(right as f64, want, "{which}: eval agrees with the trainer's held-out accuracy\n{text}");
    }
    let out = String::from_utf8_lossy(&resumed.stdout);
    assert!(out.contains("held-out accuracy:") && out.contains(&format!("run directory: {}", a.display())), "{out}");
    let report = awpo(&["report", &a.display().to_string()]);
    assert!(report.status.success());
    let html = std::fs::read_to_string(a.join("report.html")).expect("report");
    assert!(html.contains("<svg") && html.contains("Held-out accuracy"), "self-contained HTML with curves");
    assert!(html.contains("Held-out accuracy by category") && html.contains(">builtin<"), "per-category curves");
    assert!(html.contains("Rollout accuracy by category") && html.contains("Calls per episode"), "rollout curves");
    for d in [a, b] {
        let _ = std::fs::remove_dir_all(d);
    }
}

#[test]
fn the_adapter_warm_up_trains_the_adapters_and_is_kept() {
    let device = Device::flex().autodiff();
    let tokenizer = builtin_policy::tokenizer().expect("tokenizer");
    let prompter = Prompter::new(&tokenizer, &PromptConfig { tools_in: ToolsIn::Template, ..PromptConfig::default() })
        .expect("template");
    let mut model = CausalLm::random(builtin_policy::model_config(tokenizer.vocab_size()), 5, &device).expect("model");
    peft::attach(&mut model, &RunConfig::default().lora, 5);
    let (base, lora) = (base_tensors(&model).expect("base"), lora_values(&model));
    let demos = sft::demonstrations(&tasks(5, Split::Train, 8), &tokenizer, &prompter).expect("demos");
    let warm = sft::WarmUp {
        steps: 3,
        batch: 4,
        micro_batch: 1,
        threads: 2,
        lr: 1e-2,
        mistake_rate: 0.5,
        seed: 5,
        full: false,
        recompute: awpo::model::recompute::Backprop::RECOMPUTE,
    };
    let (model, loss) = sft::warm_up(model, &demos, warm, &indicatif::ProgressBar::hidden()).expect("warm-up");
    assert!(loss.is_finite() && loss > 0.0, "{loss}");
    assert_eq!(base_tensors(&model).expect("base"), base, "base weights bit-identical");
    let moved = lora_values(&model).iter().zip(&lora).filter(|(a, b)| a != b).count();
    assert!(moved > lora.len() / 4, "LoRA factors moved: {moved}/{}", lora.len());

    // Through `awpo train`: `base` recorded before it, the adapter saved; a run started again
    // (killed before its first checkpoint) reloads it and follows the same trajectory.
    let dir = temp("adapter-sft");
    let mut args = vec!["train".to_string(), "--device".into(), "cpu".into()];
    for s in SMALL.iter().chain(&["train.steps=2", "train.adapter_sft_steps=2", "train.adapter_sft_lr=0.01"]) {
        args.extend(["--set".to_string(), (*s).to_string()]);
    }
    args.extend(["--set".to_string(), format!("train.run_dir={:?}", dir.display().to_string())]);
    let first = Command::new(env!("CARGO_BIN_EXE_awpo")).args(&args).output().expect("runs");
    let log = String::from_utf8_lossy(&first.stderr);
    assert!(first.status.success() && log.contains("adapter warm-up: 2 steps"), "{log}");
    assert!(dir.join("sft-adapter/adapter_model.safetensors").exists());
    let evals: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("evals.json")).expect("evals")).expect("json");
    assert!(["base", "before", "after"].iter().all(|k| evals[k].is_f64()), "{evals}");
    let metrics = replayable(&dir);
    std::fs::remove_dir_all(dir.join("checkpoints")).expect("rm");
    std::fs::remove_file(dir.join("metrics.jsonl")).expect("rm");
    let again = awpo(&["train", "--device", "cpu", "--resume", &dir.display().to_string()]);
    let log = String::from_utf8_lossy(&again.stderr);
    assert!(again.status.success() && log.contains("adapter warm-up: reloaded"), "{log}");
    assert_eq!(replayable(&dir), metrics, "the reloaded adapter gives the same trajectory");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn bad_input_is_a_one_line_error() {
    let dir = temp("bad");
    let check = |args: &[&str], needle: &str| {
        let out = awpo(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(err.contains(needle) && !err.contains("panicked"), "{args:?}: {err}");
        assert!(err.lines().filter(|l| !l.trim().is_empty()).count() <= 3, "short: {err}");
    };
    let run_dir = format!("train.run_dir={:?}", dir.display().to_string());
    check(&["train", "--set", "model.path=/nonexistent/model.gguf", "--set", &run_dir], "/nonexistent/model.gguf");
    check(&["train", "--set", "optim.lrr=1", "--set", &run_dir], "lrr");
    let broken = dir.with_extension("jsonl");
    std::fs::write(&broken, "{\"id\": \"a\", \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"tools\": [], \"answers\": [[]]}\n{not json\n").expect("write");
    let data = format!("data.train={:?}", broken.display().to_string());
    check(&["train", "--set", &data, "--set", &run_dir], &format!("{}:2", broken.display()));
    check(&["train", "--set", "train.adapter_sft_steps=-1", "--set", &run_dir], "adapter_sft_steps");
    check(&["train", "--set", "train.run_dir=/proc/awpo-cannot-write-here"], "/proc/awpo-cannot-write-here");
    // A resumed run keeps its own config.toml: another file beside `--resume` is refused.
    check(&["train", "--resume", "runs/x", "--config", "examples/smollm2.toml"], "cannot be used with");
    assert!(!dir.join("checkpoints").exists(), "no checkpoint from failed runs");
    let _ = std::fs::remove_file(broken);
}
