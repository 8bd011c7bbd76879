//! `awpo eval`: score a model (or the oracle) on BFCL v4 categories, a JSONL task file or the
//! built-in held-out split. Single-turn items are answered in batches ([`Responder`]) and
//! checked by the BFCL AST checker ([`crate::reward::bfcl`]); multi-turn items are played turn
//! by turn against BFCL's own simulators ([`multi_turn`]) and scored by BFCL's rule, and a task
//! file's multi-turn tasks on the built-in tools ([`conversation`]), each turn by the AST checker. Each
//! item's result goes to a sink as soon as it is known, so a killed run can resume
//! ([`results`]).

pub mod conversation;
pub mod items;
pub mod multi_turn;
pub mod responder;
pub mod results;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::data::DataError;
use crate::env::EnvError;
use crate::env::process::ProcessConfig;
use crate::model::ModelError;
use crate::reward::bfcl::{CallRule, Verdict, check, first_acceptable};
use crate::tools::ToolCall;
use crate::tools::parse::parse;
pub use items::{EvalItem, ItemKind};
pub use responder::{Oracle, Policy, Reply, Request, Responder};

/// What can go wrong in an evaluation.
#[derive(Debug, Error)]
pub enum EvalError {
    /// A category awpo does not evaluate.
    #[error("unknown BFCL category {name:?}; awpo evaluates: {known}")]
    Category {
        /// The name given.
        name: String,
        /// The known names.
        known: String,
    },
    /// A data file.
    #[error(transparent)]
    Data(#[from] DataError),
    /// The model.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The multi-turn simulator.
    #[error(transparent)]
    Env(#[from] EnvError),
    /// A results file that cannot be read or continued.
    #[error("{path}:{line}: {reason}")]
    Results {
        /// The file.
        path: std::path::PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// Anything else about the request (e.g. multi-turn items without a simulator).
    #[error("{0}")]
    Input(String),
}

/// The scored result of one item: what a person needs to see every failure.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ItemResult {
    /// Item id.
    pub id: String,
    /// Category label.
    pub category: String,
    /// BFCL's verdict (pass@k: any sample right).
    pub correct: bool,
    /// BFCL's error type when wrong.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_type: Option<String>,
    /// Why it is wrong.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The prompt text the model saw (first turn for multi-turn items; empty for the oracle).
    pub prompt: String,
    /// The reply texts (samples of a single-turn item; every message after the first turn of a
    /// multi-turn episode, as `role: content`).
    pub output: Vec<String>,
    /// Parsed calls: per sample (single-turn) or per assistant step (multi-turn).
    pub calls: Vec<Vec<ToolCall>>,
}

/// How items are answered.
#[derive(Clone, Debug)]
pub struct EvalOptions {
    /// Single-turn items per generation batch, and conversations played side by side.
    pub batch: usize,
    /// Replies per single-turn item (pass@k; 1 = greedy or one sample).
    pub samples: usize,
    /// Assistant steps allowed per user turn of a multi-turn item (BFCL: 20).
    pub max_steps: usize,
    /// The BFCL simulator (`scripts/bfcl_env.py`) for multi-turn items.
    pub env: Option<ProcessConfig>,
}

impl Default for EvalOptions {
    fn default() -> Self {
        EvalOptions { batch: 16, samples: 1, max_steps: 20, env: None }
    }
}

/// The reference answer of a single-turn item (what [`Oracle`] says). Relevance items have no
/// ground truth (any call is right): their reference is a call of the first function.
pub fn reference(item: &EvalItem) -> Vec<ToolCall> {
    let expected = item.task.answers.first().map_or(&[][..], Vec::as_slice);
    if item.kind == ItemKind::Single(CallRule::Relevance) && expected.is_empty() {
        let name = item.task.checker_functions().first().and_then(|f| f["name"].as_str());
        return name.map(|n| vec![ToolCall { name: n.to_string(), ..ToolCall::default() }]).unwrap_or_default();
    }
    first_acceptable(item.task.language, item.task.checker_functions(), expected)
}

/// Checks one reply text of a single-turn item: its parsed calls and BFCL's verdict (parse
/// problems are appended to the reason).
pub fn check_reply(item: &EvalItem, rule: CallRule, text: &str) -> (Vec<ToolCall>, Verdict) {
    let parsed = parse(text);
    let expected = item.task.answers.first().map_or(&[][..], Vec::as_slice);
    let verdict = check(rule, item.task.language, item.task.checker_functions(), &parsed.calls, expected);
    let verdict = match verdict {
        Verdict::Wrong { error_type, reason } if !parsed.issues.is_empty() => {
            Verdict::Wrong { error_type, reason: format!("{reason}; the reply's format: {:?}", parsed.issues) }
        }
        v => v,
    };
    (parsed.calls, verdict)
}

fn verdict_fields(v: &Verdict) -> (Option<String>, Option<String>) {
    match v {
        Verdict::Correct => (None, None),
        Verdict::Wrong { error_type, reason } => (Some((*error_type).to_string()), Some(reason.clone())),
        Verdict::Unsupported { reason } => (Some("unsupported".into()), Some(reason.clone())),
    }
}

/// Scores one single-turn item's replies.
pub fn score_single(item: &EvalItem, rule: CallRule, reply: Reply) -> ItemResult {
    let mut calls = Vec::with_capacity(reply.texts.len());
    let mut first_wrong = None;
    let mut correct = false;
    for text in &reply.texts {
        let (c, verdict) = check_reply(item, rule, text);
        calls.push(c);
        if verdict.is_correct() {
            correct = true;
        } else if first_wrong.is_none() {
            first_wrong = Some(verdict);
        }
    }
    let (error_type, reason) = match (correct, first_wrong) {
        (false, Some(v)) => verdict_fields(&v),
        _ => (None, None),
    };
    ItemResult {
        id: item.task.id.clone(),
        category: item.category().to_string(),
        correct,
        error_type,
        reason,
        prompt: reply.prompt,
        output: reply.texts,
        calls,
    }
}

/// Runs `items` (those already in the results are the caller's to drop), handing each result
/// to `sink` as soon as it is scored.
///
/// # Errors
/// Generation, the simulator, or the sink failed (results already handed over stay valid).
pub fn run(
    items: &[EvalItem],
    responder: &mut dyn Responder,
    opts: &EvalOptions,
    sink: &mut dyn FnMut(ItemResult) -> Result<(), EvalError>,
) -> Result<(), EvalError> {
    let mut single: Vec<(&EvalItem, CallRule)> = items
        .iter()
        .filter_map(|i| match i.kind {
            ItemKind::Single(rule) => Some((i, rule)),
            ItemKind::MultiTurn { .. } | ItemKind::Conversation => None,
        })
        .collect();
    // Similar lengths share a batch (less padding); results are keyed by id, so order is free.
    single.sort_by_key(|(i, _)| {
        i.task.messages.iter().map(|m| m.content.len()).sum::<usize>()
            + i.task.tools.iter().map(|t| t.to_string().len()).sum::<usize>()
    });
    for chunk in single.chunks(opts.batch.max(1)) {
        let references: Vec<Vec<ToolCall>> = chunk.iter().map(|(i, _)| reference(i)).collect();
        let requests: Vec<Request<'_>> = chunk
            .iter()
            .zip(&references)
            .map(|((i, _), r)| Request { messages: &i.task.messages, tools: &i.task.tools, reference: r })
            .collect();
        let replies = responder.respond(&requests, opts.samples.max(1))?;
        for ((item, rule), reply) in chunk.iter().zip(replies) {
            sink(score_single(item, *rule, reply))?;
        }
    }
    let conversations: Vec<&EvalItem> = items.iter().filter(|i| i.kind == ItemKind::Conversation).collect();
    let multi: Vec<&EvalItem> = items.iter().filter(|i| matches!(i.kind, ItemKind::MultiTurn { .. })).collect();
    if (multi.len() + conversations.len() > 0) && opts.samples > 1 {
        return Err(EvalError::Input("pass@k (--samples > 1) covers single-turn items only".into()));
    }
    for chunk in conversations.chunks(opts.batch.max(1)) {
        for result in conversation::play(chunk, responder, opts.max_steps)? {
            sink(result)?;
        }
    }
    if multi.is_empty() {
        return Ok(());
    }
    if opts.samples > 1 {
        return Err(EvalError::Input("pass@k (--samples > 1) covers single-turn categories only".into()));
    }
    let Some(env) = &opts.env else {
        return Err(EvalError::Input("multi-turn categories need BFCL's simulator (--bfcl-dir)".into()));
    };
    let mut env = crate::env::process::ProcessEnv::spawn(env)?;
    for item in multi {
        sink(multi_turn::play(&mut env, item, responder, opts.max_steps)?)?;
    }
    Ok(())
}
