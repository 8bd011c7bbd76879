//! Tool calls as data: the [`ToolCall`] a model emits and the parser from model text
//! ([`parse::parse`]). Leaf module: std + serde only; nothing here touches tensors.

pub mod parse;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One call of a tool: its name and its arguments (a JSON object).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    /// Function name as the model wrote it.
    pub name: String,
    /// Named arguments.
    pub arguments: Map<String, Value>,
}

/// The name of a tool schema, OpenAI-wrapped (`{"type": "function", "function": {"name"}}`) or
/// bare (`{"name"}`).
pub fn tool_name(tool: &Value) -> Option<&str> {
    tool.get("function").unwrap_or(tool).get("name")?.as_str()
}

/// Where `word` first occurs in `text` as a whole word: no letter, digit or `_` right before or
/// after it (a `word` that starts or ends with punctuation needs no boundary on that side).
/// Byte offset; `None` when absent or `word` is empty.
pub fn find_word(text: &str, word: &str) -> Option<usize> {
    let inner = |c: char| c.is_alphanumeric() || c == '_';
    let need_before = inner(word.chars().next()?);
    let need_after = word.chars().next_back().is_some_and(inner);
    text.match_indices(word).map(|(at, _)| at).find(|&at| {
        let before = text[..at].chars().next_back().is_some_and(inner);
        let after = text[at + word.len()..].chars().next().is_some_and(inner);
        (!need_before || !before) && (!need_after || !after)
    })
}

impl ToolCall {
    /// The Hermes/Qwen form `<tool_call>{"name": …, "arguments": …}</tool_call>`.
    pub fn render(&self) -> String {
        let body = serde_json::json!({ "name": self.name, "arguments": self.arguments });
        format!("<tool_call>\n{body}\n</tool_call>")
    }
}
