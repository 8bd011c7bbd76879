//! The task format: JSON lines, close to what people already have (OpenAI / HF `messages` and
//! `tools`), plus the expected calls of each assistant turn with BFCL-style acceptable values.
//!
//! ```json
//! {"id": "weather-1",
//!  "messages": [{"role": "user", "content": "Weather in Paris, in celsius?"}],
//!  "tools": [{"type": "function", "function": {"name": "get_weather", "description": "…",
//!             "parameters": {"type": "object", "properties": {"city": {"type": "string"},
//!                            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
//!                            "required": ["city"]}}}],
//!  "answers": [[{"name": "get_weather", "arguments": {"city": ["Paris", "Paris, France"],
//!                                                     "unit": ["celsius", ""]}}]]}
//! ```
//!
//! - `role`: `system`, `user`, `assistant` or `tool`; `content`: a string.
//! - `tools`: OpenAI's `{"type": "function", "function": {…}}` or the bare `{"name", …}`;
//!   `parameters` is JSON Schema (an object).
//! - `answers`: one list per assistant turn; each call lists every argument's acceptable values;
//!   `""` among them means the argument may be left out; an empty turn means no call is right.
//! - Optional: `followups`, later user messages of a multi-turn task: `followups[k]` is sent
//!   when the model ends user turn `k` with a message without calls, and `answers[k + 1]` are
//!   its expected calls (so `answers` has one list more than `followups`); `language` (`python`, default; `java` / `javascript` when arguments are source
//!   strings, as in BFCL), `checker_functions` (BFCL-typed schemas the checker reads instead of
//!   `tools`, as BFCL's prompts and checker use different schemas), `category` (a label).
//!
//! A malformed line is an error naming the file, line and field; with `skip_bad_lines` it is
//! skipped and returned among [`Loaded::skipped`] so the caller can warn with a count.

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::answer::{ExpectedCall, Language};
use super::error::DataError;

/// Who speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Instructions.
    System,
    /// The person.
    User,
    /// The model.
    Assistant,
    /// A tool's result.
    Tool,
}

/// One chat message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Who speaks.
    pub role: Role,
    /// What is said.
    pub content: String,
}

impl Message {
    /// `role: content`, as transcripts show it.
    pub fn shown(&self) -> String {
        let role = match self.role {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => "tool",
        };
        format!("{role}: {}", self.content)
    }
}

/// One task.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Task {
    /// Unique within its file.
    pub id: String,
    /// The conversation up to the first assistant turn.
    pub messages: Vec<Message>,
    /// Tool schemas shown to the model: `{name, description, parameters}` (JSON Schema).
    pub tools: Vec<Value>,
    /// Expected calls per user turn: `answers[0]` for the request in `messages`, `answers[k]`
    /// for `followups[k - 1]`.
    pub answers: Vec<Vec<ExpectedCall>>,
    /// Later user messages, each sent when the model ends the turn before it without calls.
    pub followups: Vec<String>,
    /// Literal language of call arguments.
    pub language: Language,
    /// Schemas the checker reads, when they differ from `tools` (BFCL).
    pub checker_functions: Option<Vec<Value>>,
    /// A free label (e.g. the BFCL category).
    pub category: Option<String>,
}

impl Task {
    /// The schemas the outcome checker reads.
    pub fn checker_functions(&self) -> &[Value] {
        self.checker_functions.as_deref().unwrap_or(&self.tools)
    }

    /// The task as one JSON line of this format (parses back to an equal task).
    pub fn to_json(&self) -> Value {
        let answers: Vec<Vec<Value>> = self
            .answers
            .iter()
            .map(|turn| turn.iter().map(|(name, args)| json!({"name": name, "arguments": args})).collect())
            .collect();
        let mut out = json!({"id": self.id, "messages": self.messages, "tools": self.tools, "answers": answers});
        let language = match self.language {
            Language::Python => None,
            Language::Java => Some("java"),
            Language::JavaScript => Some("javascript"),
        };
        let extra = [
            ("language", language.map(Value::from)),
            ("checker_functions", self.checker_functions.clone().map(Value::from)),
            ("category", self.category.clone().map(Value::from)),
            ("followups", Some(self.followups.clone()).filter(|f| !f.is_empty()).map(Value::from)),
        ];
        for (key, value) in extra {
            if let (Some(v), Some(map)) = (value, out.as_object_mut()) {
                map.insert(key.to_string(), v);
            }
        }
        out
    }
}

/// The tasks of a file, and the bad lines skipped when asked to.
#[derive(Debug)]
pub struct Loaded {
    /// Good tasks in file order.
    pub tasks: Vec<Task>,
    /// The error of every skipped line.
    pub skipped: Vec<DataError>,
}

/// Loads a JSONL task file.
///
/// # Errors
/// Unreadable file; the first malformed line (unless `skip_bad_lines`); a file with no task.
pub fn load(path: &Path, skip_bad_lines: bool) -> Result<Loaded, DataError> {
    let mut loaded = Loaded { tasks: Vec::new(), skipped: Vec::new() };
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (line, raw) in super::lines::read(path)? {
        let bad = |field: String, reason: String| DataError::Line { path: path.to_path_buf(), line, field, reason };
        let parsed = raw.and_then(|raw| parse_line(&raw).map_err(|(f, r)| bad(f, r))).and_then(|task| {
            match seen.get(&task.id) {
                Some(first) => Err(bad("id".into(), format!("{:?} already used on line {first}", task.id))),
                None => Ok(task),
            }
        });
        match parsed {
            Ok(task) => {
                seen.insert(task.id.clone(), line);
                loaded.tasks.push(task);
            }
            Err(e) if skip_bad_lines => loaded.skipped.push(e),
            Err(e) => return Err(e),
        }
    }
    if loaded.tasks.is_empty() {
        return Err(DataError::Empty { path: path.to_path_buf(), skipped: loaded.skipped.len() });
    }
    Ok(loaded)
}

type FieldError = (String, String);

fn field<'a>(obj: &'a Map<String, Value>, key: &str, path: &str) -> Result<&'a Value, FieldError> {
    obj.get(key).ok_or_else(|| (join(path, key), "missing".to_string()))
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() { key.to_string() } else { format!("{path}.{key}") }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn string(v: &Value, path: &str) -> Result<String, FieldError> {
    v.as_str().map(str::to_string).ok_or_else(|| (path.to_string(), format!("expected a string, found {}", kind(v))))
}

fn array<'a>(v: &'a Value, path: &str) -> Result<&'a Vec<Value>, FieldError> {
    v.as_array().ok_or_else(|| (path.to_string(), format!("expected an array, found {}", kind(v))))
}

fn object<'a>(v: &'a Value, path: &str) -> Result<&'a Map<String, Value>, FieldError> {
    v.as_object().ok_or_else(|| (path.to_string(), format!("expected an object, found {}", kind(v))))
}

fn parse_line(raw: &str) -> Result<Task, FieldError> {
    let value: Value = serde_json::from_str(raw).map_err(|e| ("(line)".to_string(), format!("not JSON: {e}")))?;
    let top = object(&value, "(line)")?;
    let known = ["id", "messages", "tools", "answers", "followups", "language", "checker_functions", "category"];
    if let Some(unknown) = top.keys().find(|k| !known.contains(&k.as_str())) {
        return Err((unknown.clone(), format!("unknown field (expected one of {})", known.join(", "))));
    }
    let id = string(field(top, "id", "")?, "id")?;
    let mut messages = Vec::new();
    for (i, m) in array(field(top, "messages", "")?, "messages")?.iter().enumerate() {
        let path = format!("messages[{i}]");
        let m = object(m, &path)?;
        let role_path = join(&path, "role");
        let role = match string(field(m, "role", &path)?, &role_path)?.as_str() {
            "system" => Role::System,
            "user" => Role::User,
            "assistant" => Role::Assistant,
            "tool" => Role::Tool,
            other => return Err((role_path, format!("{other:?} is not one of system, user, assistant, tool"))),
        };
        let content = string(field(m, "content", &path)?, &join(&path, "content"))?;
        messages.push(Message { role, content });
    }
    if messages.is_empty() {
        return Err(("messages".into(), "empty: a task needs at least one message".into()));
    }
    let tools = tool_list(field(top, "tools", "")?, "tools")?;
    let mut answers = Vec::new();
    for (t, turn) in array(field(top, "answers", "")?, "answers")?.iter().enumerate() {
        let mut calls = Vec::new();
        for (c, call) in array(turn, &format!("answers[{t}]"))?.iter().enumerate() {
            let path = format!("answers[{t}][{c}]");
            let call = object(call, &path)?;
            let name = string(field(call, "name", &path)?, &join(&path, "name"))?;
            let args_path = join(&path, "arguments");
            let args = object(field(call, "arguments", &path)?, &args_path)?;
            for (k, acceptable) in args {
                array(acceptable, &join(&args_path, k))?;
            }
            if !tools.iter().any(|t| t["name"] == name.as_str()) {
                return Err((join(&path, "name"), format!("{name:?} is not among the task's tools")));
            }
            calls.push((name, args.clone()));
        }
        answers.push(calls);
    }
    let language = match top.get("language").map(|v| string(v, "language")).transpose()?.as_deref() {
        None | Some("python") => Language::Python,
        Some("java") => Language::Java,
        Some("javascript") => Language::JavaScript,
        Some(other) => return Err(("language".into(), format!("{other:?} is not one of python, java, javascript"))),
    };
    let checker_functions = top.get("checker_functions").map(|v| tool_list(v, "checker_functions")).transpose()?;
    let category = top.get("category").map(|v| string(v, "category")).transpose()?;
    let mut followups = Vec::new();
    if let Some(list) = top.get("followups") {
        for (i, f) in array(list, "followups")?.iter().enumerate() {
            followups.push(string(f, &format!("followups[{i}]"))?);
        }
        if answers.len() != followups.len() + 1 {
            let (n, m) = (followups.len(), answers.len());
            return Err(("followups".into(), format!("{n} follow-ups need {} answer turns, found {m}", n + 1)));
        }
    }
    Ok(Task { id, messages, tools, answers, followups, language, checker_functions, category })
}

/// A list of function schemas, unwrapped from OpenAI's `{"type": "function", "function": …}`.
fn tool_list(v: &Value, path: &str) -> Result<Vec<Value>, FieldError> {
    let mut out = Vec::new();
    for (i, tool) in array(v, path)?.iter().enumerate() {
        let mut path = format!("{path}[{i}]");
        let mut f = object(tool, &path)?;
        if let Some(inner) = f.get("function") {
            path = join(&path, "function");
            f = object(inner, &path)?;
        }
        string(field(f, "name", &path)?, &join(&path, "name"))?;
        object(field(f, "parameters", &path)?, &join(&path, "parameters"))?;
        out.push(Value::Object(f.clone()));
    }
    Ok(out)
}
