//! Rollouts of one step: each task's prompt (its messages and tools through the model's chat
//! template) sampled `G` times with one shared prefill, then every episode played through its
//! environment (`rollout.environment`): a reply with calls gets the tools' results as `tool`
//! messages and the model answers again, until it answers without calls or has written
//! `rollout.max_steps` messages; a message without calls ends the user's turn, and the task's
//! next follow-up (`Task::followups`) starts another. Each assistant message is one [`Turn`],
//! trained on with exactly the prompt it was sampled from. The outcome reward scores each user
//! turn's calls, in order, against that turn's answers (`[reward]`) and averages the turns; the
//! reasoning reward is the judge's.

use super::TrainError;
use super::live::Live;
pub use super::live::{Serving, continues, plays};
use crate::config::EnvMode;
use crate::data::task::{Message, Task};
use crate::env::process::ProcessConfig;
use crate::judge::{Judge, JudgeRequest};
use crate::model::CausalLm;
use crate::prompt::Prompter;
use crate::reward::RewardConfig;
use crate::rollout::{GenerateOptions, Held, Stats, generate_held, generate_part};
use crate::tokenizer::TextTokenizer;
use crate::train::parallel::in_parallel;

/// One assistant message: the ids it was sampled from and what was sampled.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Turn {
    /// Prompt ids: the conversation so far through the chat template.
    pub prompt: Vec<u32>,
    /// Reply ids (the only tokens trained on).
    pub response: Vec<u32>,
    /// Sampling-time log-probs of the reply tokens (temperature 1).
    pub old_logps: Vec<f64>,
}

/// One sampled episode and its rewards.
#[derive(Clone, Debug, PartialEq)]
pub struct Episode {
    /// Index of its task in the step's list.
    pub task: usize,
    /// The model's messages, in order (at least one).
    pub turns: Vec<Turn>,
    /// The messages after the task's own: the model's replies and the tools' results.
    pub messages: Vec<Message>,
    /// Outcome reward in [0, 1].
    pub outcome: f64,
    /// Reasoning reward in [0, 1].
    pub reasoning: f64,
    /// The calls are right by BFCL's checker.
    pub correct: bool,
    /// Well-formed calls over all its messages.
    pub calls: usize,
}

impl Episode {
    /// Reply tokens over all turns.
    pub fn response_tokens(&self) -> usize {
        self.turns.iter().map(|t| t.response.len()).sum()
    }

    /// The episode after its prompt, one `role: content` line per message.
    pub fn text(&self) -> String {
        self.messages.iter().map(Message::shown).collect::<Vec<_>>().join("\n")
    }
}

/// What rollouts need besides the model.
pub struct Context<'a> {
    /// The tokenizer.
    pub tokenizer: &'a TextTokenizer,
    /// Conversation → prompt text.
    pub prompter: &'a Prompter,
    /// Outcome weights.
    pub reward: &'a RewardConfig,
    /// The reasoning judge.
    pub judge: &'a dyn Judge,
    /// What runs the model's calls.
    pub environment: EnvMode,
    /// The program of `environment = "process"`.
    pub process: Option<ProcessConfig>,
    /// Most assistant messages per user turn.
    pub max_steps: usize,
    /// Sampling split into parts of about this many rows (whole prompts' groups), run on
    /// `threads` threads; 0 = one part (a GPU fills itself with one large batch).
    pub part_rows: usize,
    /// Threads sampling parts at once (`parallel::threads`).
    pub threads: usize,
}

/// Prompt ids of a conversation of `task` (its tools through the template).
///
/// # Errors
/// The template fails, or the text cannot be encoded.
pub fn prompt_ids(
    prompter: &Prompter,
    tokenizer: &TextTokenizer,
    task: &Task,
    messages: &[Message],
) -> Result<Vec<u32>, TrainError> {
    let text = prompter
        .render(messages, &task.tools, true)
        .map_err(|source| TrainError::Template { task: task.id.clone(), source })?;
    Ok(tokenizer.encode(&text)?)
}

/// Samples `group` episodes per task and scores them (rows task-major); the judge runs only
/// with `judge_reasoning`. Round `k` of messages samples with seed `opts.seed + k`. Rows are
/// sampled in parts of about `ctx.part_rows` rows (whole groups) on `ctx.threads` threads; an
/// episode stays in its part, whose caches are kept between rounds, so a later message runs
/// only the tokens its conversation added (the tools' results and the template's).
///
/// # Errors
/// Prompt rendering, generation, the environment, or a judge failure (without a fallback).
pub fn collect(
    model: &CausalLm,
    ctx: &Context<'_>,
    tasks: &[&Task],
    group: usize,
    opts: &GenerateOptions,
    judge_reasoning: bool,
) -> Result<Vec<Episode>, TrainError> {
    let (live, _) = play(model, ctx, tasks, group, opts)?;
    let (mut episodes, requests): (Vec<Episode>, Vec<JudgeRequest>) =
        live.into_iter().map(|l| l.finish(ctx.reward)).unzip();
    if !judge_reasoning {
        return Ok(episodes);
    }
    for (e, r) in episodes.iter_mut().zip(ctx.judge.score(&requests)) {
        e.reasoning = r?;
    }
    Ok(episodes)
}

/// One part's rows of the next round: which episodes, their prompts, their held caches.
struct Job {
    /// Episodes (indices into the live list); in round 0, the part's first task.
    rows: Vec<usize>,
    prompts: Vec<Vec<u32>>,
    /// The stream of the part's first row.
    first_row: usize,
    held: Option<Held>,
    /// Whether to keep the part's cache for a next round.
    keep: bool,
}

/// Plays every episode to its end; also returns the generation counters summed over rounds.
fn play<'t>(
    model: &CausalLm,
    ctx: &Context<'_>,
    tasks: &[&'t Task],
    group: usize,
    opts: &GenerateOptions,
) -> Result<(Vec<Live<'t>>, Stats), TrainError> {
    // Keep caches only for parts where an episode can have a second message: every part's
    // cache lives until the round ends, so a cache no episode can use is memory for nothing.
    let per_part = if ctx.part_rows == 0 { tasks.len() } else { ctx.part_rows.div_ceil(group.max(1)) }.max(1);
    let mut jobs = Vec::new();
    for (k, chunk) in tasks.chunks(per_part).enumerate() {
        let prompts = chunk.iter().map(|t| prompt_ids(ctx.prompter, ctx.tokenizer, t, &t.messages));
        let prompts = prompts.collect::<Result<Vec<_>, _>>()?;
        let keep = chunk.iter().any(|t| continues(ctx.environment, ctx.max_steps, t));
        jobs.push(Job { rows: vec![k * per_part], prompts, first_row: k * per_part * group, held: None, keep });
    }
    let mut live: Vec<Live> = Vec::with_capacity(tasks.len() * group);
    let mut stats = Stats::default();
    for round in 0u64.. {
        if jobs.is_empty() {
            break;
        }
        let o = GenerateOptions { seed: opts.seed.wrapping_add(round), ..opts.clone() };
        let g = if round == 0 { group } else { 1 };
        let outs = in_parallel(
            jobs,
            ctx.threads,
            || (),
            |(), job: Job| {
                let first = job.first_row;
                let out = if job.keep {
                    generate_held(model, &job.prompts, g, &o, Some(ctx.tokenizer), first, job.held)
                } else {
                    generate_part(model, &job.prompts, g, &o, Some(ctx.tokenizer), first, &mut |_, _| {})
                        .map(|out| (out, None))
                };
                out.map(|(out, held)| (job.rows, job.prompts, out, held))
            },
        )?;
        let mut next = Vec::new();
        let mut first_row = 0;
        for out in outs {
            let (rows, prompts, out, held) = out?;
            add(&mut stats, &out.stats);
            let mut ids = Vec::with_capacity(out.samples.len());
            for s in out.samples {
                let i = if round == 0 {
                    let t = rows[0] + s.prompt;
                    live.push(Live::new(t, tasks[t], (ctx.environment, ctx.process.as_ref()))?);
                    live.len() - 1
                } else {
                    rows[s.prompt]
                };
                let text = ctx.tokenizer.decode(&s.tokens, true)?;
                let turn = Turn { prompt: prompts[s.prompt].clone(), response: s.tokens, old_logps: s.logps };
                live[i].absorb(turn, text, ctx.max_steps)?;
                ids.push(i);
            }
            // The part's open episodes, in order, with their caches.
            let open: Vec<usize> = (0..ids.len()).filter(|&k| !live[ids[k]].done).collect();
            if open.is_empty() {
                continue;
            }
            let rows: Vec<usize> = open.iter().map(|&k| ids[k]).collect();
            let prompts =
                rows.iter().map(|&i| prompt_ids(ctx.prompter, ctx.tokenizer, live[i].task, &live[i].conversation()));
            let prompts = prompts.collect::<Result<Vec<_>, _>>()?;
            let held = held.map(|h| h.select(&open)).transpose()?;
            next.push(Job { first_row, rows, prompts, held, keep: true });
            first_row += open.len();
        }
        jobs = next;
    }
    Ok((live, stats))
}

fn add(total: &mut Stats, s: &Stats) {
    total.prefill_rows += s.prefill_rows;
    total.prefill_tokens += s.prefill_tokens;
    total.decode_steps += s.decode_steps;
    total.decode_tokens += s.decode_tokens;
    total.reused_tokens += s.reused_tokens;
}

/// Greedy held-out accuracy: overall and per task category (`Task::category`, "none" when
/// unset).
#[derive(Clone, Debug, PartialEq)]
pub struct HeldOutAccuracy {
    /// The share of tasks whose greedy episode is right.
    pub overall: f64,
    /// The same share within each category.
    pub by_category: std::collections::BTreeMap<String, f64>,
    /// Each task's verdict, in the tasks' order (for paired comparisons).
    pub right: Vec<bool>,
}

/// The share of right episodes overall and per category ("none" when unset) of
/// `(category, right)` pairs.
pub fn tally<'a>(outcomes: impl IntoIterator<Item = (Option<&'a str>, bool)>) -> HeldOutAccuracy {
    let mut counts: std::collections::BTreeMap<String, (usize, usize)> = std::collections::BTreeMap::new();
    let mut verdicts = Vec::new();
    for (category, right) in outcomes {
        verdicts.push(right);
        let entry = counts.entry(category.unwrap_or("none").to_string()).or_default();
        entry.0 += usize::from(right);
        entry.1 += 1;
    }
    let (right, total) = counts.values().fold((0, 0), |(r, n), c| (r + c.0, n + c.1));
    HeldOutAccuracy {
        overall: right as f64 / total.max(1) as f64,
        by_category: counts.into_iter().map(|(k, (r, n))| (k, r as f64 / n as f64)).collect(),
        right: verdicts,
    }
}

/// Held-out tasks generated together (in parts of `Context::part_rows` on the CPU backend).
pub const HELD_OUT_CHUNK: usize = 64;

/// Greedy held-out accuracy of `model` on `tasks`, in batches.
///
/// # Errors
/// As [`collect`].
pub fn accuracy(
    model: &CausalLm,
    ctx: &Context<'_>,
    tasks: &[Task],
    max_new_tokens: usize,
) -> Result<HeldOutAccuracy, TrainError> {
    let mut opts = GenerateOptions { max_new_tokens, ..GenerateOptions::default() };
    opts.sampling.temperature = 0.0;
    opts.stop_tokens = ctx.tokenizer.stop_ids.clone();
    let mut outcomes = Vec::with_capacity(tasks.len());
    for chunk in tasks.chunks(HELD_OUT_CHUNK) {
        let refs: Vec<&Task> = chunk.iter().collect();
        for (task, episode) in chunk.iter().zip(collect(model, ctx, &refs, 1, &opts, false)?) {
            outcomes.push((task.category.as_deref(), episode.correct));
        }
    }
    Ok(tally(outcomes))
}
