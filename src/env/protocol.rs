//! The environment protocol, version [`VERSION`]: JSON lines over the program's stdin (requests)
//! and stdout (answers, one per request, in order); stderr is free text (kept for error
//! messages). Every answer carries `"ok"`; `{"ok": false, "error": "…"}` refuses a request.
//!
//! | request | answer |
//! |---|---|
//! | `{"op": "hello", "protocol": 1}` | `{"ok": true, "protocol": 1, "name": "…"}` |
//! | `{"op": "reset", "task": TASK}` | `{"ok": true, "messages": [MESSAGE, …]}` |
//! | `{"op": "step", "calls": [{"name": "…", "arguments": {…}}, …]}` | `{"ok": true, "messages": [MESSAGE, …], "done": false, "reward": null}` |
//! | `{"op": "close"}` | none; the program exits |
//!
//! `TASK` is a line of the task format (`awpo::data::task`); `MESSAGE` is `{"role": "user" |
//! "tool", "content": "…"}`. A step with calls answers their results (role `tool`, in call
//! order); a step without calls means the model ended its turn: the answer is the next user
//! turn, or `"done": true` with an optional `"reward"` in [0, 1]. Programs may serve more ops
//! (BFCL's bridge: `ground_truth`, `check`), reached with `ProcessEnv::request`.

use serde::Deserialize;
use serde_json::Value;

use crate::data::task::Message;

/// The protocol version this client speaks.
pub const VERSION: u32 = 1;

/// The answer to `reset` or `step`.
#[derive(Debug, Deserialize)]
pub struct Observation {
    /// Messages for the model.
    #[serde(default)]
    pub messages: Vec<Message>,
    /// The episode is over.
    #[serde(default)]
    pub done: bool,
    /// The environment's own reward.
    #[serde(default)]
    pub reward: Option<f64>,
}

/// `{"op": …, …fields}` as one line.
pub fn request(op: &str, fields: Value) -> String {
    let mut obj = match fields {
        Value::Object(m) => m,
        _ => serde_json::Map::new(),
    };
    obj.insert("op".into(), Value::from(op));
    // Put "op" first for people reading a transcript.
    let mut ordered = serde_json::Map::new();
    if let Some(op) = obj.shift_remove("op") {
        ordered.insert("op".into(), op);
    }
    ordered.extend(obj);
    Value::Object(ordered).to_string()
}
