//! A judge without a model. The score is the mean of five checks, each in [0, 1]:
//! 1. **reasons at all**: the reasoning has at least 3 words;
//! 2. **names the tool**: every called function's name appears in the reasoning (with `_` read as
//!    a space too), or, with no calls, the reasoning says no tool fits ("no tool", "cannot",
//!    "none of");
//! 3. **grounds the arguments**: the share of scalar argument values (strings, numbers, booleans)
//!    that appear in the reasoning, case-insensitively (1 when there are none);
//! 4. **sane length**: 1 between 5 and 300 words, falling linearly to 0 at 0 and at 1000 words;
//! 5. **takes the values from the request**: the share of those scalar values that occur in the
//!    user's request as whole words (letters, digits and `_` on neither side), case-insensitively
//!    (1 when there are none). A value the request only implies ("Celsius" for "°C") counts as
//!    not found: this judge cannot follow a derivation.
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

/// The heuristic score of one request.
pub fn score(req: &JudgeRequest) -> f64 {
    let text = req.reasoning.to_lowercase();
    let words = text.split_whitespace().count() as f64;
    let reasons = if words >= 3.0 { 1.0 } else { 0.0 };
    let names = if req.calls.is_empty() {
        let declines = ["no tool", "cannot", "can't", "none of", "not possible", "no function"];
        if declines.iter().any(|d| text.contains(d)) { 1.0 } else { 0.0 }
    } else {
        let named = req.calls.iter().filter(|c| {
            let name = c.name.to_lowercase();
            text.contains(&name) || text.contains(&name.replace('_', " "))
        });
        named.count() as f64 / req.calls.len() as f64
    };
    let mut values = Vec::new();
    for c in &req.calls {
        c.arguments.values().for_each(|v| scalars(v, &mut values));
    }
    let grounded = if values.is_empty() {
        1.0
    } else {
        values.iter().filter(|v| text.contains(v.as_str())).count() as f64 / values.len() as f64
    };
    let length = if words < 5.0 {
        words / 5.0
    } else if words <= 300.0 {
        1.0
    } else {
        ((1000.0 - words) / 700.0).max(0.0)
    };
    let request = req.request.to_lowercase();
    let from_request = if values.is_empty() {
        1.0
    } else {
        values.iter().filter(|v| find_word(&request, v).is_some()).count() as f64 / values.len() as f64
    };
    (reasons + names + grounded + length + from_request) / 5.0
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
        assert_eq!(empty, 0.2, "no words, no name, no values, no length; the values are from the request");
        let other = JudgeRequest { request: "Weather in Parisville, in Celsius?".into(), ..req("") };
        assert_eq!(score(&other), 0.1, "'paris' is not a whole word of the request; 'celsius' is");
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
