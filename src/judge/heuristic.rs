//! A judge without a model. The score is the mean of six checks, each in [0, 1]:
//! 1. **reasons at all**: the reasoning has at least 3 words;
//! 2. **names the tool**: the share of called functions that are among the offered tools (any
//!    name passes when none are listed) and whose name appears in the reasoning (with `_` read
//!    as a space too); with no calls, whether the reasoning says no tool fits ("no tool",
//!    "cannot", "none of"). A plan around a tool that does not exist scores 0 here;
//! 3. **grounds the arguments**: the share of scalar argument values (strings, numbers, booleans)
//!    that appear in the reasoning, case-insensitively (1 when there are none);
//! 4. **sane length**: 1 between 5 and 300 words, falling linearly to 0 at 0 and at 1000 words;
//! 5. **takes the values from the request**: the share of those scalar values that occur in the
//!    user's request as whole words (letters, digits and `_` on neither side), case-insensitively
//!    (1 when there are none). A value the request only implies ("Celsius" for "°C") counts as
//!    not found: this judge cannot follow a derivation;
//! 6. **covers the request**: the share of the numbers the user wrote (`53`, `2.5`) that the
//!    reasoning mentions as whole words (1 when the request has none): a plan for a two-part
//!    request that handles one part scores less, even before any call is checked. A reply
//!    without calls plans nothing and scores 1 here: asking a decline to repeat the request's
//!    numbers would score a right "no tool fits" below a wrong call that copies them.
//!
//! It rewards reasoning consistent with the call it precedes and values read from the request;
//! it cannot tell whether the call was right (the outcome reward does that).

use serde_json::Value;

use super::{Judge, JudgeError, JudgeRequest};
use crate::tools::find_word;

/// The heuristic judge.
#[derive(Clone, Copy, Debug, Default)]
pub struct Heuristic;

fn scalars(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.to_lowercase()),
        Value::Number(n) => out.push(n.to_string()),
        Value::Bool(b) => out.push(b.to_string()),
        Value::Array(items) => items.iter().for_each(|i| scalars(i, out)),
        Value::Object(m) => m.values().for_each(|i| scalars(i, out)),
        Value::Null => {}
    }
}

/// The numbers written in `text`: runs of digits, with a fraction when a `.` joins two runs.
fn numbers(text: &str) -> Vec<&str> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if !bytes[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        if i + 1 < bytes.len() && bytes[i] == b'.' && bytes[i + 1].is_ascii_digit() {
            i += 1;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
        }
        out.push(&text[start..i]);
    }
    out
}

/// The share of `items` for which `hit` holds; 1 when there are none.
fn share<T>(items: &[T], hit: impl Fn(&T) -> bool) -> f64 {
    if items.is_empty() { 1.0 } else { items.iter().filter(|i| hit(i)).count() as f64 / items.len() as f64 }
}

/// The heuristic score of one request.
pub fn score(req: &JudgeRequest) -> f64 {
    let text = req.reasoning.to_lowercase();
    let words = text.split_whitespace().count() as f64;
    let reasons = if words >= 3.0 { 1.0 } else { 0.0 };
    let names = if req.calls.is_empty() {
        let declines = ["no tool", "cannot", "can't", "none of", "not possible", "no function"];
        if declines.iter().any(|d| text.contains(d)) { 1.0 } else { 0.0 }
    } else {
        let offered: Vec<&str> = req.tools.iter().filter_map(crate::tools::tool_name).collect();
        share(&req.calls, |c| {
            let name = c.name.to_lowercase();
            let exists = offered.is_empty() || offered.contains(&c.name.as_str());
            exists && (text.contains(&name) || text.contains(&name.replace('_', " ")))
        })
    };
    let mut values = Vec::new();
    for c in &req.calls {
        c.arguments.values().for_each(|v| scalars(v, &mut values));
    }
    let grounded = share(&values, |v| text.contains(v.as_str()));
    let length = if words < 5.0 {
        words / 5.0
    } else if words <= 300.0 {
        1.0
    } else {
        ((1000.0 - words) / 700.0).max(0.0)
    };
    let request = req.request.to_lowercase();
    let from_request = share(&values, |v| find_word(&request, v).is_some());
    let covers = if req.calls.is_empty() { 1.0 } else { share(&numbers(&request), |n| find_word(&text, n).is_some()) };
    (reasons + names + grounded + length + from_request + covers) / 6.0
}

impl Judge for Heuristic {
    fn score(&self, requests: &[JudgeRequest]) -> Vec<Result<f64, JudgeError>> {
        requests.iter().map(|r| Ok(score(r))).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::ToolCall;

    #[test]
    fn consistent_reasoning_scores_higher() {
        let call = ToolCall {
            name: "get_weather".into(),
            arguments: serde_json::json!({"city": "Paris", "unit": "celsius"}).as_object().cloned().unwrap_or_default(),
        };
        let req = |reasoning: &str| JudgeRequest {
            request: "Weather in Paris, in Celsius?".into(),
            tools: vec![],
            reasoning: reasoning.into(),
            calls: vec![call.clone()],
        };
        let good =
            score(&req("The user wants the weather in Paris, so I call get_weather with city Paris in celsius."));
        let vague = score(&req("I will call a tool to answer this question for the user now."));
        let empty = score(&req(""));
        assert!((good - 1.0).abs() < 1e-12, "{good}");
        assert!(good > vague && vague > empty, "{good} {vague} {empty}");
        assert!(
            (empty - 2.0 / 6.0).abs() < 1e-12,
            "no words, name, values or length; values from the request, no numbers: {empty}"
        );
        let other = JudgeRequest { request: "Weather in Parisville, in Celsius?".into(), ..req("") };
        assert!((score(&other) - 1.5 / 6.0).abs() < 1e-12, "'paris' is not a whole word of the request; 'celsius' is");
    }

    #[test]
    fn a_plan_for_half_the_request_covers_half_its_numbers() {
        let call = ToolCall {
            name: "convert_units".into(),
            arguments: serde_json::json!({"value": 53, "from_unit": "in", "to_unit": "cm"})
                .as_object()
                .cloned()
                .unwrap_or_default(),
        };
        let req = |reasoning: &str| JudgeRequest {
            request: "Convert 53 in to cm, and 2.5 m to cm.".into(),
            tools: vec![],
            reasoning: reasoning.into(),
            calls: vec![call.clone()],
        };
        let both = score(&req("Use convert_units with 53, in, cm. Use convert_units with 2.5, m, cm."));
        let half = score(&req("Use convert_units with 53, in, cm."));
        assert!((both - 1.0).abs() < 1e-12, "{both}");
        assert!((half - 5.5 / 6.0).abs() < 1e-12, "{half}");
        assert_eq!(numbers("a 53, b 2.5. c 12.x 7"), ["53", "2.5", "12", "7"]);
        let part = score(&req("Use convert_units with 53, in, cm, then 25 m."));
        assert!((part - half).abs() < 1e-12, "25 is not 2.5: {part}");
    }

    #[test]
    fn a_decline_need_not_repeat_the_requests_numbers() {
        let tools = vec![serde_json::json!({"name": "str_to_int"})];
        let request = "Find the integral of x^3 from 1 to 5";
        let decline = JudgeRequest {
            request: request.into(),
            tools: tools.clone(),
            reasoning: "None of the offered tools fits this request.".into(),
            calls: vec![],
        };
        assert!((score(&decline) - 1.0).abs() < 1e-12, "{}", score(&decline));
        let call = ToolCall {
            name: "str_to_int".into(),
            arguments: serde_json::json!({"value": "5"}).as_object().cloned().unwrap_or_default(),
        };
        let grab = JudgeRequest {
            request: request.into(),
            tools,
            reasoning: "Use str_to_int with 3, 1 and 5.".into(),
            calls: vec![call],
        };
        assert!(score(&grab) <= score(&decline), "a wrong call that copies the numbers does not beat the decline");
        let silent = JudgeRequest { reasoning: "I will answer this one myself.".into(), ..decline };
        assert!(
            (score(&silent) - 5.0 / 6.0).abs() < 1e-12,
            "a reply without calls that does not decline: {}",
            score(&silent)
        );
    }

    #[test]
    fn a_tool_that_is_not_offered_is_not_named() {
        let call = |name: &str| ToolCall {
            name: name.into(),
            arguments: serde_json::json!({"key": "pet"}).as_object().cloned().unwrap_or_default(),
        };
        let req = |name: &str, tools: Vec<serde_json::Value>| JudgeRequest {
            request: "What is my pet?".into(),
            tools,
            reasoning: format!("The user asks, so use {name} with pet."),
            calls: vec![call(name)],
        };
        let wrapped = vec![serde_json::json!({"type": "function", "function": {"name": "kv_get"}})];
        let bare = vec![serde_json::json!({"name": "kv_get"})];
        assert!((score(&req("kv_get", wrapped.clone())) - 1.0).abs() < 1e-12);
        assert!((score(&req("kv_get", bare.clone())) - 1.0).abs() < 1e-12);
        assert!((score(&req("kv_fetch", wrapped)) - 5.0 / 6.0).abs() < 1e-12, "kv_fetch is not offered");
        assert!((score(&req("kv_fetch", bare)) - 5.0 / 6.0).abs() < 1e-12);
        assert!((score(&req("kv_fetch", vec![])) - 1.0).abs() < 1e-12, "no tools listed: any name passes");
    }

    #[test]
    fn whole_words_only() {
        assert_eq!(find_word("convert 53 in to cm.", "53"), Some(8));
        assert_eq!(find_word("convert 153 in to cm, 53 m", "53"), Some(22));
        assert_eq!(find_word("convert 53 in to cm.", "5"), None);
        assert_eq!(find_word("what is 53 * 21?", "53 * 21"), Some(8));
        assert_eq!(find_word("write red to a/b.txt.", "a/b.txt"), Some(13));
        assert_eq!(find_word("anything", ""), None);
    }
}
