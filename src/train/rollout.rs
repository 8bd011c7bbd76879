//! Rollouts of one step: each task's prompt (its messages and tools through the model's chat
//! template) sampled `G` times with one shared prefill, each reply parsed and scored: the outcome
//! reward from the task's expected calls (`[reward]`), the reasoning reward from the judge.
//! Single assistant turn: the reply's calls are scored against the task's first turn.

use crate::data::task::{Role, Task};
use crate::judge::{Judge, JudgeRequest};
use crate::model::{CausalLm, ModelError};
use crate::prompt::Prompter;
use crate::reward::RewardConfig;
use crate::reward::outcome::{Expectation, score};
use crate::rollout::{GenerateOptions, generate};
use crate::tokenizer::TextTokenizer;
use crate::tools::parse::parse;

/// One sampled reply and its rewards.
#[derive(Clone, Debug, PartialEq)]
pub struct Episode {
    /// Index of its task in the step's list.
    pub task: usize,
    /// Prompt ids.
    pub prompt: Vec<u32>,
    /// Reply ids (the only tokens trained on).
    pub response: Vec<u32>,
    /// Sampling-time log-probs of the reply tokens (temperature 1).
    pub old_logps: Vec<f64>,
    /// Reply text.
    pub text: String,
    /// Outcome reward in [0, 1].
    pub outcome: f64,
    /// Reasoning reward in [0, 1].
    pub reasoning: f64,
    /// The calls are right by BFCL's checker.
    pub correct: bool,
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
}

/// Prompt ids of a task.
///
/// # Errors
/// The template fails, or the text cannot be encoded.
pub fn prompt_ids(ctx: &Context<'_>, task: &Task) -> Result<Vec<u32>, ModelError> {
    let text = ctx
        .prompter
        .render(&task.messages, &task.tools, true)
        .map_err(|e| ModelError::Input(format!("task {}: {e}", task.id)))?;
    ctx.tokenizer.encode(&text)
}

/// Samples `group` replies per task and scores them (rows task-major); the judge runs only with
/// `judge_reasoning`.
///
/// # Errors
/// Prompt rendering, generation or a judge failure (without a fallback).
pub fn collect(
    model: &CausalLm,
    ctx: &Context<'_>,
    tasks: &[&Task],
    group: usize,
    opts: &GenerateOptions,
    judge_reasoning: bool,
) -> Result<Vec<Episode>, ModelError> {
    let prompts: Vec<Vec<u32>> = tasks.iter().map(|t| prompt_ids(ctx, t)).collect::<Result<_, _>>()?;
    let out = generate(model, &prompts, group, opts, Some(ctx.tokenizer), &mut |_, _| {})?;
    let mut episodes = Vec::with_capacity(out.samples.len());
    let mut requests = Vec::with_capacity(out.samples.len());
    for s in out.samples {
        let task = tasks[s.prompt];
        let text = ctx.tokenizer.decode(&s.tokens, true)?;
        let parsed = parse(&text);
        let expected = task.answers.first().map_or(&[][..], Vec::as_slice);
        let want = Expectation { functions: task.checker_functions(), expected, language: task.language };
        let scores = score(&parsed, want);
        let request = task.messages.iter().rev().find(|m| m.role == Role::User).map(|m| m.content.clone());
        requests.push(JudgeRequest {
            request: request.unwrap_or_default(),
            tools: task.tools.clone(),
            reasoning: parsed.think.clone().unwrap_or_default(),
            calls: parsed.calls.clone(),
        });
        episodes.push(Episode {
            task: s.prompt,
            prompt: prompts[s.prompt].clone(),
            response: s.tokens,
            old_logps: s.logps,
            text,
            outcome: ctx.reward.combine(&scores),
            reasoning: 0.0,
            correct: scores.bfcl >= 1.0,
        });
    }
    if !judge_reasoning {
        return Ok(episodes);
    }
    for (e, r) in episodes.iter_mut().zip(ctx.judge.score(&requests)) {
        e.reasoning = r.map_err(|err| ModelError::Compute(format!("reasoning judge: {err}")))?;
    }
    Ok(episodes)
}

/// Greedy held-out accuracy: the share of tasks whose greedy reply is right, in batches.
///
/// # Errors
/// As [`collect`].
pub fn accuracy(model: &CausalLm, ctx: &Context<'_>, tasks: &[Task], max_new_tokens: usize) -> Result<f64, ModelError> {
    let mut opts = GenerateOptions { max_new_tokens, ..GenerateOptions::default() };
    opts.sampling.temperature = 0.0;
    opts.stop_tokens = ctx.tokenizer.stop_ids.clone();
    let mut right = 0usize;
    for chunk in tasks.chunks(64) {
        let refs: Vec<&Task> = chunk.iter().collect();
        right += collect(model, ctx, &refs, 1, &opts, false)?.iter().filter(|e| e.correct).count();
    }
    Ok(right as f64 / tasks.len().max(1) as f64)
}
