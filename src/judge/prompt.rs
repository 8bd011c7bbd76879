//! The judge prompt and the score parser shared by the model judges.

use super::JudgeRequest;

/// The default prompt: scores the reasoning given the request, the tools and the call made.
pub const DEFAULT_PROMPT: &str = "You are grading the reasoning of an assistant that calls tools.\n\n\
User request:\n{request}\n\nAvailable tools (JSON Schema):\n{tools}\n\n\
The assistant's reasoning:\n<think>\n{reasoning}\n</think>\n\n\
The tool calls it then made:\n{calls}\n\n\
Grade the reasoning from 0 to 10: 10 when it correctly understands the request, picks the right \
tool for a stated reason, derives every argument value from the request, and the calls follow \
from it; 0 when it is absent, wrong, or unrelated to the calls. Reply with one short sentence of \
justification, then a final line `Score: N`.";

/// The prompt for `req` from `template`.
pub fn fill(template: &str, req: &JudgeRequest) -> String {
    let tools: Vec<String> = req.tools.iter().map(serde_json::Value::to_string).collect();
    let calls: Vec<String> = req.calls.iter().map(|c| c.render()).collect();
    let calls = if calls.is_empty() { "(none)".to_string() } else { calls.join("\n") };
    template
        .replace("{request}", &req.request)
        .replace("{tools}", &tools.join("\n"))
        .replace("{reasoning}", if req.reasoning.trim().is_empty() { "(none)" } else { &req.reasoning })
        .replace("{calls}", &calls)
}

/// A score in [0, 1] from a judge's text: the number after the last `score` followed by one (`Score: 7`,
/// `"score": 7.5`, `<score>7</score>`, `score = 7/10`), else a reply that is only a number;
/// divided by `scale`. Out-of-range or missing scores are errors, never clamped.
pub fn parse_score(text: &str, scale: f64) -> Result<f64, String> {
    let lower = text.to_lowercase();
    let number_after = |rest: &str| -> Option<f64> {
        let rest = rest.trim_start_matches(|c: char| {
            c == '"' || c == '>' || c == ':' || c == '=' || c == '*' || c.is_whitespace()
        });
        let end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-')).unwrap_or(rest.len());
        rest[..end].trim_end_matches('.').parse().ok()
    };
    let indices: Vec<usize> = lower.match_indices("score").map(|(at, _)| at).collect();
    let value = indices
        .into_iter()
        .rev()
        .find_map(|at| number_after(&lower[at + "score".len()..]))
        .or_else(|| lower.trim().trim_end_matches('.').parse().ok());
    let Some(v) = value else { return Err("no `Score: N` in the reply".into()) };
    if !v.is_finite() || v < 0.0 || v > scale {
        return Err(format!("score {v} is outside 0..={scale}"));
    }
    Ok(v / scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_parse_or_fail_loudly() {
        for (text, want) in [
            ("Good reasoning.\nScore: 7", 0.7),
            ("**Score:** 10", 1.0),
            ("{\"score\": 2.5}", 0.25),
            ("<score>0</score>", 0.0),
            ("The score is 5. Final score = 8/10", 0.8),
            ("6", 0.6),
        ] {
            assert_eq!(parse_score(text, 10.0), Ok(want), "{text}");
        }
        for bad in ["Score: 11", "Score: -1", "no number here", "Score: abc", "", "Score: NaN"] {
            assert!(parse_score(bad, 10.0).is_err(), "{bad}");
        }
        let req = JudgeRequest { request: "r".into(), tools: vec![], reasoning: " ".into(), calls: vec![] };
        assert_eq!(fill("{request}|{reasoning}|{calls}", &req), "r|(none)|(none)");
    }
}
