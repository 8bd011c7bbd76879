//! What an evaluation runs on: BFCL v4 categories (single-turn from `bfcl_eval/data`, multi-turn
//! with their function docs from `multi_turn_func_doc/`), a JSONL task file, or the built-in
//! held-out split. Every item becomes an [`EvalItem`]: a [`Task`] plus how it is scored.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::EvalError;
use crate::data::task::{self, Task};
use crate::data::{DataError, bfcl};
use crate::reward::bfcl::{CallRule, Language};
use crate::synth::{self, Split};

/// BFCL v4 single-turn categories awpo scores with its AST checker.
pub const SINGLE_TURN: [&str; 13] = [
    "simple_python",
    "simple_java",
    "simple_javascript",
    "multiple",
    "parallel",
    "parallel_multiple",
    "irrelevance",
    "live_simple",
    "live_multiple",
    "live_parallel",
    "live_parallel_multiple",
    "live_irrelevance",
    "live_relevance",
];

/// BFCL v4 multi-turn categories awpo runs through BFCL's own simulators.
pub const MULTI_TURN: [&str; 4] =
    ["multi_turn_base", "multi_turn_miss_param", "multi_turn_miss_func", "multi_turn_long_context"];

/// The categories `--categories` takes when none are named: BFCL's non-live AST set.
pub const DEFAULT_CATEGORIES: [&str; 5] = ["simple_python", "multiple", "parallel", "parallel_multiple", "irrelevance"];

/// BFCL's class → function-doc file (`bfcl_eval/constants/executable_backend_config.py`).
const FUNC_DOCS: [(&str, &str); 9] = [
    ("GorillaFileSystem", "gorilla_file_system.json"),
    ("MathAPI", "math_api.json"),
    ("MessageAPI", "message_api.json"),
    ("TwitterAPI", "posting_api.json"),
    ("TicketAPI", "ticket_api.json"),
    ("TradingBot", "trading_bot.json"),
    ("TravelAPI", "travel_booking.json"),
    ("VehicleControlAPI", "vehicle_control.json"),
    ("WebSearchAPI", "web_search.json"),
];

/// How an item is played.
#[derive(Clone, Debug, PartialEq)]
pub enum ItemKind {
    /// One assistant reply, checked by the AST checker under this rule.
    Single(CallRule),
    /// Turn by turn against BFCL's simulators; the functions BFCL holds back until a turn
    /// (`multi_turn_miss_func`) are listed by that turn.
    MultiTurn {
        /// Turn index → function docs added at that turn.
        held_back: BTreeMap<usize, Vec<Value>>,
    },
    /// A task file's multi-turn task (`followups`): turn by turn, on the built-in tools when it
    /// lists only those, each turn checked by the AST checker ([`super::conversation`]).
    Conversation,
}

/// One evaluation item.
#[derive(Clone, Debug, PartialEq)]
pub struct EvalItem {
    /// Id, first-turn messages, tools shown to the model, expected calls, checker schemas and
    /// category (the label results are grouped by).
    pub task: Task,
    /// How it is played and scored.
    pub kind: ItemKind,
}

impl EvalItem {
    /// The category label.
    pub fn category(&self) -> &str {
        self.task.category.as_deref().unwrap_or("tasks")
    }
}

/// Where BFCL's data lives: `dir` may be an unpacked wheel (holding `bfcl_eval/data`) or the
/// data folder itself. Returns the data folder.
pub fn bfcl_data_dir(dir: &Path) -> PathBuf {
    let nested = dir.join("bfcl_eval").join("data");
    if nested.is_dir() { nested } else { dir.to_path_buf() }
}

/// Loads BFCL v4 `categories` from the data folder `dir`.
///
/// # Errors
/// An unknown category (the message lists the known ones), unreadable or malformed files.
pub fn bfcl_items(dir: &Path, categories: &[String]) -> Result<Vec<EvalItem>, EvalError> {
    let mut items = Vec::new();
    for category in categories {
        let category = category.as_str();
        if SINGLE_TURN.contains(&category) {
            let rule = CallRule::of_category(category);
            for item in bfcl::load(dir, category)? {
                items.push(EvalItem { task: item.to_task(category), kind: ItemKind::Single(rule) });
            }
        } else if MULTI_TURN.contains(&category) {
            items.extend(multi_turn_items(dir, category)?);
        } else {
            let known: Vec<&str> = SINGLE_TURN.iter().chain(&MULTI_TURN).copied().collect();
            return Err(EvalError::Category { name: category.to_string(), known: known.join(", ") });
        }
    }
    Ok(items)
}

/// Every record of a JSON-lines file, with its line number.
fn read_jsonl(path: &Path) -> Result<Vec<(usize, Value)>, DataError> {
    bfcl::lines(path)?.into_iter().map(|(line, text)| Ok((line, bfcl::parse_line(path, line, &text)?))).collect()
}

fn field_error(path: &Path, line: usize, field: &str, reason: &str) -> DataError {
    DataError::Line { path: path.to_path_buf(), line, field: field.into(), reason: reason.into() }
}

/// Multi-turn entries: the functions of their involved classes (less `excluded_function`),
/// with `missed_function` held back until its turn. The simulator holds the rest of the entry.
fn multi_turn_items(dir: &Path, category: &str) -> Result<Vec<EvalItem>, EvalError> {
    let path = dir.join(format!("BFCL_v4_{category}.json"));
    let mut docs: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
    let mut items = Vec::new();
    for (line, entry) in read_jsonl(&path)? {
        let id = entry["id"].as_str().ok_or_else(|| field_error(&path, line, "id", "not a string"))?;
        let classes = entry["involved_classes"]
            .as_array()
            .ok_or_else(|| field_error(&path, line, "involved_classes", "not a list"))?;
        let names = |key: &str| -> Vec<String> {
            entry[key].as_array().into_iter().flatten().filter_map(Value::as_str).map(str::to_string).collect()
        };
        let excluded = names("excluded_function");
        let mut missed: BTreeMap<usize, Vec<String>> = BTreeMap::new();
        for (turn, list) in entry["missed_function"].as_object().into_iter().flatten() {
            let turn: usize =
                turn.parse().map_err(|_| field_error(&path, line, "missed_function", "turn keys must be numbers"))?;
            let list = list.as_array().into_iter().flatten().filter_map(Value::as_str).map(str::to_string);
            missed.entry(turn).or_default().extend(list);
        }
        let mut tools = Vec::new();
        let mut held_back: BTreeMap<usize, Vec<Value>> = BTreeMap::new();
        for class in classes.iter().filter_map(Value::as_str) {
            let Some((_, file)) = FUNC_DOCS.iter().find(|(c, _)| *c == class) else {
                let reason = format!("class {class} has no function docs awpo knows");
                return Err(EvalError::Data(field_error(&path, line, "involved_classes", &reason)));
            };
            if !docs.contains_key(file) {
                let records = read_jsonl(&dir.join("multi_turn_func_doc").join(file))?;
                docs.insert(file, records.into_iter().map(|(_, doc)| doc).collect());
            }
            for doc in docs.get(file).into_iter().flatten() {
                let name = doc["name"].as_str().unwrap_or_default();
                if excluded.iter().any(|e| e == name) {
                    continue;
                }
                match missed.iter().find(|(_, names)| names.iter().any(|n| n == name)) {
                    Some((turn, _)) => held_back.entry(*turn).or_default().push(doc.clone()),
                    None => tools.push(doc.clone()),
                }
            }
        }
        let first: Vec<task::Message> = serde_json::from_value(entry["question"][0].clone())
            .map_err(|e| field_error(&path, line, "question", &e.to_string()))?;
        let task = Task {
            id: id.to_string(),
            messages: first,
            tools: tools.iter().map(|f| crate::data::schema::bfcl_tool(f, Language::Python)).collect(),
            checker_functions: Some(tools),
            category: Some(category.to_string()),
            ..Task::default()
        };
        let held_back = held_back
            .into_iter()
            .map(|(turn, fs)| (turn, fs.iter().map(|f| crate::data::schema::bfcl_tool(f, Language::Python)).collect()))
            .collect();
        items.push(EvalItem { task, kind: ItemKind::MultiTurn { held_back } });
    }
    Ok(items)
}

/// A JSONL task file: a task with follow-ups is a conversation, any other a single reply.
///
/// # Errors
/// As [`task::load`].
pub fn task_items(path: &Path) -> Result<Vec<EvalItem>, EvalError> {
    let loaded = task::load(path, false)?;
    Ok(loaded.tasks.into_iter().map(single).collect())
}

/// The built-in held-out split `awpo train` measures (seed, size and tools listed as its
/// `[data]`), grouped by tool (`builtin/calculator`…; `builtin/multi` for tasks of several calls).
pub fn builtin_items(seed: u64, n: usize, tools: usize) -> Vec<EvalItem> {
    synth::fewer_tools(synth::tasks(seed, Split::HeldOut, n), tools, seed)
        .into_iter()
        .map(|mut t| {
            let calls = t.answers.first().map_or(&[][..], Vec::as_slice);
            let label = match calls {
                [(name, _)] => name.clone(),
                [] => "none".into(),
                _ => "multi".into(),
            };
            t.category = Some(format!("builtin/{label}"));
            single(t)
        })
        .collect()
}

/// A task scored by the rule its expected calls imply (as the trainer's outcome reward does);
/// with follow-ups, a conversation.
fn single(task: Task) -> EvalItem {
    if !task.followups.is_empty() {
        return EvalItem { task, kind: ItemKind::Conversation };
    }
    let expected = task.answers.first().map_or(0, Vec::len);
    let rule = CallRule::of_expected(expected, task.checker_functions().len());
    EvalItem { task, kind: ItemKind::Single(rule) }
}
