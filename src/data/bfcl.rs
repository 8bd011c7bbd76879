//! BFCL v4 single-turn items from an unpacked `bfcl-eval` data folder (`scripts/fetch-assets.sh
//! bfcl`): `BFCL_v4_<category>.json` (questions + function schemas) joined by `id` with
//! `possible_answer/BFCL_v4_<category>.json` (acceptable values). Both files are JSON lines.

use std::path::Path;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::answer::{ExpectedCall, Language};
use super::error::DataError;
use super::schema::bfcl_tool;
use super::task::{Role, Task};

/// One message of a question.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Message {
    /// `system`, `user`, …
    pub role: String,
    /// Text.
    pub content: String,
}

/// One BFCL item.
#[derive(Clone, Debug, PartialEq)]
pub struct Item {
    /// E.g. `simple_python_0`.
    pub id: String,
    /// Turns of messages (single-turn categories have one).
    pub question: Vec<Vec<Message>>,
    /// Function schemas as BFCL writes them (BFCL type names: `dict`, `float`, `tuple`, `any`).
    pub functions: Vec<Value>,
    /// Expected calls; empty for categories without possible answers (irrelevance).
    pub expected: Vec<ExpectedCall>,
}

impl Item {
    /// The item in the project's task format: the first turn's messages, the tools as BFCL's
    /// prompt shows them (JSON Schema, language hints), BFCL's own docs for the checker.
    pub fn to_task(&self, category: &str) -> Task {
        let language = Language::of_category(category);
        let messages = self.question.first().into_iter().flatten().map(|m| super::task::Message {
            role: match m.role.as_str() {
                "system" => Role::System,
                "assistant" => Role::Assistant,
                "tool" => Role::Tool,
                _ => Role::User,
            },
            content: m.content.clone(),
        });
        Task {
            id: self.id.clone(),
            messages: messages.collect(),
            tools: self.functions.iter().map(|f| bfcl_tool(f, language)).collect(),
            answers: vec![self.expected.clone()],
            followups: Vec::new(),
            language,
            checker_functions: Some(self.functions.clone()),
            category: Some(category.to_string()),
        }
    }
}

#[derive(Deserialize)]
struct RawItem {
    id: String,
    question: Vec<Vec<Message>>,
    function: Vec<Value>,
}

#[derive(Deserialize)]
struct RawAnswer {
    id: String,
    ground_truth: Vec<Map<String, Value>>,
}

/// The non-blank lines of a JSON-lines file with their 1-based numbers.
///
/// # Errors
/// An unreadable file, or the first line that is not UTF-8.
pub(crate) fn lines(path: &Path) -> Result<Vec<(usize, String)>, DataError> {
    super::lines::read(path)?.into_iter().map(|(n, line)| Ok((n, line?))).collect()
}

/// One line as `T`; an error names the file, line and `record`.
pub(crate) fn parse_line<T: for<'de> Deserialize<'de>>(path: &Path, line: usize, text: &str) -> Result<T, DataError> {
    serde_json::from_str(text).map_err(|e| DataError::Line {
        path: path.to_path_buf(),
        line,
        field: "record".into(),
        reason: e.to_string(),
    })
}

/// Loads `category` (e.g. `simple_python`) from the `bfcl_eval/data` folder `dir`.
///
/// # Errors
/// Unreadable files, malformed lines (with file, line and field), answers without a question.
pub fn load(dir: &Path, category: &str) -> Result<Vec<Item>, DataError> {
    let questions = dir.join(format!("BFCL_v4_{category}.json"));
    let mut items = Vec::new();
    for (line, text) in lines(&questions)? {
        let raw: RawItem = parse_line(&questions, line, &text)?;
        items.push(Item { id: raw.id, question: raw.question, functions: raw.function, expected: Vec::new() });
    }
    let answers = dir.join("possible_answer").join(format!("BFCL_v4_{category}.json"));
    if !answers.exists() {
        return Ok(items);
    }
    let index: std::collections::HashMap<String, usize> =
        items.iter().enumerate().map(|(i, item)| (item.id.clone(), i)).collect();
    for (line, text) in lines(&answers)? {
        let raw: RawAnswer = parse_line(&answers, line, &text)?;
        let Some(&i) = index.get(&raw.id) else {
            return Err(DataError::Orphan { path: answers, line, id: raw.id });
        };
        for call in raw.ground_truth {
            let mut entries = call.into_iter();
            let (Some((name, Value::Object(args))), None) = (entries.next(), entries.next()) else {
                let reason = "each ground_truth entry must be {function: {argument: [values]}}".to_string();
                return Err(DataError::Line { path: answers, line, field: "ground_truth".into(), reason });
            };
            items[i].expected.push((name, args));
        }
    }
    Ok(items)
}
