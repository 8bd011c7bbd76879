//! Built-in deterministic tools, run in process: `calculator`, `convert_units`, a key-value
//! store (`kv_set`, `kv_get`, `kv_delete`) and a small file system (`fs_write`, `fs_read`,
//! `fs_list`, `fs_delete`). State lives for one episode. A bad call is a result the model sees
//! (`error: …`), not an environment failure. [`tools`] gives their JSON Schemas for prompts.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::{EnvError, Environment, Step};
use crate::data::task::{Message, Role, Task};
use crate::tools::{ToolCall, tool_name};

/// The built-in tools' JSON Schemas (`{"type": "function", "function": {…}}`).
pub fn tools() -> Vec<Value> {
    let tool = |name: &str, description: &str, props: Value, required: &[&str]| {
        json!({"type": "function", "function": {"name": name, "description": description,
            "parameters": {"type": "object", "properties": props, "required": required}}})
    };
    let s = |d: &str| json!({"type": "string", "description": d});
    vec![
        tool(
            "calculator",
            "Evaluate an arithmetic expression (+ - * / ^, parentheses).",
            json!({"expression": s("e.g. (2 + 3) * 4")}),
            &["expression"],
        ),
        tool(
            "convert_units",
            "Convert a value between units of length (m, km, cm, mm, mi, ft, in), mass (kg, g, lb, oz), temperature (c, f, k) or time (s, min, h, day).",
            json!({"value": {"type": "number"}, "from_unit": s("unit of value"), "to_unit": s("unit wanted")}),
            &["value", "from_unit", "to_unit"],
        ),
        tool("kv_set", "Store a value under a key.", json!({"key": s("key"), "value": s("value")}), &["key", "value"]),
        tool("kv_get", "Read the value stored under a key.", json!({"key": s("key")}), &["key"]),
        tool("kv_delete", "Delete a key.", json!({"key": s("key")}), &["key"]),
        tool(
            "fs_write",
            "Write a text file (created or replaced).",
            json!({"path": s("file path"), "content": s("text")}),
            &["path", "content"],
        ),
        tool("fs_read", "Read a text file.", json!({"path": s("file path")}), &["path"]),
        tool(
            "fs_list",
            "List the files under a directory (\"\" or \"/\" for all).",
            json!({"dir": s("directory")}),
            &[],
        ),
        tool("fs_delete", "Delete a file.", json!({"path": s("file path")}), &["path"]),
    ]
}

/// Deepest nesting of parentheses, signs and powers [`calculate`] evaluates; deeper is an error
/// (the parser recurses once per level, so model output like `((((…` must not exhaust the stack).
pub const MAX_DEPTH: usize = 200;

/// Evaluates `+ - * / ^` and parentheses over decimal numbers.
///
/// # Errors
/// The text the model sees: a syntax error, nesting deeper than [`MAX_DEPTH`], a non-finite result.
pub fn calculate(expr: &str) -> Result<f64, String> {
    let chars: Vec<char> = expr.chars().filter(|c| !c.is_whitespace()).collect();
    let mut p = Calc { s: &chars, i: 0, depth: 0 };
    let v = p.sum()?;
    if p.i != chars.len() {
        return Err(format!("unexpected {:?} at {}", chars[p.i], p.i));
    }
    if v.is_finite() { Ok(v) } else { Err("the result is not finite (division by zero?)".into()) }
}

struct Calc<'a> {
    s: &'a [char],
    i: usize,
    depth: usize,
}

impl Calc<'_> {
    fn peek(&self) -> Option<char> {
        self.s.get(self.i).copied()
    }
    /// Runs `f` one nesting level deeper, refusing to go past [`MAX_DEPTH`].
    fn nested(&mut self, f: impl FnOnce(&mut Self) -> Result<f64, String>) -> Result<f64, String> {
        if self.depth >= MAX_DEPTH {
            return Err(format!("nested more than {MAX_DEPTH} levels deep at {}", self.i));
        }
        self.depth += 1;
        let v = f(self);
        self.depth -= 1;
        v
    }
    fn sum(&mut self) -> Result<f64, String> {
        let mut v = self.product()?;
        while let Some(op @ ('+' | '-')) = self.peek() {
            self.i += 1;
            let r = self.product()?;
            v = if op == '+' { v + r } else { v - r };
        }
        Ok(v)
    }
    fn product(&mut self) -> Result<f64, String> {
        let mut v = self.power()?;
        while let Some(op @ ('*' | '/')) = self.peek() {
            self.i += 1;
            let r = self.power()?;
            v = if op == '*' { v * r } else { v / r };
        }
        Ok(v)
    }
    fn power(&mut self) -> Result<f64, String> {
        let base = self.unary()?;
        if self.peek() == Some('^') {
            self.i += 1;
            return Ok(base.powf(self.nested(Self::power)?));
        }
        Ok(base)
    }
    fn unary(&mut self) -> Result<f64, String> {
        match self.peek() {
            Some('-') => {
                self.i += 1;
                Ok(-self.nested(Self::unary)?)
            }
            Some('(') => {
                self.i += 1;
                let v = self.nested(Self::sum)?;
                if self.peek() != Some(')') {
                    return Err("missing )".into());
                }
                self.i += 1;
                Ok(v)
            }
            _ => {
                let start = self.i;
                while self.peek().is_some_and(|c| c.is_ascii_digit() || c == '.') {
                    self.i += 1;
                }
                let text: String = self.s[start..self.i].iter().collect();
                text.parse().map_err(|_| match self.peek() {
                    Some(c) if text.is_empty() => format!("unexpected {c:?} at {start}"),
                    _ if text.is_empty() => "unexpected end".into(),
                    _ => format!("bad number {text:?}"),
                })
            }
        }
    }
}

/// `value` in `from` expressed in `to`.
pub fn convert(value: f64, from: &str, to: &str) -> Result<f64, String> {
    let (from, to) = (from.trim().to_lowercase(), to.trim().to_lowercase());
    let temp = |u: &str| matches!(u, "c" | "f" | "k");
    if temp(&from) || temp(&to) {
        let kelvin = match from.as_str() {
            "c" => value + 273.15,
            "f" => (value - 32.0) * 5.0 / 9.0 + 273.15,
            "k" => value,
            other => return Err(format!("cannot convert {other} to {to}")),
        };
        return match to.as_str() {
            "c" => Ok(kelvin - 273.15),
            "f" => Ok((kelvin - 273.15) * 9.0 / 5.0 + 32.0),
            "k" => Ok(kelvin),
            other => Err(format!("cannot convert {from} to {other}")),
        };
    }
    let factor = |u: &str| -> Option<(&str, f64)> {
        Some(match u {
            "m" => ("length", 1.0),
            "km" => ("length", 1000.0),
            "cm" => ("length", 0.01),
            "mm" => ("length", 0.001),
            "mi" => ("length", 1609.344),
            "ft" => ("length", 0.3048),
            "in" => ("length", 0.0254),
            "kg" => ("mass", 1.0),
            "g" => ("mass", 0.001),
            "lb" => ("mass", 0.453_592_37),
            "oz" => ("mass", 0.028_349_523_125),
            "s" => ("time", 1.0),
            "min" => ("time", 60.0),
            "h" => ("time", 3600.0),
            "day" => ("time", 86400.0),
            _ => return None,
        })
    };
    let (Some((qa, fa)), Some((qb, fb))) = (factor(&from), factor(&to)) else {
        let unknown = if factor(&from).is_none() { from } else { to };
        return Err(format!("unknown unit {unknown:?}"));
    };
    if qa != qb {
        return Err(format!("cannot convert {qa} ({from}) to {qb} ({to})"));
    }
    Ok(value * fa / fb)
}

/// A number as the tools print it: up to 10 significant digits, no trailing zeros.
pub fn format_number(x: f64) -> String {
    let s = format!("{:.*}", 10usize.saturating_sub(x.abs().log10().max(0.0) as usize + 1), x);
    let s = if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s };
    if s == "-0" { "0".into() } else { s }
}

/// Whether `task` lists tools and all of them are built in (its episodes can run here).
pub fn serves(task: &Task) -> bool {
    // The built-in tools' names, made once per process.
    static NAMES: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    let known = NAMES.get_or_init(|| tools().iter().filter_map(tool_name).map(str::to_string).collect());
    !task.tools.is_empty() && task.tools.iter().all(|t| tool_name(t).is_some_and(|n| known.iter().any(|k| k == n)))
}

/// The built-in environment: the tools above over one episode's state. An answer without calls
/// ends the user's turn: the task's next follow-up (`Task::followups`) comes back as a `user`
/// message, and after the last one the episode ends.
#[derive(Debug, Default)]
pub struct BuiltinEnv {
    kv: BTreeMap<String, String>,
    files: BTreeMap<String, String>,
    followups: std::collections::VecDeque<String>,
    started: bool,
}

fn text<'a>(args: &'a Map<String, Value>, key: &str) -> Result<&'a str, String> {
    args.get(key).and_then(Value::as_str).ok_or_else(|| format!("missing string argument {key:?}"))
}

impl BuiltinEnv {
    /// Runs one call; `Err` is the error text the model sees.
    pub fn call(&mut self, call: &ToolCall) -> Result<String, String> {
        let a = &call.arguments;
        let path = |a: &Map<String, Value>| text(a, "path").map(|p| p.trim_start_matches('/').to_string());
        match call.name.as_str() {
            "calculator" => calculate(text(a, "expression")?).map(format_number),
            "convert_units" => {
                let value = a.get("value").and_then(Value::as_f64).ok_or("missing number argument \"value\"")?;
                convert(value, text(a, "from_unit")?, text(a, "to_unit")?).map(format_number)
            }
            "kv_set" => {
                self.kv.insert(text(a, "key")?.into(), text(a, "value")?.into());
                Ok("ok".into())
            }
            "kv_get" => self.kv.get(text(a, "key")?).cloned().ok_or_else(|| "no such key".into()),
            "kv_delete" => self.kv.remove(text(a, "key")?).map(|_| "ok".into()).ok_or_else(|| "no such key".into()),
            "fs_write" => {
                self.files.insert(path(a)?, text(a, "content")?.into());
                Ok("ok".into())
            }
            "fs_read" => self.files.get(&path(a)?).cloned().ok_or_else(|| "no such file".into()),
            "fs_delete" => self.files.remove(&path(a)?).map(|_| "ok".into()).ok_or_else(|| "no such file".into()),
            "fs_list" => {
                let dir = a.get("dir").and_then(Value::as_str).unwrap_or("").trim_matches('/');
                let prefix = if dir.is_empty() { String::new() } else { format!("{dir}/") };
                let names: Vec<&str> =
                    self.files.keys().filter(|p| p.starts_with(&prefix)).map(String::as_str).collect();
                Ok(names.join("\n"))
            }
            other => Err(format!("unknown tool {other:?}")),
        }
    }
}

impl Environment for BuiltinEnv {
    fn reset(&mut self, task: &Task) -> Result<Vec<Message>, EnvError> {
        let followups = task.followups.iter().cloned().collect();
        *self = BuiltinEnv { started: true, followups, ..BuiltinEnv::default() };
        Ok(task.messages.clone())
    }

    fn step(&mut self, calls: &[ToolCall]) -> Result<Step, EnvError> {
        if !self.started {
            return Err(EnvError::State("step before reset, or after the episode ended".into()));
        }
        if calls.is_empty() {
            let Some(next) = self.followups.pop_front() else {
                self.started = false;
                return Ok(Step { messages: Vec::new(), done: true, reward: None });
            };
            return Ok(Step { messages: vec![Message { role: Role::User, content: next }], done: false, reward: None });
        }
        let messages = calls
            .iter()
            .map(|c| {
                let content = self.call(c).unwrap_or_else(|e| format!("error: {e}"));
                Message { role: Role::Tool, content }
            })
            .collect();
        Ok(Step { messages, done: false, reward: None })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(name: &str, args: Value) -> ToolCall {
        ToolCall { name: name.into(), arguments: args.as_object().cloned().unwrap_or_default() }
    }

    #[test]
    fn tools_compute_and_keep_state() {
        assert_eq!(calculate("(2 + 3) * 4 - 2 ^ 3 / 4").map(format_number), Ok("18".into()));
        assert_eq!(calculate("-1.5*-2").map(format_number), Ok("3".into()));
        assert!(calculate("1/0").is_err() && calculate("2+").is_err() && calculate("(1").is_err());
        assert_eq!(convert(100.0, "C", "f").map(format_number), Ok("212".into()));
        assert_eq!(convert(1.0, "mi", "km").map(format_number), Ok("1.609344".into()));
        assert!(convert(1.0, "kg", "m").is_err() && convert(1.0, "parsec", "m").is_err());
        let mut env = BuiltinEnv::default();
        assert!(env.step(&[]).is_err(), "step before reset");
        let task = Task { messages: vec![Message { role: Role::User, content: "hi".into() }], ..Task::default() };
        assert_eq!(env.reset(&task).expect("reset"), task.messages);
        let step = env
            .step(&[
                call("kv_set", json!({"key": "a", "value": "1"})),
                call("kv_get", json!({"key": "a"})),
                call("fs_write", json!({"path": "/docs/x.txt", "content": "hello"})),
                call("fs_list", json!({"dir": "docs"})),
                call("fs_read", json!({"path": "docs/x.txt"})),
                call("kv_get", json!({"key": "b"})),
                call("nope", json!({})),
            ])
            .expect("step");
        let texts: Vec<&str> = step.messages.iter().map(|m| m.content.as_str()).collect();
        assert_eq!(
            texts,
            ["ok", "1", "ok", "docs/x.txt", "hello", "error: no such key", "error: unknown tool \"nope\""]
        );
        assert!(step.messages.iter().all(|m| m.role == Role::Tool) && !step.done);
        assert!(env.step(&[]).expect("ends").done);
        assert_eq!(tools().len(), 9);
    }

    #[test]
    fn follow_ups_come_after_an_answer_without_calls_and_state_carries_over() {
        let task = Task {
            messages: vec![Message { role: Role::User, content: "Remember my pet is a cat.".into() }],
            followups: vec!["What is my pet?".into(), "Thanks.".into()],
            ..Task::default()
        };
        let mut env = BuiltinEnv::default();
        env.reset(&task).expect("reset");
        assert!(!env.step(&[call("kv_set", json!({"key": "pet", "value": "cat"}))]).expect("set").done);
        let next = env.step(&[]).expect("turn ends");
        assert_eq!(
            (next.messages, next.done),
            (vec![Message { role: Role::User, content: task.followups[0].clone() }], false)
        );
        let got = env.step(&[call("kv_get", json!({"key": "pet"}))]).expect("get");
        assert_eq!(got.messages[0].content, "cat", "the store outlives the user's turn");
        assert_eq!(env.step(&[]).expect("second").messages[0].content, "Thanks.");
        assert!(env.step(&[]).expect("last").done);
        // A new episode starts with the follow-ups again and an empty store.
        env.reset(&task).expect("reset");
        assert_eq!(
            env.step(&[call("kv_get", json!({"key": "pet"}))]).expect("get").messages[0].content,
            "error: no such key"
        );
        assert_eq!(env.step(&[]).expect("turn ends").messages[0].content, task.followups[0]);
    }

    #[test]
    fn deep_nesting_is_an_error_the_model_sees_not_a_stack_overflow() {
        let deep = [
            "(".repeat(100_000),
            format!("{}1{}", "(".repeat(100_000), ")".repeat(100_000)),
            format!("{}1", "-".repeat(100_000)),
            format!("{}2", "2^".repeat(100_000)),
        ];
        for expr in &deep {
            let err = calculate(expr).expect_err("too deep");
            assert!(err.contains("nested more than"), "{err}");
        }
        // Up to the limit it still computes.
        let ok = format!("{}7{}", "(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
        assert_eq!(calculate(&ok).map(format_number), Ok("7".into()));
        let over = format!("{}7{}", "(".repeat(MAX_DEPTH + 1), ")".repeat(MAX_DEPTH + 1));
        assert!(calculate(&over).is_err());
        let mut env = BuiltinEnv::default();
        let task = Task { messages: vec![Message { role: Role::User, content: "hi".into() }], ..Task::default() };
        env.reset(&task).expect("reset");
        let step = env.step(&[call("calculator", json!({"expression": deep[0]}))]).expect("step");
        assert!(step.messages[0].content.starts_with("error: nested more than"), "{:?}", step.messages[0]);
    }
}
