//! Prompts from conversations: the model's own chat template with the tool schemas passed as
//! Hugging Face passes them (`tools=[…]`) when the template reads `tools`, or written into the
//! system message when it does not (SmolLM2's template has no tools branch). Where they go and
//! the system text are configurable (`[prompt]`).

use minijinja::{Error, ErrorKind, Value};
use serde::{Deserialize, Serialize};

use crate::chat::{ChatError, ChatTemplate};
use crate::data::task::{Message, Role};
use crate::tokenizer::TextTokenizer;

/// Where tool schemas go.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum ToolsIn {
    /// `template` when the chat template reads `tools`, else `system`.
    #[default]
    Auto,
    /// The template's own tools branch (`tools=` as Hugging Face passes it).
    Template,
    /// Written into the system message with `tool_system_prompt`.
    System,
}

/// The default system text for templates without a tools branch: the Hermes / Qwen2.5 wording,
/// so the model answers with the same `<tool_call>` JSON that the parser reads.
pub const TOOL_SYSTEM_PROMPT: &str = "You are a function calling AI model. You may call one or more \
functions to assist with the user query.\n\nYou are provided with function signatures within \
<tools></tools> XML tags:\n<tools>\n{tools}\n</tools>\n\nFor each function call, return a json \
object with function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n\
{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call>";

/// `[prompt]` keys.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PromptConfig {
    /// Where tool schemas go: auto, template or system.
    pub tools_in: ToolsIn,
    /// System text when tools go into the system message; `{tools}` becomes the schemas, one JSON
    /// object per line. An existing system message is kept, followed by a blank line and this.
    pub tool_system_prompt: String,
    /// Qwen3's `enable_thinking` keyword (templates that do not read it ignore it).
    pub enable_thinking: bool,
}

impl Default for PromptConfig {
    fn default() -> Self {
        PromptConfig { tools_in: ToolsIn::Auto, tool_system_prompt: TOOL_SYSTEM_PROMPT.into(), enable_thinking: true }
    }
}

impl PromptConfig {
    /// Every invalid key.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        if self.tools_in != ToolsIn::Template && !self.tool_system_prompt.contains("{tools}") {
            return vec![("prompt.tool_system_prompt", "must contain {tools}, where the schemas go".into())];
        }
        Vec::new()
    }
}

/// A model's way of turning conversations into prompt text.
pub struct Prompter {
    template: ChatTemplate,
    tools_in_template: bool,
    cfg: PromptConfig,
    /// Where the template came from (named in errors).
    origin: String,
}

impl Prompter {
    /// The tokenizer's chat template under `cfg`.
    ///
    /// # Errors
    /// No template, or one that does not compile.
    pub fn new(tokenizer: &TextTokenizer, cfg: &PromptConfig) -> Result<Self, ChatError> {
        let origin = tokenizer.template_origin.clone();
        let source = tokenizer.chat_template.as_deref().ok_or_else(|| {
            ChatError::from(Error::new(
                ErrorKind::InvalidOperation,
                "the model has no chat template (tokenizer_config.json `chat_template` or GGUF \
                 `tokenizer.chat_template`)",
            ))
            .of(&origin)
        })?;
        let template =
            ChatTemplate::new(source, &tokenizer.bos_token, &tokenizer.eos_token).map_err(|e| e.of(&origin))?;
        let tools_in_template = match cfg.tools_in {
            ToolsIn::Auto => template.reads("tools"),
            ToolsIn::Template => true,
            ToolsIn::System => false,
        };
        Ok(Prompter { template, tools_in_template, cfg: cfg.clone(), origin })
    }

    /// Whether tool schemas go through the template's own tools branch.
    pub fn tools_in_template(&self) -> bool {
        self.tools_in_template
    }

    /// The prompt text of `messages` offering `tools` (JSON Schema tools; none: no tools block).
    ///
    /// # Errors
    /// The template raises or fails.
    pub fn render(
        &self,
        messages: &[Message],
        tools: &[serde_json::Value],
        add_generation_prompt: bool,
    ) -> Result<String, ChatError> {
        let extra = [("enable_thinking", Value::from(self.cfg.enable_thinking))];
        // Templates receive tools as Hugging Face passes them: `{"type": "function", "function": …}`.
        let wrapped: Vec<serde_json::Value> = tools
            .iter()
            .map(|t| {
                if t.get("function").is_some() {
                    t.clone()
                } else {
                    serde_json::json!({"type": "function", "function": t})
                }
            })
            .collect();
        let tools = &wrapped[..];
        if tools.is_empty() || self.tools_in_template {
            let tools = (!tools.is_empty()).then(|| Value::from_serialize(tools));
            return self
                .template
                .render(&Value::from_serialize(messages), tools.as_ref(), add_generation_prompt, &extra)
                .map_err(|e| e.of(&self.origin));
        }
        let schemas: Vec<String> = tools.iter().map(serde_json::Value::to_string).collect();
        let block = self.cfg.tool_system_prompt.replace("{tools}", &schemas.join("\n"));
        let mut with_tools = messages.to_vec();
        match with_tools.first_mut() {
            Some(first) if first.role == Role::System => first.content = format!("{}\n\n{block}", first.content),
            _ => with_tools.insert(0, Message { role: Role::System, content: block }),
        }
        self.template
            .render(&Value::from_serialize(&with_tools), None, add_generation_prompt, &extra)
            .map_err(|e| e.of(&self.origin))
    }
}
