//! Model text → reasoning, tool calls and final answer.
//!
//! Recognised (Qwen / Hermes style): an optional `<think>…</think>` block (also a bare
//! `…</think>` when the prompt already opened it), any number of
//! `<tool_call>{"name": …, "arguments": {…}}</tool_call>` blocks (`parameters` is accepted for
//! `arguments`, and so is an object encoded as a JSON string), and the remaining text as the
//! answer. A malformed call is data: it is listed in [`Parsed::issues`] (a format reward reads
//! them) and left out of [`Parsed::calls`]. Parsing never fails and never panics.

use serde_json::{Map, Value};

use super::ToolCall;

const THINK_OPEN: &str = "<think>";
const THINK_CLOSE: &str = "</think>";
const CALL_OPEN: &str = "<tool_call>";
const CALL_CLOSE: &str = "</tool_call>";

/// What is wrong with a piece of model output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Issue {
    /// `<think>` without `</think>`.
    UnclosedThink,
    /// More than one reasoning block.
    ExtraThink,
    /// `<tool_call>` without `</tool_call>` (e.g. generation cut off); its text is still tried.
    UnclosedCall {
        /// Index of the call block.
        block: usize,
    },
    /// The block is not JSON.
    InvalidJson {
        /// Index of the call block.
        block: usize,
        /// serde_json's message.
        message: String,
    },
    /// JSON, but not an object with a string `name`.
    MissingName {
        /// Index of the call block.
        block: usize,
    },
    /// `arguments` present but neither an object nor a string holding one.
    BadArguments {
        /// Index of the call block.
        block: usize,
    },
    /// `arguments` was an object encoded as a string (accepted, but not the format asked for).
    StringArguments {
        /// Index of the call block.
        block: usize,
    },
    /// A stray `</tool_call>` or `</think>` with no opening tag.
    StrayClosingTag,
}

/// Parsed model output.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Parsed {
    /// The reasoning text, trimmed (`None` when there is no reasoning block).
    pub think: Option<String>,
    /// Well-formed calls in order.
    pub calls: Vec<ToolCall>,
    /// Number of `<tool_call>` blocks, well-formed or not.
    pub call_blocks: usize,
    /// Text outside reasoning and call blocks, trimmed.
    pub answer: String,
    /// Everything malformed, in order of appearance.
    pub issues: Vec<Issue>,
}

/// Splits `text` into reasoning, calls and answer. Total: every input gives a result.
pub fn parse(text: &str) -> Parsed {
    let mut out = Parsed::default();
    let rest = take_think(text, &mut out);
    let mut answer = String::new();
    let mut cursor: &str = &rest;
    while let Some(open) = cursor.find(CALL_OPEN) {
        answer.push_str(&cursor[..open]);
        let body_start = open + CALL_OPEN.len();
        let block = out.call_blocks;
        out.call_blocks += 1;
        let (body, next) = match cursor[body_start..].find(CALL_CLOSE) {
            Some(close) => (&cursor[body_start..body_start + close], &cursor[body_start + close + CALL_CLOSE.len()..]),
            None => {
                out.issues.push(Issue::UnclosedCall { block });
                (&cursor[body_start..], "")
            }
        };
        match parse_call(body, block) {
            Ok((call, issue)) => {
                out.calls.push(call);
                out.issues.extend(issue);
            }
            Err(issue) => out.issues.push(issue),
        }
        cursor = next;
    }
    answer.push_str(cursor);
    if answer.contains(CALL_CLOSE) || answer.contains(THINK_CLOSE) {
        out.issues.push(Issue::StrayClosingTag);
    }
    if answer.contains(THINK_OPEN) {
        out.issues.push(Issue::ExtraThink);
    }
    out.answer = answer.trim().to_string();
    out
}

/// Takes the reasoning block off the front (or wherever the first one is); returns the rest.
fn take_think<'a>(text: &'a str, out: &mut Parsed) -> std::borrow::Cow<'a, str> {
    let open = text.find(THINK_OPEN);
    let close = text.find(THINK_CLOSE);
    match (open, close) {
        (Some(o), Some(c)) if o < c => {
            out.think = Some(text[o + THINK_OPEN.len()..c].trim().to_string());
            let mut rest = String::with_capacity(text.len());
            rest.push_str(&text[..o]);
            rest.push_str(&text[c + THINK_CLOSE.len()..]);
            std::borrow::Cow::Owned(rest)
        }
        // The prompt opened the block (Qwen3 templates): everything before `</think>` is reasoning.
        (None, Some(c)) | (Some(_), Some(c)) if !text[..c].contains(CALL_OPEN) => {
            out.think = Some(text[..c].trim().to_string());
            std::borrow::Cow::Borrowed(&text[c + THINK_CLOSE.len()..])
        }
        (Some(o), None) => {
            out.issues.push(Issue::UnclosedThink);
            out.think = Some(text[o + THINK_OPEN.len()..].trim().to_string());
            std::borrow::Cow::Borrowed(&text[..o])
        }
        _ => std::borrow::Cow::Borrowed(text),
    }
}

/// One call block's JSON → a call (plus a tolerated-format issue), or the issue that rejects it.
fn parse_call(body: &str, block: usize) -> Result<(ToolCall, Option<Issue>), Issue> {
    let value: Value =
        serde_json::from_str(body.trim()).map_err(|e| Issue::InvalidJson { block, message: e.to_string() })?;
    let Value::Object(mut object) = value else { return Err(Issue::MissingName { block }) };
    let Some(Value::String(name)) = object.remove("name") else { return Err(Issue::MissingName { block }) };
    let raw = object.remove("arguments").or_else(|| object.remove("parameters"));
    let (arguments, issue) = match raw {
        None | Some(Value::Null) => (Map::new(), None),
        Some(Value::Object(map)) => (map, None),
        Some(Value::String(s)) => match serde_json::from_str::<Value>(&s) {
            Ok(Value::Object(map)) => (map, Some(Issue::StringArguments { block })),
            _ => return Err(Issue::BadArguments { block }),
        },
        Some(_) => return Err(Issue::BadArguments { block }),
    };
    Ok((ToolCall { name, arguments }, issue))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    fn call(name: &str, args: Value) -> ToolCall {
        ToolCall { name: name.to_string(), arguments: args.as_object().cloned().unwrap_or_default() }
    }

    #[test]
    fn think_calls_and_answer() {
        let text = "<think>\nneed the area\n</think>\n<tool_call>\n{\"name\": \"area\", \"arguments\": {\"base\": 10, \"h\": 5.0}}\n</tool_call>\n<tool_call>{\"name\": \"log\", \"parameters\": {}}</tool_call>\nDone.";
        let p = parse(text);
        assert_eq!(p.think.as_deref(), Some("need the area"));
        assert_eq!(p.calls, [call("area", json!({"base": 10, "h": 5.0})), call("log", json!({}))]);
        assert_eq!((p.call_blocks, p.answer.as_str()), (2, "Done."));
        assert!(p.issues.is_empty(), "{:?}", p.issues);
    }

    #[test]
    fn prompt_opened_think_and_plain_answers() {
        let p = parse("the user wants Paris</think>The capital of France is Paris.");
        assert_eq!(p.think.as_deref(), Some("the user wants Paris"));
        assert_eq!(p.answer, "The capital of France is Paris.");
        let p = parse("No tools needed.");
        assert_eq!((p.think, p.calls.len(), p.answer.as_str()), (None, 0, "No tools needed."));
    }

    #[test]
    fn malformed_calls_are_issues_not_errors() {
        let p = parse(
            "<tool_call>{\"name\": \"f\", \"arguments\": {\"x\": 1}</tool_call><tool_call>[1]</tool_call><tool_call>{\"arguments\": {}}</tool_call>",
        );
        assert!(p.calls.is_empty());
        assert_eq!(p.call_blocks, 3);
        assert!(matches!(p.issues[0], Issue::InvalidJson { block: 0, .. }));
        assert_eq!(p.issues[1..], [Issue::MissingName { block: 1 }, Issue::MissingName { block: 2 }]);
        let p = parse("<tool_call>{\"name\": \"f\", \"arguments\": \"{\\\"x\\\": 2}\"}</tool_call>");
        assert_eq!(p.calls, [call("f", json!({"x": 2}))]);
        assert_eq!(p.issues, [Issue::StringArguments { block: 0 }]);
        let p = parse("<tool_call>{\"name\": \"f\", \"arguments\": 3}</tool_call>");
        assert_eq!(p.issues, [Issue::BadArguments { block: 0 }]);
    }

    #[test]
    fn truncated_and_stray_tags() {
        let p = parse("<think>hmm</think><tool_call>{\"name\": \"f\", \"arguments\": {}}");
        assert_eq!(p.calls, [call("f", json!({}))]);
        assert_eq!(p.issues, [Issue::UnclosedCall { block: 0 }]);
        let p = parse("<think>never closed <tool_call>");
        assert_eq!(p.issues, [Issue::UnclosedThink]);
        let p = parse("answer</tool_call>");
        assert_eq!(p.issues, [Issue::StrayClosingTag]);
        let p = parse("<think>a</think><think>b</think>");
        assert!(p.issues.contains(&Issue::ExtraThink), "{:?}", p.issues);
    }

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|i| json!(i)),
            // Dyadic values print and parse back exactly.
            (-8000i32..8000).prop_map(|i| json!(f64::from(i) / 8.0)),
            ".{0,12}".prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map("[a-z_]{1,6}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn arb_call() -> impl Strategy<Value = ToolCall> {
        ("[a-zA-Z_.]{1,12}", prop::collection::btree_map("[a-z_]{1,8}", arb_json(), 0..5))
            .prop_map(|(name, args)| ToolCall { name, arguments: args.into_iter().collect() })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Arbitrary bytes (as the lossy text a tokenizer could decode) never panic.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
            let text = String::from_utf8_lossy(&bytes);
            let p = parse(&text);
            prop_assert!(p.calls.len() <= p.call_blocks);
        }

        /// Text built from the tags themselves (the adversarial case) never panics.
        #[test]
        fn tag_soup_never_panics(parts in prop::collection::vec(prop_oneof![
            Just("<think>"), Just("</think>"), Just("<tool_call>"), Just("</tool_call>"),
            Just("{\"name\": \"f\", \"arguments\": {}}"), Just("{"), Just("}"), Just("\""), Just("é"), Just(" ")
        ], 0..30)) {
            let p = parse(&parts.concat());
            prop_assert!(p.calls.len() <= p.call_blocks);
        }

        /// Rendered calls parse back to themselves, with the reasoning and answer intact.
        #[test]
        fn rendered_calls_round_trip(calls in prop::collection::vec(arb_call(), 0..4), answer in "[a-zA-Z .]{0,20}") {
            let text = format!("<think>plan</think>\n{}\n{answer}", calls.iter().map(ToolCall::render).collect::<String>());
            let p = parse(&text);
            prop_assert_eq!(&p.calls, &calls);
            prop_assert!(p.issues.is_empty(), "{:?}", p.issues);
            prop_assert_eq!(p.answer, answer.trim());
        }

        /// Deleting or inserting a character anywhere in a valid output never panics, and never
        /// yields more calls than blocks.
        #[test]
        fn mutated_calls_never_panic(calls in prop::collection::vec(arb_call(), 1..3), at in any::<prop::sample::Index>(), insert in any::<char>(), delete in any::<bool>()) {
            let text: String = calls.iter().map(ToolCall::render).collect();
            let chars: Vec<char> = text.chars().collect();
            let i = at.index(chars.len());
            let mutated: String = if delete {
                chars.iter().enumerate().filter(|(j, _)| *j != i).map(|(_, c)| c).collect()
            } else {
                chars[..i].iter().chain(std::iter::once(&insert)).chain(&chars[i..]).collect()
            };
            let p = parse(&mutated);
            prop_assert!(p.calls.len() <= p.call_blocks);
        }
    }
}
