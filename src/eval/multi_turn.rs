//! One BFCL multi-turn episode through the simulator bridge (`scripts/bfcl_env.py`): the model
//! answers, its calls run on BFCL's own classes and their results come back as tool messages,
//! until it answers without calls (end of its turn; the next user turn follows) or runs out of
//! steps. The verdict is BFCL's `multi_turn_checker` on the whole trajectory (every involved
//! object's state equals the ground truth's after each turn, and the ground truth's execution
//! results appear in the model's).

use serde_json::{Value, json};

use super::responder::{Request, Responder};
use super::{EvalError, EvalItem, ItemKind, ItemResult};
use crate::data::task::{Message, Role};
use crate::env::Environment;
use crate::env::process::ProcessEnv;
use crate::tools::ToolCall;
use crate::tools::parse::parse;

/// What BFCL tells the model when held-back functions become available
/// (`DEFAULT_USER_PROMPT_FOR_ADDITIONAL_FUNCTION_FC`).
const MORE_FUNCTIONS: &str = "I have updated some more functions you can choose from. What about now?";

fn ground_truth(env: &mut ProcessEnv) -> Result<Vec<Vec<ToolCall>>, EvalError> {
    let answer = env.request("ground_truth", json!({}))?;
    let turns = answer.get("turns").cloned().unwrap_or(Value::Null);
    serde_json::from_value(turns)
        .map_err(|e| EvalError::Input(format!("the simulator's ground truth is not a list of call lists: {e}")))
}

/// Plays `item` to its end; a run past `max_steps` in one turn ends the episode as wrong.
///
/// # Errors
/// The simulator or the model failed (a failing tool call is not an error: the model sees it).
pub fn play(
    env: &mut ProcessEnv,
    item: &EvalItem,
    responder: &mut dyn Responder,
    max_steps: usize,
) -> Result<ItemResult, EvalError> {
    let ItemKind::MultiTurn { held_back } = &item.kind else {
        return Err(EvalError::Input(format!("{} is not a multi-turn item", item.task.id)));
    };
    let mut messages = env.reset(&item.task)?;
    let truth = ground_truth(env)?;
    let first_turn = messages.len();
    let mut tools = item.task.tools.clone();
    let (mut turn, mut steps) = (0usize, 0usize);
    let mut calls_made = Vec::new();
    let mut prompt = String::new();
    let result = |verdict: (bool, Option<String>, Option<String>), msgs: &[Message], prompt, calls| ItemResult {
        id: item.task.id.clone(),
        category: item.category().to_string(),
        correct: verdict.0,
        error_type: verdict.1,
        reason: verdict.2,
        prompt,
        output: msgs.iter().skip(first_turn).map(Message::shown).collect(),
        calls,
    };
    loop {
        let none = Vec::new();
        let reference = if steps == 0 { truth.get(turn).unwrap_or(&none) } else { &none };
        let request = Request { messages: &messages, tools: &tools, reference };
        let mut reply = responder.respond(&[request], 1)?;
        let reply = reply.pop().unwrap_or_default();
        if prompt.is_empty() {
            prompt = reply.prompt;
        }
        let text = reply.texts.into_iter().next().unwrap_or_default();
        let calls = parse(&text).calls;
        messages.push(Message { role: Role::Assistant, content: text });
        if !calls.is_empty() && steps >= max_steps {
            let reason = format!("more than {max_steps} assistant steps in turn {turn}");
            let verdict = (false, Some("multi_turn:force_terminated".into()), Some(reason));
            return Ok(result(verdict, &messages, prompt, calls_made));
        }
        calls_made.push(calls.clone());
        let step = env.step(&calls)?;
        if !calls.is_empty() {
            messages.extend(step.messages);
            steps += 1;
            continue;
        }
        if step.done {
            let correct = step.reward.is_some_and(|r| r >= 1.0);
            if correct {
                return Ok(result((true, None, None), &messages, prompt, calls_made));
            }
            let verdict = env.request("check", json!({}))?;
            let field = |k: &str| verdict.get(k).and_then(Value::as_str).map(str::to_string);
            let verdict = (false, field("error_type"), field("error_message"));
            return Ok(result(verdict, &messages, prompt, calls_made));
        }
        turn += 1;
        steps = 0;
        let mut next = step.messages;
        if let Some(added) = held_back.get(&turn) {
            tools.extend(added.iter().cloned());
            if next.is_empty() {
                next.push(Message { role: Role::User, content: MORE_FUNCTIONS.into() });
            }
        }
        messages.extend(next);
    }
}
