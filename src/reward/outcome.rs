//! Outcome rewards of one assistant turn, each in [0, 1], each returned separately:
//!
//! - **format**: 1 when the output parsed cleanly (no [`Issue`]), says something, and is of the
//!   kind the turn wants: calls where calls are expected, an answer without calls where none
//!   is; 0 otherwise. (A prose refusal of a task that wants calls used to earn it, so that
//!   RL on SmolLM2 learnt to answer "No tool fits" wherever its calls came out broken: a
//!   refusal outscored an attempt; BENCHMARKS.md, "SmolLM2-135M on the generated corpus".)
//! - **exact** (Tool-N1): 1 when the calls, as a multiset, match the expected calls one to one:
//!   same names, every argument's value Python-equal (`==`, no string normalisation) to one of
//!   its acceptable values, no extra argument, and no missing one unless `""` marks it optional.
//!   No call expected and none made is also 1.
//! - **partial** (ToolRL, each term scaled to [0, 1]): the multiset Jaccard of call names; the
//!   mean, over expected calls, of the argument-name Jaccard with the call they are paired with
//!   (optional arguments count only when given);
//!   the fraction of expected arguments whose value is acceptable in that pairing. Pairing is
//!   the assignment of calls to expected calls (same name) that maximises the argument score;
//!   `total` is the mean of the three terms.
//! - **bfcl**: BFCL's AST checker ([`super::bfcl`]), 1 or 0.
//!
//! Mixing the components is the algorithm's job ([`super::config::RewardConfig::combine`] only
//! forms the configured weighted outcome reward).
//!
//! [`Issue`]: crate::tools::parse::Issue

use serde::Serialize;
use serde_json::{Map, Value};

use super::bfcl::python::{allows_omission, py_eq};
use super::bfcl::{CallRule, ExpectedCall, Language, check};
use crate::tools::ToolCall;
use crate::tools::parse::Parsed;

/// ToolRL-style partial credit, each term in [0, 1].
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct PartialCredit {
    /// Multiset Jaccard of call names.
    pub names: f64,
    /// Mean argument-name Jaccard over expected calls (paired calls).
    pub arguments: f64,
    /// Fraction of expected arguments given an acceptable value.
    pub values: f64,
    /// Mean of the three.
    pub total: f64,
}

/// Every outcome component of one turn.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct OutcomeScores {
    /// Clean, non-empty output of the kind the turn wants.
    pub format: f64,
    /// Tool-N1 exact multiset match.
    pub exact: f64,
    /// ToolRL partial credit.
    pub partial: PartialCredit,
    /// BFCL AST checker.
    pub bfcl: f64,
}

/// What a turn is checked against.
#[derive(Clone, Copy, Debug)]
pub struct Expectation<'a> {
    /// Function schemas the checker reads (BFCL docs or JSON Schema functions).
    pub functions: &'a [Value],
    /// Expected calls of the turn; empty = no call is right.
    pub expected: &'a [ExpectedCall],
    /// Literal language of the arguments.
    pub language: Language,
}

/// All components for one parsed turn.
pub fn score(parsed: &Parsed, want: Expectation<'_>) -> OutcomeScores {
    let rule = CallRule::of_expected(want.expected.len(), want.functions.len());
    OutcomeScores {
        format: format(parsed) * f64::from(u8::from(parsed.calls.is_empty() == want.expected.is_empty())),
        exact: exact(&parsed.calls, want.expected),
        partial: partial(&parsed.calls, want.expected),
        bfcl: f64::from(u8::from(
            check(rule, want.language, want.functions, &parsed.calls, want.expected).is_correct(),
        )),
    }
}

/// The format component.
pub fn format(parsed: &Parsed) -> f64 {
    let says_something = !parsed.calls.is_empty() || !parsed.answer.is_empty();
    f64::from(u8::from(parsed.issues.is_empty() && says_something))
}

fn acceptable(answers: &Value) -> &[Value] {
    answers.as_array().map(Vec::as_slice).unwrap_or_default()
}

/// Python `==`, or, for a dict answer whose values are acceptable-value lists (BFCL's nested
/// form), every given key acceptable and every non-optional key given; lists of such dicts
/// position by position.
fn value_matches(v: &Value, answer: &Value) -> bool {
    if py_eq(v, answer) {
        return true;
    }
    match (v, answer) {
        (Value::Object(given), Value::Object(want)) if want.values().all(Value::is_array) => {
            given
                .iter()
                .all(|(k, x)| want.get(k).is_some_and(|acc| acceptable(acc).iter().any(|y| value_matches(x, y))))
                && want.iter().all(|(k, acc)| given.contains_key(k) || allows_omission(acc))
        }
        (Value::Array(given), Value::Array(want)) if want.iter().all(Value::is_object) => {
            given.len() == want.len() && given.iter().zip(want).all(|(x, y)| value_matches(x, y))
        }
        _ => false,
    }
}

/// Per-argument match of `call` against `want`: (argument-name Jaccard, acceptable values).
fn argument_match(call: &Map<String, Value>, want: &Map<String, Value>) -> (f64, usize) {
    // An optional argument left out is not missing from the call's names.
    let missing = want.iter().filter(|(k, a)| !call.contains_key(*k) && !allows_omission(a)).count();
    let union = call.len() + missing;
    let common = call.keys().filter(|k| want.contains_key(*k)).count();
    let jaccard = if union == 0 { 1.0 } else { common as f64 / union as f64 };
    let good = want
        .iter()
        .filter(|(k, answers)| match call.get(*k) {
            Some(v) => acceptable(answers).iter().any(|a| value_matches(v, a)),
            None => allows_omission(answers),
        })
        .count();
    (jaccard, good)
}

fn exact_one(call: &ToolCall, (name, want): &ExpectedCall) -> bool {
    call.name == *name
        && call.arguments.keys().all(|k| want.contains_key(k))
        && argument_match(&call.arguments, want).1 == want.len()
}

/// The exact component: a perfect one-to-one matching (backtracking; turns hold few calls).
pub fn exact(calls: &[ToolCall], expected: &[ExpectedCall]) -> f64 {
    fn assign(calls: &[ToolCall], expected: &[ExpectedCall], used: &mut [bool]) -> bool {
        let Some((first, rest)) = expected.split_first() else { return true };
        for i in 0..calls.len() {
            if !used[i] && exact_one(&calls[i], first) {
                used[i] = true;
                if assign(calls, rest, used) {
                    return true;
                }
                used[i] = false;
            }
        }
        false
    }
    let ok = calls.len() == expected.len() && assign(calls, expected, &mut vec![false; calls.len()]);
    f64::from(u8::from(ok))
}

/// The partial-credit component.
pub fn partial(calls: &[ToolCall], expected: &[ExpectedCall]) -> PartialCredit {
    if calls.is_empty() && expected.is_empty() {
        return PartialCredit { names: 1.0, arguments: 1.0, values: 1.0, total: 1.0 };
    }
    let names = {
        let mut left: Vec<&str> = calls.iter().map(|c| c.name.as_str()).collect();
        let mut common = 0;
        for (name, _) in expected {
            if let Some(i) = left.iter().position(|n| n == name) {
                left.swap_remove(i);
                common += 1;
            }
        }
        common as f64 / (calls.len() + expected.len() - common) as f64
    };
    // Best pairing of expected calls to distinct calls of the same name (exhaustive: few calls).
    fn best(calls: &[ToolCall], expected: &[ExpectedCall], used: &mut [bool]) -> (f64, usize) {
        let Some(((name, want), rest)) = expected.split_first() else { return (0.0, 0) };
        let mut top = best(calls, rest, used);
        for i in 0..calls.len() {
            if used[i] || calls[i].name != *name {
                continue;
            }
            used[i] = true;
            let (j, g) = argument_match(&calls[i].arguments, want);
            let (rj, rg) = best(calls, rest, used);
            used[i] = false;
            if j + rj + (g + rg) as f64 > top.0 + top.1 as f64 {
                top = (j + rj, g + rg);
            }
        }
        top
    }
    let (jaccard, good) = best(calls, expected, &mut vec![false; calls.len()]);
    let total_args: usize = expected.iter().map(|(_, w)| w.len()).sum();
    let arguments = if expected.is_empty() { 0.0 } else { jaccard / expected.len() as f64 };
    let values = if total_args == 0 { arguments } else { good as f64 / total_args as f64 };
    PartialCredit { names, arguments, values, total: (names + arguments + values) / 3.0 }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::tools::parse::parse;

    fn call(name: &str, args: Value) -> ToolCall {
        ToolCall { name: name.into(), arguments: args.as_object().cloned().unwrap_or_default() }
    }

    fn want(name: &str, args: Value) -> ExpectedCall {
        (name.into(), args.as_object().cloned().unwrap_or_default())
    }

    #[test]
    fn components_on_hand_made_turns() {
        let expected = [want("f", json!({"x": [1], "unit": ["c", ""]})), want("g", json!({"y": ["a"]}))];
        let right = [call("g", json!({"y": "a"})), call("f", json!({"x": 1.0}))];
        assert_eq!(exact(&right, &expected), 1.0, "order free, 1 == 1.0, optional omitted");
        assert_eq!(partial(&right, &expected).total, 1.0);
        let wrong_value = [call("f", json!({"x": 2})), call("g", json!({"y": "a"}))];
        assert_eq!(exact(&wrong_value, &expected), 0.0);
        let p = partial(&wrong_value, &expected);
        assert_eq!((p.names, p.arguments), (1.0, 1.0));
        assert!((p.values - 2.0 / 3.0).abs() < 1e-12, "{p:?}");
        let one_missing = [call("f", json!({"x": 1, "extra": 0}))];
        let p = partial(&one_missing, &expected);
        assert!((p.names - 0.5).abs() < 1e-12 && (p.arguments - 0.25).abs() < 1e-12, "{p:?}");
        assert_eq!(exact(&one_missing, &expected), 0.0);
        assert_eq!(exact(&[], &[]), 1.0);
        assert_eq!(partial(&[call("f", json!({}))], &[]).total, 0.0);
        assert_eq!(exact(&[call("f", json!({"x": "1"}))], &expected[..1]), 0.0, "no Python coercion of '1'");
        let nested = [want("h", json!({"o": [{"k": ["a", "b"], "z": [1, ""]}]}))];
        assert_eq!(exact(&[call("h", json!({"o": {"k": "b"}}))], &nested), 1.0, "BFCL's dict-of-lists answers");
        assert_eq!(exact(&[call("h", json!({"o": {"z": 1}}))], &nested), 0.0);
    }

    #[test]
    fn format_wants_calls_only_where_calls_are_expected() {
        let functions =
            [json!({"name": "f", "parameters": {"type": "object", "properties": {"v": {"type": "integer"}}}})];
        let expected = [want("f", json!({"v": [1]}))];
        let calls = Expectation { functions: &functions, expected: &expected, language: Language::Python };
        let none = Expectation { functions: &functions, expected: &[], language: Language::Python };
        let wrong_call = parse("<tool_call>{\"name\": \"f\", \"arguments\": {\"v\": 2}}</tool_call>");
        let refusal = parse("No tool fits this request.");
        assert_eq!((score(&wrong_call, calls).format, score(&wrong_call, calls).bfcl), (1.0, 0.0));
        assert_eq!(score(&refusal, calls).format, 0.0, "a refusal of a call task earns nothing");
        assert_eq!((score(&refusal, none).format, score(&refusal, none).bfcl), (1.0, 1.0));
        assert_eq!(score(&wrong_call, none).format, 0.0, "a call where none is wanted is the wrong kind");
    }

    #[test]
    fn format_reads_the_parser() {
        let good = parse("<think>t</think><tool_call>{\"name\": \"f\", \"arguments\": {}}</tool_call>");
        assert_eq!(format(&good), 1.0);
        assert_eq!(format(&parse("<tool_call>{\"name\": f}</tool_call>")), 0.0);
        assert_eq!(format(&parse("   ")), 0.0);
        assert_eq!(format(&parse("Paris.")), 1.0);
    }

    proptest::proptest! {
        /// Every component stays in [0, 1]; the right calls in any order score 1 everywhere.
        #[test]
        fn bounded_and_order_free(
            values in proptest::collection::vec(0i64..4, 1..4),
            answers in proptest::collection::vec(0i64..4, 1..4),
            shift in 0usize..4,
        ) {
            let expected: Vec<ExpectedCall> =
                answers.iter().enumerate().map(|(i, a)| want(&format!("f{}", i % 2), json!({"v": [a]}))).collect();
            let calls: Vec<ToolCall> =
                values.iter().enumerate().map(|(i, v)| call(&format!("f{}", i % 2), json!({"v": v}))).collect();
            let p = partial(&calls, &expected);
            for x in [exact(&calls, &expected), p.names, p.arguments, p.values, p.total] {
                proptest::prop_assert!((0.0..=1.0).contains(&x), "{x} {p:?}");
            }
            let mut right: Vec<ToolCall> =
                answers.iter().enumerate().map(|(i, a)| call(&format!("f{}", i % 2), json!({"v": a}))).collect();
            let n = right.len();
            right.rotate_left(shift % n);
            proptest::prop_assert_eq!(exact(&right, &expected), 1.0);
            proptest::prop_assert_eq!(partial(&right, &expected).total, 1.0);
        }
    }
}
