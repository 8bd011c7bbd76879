//! Chat templates: the model's own Jinja template (from `tokenizer_config.json` or a GGUF file)
//! rendered with minijinja the way Hugging Face's `apply_chat_template` renders it:
//! `trim_blocks` and `lstrip_blocks` on, Python string methods (`startswith`, `split`, `strip`…),
//! `raise_exception`, and HF's `tojson` (insertion order kept, `", "` / `": "` separators,
//! non-ASCII kept, no HTML escaping), with `messages`, `tools`, `add_generation_prompt`,
//! `bos_token`, `eos_token` and any extra keyword (e.g. `enable_thinking`) in the context.
//!
//! Key order matters to `tojson`: build the values with [`minijinja::Value`]'s deserializer from
//! JSON text (which keeps document order), not through a sorted map.

use minijinja::value::ValueKind;
use minijinja::{Environment, Error, ErrorKind, Value, context};
use thiserror::Error as ThisError;

/// A template that failed to compile or render, on one line: what went wrong and the template
/// line (`in chat:3`); [`ChatError::of`] adds the file the template came from.
#[derive(Debug, ThisError)]
#[error("chat template{origin}: {error}")]
pub struct ChatError {
    origin: String,
    #[source]
    error: Error,
}

impl From<Error> for ChatError {
    fn from(error: Error) -> Self {
        ChatError { origin: String::new(), error }
    }
}

impl ChatError {
    /// The error naming `origin` (the file the template came from; "" names none).
    #[must_use]
    pub fn of(mut self, origin: &str) -> Self {
        if !origin.is_empty() {
            self.origin = format!(" of {origin}");
        }
        self
    }
}

/// Most template instructions one render may run: a real chat template renders a long
/// conversation with tools in well under a million; a template that loops for ever (or for
/// 10^10 iterations) stops with an error instead of hanging.
pub const FUEL: u64 = 20_000_000;

/// A compiled chat template.
pub struct ChatTemplate {
    env: Environment<'static>,
    bos_token: String,
    eos_token: String,
}

/// Python's `repr` of a float (what `json.dumps` writes).
fn py_float(x: f64) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "Infinity".into() } else { "-Infinity".into() };
    }
    let exp = if x == 0.0 { 0 } else { x.abs().log10().floor() as i32 };
    if (-4..16).contains(&exp) {
        let s = x.to_string();
        if s.contains('.') { s } else { format!("{s}.0") }
    } else {
        let s = format!("{x:e}");
        let (mantissa, e) = s.split_once('e').unwrap_or((&s, "0"));
        let e: i32 = e.parse().unwrap_or(0);
        format!("{mantissa}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs())
    }
}

fn py_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `json.dumps(value, ensure_ascii=False)`.
fn py_json(v: &Value, out: &mut String) -> Result<(), Error> {
    match v.kind() {
        ValueKind::Undefined | ValueKind::None => out.push_str("null"),
        ValueKind::Bool => out.push_str(if v.is_true() { "true" } else { "false" }),
        ValueKind::Number if v.is_integer() => out.push_str(&v.to_string()),
        ValueKind::Number => out.push_str(&py_float(f64::try_from(v.clone())?)),
        ValueKind::String => py_string(v.as_str().unwrap_or_default(), out),
        ValueKind::Seq | ValueKind::Iterable => {
            out.push('[');
            for (i, item) in v.try_iter()?.enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                py_json(&item, out)?;
            }
            out.push(']');
        }
        ValueKind::Map => {
            out.push('{');
            for (i, key) in v.try_iter()?.enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                py_string(&key.to_string(), out);
                out.push_str(": ");
                py_json(&v.get_item(&key)?, out)?;
            }
            out.push('}');
        }
        other => return Err(Error::new(ErrorKind::InvalidOperation, format!("cannot serialise a {other} to JSON"))),
    }
    Ok(())
}

/// HF's `tojson` filter (`indent` is accepted and ignored only when absent).
fn tojson(v: &Value) -> Result<Value, Error> {
    let mut out = String::new();
    py_json(v, &mut out)?;
    Ok(Value::from_safe_string(out))
}

impl ChatTemplate {
    /// Compiles `source`; `bos_token` / `eos_token` are what the template sees under those names.
    ///
    /// # Errors
    /// A template that does not parse.
    pub fn new(source: &str, bos_token: &str, eos_token: &str) -> Result<Self, ChatError> {
        let mut env = Environment::new();
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.set_fuel(Some(FUEL));
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_filter("tojson", tojson);
        env.add_function("raise_exception", |msg: String| -> Result<Value, Error> {
            Err(Error::new(ErrorKind::InvalidOperation, msg))
        });
        env.add_template_owned("chat", source.to_string())?;
        Ok(ChatTemplate { env, bos_token: bos_token.into(), eos_token: eos_token.into() })
    }

    /// Whether the template reads the top-level variable `name` (e.g. `tools`).
    pub fn reads(&self, name: &str) -> bool {
        self.env.get_template("chat").is_ok_and(|t| t.undeclared_variables(false).contains(name))
    }

    /// Renders a conversation. `messages` is a list of `{role, content, …}` maps, `tools` a list
    /// of JSON Schema tools (or none), `extra` more keywords (`enable_thinking`, …).
    ///
    /// # Errors
    /// The template raises or reads something that is not there.
    pub fn render(
        &self,
        messages: &Value,
        tools: Option<&Value>,
        add_generation_prompt: bool,
        extra: &[(&str, Value)],
    ) -> Result<String, ChatError> {
        let mut ctx: Vec<(String, Value)> = extra.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
        ctx.extend([
            ("messages".to_string(), messages.clone()),
            ("tools".to_string(), tools.cloned().unwrap_or(Value::from(()))),
            ("add_generation_prompt".to_string(), Value::from(add_generation_prompt)),
            ("bos_token".to_string(), Value::from(self.bos_token.clone())),
            ("eos_token".to_string(), Value::from(self.eos_token.clone())),
        ]);
        let ctx = Value::from_iter(ctx);
        Ok(self.env.get_template("chat")?.render(context! { ..ctx })?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_json_formatting() {
        let v: Value =
            serde_json::from_str(r#"{"b": 1, "a": [1.0, 0.00001, 1e16, "é\n\"<&'"], "n": null}"#).expect("json");
        let mut out = String::new();
        py_json(&v, &mut out).expect("serialises");
        assert_eq!(out, r#"{"b": 1, "a": [1.0, 1e-05, 1e+16, "é\n\"<&'"], "n": null}"#);
    }
}
