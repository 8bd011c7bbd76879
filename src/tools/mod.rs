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

impl ToolCall {
    /// The Hermes/Qwen form `<tool_call>{"name": …, "arguments": …}</tool_call>`.
    pub fn render(&self) -> String {
        let body = serde_json::json!({ "name": self.name, "arguments": self.arguments });
        format!("<tool_call>\n{body}\n</tool_call>")
    }
}
