//! A task file's multi-turn task (`followups`), played as training plays it: the model answers
//! each user turn; where the task lists only built-in tools its calls run on them (one state for
//! the whole conversation) and it answers again, up to `max_steps` messages per turn, until it
//! answers without calls; then the next follow-up comes. Each turn's calls are checked against
//! that turn's answers by BFCL's AST rules; the item is right when every turn is. Without the
//! built-in tools a reply's calls get no results, and the next follow-up follows the reply.

use super::responder::{Request, Responder};
use super::{EvalError, EvalItem, ItemResult, verdict_fields};
use crate::data::task::{Message, Role};
use crate::env::Environment;
use crate::env::builtin::{BuiltinEnv, serves};
use crate::reward::bfcl::{CallRule, check, first_acceptable};
use crate::tools::ToolCall;
use crate::tools::parse::parse;

/// Plays `item` to its end; a reply with calls at `max_steps` messages in one turn ends the
/// conversation (the turns after it are wrong).
///
/// # Errors
/// The model failed (a failing tool call is not an error: the model sees it).
pub fn play(item: &EvalItem, responder: &mut dyn Responder, max_steps: usize) -> Result<ItemResult, EvalError> {
    let task = &item.task;
    let mut env = serves(task).then(BuiltinEnv::default);
    if let Some(env) = env.as_mut() {
        env.reset(task).map_err(|e| EvalError::Input(format!("{}: {e}", task.id)))?;
    }
    let mut messages = task.messages.clone();
    let mut turns: Vec<Vec<ToolCall>> = Vec::new();
    let mut prompt = String::new();
    'turns: for k in 0..task.answers.len().max(1) {
        if k > 0 {
            let Some(next) = task.followups.get(k - 1) else { break };
            messages.push(Message { role: Role::User, content: next.clone() });
        }
        let expected = task.answers.get(k).map_or(&[][..], Vec::as_slice);
        let reference = first_acceptable(task.language, task.checker_functions(), expected);
        let mut made = Vec::new();
        for step in 1.. {
            let none = Vec::new();
            let reference = if step == 1 { &reference } else { &none };
            let request = Request { messages: &messages, tools: &task.tools, reference };
            let reply = responder.respond(&[request], 1)?.pop().unwrap_or_default();
            if prompt.is_empty() {
                prompt = reply.prompt;
            }
            let text = reply.texts.into_iter().next().unwrap_or_default();
            let calls = parse(&text).calls;
            messages.push(Message { role: Role::Assistant, content: text });
            made.extend(calls.iter().cloned());
            let Some(env) = env.as_mut().filter(|_| !calls.is_empty()) else { break };
            if step >= max_steps {
                turns.push(made);
                break 'turns;
            }
            let results = env.step(&calls).map_err(|e| EvalError::Input(format!("{}: {e}", task.id)))?;
            messages.extend(results.messages);
        }
        turns.push(made);
    }
    let mut first_wrong = None;
    for (k, expected) in task.answers.iter().enumerate() {
        let made = turns.get(k).map_or(&[][..], Vec::as_slice);
        let rule = CallRule::of_expected(expected.len(), task.checker_functions().len());
        let verdict = check(rule, task.language, task.checker_functions(), made, expected);
        if !verdict.is_correct() && first_wrong.is_none() {
            first_wrong = Some((k, verdict));
        }
    }
    let (error_type, reason) = match &first_wrong {
        Some((k, v)) => {
            let (e, r) = verdict_fields(v);
            (e, Some(format!("turn {k}: {}", r.unwrap_or_default())))
        }
        None => (None, None),
    };
    Ok(ItemResult {
        id: task.id.clone(),
        category: item.category().to_string(),
        correct: first_wrong.is_none(),
        error_type,
        reason,
        prompt,
        output: messages.iter().skip(task.messages.len()).map(Message::shown).collect(),
        calls: turns,
    })
}
