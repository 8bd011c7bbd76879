//! A task file's multi-turn task (`followups`), played as training plays it: the model answers
//! each user turn; where the task lists only built-in tools its calls run on them (one state for
//! the whole conversation) and it answers again, up to `max_steps` messages per turn, until it
//! answers without calls; then the next follow-up comes. Each turn's calls are checked against
//! that turn's answers by BFCL's AST rules; the item is right when every turn is. Without the
//! built-in tools a reply's calls get no results, and the next follow-up follows the reply.
//! Conversations are played side by side: each round asks the responder once for the next
//! message of every conversation still going.

use super::responder::{Reply, Request, Responder};
use super::{EvalError, EvalItem, ItemResult, verdict_fields};
use crate::data::task::{Message, Role};
use crate::env::Environment;
use crate::env::builtin::{BuiltinEnv, serves};
use crate::reward::bfcl::{CallRule, check, first_acceptable};
use crate::tools::ToolCall;
use crate::tools::parse::parse;

/// One conversation under way.
struct Game<'a> {
    item: &'a EvalItem,
    env: Option<BuiltinEnv>,
    messages: Vec<Message>,
    /// Each finished user turn's calls.
    turns: Vec<Vec<ToolCall>>,
    /// The calls of the user turn under way.
    made: Vec<ToolCall>,
    /// The reference of the user turn's first message (only the oracle reads it).
    reference: Vec<ToolCall>,
    /// Messages written in the user turn under way.
    step: usize,
    prompt: String,
    done: bool,
}

impl<'a> Game<'a> {
    fn new(item: &'a EvalItem) -> Result<Self, EvalError> {
        let task = &item.task;
        let mut env = serves(task).then(BuiltinEnv::default);
        if let Some(env) = env.as_mut() {
            env.reset(task).map_err(|e| EvalError::Input(format!("{}: {e}", task.id)))?;
        }
        let mut game = Game {
            item,
            env,
            messages: task.messages.clone(),
            turns: Vec::new(),
            made: Vec::new(),
            reference: Vec::new(),
            step: 0,
            prompt: String::new(),
            done: false,
        };
        game.start_turn();
        Ok(game)
    }

    /// Starts user turn `self.turns.len()`.
    fn start_turn(&mut self) {
        let task = &self.item.task;
        let expected = task.answers.get(self.turns.len()).map_or(&[][..], Vec::as_slice);
        self.reference = first_acceptable(task.language, task.checker_functions(), expected);
        self.step = 1;
    }

    fn request(&self) -> Request<'_> {
        let reference = if self.step == 1 { &self.reference[..] } else { &[] };
        Request { messages: &self.messages, tools: &self.item.task.tools, reference }
    }

    /// Takes the model's next message: runs its calls, or ends the user turn and sends the next
    /// follow-up, or ends the conversation.
    fn answer(&mut self, reply: Reply, max_steps: usize) -> Result<(), EvalError> {
        let task = &self.item.task;
        if self.prompt.is_empty() {
            self.prompt = reply.prompt;
        }
        let text = reply.texts.into_iter().next().unwrap_or_default();
        let calls = parse(&text).calls;
        self.messages.push(Message { role: Role::Assistant, content: text });
        self.made.extend(calls.iter().cloned());
        if let Some(env) = self.env.as_mut().filter(|_| !calls.is_empty()) {
            if self.step >= max_steps {
                // Calls at `max_steps` messages end the conversation (later turns are wrong).
                self.turns.push(std::mem::take(&mut self.made));
                self.done = true;
                return Ok(());
            }
            let results = env.step(&calls).map_err(|e| EvalError::Input(format!("{}: {e}", task.id)))?;
            self.messages.extend(results.messages);
            self.step += 1;
            return Ok(());
        }
        self.turns.push(std::mem::take(&mut self.made));
        let next = task.followups.get(self.turns.len() - 1);
        match next.filter(|_| self.turns.len() < task.answers.len().max(1)) {
            Some(next) => {
                self.messages.push(Message { role: Role::User, content: next.clone() });
                self.start_turn();
            }
            None => self.done = true,
        }
        Ok(())
    }

    fn result(self) -> ItemResult {
        let task = &self.item.task;
        let mut first_wrong = None;
        for (k, expected) in task.answers.iter().enumerate() {
            let made = self.turns.get(k).map_or(&[][..], Vec::as_slice);
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
        ItemResult {
            id: task.id.clone(),
            category: self.item.category().to_string(),
            correct: first_wrong.is_none(),
            error_type,
            reason,
            prompt: self.prompt,
            output: self.messages.iter().skip(task.messages.len()).map(Message::shown).collect(),
            calls: self.turns,
        }
    }
}

/// Plays `items` to their ends side by side, one responder call per round for every
/// conversation still going; results in the items' order.
///
/// # Errors
/// The model failed (a failing tool call is not an error: the model sees it).
pub fn play(
    items: &[&EvalItem],
    responder: &mut dyn Responder,
    max_steps: usize,
) -> Result<Vec<ItemResult>, EvalError> {
    let mut games: Vec<Game<'_>> = items.iter().map(|i| Game::new(i)).collect::<Result<_, _>>()?;
    loop {
        let live: Vec<usize> = (0..games.len()).filter(|&i| !games[i].done).collect();
        if live.is_empty() {
            break;
        }
        let requests: Vec<Request<'_>> = live.iter().map(|&i| games[i].request()).collect();
        let replies = responder.respond(&requests, 1)?;
        drop(requests);
        for (&i, reply) in live.iter().zip(replies) {
            games[i].answer(reply, max_steps)?;
        }
    }
    Ok(games.into_iter().map(Game::result).collect())
}
