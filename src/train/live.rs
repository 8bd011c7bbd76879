//! One episode in play ([`Live`]): the environment that serves it (the built-in tools or a
//! program over the JSON-lines protocol, `rollout.environment`), the model's messages taken one
//! by one with the calls run and the follow-ups sent, and the outcome scored per user turn.

use super::TrainError;
use super::episode::{Episode, Turn};
use crate::config::EnvMode;
use crate::data::task::{Message, Role, Task};
use crate::env::builtin::BuiltinEnv;
use crate::env::process::{ProcessConfig, ProcessEnv};
use crate::env::{EnvError, Environment};
use crate::judge::JudgeRequest;
use crate::reward::RewardConfig;
use crate::reward::outcome::{Expectation, score};
use crate::tools::parse::{Parsed, parse};

/// Whether an episode of `task` plays through an environment (else it is a single message).
pub fn plays(mode: EnvMode, task: &Task) -> bool {
    match mode {
        EnvMode::None => false,
        EnvMode::Builtin | EnvMode::Process => true,
        EnvMode::Auto => crate::env::builtin::serves(task),
    }
}

/// Whether an episode of `task` can have a second message: it plays through an environment that
/// answers its calls (`max_steps > 1`) or sends follow-ups (the task's, or a program's own).
pub fn continues(mode: EnvMode, max_steps: usize, task: &Task) -> bool {
    (max_steps > 1 || !task.followups.is_empty() || mode == EnvMode::Process) && plays(mode, task)
}

/// What serves the episodes: `rollout.environment` and, for `process`, the program.
pub type Serving<'c> = (EnvMode, Option<&'c ProcessConfig>);

/// The environment of an episode of `task`, started; `None` for a single message. The first
/// prompt is the task's messages, so an environment whose `reset` answers others is an error.
fn environment((mode, process): Serving<'_>, task: &Task) -> Result<Option<Box<dyn Environment>>, TrainError> {
    if !plays(mode, task) {
        return Ok(None);
    }
    let failed = |e: EnvError| TrainError::Environment { task: task.id.clone(), source: Box::new(e) };
    let mut env: Box<dyn Environment> = match (mode, process) {
        (EnvMode::Process, Some(cfg)) => Box::new(ProcessEnv::spawn(cfg).map_err(failed)?),
        (EnvMode::Process, None) => {
            return Err(failed(EnvError::State("rollout.environment = \"process\" needs rollout.env_command".into())));
        }
        _ => Box::new(BuiltinEnv::default()),
    };
    let first = env.reset(task).map_err(failed)?;
    if first != task.messages {
        let why = format!(
            "`reset` answered {} messages other than the task's {}: awpo train prompts with the task's messages",
            first.len(),
            task.messages.len()
        );
        return Err(failed(EnvError::State(why)));
    }
    Ok(Some(env))
}

/// An episode in play.
pub(super) struct Live<'t> {
    pub(super) task: &'t Task,
    pub(super) episode: Episode,
    env: Option<Box<dyn Environment>>,
    /// The environment's own reward, sent with the end of the episode.
    env_reward: Option<f64>,
    /// Each user turn's replies parsed, merged: calls in order, issues of all replies, the
    /// turn's first reasoning, its last answer. One entry per user turn reached.
    parsed: Vec<Parsed>,
    /// Messages the model has written in the current user turn.
    in_turn: usize,
    pub(super) done: bool,
}

impl<'t> Live<'t> {
    pub(super) fn new(index: usize, task: &'t Task, serving: Serving<'_>) -> Result<Self, TrainError> {
        let episode = Episode {
            task: index,
            turns: Vec::new(),
            messages: Vec::new(),
            outcome: 0.0,
            reasoning: 0.0,
            correct: false,
            calls: 0,
        };
        let env = environment(serving, task)?;
        Ok(Live { task, episode, env, env_reward: None, parsed: vec![Parsed::default()], in_turn: 0, done: false })
    }

    /// The conversation so far, the task's messages first.
    pub(super) fn conversation(&self) -> Vec<Message> {
        self.task.messages.iter().chain(&self.episode.messages).cloned().collect()
    }

    /// Takes the model's next message (`text` decodes `turn.response`); runs its calls, or
    /// after a message without calls sends the task's next follow-up. The episode ends after
    /// the last user turn's message without calls, at `max_steps` messages in one user turn, or
    /// when the environment says so.
    pub(super) fn absorb(&mut self, turn: Turn, text: String, max_steps: usize) -> Result<(), TrainError> {
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
        if step.done {
            self.env_reward = step.reward;
        }
        Ok(())
    }

    /// Scores the finished episode; returns it with what the judge is asked. Each user turn's
    /// calls are scored against its answers; the outcome is the turns' mean, a turn the episode
    /// never reached scoring 0, and the episode is right when every turn is.
    pub(super) fn finish(mut self, reward: &RewardConfig) -> (Episode, JudgeRequest) {
        let turns = self.task.answers.len().max(1);
        let (mut outcome, mut correct) = (0.0, self.parsed.len() >= turns);
        for (k, parsed) in self.parsed.iter().enumerate().take(turns) {
            let expected = self.task.answers.get(k).map_or(&[][..], Vec::as_slice);
            let want = Expectation { functions: self.task.checker_functions(), expected, language: self.task.language };
            let scores = score(parsed, want);
            outcome += reward.combine(&scores) / turns as f64;
            correct &= scores.bfcl >= 1.0;
        }
        (self.episode.outcome, self.episode.correct) = match self.env_reward {
            // The environment's own verdict replaces the checker's.
            Some(r) => (r.clamp(0.0, 1.0), r >= 1.0),
            None => (outcome, correct),
        };
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::{HALLUCINATED_TOOL, Split, followup_reply, tasks, teacher_reply};

    fn play<'t>(task: &'t Task, mode: EnvMode, replies: &[String], max_steps: usize) -> Live<'t> {
        let mut l = Live::new(0, task, (mode, None)).expect("env");
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
        assert!(environment((EnvMode::Auto, None), &task).expect("env").is_some());
        task.tools.push(serde_json::json!({"name": "get_weather", "parameters": {}}));
        assert!(environment((EnvMode::Auto, None), &task).expect("env").is_none());
        assert!(environment((EnvMode::Builtin, None), &task).expect("env").is_some());
        assert!(environment((EnvMode::None, None), &tasks(4, Split::Train, 1)[0]).expect("env").is_none());
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
        // The first turn right, the second never reached: at one message per turn, the first
        // reply with calls ends the episode.
        let l = play(&task, EnvMode::Auto, &[right(0)], 1);
        assert!(l.done);
        let (e, _) = l.finish(&reward);
        assert!(!e.correct && (e.outcome - 0.5).abs() < 0.06, "{e:?}");
        // Both turns' calls in one message: the first turn is wrong, the second never comes.
        let both = format!("{}\n{}", right(0), right(1));
        let (e, _) = play(&task, EnvMode::Auto, &[both, done()], 2).finish(&reward);
        assert!(!e.correct && e.outcome < 0.1, "{e:?}");
    }

    #[test]
    fn a_process_environment_answers_the_calls_and_its_reward_is_the_outcome() {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/env/echo_env.py");
        let cfg = |mode: &str| ProcessConfig {
            program: "python3".into(),
            args: vec![script.into(), mode.into()],
            timeout: std::time::Duration::from_secs(20),
        };
        let task = tasks(4, Split::Train, 1).remove(0);
        let reward = RewardConfig::default();
        // A wrong call: the program echoes it, and its reward of 1 at the end is the outcome.
        let wrong = "<tool_call>\n{\"name\": \"kv_get\", \"arguments\": {\"key\": \"nope\"}}\n</tool_call>";
        let echo = cfg("normal");
        let mut l = Live::new(0, &task, (EnvMode::Process, Some(&echo))).expect("spawned");
        l.absorb(Turn::default(), wrong.into(), 3).expect("step");
        assert_eq!(l.episode.messages[1].content, r#"kv_get({"key": "nope"})"#, "the program's result");
        l.absorb(Turn::default(), "Done.".into(), 3).expect("step");
        assert!(l.done);
        let (e, _) = l.finish(&reward);
        assert!(e.correct && e.outcome == 1.0 && e.calls == 1, "{e:?}");
        // A program that refuses a step is an error naming the task and the program.
        let refuse = cfg("refuse");
        let mut l = Live::new(0, &task, (EnvMode::Process, Some(&refuse))).expect("spawned");
        let err = l.absorb(Turn::default(), wrong.into(), 3).expect_err("refused").to_string();
        assert!(err.contains(&task.id) && err.contains("no such tool"), "{err}");
        // Without a program there is no process to start.
        let Err(err) = Live::new(0, &task, (EnvMode::Process, None)) else { panic!("no program") };
        assert!(err.to_string().contains("env_command"), "{err}");
    }
}
