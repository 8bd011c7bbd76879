//! Supervised warm-up on demonstrations with the mean negative log-likelihood of the reply
//! tokens (burn's AdamW): of the built-in model, every weight trained then frozen again, so RL
//! starts from a model that answers in the `<tool_call>` format and adapts it through LoRA; of
//! any model, its LoRA adapter only (`train.adapter_sft_steps`), the base left frozen.
//! Each task has a careful and a careless demonstration (`synth::teacher_reply`); every
//! time a task is drawn for a batch, the careless one is taken with probability `mistake_rate`,
//! so the model learns the teacher's mix of habits (whose mistakes RL then has to unlearn)
//! rather than memorising which training task came with a mistake.
//! A demonstration is a whole episode (`synth::teacher_episode`): the teacher's reply, the
//! built-in tools' results (context, not trained on), then `Done.` or `The call failed.`, so the
//! model also learns to end its episodes in the environment; a multi-turn task's follow-ups
//! (context) and the teacher's messages after each.

use burn::module::Module;
use burn::optim::AdamWConfig;
use indicatif::ProgressBar;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::TrainError;
use super::batch::{Row, Segment, build, pack};
use super::episode::prompt_ids;
use super::parallel::summed_grads;
use crate::config::{OptimSection, Schedule};
use crate::data::task::{Role, Task};
use crate::model::dropout::seed_of;
use crate::model::logprob::stats_of_hidden;
use crate::model::recompute::{Backprop, gradients};
use crate::model::{Adapter, CausalLm, ModelError};
use crate::prompt::Prompter;
use crate::reduce::sum_all;
use crate::synth::teacher_episode;
use crate::tokenizer::TextTokenizer;

/// A task's demonstration: every message of the teacher's episode with the prompt ids it
/// answers (the conversation before it through the template: the task's messages, the earlier
/// replies, the tools' results and follow-ups); replies end with the chat template's
/// end-of-message id.
pub struct Demo {
    /// `(prompt, reply)` ids per teacher message, in order (at least one).
    pub turns: Vec<(Vec<u32>, Vec<u32>)>,
}

impl Demo {
    /// The messages as training segments (packed into as few rows as the template allows).
    pub fn segments(&self) -> impl Iterator<Item = Segment<'_>> {
        self.turns.iter().map(|(context, response)| Segment { context, response, values: &[] })
    }
}

/// A task's two demonstrations.
pub struct TaskDemos {
    /// From the careful teacher.
    pub careful: Demo,
    /// From the careless teacher (identical to `careful` where it has nothing to get wrong).
    pub careless: Demo,
}

/// The careful and careless demonstrations of every task in `tasks`.
///
/// # Errors
/// The template or the tokenizer fails on a task.
pub fn demonstrations(
    tasks: &[Task],
    tokenizer: &TextTokenizer,
    prompter: &Prompter,
) -> Result<Vec<TaskDemos>, TrainError> {
    let end = tokenizer.stop_ids.last().copied();
    let reply = |text: &str| -> Result<Vec<u32>, TrainError> {
        let mut ids = tokenizer.encode(text)?;
        ids.extend(end);
        Ok(ids)
    };
    let demo = |t: &Task, careless: bool| -> Result<Demo, TrainError> {
        let mut conversation = t.messages.clone();
        let mut turns = Vec::new();
        for m in teacher_episode(t, careless) {
            if m.role == Role::Assistant {
                turns.push((prompt_ids(prompter, tokenizer, t, &conversation)?, reply(&m.content)?));
            }
            conversation.push(m);
        }
        if turns.is_empty() {
            return Err(ModelError::Input(format!("task {}: the teacher's episode is empty", t.id)).into());
        }
        Ok(Demo { turns })
    };
    tasks.iter().map(|t| Ok(TaskDemos { careful: demo(t, false)?, careless: demo(t, true)? })).collect()
}

/// Warm-up settings.
#[derive(Clone, Copy, Debug)]
pub struct WarmUp {
    /// Optimizer steps.
    pub steps: usize,
    /// Tasks per step.
    pub batch: usize,
    /// Rows per forward/backward (the parts of a batch that run on separate threads).
    pub micro_batch: usize,
    /// Threads running micro-batches at once (`parallel::threads`).
    pub threads: usize,
    /// Peak learning rate.
    pub lr: f64,
    /// Probability of the careless demonstration each time a task is drawn.
    pub mistake_rate: f64,
    /// Seed of the task order and of the careful/careless draws.
    pub seed: u64,
    /// Every weight (unfrozen, then frozen again); otherwise only the trainable ones (LoRA).
    pub full: bool,
    /// Per-layer recomputation in backward (`train.recompute_layers`).
    pub recompute: Backprop,
}

/// Trains `model` (on an autodiff device; every weight if `cfg.full`, then frozen, otherwise its
/// trainable LoRA weights) for `cfg.steps` batches of `cfg.batch` demonstrations (whole
/// episodes); returns the mean loss per token of the last 10 steps.
///
/// # Errors
/// A non-finite loss.
pub fn warm_up(
    mut model: CausalLm,
    demos: &[TaskDemos],
    cfg: WarmUp,
    progress: &ProgressBar,
) -> Result<(CausalLm, f64), TrainError> {
    let WarmUp { steps, batch, micro_batch, threads, lr, mistake_rate, seed, full, recompute } = cfg;
    if full {
        model = model.unfreeze();
    }
    let schedule = OptimSection {
        lr,
        warmup_steps: steps.min(10),
        schedule: Schedule::Cosine,
        min_lr_ratio: 0.1,
        weight_decay: 0.0,
        ..OptimSection::default()
    };
    // PyTorch's AdamW defaults, written out (burn's differ).
    let mut optim =
        AdamWConfig::new().with_beta_1(0.9).with_beta_2(0.999).with_epsilon(1e-8).with_weight_decay(0.0).init();
    let mut order: Vec<usize> = (0..demos.len()).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5f7);
    let mut cursor = order.len();
    let mut recent = Vec::new();
    for step in 0..steps {
        let mut pick = Vec::with_capacity(batch);
        while pick.len() < batch.min(order.len()) {
            if cursor == order.len() {
                order.shuffle(&mut rng);
                cursor = 0;
            }
            pick.push(order[cursor]);
            cursor += 1;
        }
        let rows: Vec<Row> = pick
            .into_iter()
            .flat_map(|i| {
                let d =
                    if rng.random_bool(mistake_rate.clamp(0.0, 1.0)) { &demos[i].careless } else { &demos[i].careful };
                pack(d.segments())
            })
            .collect();
        // Mean over the batch's reply tokens, summed over micro-batches.
        let total = rows.iter().map(Row::response_tokens).sum::<usize>().max(1) as f64;
        let parts: Vec<(usize, &[Row])> = rows.chunks(micro_batch.max(1)).enumerate().collect();
        let step_seed = seed_of(seed, step);
        let (grads, values) = summed_grads(&model, parts, threads, |m, (index, part)| {
            let b = build(part, m)?;
            let adapter = Adapter::Train { seed: seed_of(step_seed, index) };
            let (tokens, attention, mask) = (b.tokens, b.attention, b.mask);
            gradients(m, tokens.clone(), attention.clone(), adapter, recompute, |hidden| {
                let stats = stats_of_hidden(m.head(), hidden, tokens, attention, 128)?;
                let [rows, cols] = stats.logprobs.dims();
                let loss = sum_all(stats.logprobs.mul(mask).reshape([rows * cols])).neg().div_scalar(total);
                let value = crate::device::to_host(loss.clone(), "the supervised loss").map_err(ModelError::from)?[0];
                Ok::<_, TrainError>((loss, f64::from(value)))
            })
        })?;
        let value: f64 = values.iter().sum();
        if !value.is_finite() {
            return Err(TrainError::NonFiniteLoss { value, step });
        }
        model = optim.step(schedule.lr_at(step, steps), model, grads);
        recent.push(value);
        if recent.len() > 10 {
            recent.remove(0);
        }
        progress.set_message(format!("loss {value:.3}"));
        progress.inc(1);
        if progress.is_hidden() && (step + 1) % (steps / 10).max(1) == 0 {
            eprintln!("warm-up step {}/{steps}: loss {value:.3} ({:.1?} elapsed)", step + 1, progress.elapsed());
        }
    }
    if full {
        model = model.freeze();
    }
    Ok((model, recent.iter().sum::<f64>() / recent.len().max(1) as f64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prompt::{PromptConfig, ToolsIn};
    use crate::synth::{Split, tasks};
    use crate::train::builtin_policy;

    #[test]
    fn every_builtin_demonstration_packs_into_one_row() {
        let tok = builtin_policy::tokenizer().expect("tokenizer");
        let prompter = Prompter::new(&tok, &PromptConfig { tools_in: ToolsIn::Template, ..PromptConfig::default() })
            .expect("prompter");
        let mut train = tasks(11, Split::Train, 120);
        train.extend(crate::synth::multi_turn::tasks(11, Split::Train, 40));
        let demos = demonstrations(&train, &tok, &prompter).expect("demos");
        let both = demos.iter().flat_map(|d| [&d.careful, &d.careless]);
        for (d, t) in both.zip(train.iter().flat_map(|t| [t, t])) {
            // Per user turn: the reply and the closing message.
            assert_eq!(d.turns.len(), 2 * t.answers.len(), "task {}", t.id);
            let rows = pack(d.segments());
            assert_eq!(rows.len(), 1, "task {}: each prompt re-renders the turns before it verbatim", t.id);
            let (last_prompt, last) = &d.turns[d.turns.len() - 1];
            assert_eq!(rows[0].response_tokens(), d.turns.iter().map(|(_, r)| r.len()).sum::<usize>());
            assert_eq!(rows[0].len(), last_prompt.len() + last.len());
        }
    }

    #[test]
    fn a_task_outside_the_builtin_tools_is_demonstrated_in_one_message() {
        let tok = builtin_policy::tokenizer().expect("tokenizer");
        let prompter = Prompter::new(&tok, &PromptConfig { tools_in: ToolsIn::Template, ..PromptConfig::default() })
            .expect("prompter");
        let corpus = crate::corpus::tasks(2, crate::corpus::Split::Train, 20, &[]);
        for d in demonstrations(&corpus, &tok, &prompter).expect("demos") {
            for demo in [&d.careful, &d.careless] {
                assert!(demo.turns.len() == 1 && !demo.turns[0].1.is_empty());
            }
        }
    }
}
