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
use crate::config::EnvMode;
use crate::data::task::{Message, Role, Task};
use crate::env::Environment;
use crate::env::builtin::BuiltinEnv;
use crate::judge::{Judge, JudgeRequest};
use crate::model::CausalLm;
use crate::prompt::Prompter;
use crate::reward::RewardConfig;
use crate::reward::outcome::{Expectation, score};
use crate::rollout::{GenerateOptions, Held, Stats, generate_held, generate_part};
use crate::tokenizer::TextTokenizer;
use crate::tools::parse::{Parsed, parse};
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

/// Whether an episode of `task` plays through an environment (else it is a single message).
pub fn plays(mode: EnvMode, task: &Task) -> bool {
    match mode {
        EnvMode::None => false,
        EnvMode::Builtin => true,
        EnvMode::Auto => crate::env::builtin::serves(task),
    }
}

/// Whether an episode of `task` can have a second message: it plays through an environment that
/// answers its calls (`max_steps > 1`) or sends follow-ups.
pub fn continues(mode: EnvMode, max_steps: usize, task: &Task) -> bool {
    (max_steps > 1 || !task.followups.is_empty()) && plays(mode, task)
}

/// The environment of an episode of `task`, started; `None` for a single message.
fn environment(mode: EnvMode, task: &Task) -> Result<Option<BuiltinEnv>, TrainError> {
    if !plays(mode, task) {
        return Ok(None);
    }
    let mut env = BuiltinEnv::default();
    env.reset(task).map_err(|e| TrainError::Environment { task: task.id.clone(), source: Box::new(e) })?;
    Ok(Some(env))
}

/// An episode in play.
struct Live<'t> {
    task: &'t Task,
    episode: Episode,
    env: Option<BuiltinEnv>,
    /// Each user turn's replies parsed, merged: calls in order, issues of all replies, the
    /// turn's first reasoning, its last answer. One entry per user turn reached.
    parsed: Vec<Parsed>,
    /// Messages the model has written in the current user turn.
    in_turn: usize,
    done: bool,
}

impl<'t> Live<'t> {
    fn new(index: usize, task: &'t Task, mode: EnvMode) -> Result<Self, TrainError> {
        let episode = Episode {
            task: index,
            turns: Vec::new(),
            messages: Vec::new(),
            outcome: 0.0,
            reasoning: 0.0,
            correct: false,
            calls: 0,
        };
        let env = environment(mode, task)?;
        Ok(Live { task, episode, env, parsed: vec![Parsed::default()], in_turn: 0, done: false })
    }

    /// The conversation so far, the task's messages first.
    fn conversation(&self) -> Vec<Message> {
        self.task.messages.iter().chain(&self.episode.messages).cloned().collect()
    }

    /// Takes the model's next message (`text` decodes `turn.response`); runs its calls, or
    /// after a message without calls sends the task's next follow-up. The episode ends after
    /// the last user turn's message without calls, at `max_steps` messages in one user turn, or
    /// when the environment says so.
    fn absorb(&mut self, turn: Turn, text: String, max_steps: usize) -> Result<(), TrainError> {
        let reply = parse(&text);
        self.episode.turns.push(turn);
        self.episode.messages.push(Message { role: Role::Assistant, content: text });
        self.in_turn += 1;
        if let Some(p) = self.parsed.last_mut() {
            if self.in_turn == 1 {
                p.think.clone_from(&reply.think);
            }
            p.calls.extend(reply.calls.iter().cloned());
            p.call_blocks += reply.call_blocks;
            p.issues.extend(reply.issues);
            p.answer = reply.answer;
        }
        let Some(env) = self.env.as_mut() else {
            self.done = true;
            return Ok(());
        };
        if !reply.calls.is_empty() && self.in_turn >= max_steps {
            self.done = true;
            return Ok(());
        }
        let step = env
            .step(&reply.calls)
            .map_err(|e| TrainError::Environment { task: self.task.id.clone(), source: Box::new(e) })?;
        if step.messages.iter().any(|m| m.role == Role::User) {
            self.parsed.push(Parsed::default());
            self.in_turn = 0;
        }
        self.episode.messages.extend(step.messages);
        self.done = step.done;
        Ok(())
    }

    /// Scores the finished episode; returns it with what the judge is asked. Each user turn's
    /// calls are scored against its answers; the outcome is the turns' mean, a turn the episode
    /// never reached scoring 0, and the episode is right when every turn is.
    fn finish(mut self, reward: &RewardConfig) -> (Episode, JudgeRequest) {
        let turns = self.task.answers.len().max(1);
        let (mut outcome, mut correct) = (0.0, self.parsed.len() >= turns);
        for (k, parsed) in self.parsed.iter().enumerate().take(turns) {
            let expected = self.task.answers.get(k).map_or(&[][..], Vec::as_slice);
            let want = Expectation { functions: self.task.checker_functions(), expected, language: self.task.language };
            let scores = score(parsed, want);
            outcome += reward.combine(&scores) / turns as f64;
            correct &= scores.bfcl >= 1.0;
        }
        (self.episode.outcome, self.episode.correct) = (outcome, correct);
        self.episode.calls = self.parsed.iter().map(|p| p.calls.len()).sum();
        // The judge reads the first request and the model's first user turn.
        let first = std::mem::take(&mut self.parsed[0]);
        let request = self.task.messages.iter().rev().find(|m| m.role == Role::User).map(|m| m.content.clone());
        let request = JudgeRequest {
            request: request.unwrap_or_default(),
            tools: self.task.tools.clone(),
            reasoning: first.think.unwrap_or_default(),
            calls: first.calls,
        };
        (self.episode, request)
    }
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
                    live.push(Live::new(t, tasks[t], ctx.environment)?);
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
    let mut counts: std::collections::BTreeMap<String, (usize, usize)> = std::collections::BTreeMap::new();
    for chunk in tasks.chunks(HELD_OUT_CHUNK) {
        let refs: Vec<&Task> = chunk.iter().collect();
        for (task, episode) in chunk.iter().zip(collect(model, ctx, &refs, 1, &opts, false)?) {
            let entry = counts.entry(task.category.clone().unwrap_or_else(|| "none".into())).or_default();
            entry.0 += usize::from(episode.correct);
            entry.1 += 1;
        }
    }
    let right: usize = counts.values().map(|c| c.0).sum();
    Ok(HeldOutAccuracy {
        overall: right as f64 / tasks.len().max(1) as f64,
        by_category: counts.into_iter().map(|(k, (r, n))| (k, r as f64 / n as f64)).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::{HALLUCINATED_TOOL, Split, followup_reply, tasks, teacher_reply};

    fn play<'t>(task: &'t Task, mode: EnvMode, replies: &[String], max_steps: usize) -> Live<'t> {
        let mut l = Live::new(0, task, mode).expect("env");
        for r in replies {
            assert!(!l.done, "the episode ended before {r:?}");
            l.absorb(Turn::default(), r.clone(), max_steps).expect("step");
        }
        l
    }

    #[test]
    fn an_episode_runs_the_calls_and_scores_every_call_it_made() {
        let task = tasks(4, Split::Train, 60)
            .into_iter()
            .find(|t| t.answers[0].iter().any(|(n, _)| n == "convert_units"))
            .expect("a conversion task");
        let reward = RewardConfig::default();
        // The teacher: calls, the tools' results, a closing answer.
        let first = teacher_reply(&task, false);
        let mut l = play(&task, EnvMode::Auto, std::slice::from_ref(&first), 3);
        assert!(!l.done);
        let results: Vec<&Message> = l.episode.messages.iter().filter(|m| m.role == Role::Tool).collect();
        assert_eq!(results.len(), task.answers[0].len(), "one result per call");
        assert!(results.iter().all(|m| m.content.parse::<f64>().is_ok()), "{results:?}");
        assert!(l.conversation().len() == 1 + 1 + results.len());
        let closing = followup_reply(&l.conversation());
        l.absorb(Turn::default(), closing, 3).expect("step");
        assert!(l.done, "an answer without calls ends the episode");
        let (e, req) = l.finish(&reward);
        assert!(e.correct && e.outcome > 0.99, "{e:?}");
        assert_eq!((e.turns.len(), req.calls.len()), (2, task.answers[0].len()));
        // A hallucinated name: the environment answers with an error; a retry with the right
        // name is still an episode with a wrong call in it.
        let careless = teacher_reply(&task, true);
        let l = play(&task, EnvMode::Auto, std::slice::from_ref(&careless), 3);
        let error = l.episode.messages.iter().find(|m| m.role == Role::Tool).expect("a result");
        assert!(error.content.starts_with("error: unknown tool") && error.content.contains(HALLUCINATED_TOOL));
        let l = play(&task, EnvMode::Auto, &[careless, first.clone()], 3);
        assert!(!l.finish(&reward).0.correct, "the hallucinated call counts");
        // At max_steps the calls are not run and the episode ends.
        let l = play(&task, EnvMode::Auto, std::slice::from_ref(&first), 1);
        assert!(l.done && l.episode.messages.len() == 1);
        // No environment: one message, scored as it is.
        let l = play(&task, EnvMode::None, std::slice::from_ref(&first), 3);
        assert!(l.done && l.finish(&reward).0.correct);
    }

    #[test]
    fn auto_plays_only_tasks_whose_tools_are_all_built_in() {
        let mut task = tasks(4, Split::Train, 1).remove(0);
        assert!(environment(EnvMode::Auto, &task).expect("env").is_some());
        task.tools.push(serde_json::json!({"name": "get_weather", "parameters": {}}));
        assert!(environment(EnvMode::Auto, &task).expect("env").is_none());
        assert!(environment(EnvMode::Builtin, &task).expect("env").is_some());
        assert!(environment(EnvMode::None, &tasks(4, Split::Train, 1)[0]).expect("env").is_none());
    }

    #[test]
    fn each_user_turn_is_scored_against_its_own_answers() {
        let task = crate::synth::multi_turn::tasks(2, Split::Train, 40)
            .into_iter()
            .find(|t| t.answers.len() == 2 && t.answers[1][0].0 == "kv_get")
            .expect("a remember-then-recall task");
        let reward = RewardConfig::default();
        let right = |k: usize| crate::synth::teacher_turn(&task, k, false);
        let done = || "Done.".to_string();
        // The teacher: both turns right; the follow-up arrives after the first closing message,
        // and the value stored in the first turn is read back in the second.
        let l = play(&task, EnvMode::Auto, &[right(0), done(), right(1), done()], 2);
        assert!(l.done);
        let users: Vec<&str> =
            l.episode.messages.iter().filter(|m| m.role == Role::User).map(|m| m.content.as_str()).collect();
        assert_eq!(users, [task.followups[0].as_str()]);
        let stored = task.answers[0][0].1["value"][0].as_str().expect("a value");
        assert_eq!(l.episode.messages.last().map(|m| m.content.as_str()), Some("Done."));
        assert!(l.episode.messages.iter().any(|m| m.role == Role::Tool && m.content == stored), "{:?}", l.episode);
        let (e, req) = l.finish(&reward);
        assert!(e.correct && e.outcome > 0.99 && e.calls == 2, "{e:?}");
        assert_eq!(req.calls.len(), 1, "the judge reads the first turn");
        // The first turn's call repeated in the second: half the outcome, not correct.
        let l = play(&task, EnvMode::Auto, &[right(0), done(), right(0), done()], 2);
        let (e, _) = l.finish(&reward);
        assert!(!e.correct && (e.outcome - 0.5).abs() < 0.06, "{e:?}");
        // Each turn's first call right, the whole second turn never reached (the limit of one
        // message per turn stops the episode at the first reply with calls).
        let l = play(&task, EnvMode::Auto, &[right(0)], 1);
        assert!(l.done);
        let (e, _) = l.finish(&reward);
        assert!(!e.correct && (e.outcome - 0.5).abs() < 0.06, "{e:?}");
        // Both turns' calls in one message: the first turn is wrong, the second never comes.
        let both = format!("{}\n{}", right(0), right(1));
        let (e, _) = play(&task, EnvMode::Auto, &[both, done()], 2).finish(&reward);
        assert!(!e.correct && e.outcome < 0.1, "{e:?}");
    }
}
