//! `awpo train`: the product's main job. [`run`] loads (or, for the built-in model, builds and
//! warm-starts) the policy, attaches LoRA, and runs AWPO steps ([`step`]) with checkpoints
//! ([`checkpoint`]), `metrics.jsonl`, transcripts and a progress bar; `--resume` continues a
//! killed run from its last checkpoint on the same trajectory.

pub mod ablate;
pub mod batch;
pub mod builtin_policy;
pub mod checkpoint;
pub mod episode;
pub mod error;
mod live;
pub mod memory;
pub mod optim;
pub mod parallel;
pub mod record;
pub mod report;
pub mod sft;
pub mod start;
pub mod step;

/// CPU backend: rollouts are sampled in parts of about this many rows (one or more prompts'
/// groups), on separate threads. Fixed, so that the samples do not depend on the thread count.
pub const ROLLOUT_PART_ROWS: usize = 16;

use std::path::{Path, PathBuf};

use burn::module::Module;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::config::RunConfig;
use crate::corpus::Category;
use crate::data::task::{self, Message, Role, Task};
use crate::synth::{self, Split};
pub use error::TrainError;

/// `Result` of the trainer.
pub type Result<T> = std::result::Result<T, TrainError>;
use crate::model::weights::{Weights, save};
use crate::model::{AdapterConfig, CausalLm, peft};
use crate::prompt::{PromptConfig, Prompter, ToolsIn};
use crate::rollout::GenerateOptions;
use crate::tokenizer::TextTokenizer;

/// What a finished run reports.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    /// Held-out greedy accuracy before the adapter's warm-up (`train.adapter_sft_steps`).
    pub base: Option<f64>,
    /// Held-out greedy accuracy before RL (after the warm-up for the built-in model).
    pub before: Option<f64>,
    /// Held-out greedy accuracy after RL.
    pub after: Option<f64>,
    /// Held-out tasks.
    pub held_out: usize,
    /// The run directory.
    pub run_dir: PathBuf,
    /// RL steps done in total.
    pub steps: usize,
}

/// Task `k` of the endless training stream: epoch `k / n` is a seeded shuffle of the tasks.
fn stream_index(k: usize, n: usize, seed: u64) -> usize {
    let mut order: Vec<usize> = (0..n).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ (k / n) as u64);
    order.shuffle(&mut rng);
    order[k % n]
}

/// `spec`'s tasks; `categories` are the generated corpus's (`data.synth_categories`).
fn load_tasks(
    spec: &str,
    builtin: (u64, Split, usize, usize),
    categories: &[Category],
    skip_bad: bool,
) -> Result<Vec<Task>> {
    let (seed, split, n, tools) = builtin;
    match spec {
        "" => Ok(Vec::new()),
        "builtin" => Ok(synth::fewer_tools(synth::tasks(seed, split, n), tools, seed)),
        "synth" => Ok(synth::mixed(seed, split, n, categories)),
        path => {
            let loaded = task::load(Path::new(path), skip_bad)?;
            for skipped in &loaded.skipped {
                tracing::warn!("skipped: {skipped}");
            }
            Ok(loaded.tasks)
        }
    }
}

/// The generated held-out split's categories: the corpus's five (`[]`), and multi-turn tasks
/// after them when training has them.
fn held_out_categories(train: &[Category]) -> Vec<Category> {
    if train.contains(&Category::MultiTurn) {
        Category::ALL.into_iter().chain([Category::MultiTurn]).collect()
    } else {
        Vec::new()
    }
}

/// The warm-up's tasks (the first `kept`) and RL's (the rest); every task for both when `kept`
/// is 0 (`train.adapter_sft_tasks`).
fn split_warm_up<'t>(tasks: &'t [Task], kept: usize, spec: &str) -> Result<(&'t [Task], &'t [Task])> {
    match kept {
        0 => Ok((tasks, tasks)),
        kept if kept >= tasks.len() => Err(TrainError::NoRlTasks { spec: spec.into(), total: tasks.len(), kept }),
        kept => Ok(tasks.split_at(kept)),
    }
}

fn check_writable(dir: &Path) -> Result<()> {
    let probe = dir.join(".awpo-write-probe");
    std::fs::create_dir_all(dir)
        .and_then(|()| std::fs::write(&probe, b"ok"))
        .and_then(|()| std::fs::remove_file(&probe))
        .map_err(|source| TrainError::Write { path: dir.to_path_buf(), source })
}

/// The built-in policy: warm-started once and saved under `RUN_DIR/base`, reloaded from there on
/// resume.
fn builtin_policy(
    cfg: &RunConfig,
    run_dir: &Path,
    (train, (tokenizer, prompter)): (&[Task], &PolicyText),
    (device, plan): (&burn::tensor::Device, &memory::Plan),
    resume: bool,
) -> Result<CausalLm> {
    let model_cfg = builtin_policy::model_config(tokenizer.vocab_size());
    let base_dir = run_dir.join("base");
    let model = if resume || base_dir.join("model.safetensors").exists() {
        let w = Weights::open(&base_dir, "model.safetensors")?;
        CausalLm::from_weights(model_cfg, &w, device)?
    } else {
        let model = CausalLm::random(model_cfg, cfg.seed, device)?;
        let demos = sft::demonstrations(train, tokenizer, prompter)?;
        let bar = progress(cfg.train.sft_steps as u64, "warm-up");
        // The full warm-up trains the head too (its logits stay on the graph): no recomputation.
        let warm =
            start::warm_up_settings(cfg, (plan.threads, false), device, cfg.train.sft_steps, cfg.train.sft_lr, true);
        let (model, loss) = sft::warm_up(model, &demos, warm, &bar)?;
        bar.finish_and_clear();
        eprintln!("supervised warm-up: {} steps, final loss {loss:.3}", cfg.train.sft_steps);
        std::fs::create_dir_all(&base_dir).map_err(|source| TrainError::Write { path: base_dir.clone(), source })?;
        save(&base_dir.join("model.safetensors"), &crate::model::export::base_tensors(&model)?)?;
        builtin_policy::write_model_files(&base_dir, tokenizer)?;
        model
    };
    Ok(model)
}

/// A policy's tokenizer and prompter.
type PolicyText = (TextTokenizer, Prompter);

/// The tokenizer and prompter of the policy `model.path` names (the built-in one's renders
/// tools through its template).
fn policy_text(cfg: &RunConfig) -> Result<PolicyText> {
    let (tokenizer, prompt) = if cfg.model.path == "builtin" {
        (builtin_policy::tokenizer()?, PromptConfig { tools_in: ToolsIn::Template, ..cfg.prompt.clone() })
    } else {
        (TextTokenizer::for_model(Path::new(&cfg.model.path))?, cfg.prompt.clone())
    };
    let prompter = Prompter::new(&tokenizer, &prompt)?;
    Ok((tokenizer, prompter))
}

/// The memory plan of the run (see [`memory`]), from the model's configuration and the longest
/// prompt of the tasks it generates for (RL and held-out), before any weight is loaded;
/// `threads` is the most the settings allow.
fn memory_plan(
    cfg: &RunConfig,
    device: &burn::tensor::Device,
    (train, held_out, (tokenizer, prompter)): (&[Task], &[Task], &PolicyText),
    threads: usize,
) -> Result<memory::Plan> {
    let (model, precision) = if cfg.model.path == "builtin" {
        (builtin_policy::model_config(tokenizer.vocab_size()), crate::model::Precision::F32)
    } else {
        (CausalLm::config_at(Path::new(&cfg.model.path))?, cfg.model.dtype.resolve(device))
    };
    // The follow-ups count as prompt (with every user turn's replies in `new_tokens`).
    let (mut longest, mut user_turns) = (0, 1);
    for t in train.iter().take(2000).chain(held_out) {
        let mut messages = t.messages.clone();
        messages.extend(t.followups.iter().map(|f| Message { role: Role::User, content: f.clone() }));
        longest = longest.max(episode::prompt_ids(prompter, tokenizer, t, &messages)?.len());
        user_turns = user_turns.max(1 + t.followups.len());
    }
    let r = &cfg.rollout;
    let rows = r.prompts_per_step * r.group_size;
    let cpu = crate::device::is_cpu(device);
    let mut rollout_rows = if cpu { rows.min(ROLLOUT_PART_ROWS.max(r.group_size)) } else { rows };
    let mut rollout_prompts = rollout_rows.div_ceil(r.group_size.max(1));
    let mut rollout_parts = if cpu { rows.div_ceil(rollout_rows.max(1)) } else { 1 };
    // The held-out evaluation samples one row per prompt: more prompts prefilled at once.
    if !held_out.is_empty() {
        let at_once = held_out.len().min(if cpu { ROLLOUT_PART_ROWS } else { episode::HELD_OUT_CHUNK });
        rollout_rows = rollout_rows.max(at_once);
        rollout_prompts = rollout_prompts.max(at_once);
        if cpu {
            rollout_parts = rollout_parts.max(held_out.len().min(episode::HELD_OUT_CHUNK).div_ceil(at_once));
        }
    }
    let available = match cfg.train.memory_limit_mib {
        0 => crate::device::memory_available(device),
        mib => Some(mib << 20),
    };
    let workload = memory::Workload {
        model,
        precision,
        lora: cfg.lora.clone(),
        rollout_rows,
        rollout_parts,
        rollout_prompts,
        prompt_tokens: longest,
        new_tokens: r.max_new_tokens * r.max_steps * user_turns,
        micro_batch: cfg.optim.micro_batch,
        threads,
        threads_set: cfg.train.threads > 0,
        recompute: cfg.train.recompute_layers.get(),
        trains_head: false,
        kl: cfg.algo.kl_beta > 0.0,
        held_caches: train.iter().chain(held_out).any(|t| episode::continues(r.environment, r.max_steps, t)),
    };
    Ok(memory::plan(&workload, available))
}

/// A progress bar with a message.
pub fn progress(len: u64, what: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(len);
    let style = format!("{what} {{bar:30}} {{pos}}/{{len}} {{msg}}  eta {{eta}}");
    bar.set_style(
        indicatif::ProgressStyle::with_template(&style).unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar
}

/// Runs (or, with `resume`, continues) a training run; returns its summary.
///
/// # Errors
/// Bad configuration or data, a model that cannot be loaded, an unwritable run directory, or a
/// failure during a step (the last checkpoint stays valid).
pub fn run(cfg: &RunConfig, resume: bool) -> Result<Summary> {
    let run_dir = PathBuf::from(&cfg.train.run_dir);
    let found = checkpoint::latest(&run_dir)?;
    if !resume && (found.is_some() || run_dir.join("metrics.jsonl").exists()) {
        return Err(TrainError::RunExists(run_dir));
    }
    let (seed, d) = (cfg.seed, &cfg.data);
    let loaded = load_tasks(
        &cfg.data.train,
        (seed, Split::Train, d.builtin_train, d.builtin_tools),
        &d.synth_categories,
        d.skip_bad_lines,
    )?;
    let held_out = load_tasks(
        &d.held_out,
        (seed, Split::HeldOut, d.builtin_held_out, d.builtin_tools),
        &held_out_categories(&d.synth_categories),
        d.skip_bad_lines,
    )?;
    if loaded.is_empty() {
        return Err(TrainError::NoTasks(cfg.data.train.clone()));
    }
    let (warm, train) = split_warm_up(&loaded, cfg.train.adapter_sft_tasks, &cfg.data.train)?;
    if cfg.model.path != "builtin" && !Path::new(&cfg.model.path).exists() {
        return Err(TrainError::NoModel(cfg.model.path.clone()));
    }
    check_writable(&run_dir)?;
    let selected = crate::device::select(&cfg.device)?;
    eprintln!("device: {}", selected.description);
    let device = selected.device.clone().autodiff();
    let text = policy_text(cfg)?;
    let plan = memory_plan(cfg, &device, (train, &held_out, &text), parallel::threads(&device, cfg.train.threads))?;
    eprintln!("{}", plan.render());
    plan.check()?;
    // A model from a path and the judge are loaded before anything is written, so bad files
    // leave the run directory as it was.
    let loaded = if cfg.model.path == "builtin" {
        None
    } else {
        Some(CausalLm::load_as(Path::new(&cfg.model.path), plan.precision, &device)?)
    };
    let judge = crate::judge::from_config(&cfg.judge, &selected.device)?;
    checkpoint::write_atomic(&run_dir.join("config.toml"), &cfg.to_toml())?;
    let (mut model, base_name) = match loaded {
        Some(model) => (model, cfg.model.path.clone()),
        None => (
            builtin_policy(cfg, &run_dir, (train, &text), (&device, &plan), resume && found.is_some())?,
            "builtin".into(),
        ),
    };
    let (tokenizer, prompter) = text;
    let threads = plan.threads;
    let ctx = episode::Context {
        tokenizer: &tokenizer,
        prompter: &prompter,
        reward: &cfg.reward,
        judge: judge.as_ref(),
        environment: cfg.rollout.environment,
        process: cfg.rollout.process(),
        max_steps: cfg.rollout.max_steps,
        part_rows: if crate::device::is_cpu(&device) { ROLLOUT_PART_ROWS } else { 0 },
        threads,
    };
    let mut optim = optim::AdamW::new(&cfg.optim);
    let (mut done, mut cursor) = (0usize, 0usize);
    // The adapter's own settings: `[lora]` for a fresh one, else those it was saved with.
    let mut adapter = AdapterConfig::from(cfg.lora.clone());
    match &found {
        Some((dir, state)) if resume => {
            adapter = peft::load(&mut model, &dir.join("adapter"))?;
            checkpoint::restore_optimizer(dir, &mut optim, &model, state, &device)?;
            (done, cursor) = (state.step, state.cursor);
            eprintln!("resuming {} at step {done}", dir.display());
        }
        _ => {
            if cfg.model.adapter.is_empty() {
                peft::attach(&mut model, &cfg.lora, seed);
            } else {
                adapter = peft::load(&mut model, Path::new(&cfg.model.adapter))?;
                let l = &adapter.lora;
                eprintln!(
                    "adapter {}: r {}, alpha {}, rsLoRA {}, dropout {}, targets {} ([lora] does not apply)",
                    cfg.model.adapter,
                    l.rank,
                    l.alpha,
                    l.use_rslora,
                    l.dropout,
                    l.target_modules.join(", ")
                );
            }
            if cfg.train.adapter_sft_steps > 0 {
                model = start::adapter_warm_up(
                    cfg,
                    &run_dir,
                    (model, &adapter),
                    (warm, &held_out),
                    (&ctx, plan.recompute),
                )?;
            }
        }
    }
    record::truncate_after(&run_dir, done)?;
    let eval_tokens = cfg.rollout.max_new_tokens;
    // Recorded already when the run resumes, or when it starts from a warm-up another run
    // evaluated (`awpo ablate` shares a seed's warm-up between its variants).
    let recorded = record::read_eval(&run_dir, "before");
    let before = if held_out.is_empty() || recorded.is_some() {
        recorded
    } else {
        let acc = episode::accuracy(&model.valid(), &ctx, &held_out, eval_tokens)?;
        record::write_eval(&run_dir, "before", &acc)?;
        eprintln!("held-out accuracy before RL: {} ({} tasks)", start::render_accuracy(&acc), held_out.len());
        Some(acc.overall)
    };
    if let Some(b) = recorded {
        eprintln!("held-out accuracy before RL (recorded): {:.1}% ({} tasks)", 100.0 * b, held_out.len());
    }
    let generate = GenerateOptions {
        sampling: cfg.rollout.sampling(),
        max_new_tokens: cfg.rollout.max_new_tokens,
        stop_tokens: tokenizer.stop_ids.clone(),
        ..GenerateOptions::default()
    };
    let reference = start::kl_reference(cfg, &run_dir, &model)?;
    let inputs = step::StepInputs {
        ctx: &ctx,
        algo: &cfg.algo,
        generate: &generate,
        group: cfg.rollout.group_size,
        micro_batch: cfg.optim.micro_batch,
        num_iterations: cfg.train.num_iterations,
        threads,
        recompute: crate::model::recompute::Backprop::recompute(plan.recompute),
        reference: reference.as_ref(),
    };
    let total = cfg.train.steps;
    let bar = progress(total as u64, "AWPO");
    bar.set_position(done as u64);
    while done < total {
        let p = cfg.rollout.prompts_per_step;
        let tasks: Vec<&Task> = (0..p).map(|i| &train[stream_index(cursor + i, train.len(), seed)]).collect();
        let step_seed = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(done as u64);
        let lr = cfg.optim.lr_at(done, total);
        let (next, mut metrics, episodes) = step::step(model, &mut optim, &inputs, &tasks, step_seed, lr)?;
        model = next;
        done += 1;
        cursor += p;
        metrics.step = done;
        record::append_metrics(&run_dir, &metrics)?;
        if cfg.train.transcripts_every > 0 && done % cfg.train.transcripts_every == 0 {
            record::transcripts(&run_dir, done, &tasks, &episodes, &tokenizer)?;
        }
        if cfg.train.eval_every > 0 && done % cfg.train.eval_every == 0 && done < total && !held_out.is_empty() {
            let acc = episode::accuracy(&model.valid(), &ctx, &held_out, eval_tokens)?;
            record::write_eval(&run_dir, &format!("step-{done}"), &acc)?;
            bar.suspend(|| eprintln!("held-out accuracy at step {done}: {}", start::render_accuracy(&acc)));
        }
        if done % cfg.train.save_every == 0 || done == total {
            let state = checkpoint::State { format: checkpoint::FORMAT, step: done, adam_t: 0, cursor, seed };
            checkpoint::save_checkpoint(&run_dir, &model, &adapter, &base_name, &optim, &state)?;
        }
        bar.set_message(format!(
            "reward {:.3}  acc {:.0}%  {:.0} tok/s",
            metrics.outcome_mean,
            100.0 * metrics.accuracy,
            metrics.tokens_per_s
        ));
        bar.set_position(done as u64);
        if bar.is_hidden() && (done % (total / 20).max(1) == 0 || done == total) {
            eprintln!(
                "step {done}/{total}: reward {:.3} (reasoning {:.3}), rollout accuracy {:.0}%, loss {:.4}, {:.0} tokens/s, {:.1?} elapsed",
                metrics.outcome_mean,
                metrics.reasoning_mean,
                100.0 * metrics.accuracy,
                metrics.loss,
                metrics.tokens_per_s,
                bar.elapsed()
            );
        }
    }
    bar.finish_and_clear();
    let after = if held_out.is_empty() {
        None
    } else {
        let acc = episode::accuracy(&model.valid(), &ctx, &held_out, eval_tokens)?;
        record::write_eval(&run_dir, "after", &acc)?;
        eprintln!("held-out accuracy after RL by category: {}", start::render_accuracy(&acc));
        Some(acc.overall)
    };
    let base = record::read_eval(&run_dir, "base");
    Ok(Summary { base, before, after, held_out: held_out.len(), run_dir, steps: done })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synth_data_is_the_corpus_and_the_warm_up_keeps_its_share_apart() {
        let train = load_tasks("synth", (5, Split::Train, 30, 0), &[], false).expect("synth");
        let held_out = load_tasks("synth", (5, Split::HeldOut, 10, 0), &[], false).expect("synth");
        assert_eq!(train, crate::corpus::tasks(5, crate::corpus::Split::Train, 30, &[]));
        assert_eq!(held_out, crate::corpus::tasks(5, crate::corpus::Split::HeldOut, 10, &[]));
        let weighted = load_tasks(
            "synth",
            (5, Split::Train, 30, 0),
            &[Category::Simple, Category::Irrelevance, Category::Irrelevance],
            false,
        );
        let declines = weighted.expect("synth").iter().filter(|t| t.answers[0].is_empty()).count();
        assert_eq!(declines, 20, "two of every three tasks are irrelevance tasks");
        // Multi-turn tasks: in turn with the others, and in the held-out split when trained on.
        let mixed = load_tasks("synth", (5, Split::Train, 30, 0), &[Category::Simple, Category::MultiTurn], false);
        let turns: Vec<usize> = mixed.expect("synth").iter().map(|t| t.followups.len()).collect();
        assert!(turns.iter().step_by(2).all(|&n| n == 0) && turns.iter().skip(1).step_by(2).all(|&n| n > 0));
        let cats = held_out_categories(&[Category::MultiTurn]);
        let held = load_tasks("synth", (5, Split::HeldOut, 12, 0), &cats, false).expect("synth");
        assert_eq!(held.iter().filter(|t| !t.followups.is_empty()).count(), 2, "one in six");
        assert!(held_out_categories(&[Category::Simple, Category::Irrelevance]).is_empty());
        let (warm, rl) = split_warm_up(&train, 12, "synth").expect("split");
        assert_eq!((warm.len(), rl.len()), (12, 18));
        assert!(warm.iter().all(|w| rl.iter().all(|r| r.id != w.id)), "no task in both");
        let (all, same) = split_warm_up(&train, 0, "synth").expect("0 = all");
        assert_eq!((all.len(), same.len()), (30, 30));
        let err = split_warm_up(&train, 30, "synth").expect_err("nothing left for RL").to_string();
        assert!(err.contains("adapter_sft_tasks") && err.contains("30"), "{err}");
    }
}
