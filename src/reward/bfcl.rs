//! BFCL's AST checker (`bfcl_eval/eval_checker/ast_eval/ast_checker.py`, bfcl-eval 2026.3.23),
//! ported rule for rule for the Python-typed categories, over JSON values.
//!
//! A model's call arguments arrive as JSON; BFCL's arrive as Python values. The mapping is the
//! one `json.loads` makes (integer literal → int, `5.0` → float, object → dict, array → list),
//! and every comparison is Python's (`1 == 1.0`, `True == 1`, lists element-wise). The rules:
//! acceptable-value lists per argument, `""` marking an argument that may be omitted, int → float
//! promotion for `float` parameters, string standardisation (spaces and `,./-_*^` removed,
//! lower-cased, `'` → `"`), one level of nested type checks, a "variable" escape when the
//! acceptable values have another type than the schema, and the category's call rules
//! (simple: exactly one call; multiple: one call of the expected function; parallel: a
//! one-to-one match in any order). Java and JavaScript categories need BFCL's literal
//! converters and are not ported yet: they return [`Verdict::Unsupported`].

use serde_json::{Map, Value};

use crate::tools::ToolCall;

/// The outcome of checking one model answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// BFCL would count it correct.
    Correct,
    /// BFCL would count it wrong, with BFCL's error type (e.g. `value_error:string`).
    Wrong {
        /// BFCL's `error_type`.
        error_type: &'static str,
        /// A human-readable reason.
        reason: String,
    },
    /// A language this port does not check yet.
    Unsupported,
}

impl Verdict {
    fn wrong(error_type: &'static str, reason: impl Into<String>) -> Self {
        Verdict::Wrong { error_type, reason: reason.into() }
    }
    /// Whether BFCL would count it correct.
    pub fn is_correct(&self) -> bool {
        matches!(self, Verdict::Correct)
    }
}

/// How a category's calls are matched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallRule {
    /// Exactly one call, of the one function.
    Simple,
    /// One call, of the expected function among several offered.
    Multiple,
    /// As many calls as expected, matched one-to-one in any order.
    Parallel,
    /// No call is the right answer.
    Irrelevance,
}

impl CallRule {
    /// The rule of a BFCL category name (`simple_python`, `parallel_multiple`, `irrelevance`…).
    pub fn of_category(category: &str) -> Self {
        if category.contains("irrelevance") {
            CallRule::Irrelevance
        } else if category.contains("parallel") {
            CallRule::Parallel
        } else if category.contains("multiple") {
            CallRule::Multiple
        } else {
            CallRule::Simple
        }
    }
}

/// Python's type of a JSON value, as `json.loads` would produce it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PyType {
    None,
    Bool,
    Int,
    Float,
    Str,
    List,
    Dict,
}

fn py_type(v: &Value) -> PyType {
    match v {
        Value::Null => PyType::None,
        Value::Bool(_) => PyType::Bool,
        Value::Number(n) if n.is_f64() => PyType::Float,
        Value::Number(_) => PyType::Int,
        Value::String(_) => PyType::Str,
        Value::Array(_) => PyType::List,
        Value::Object(_) => PyType::Dict,
    }
}

/// `PYTHON_TYPE_MAPPING` (BFCL type names → Python types).
fn schema_type(name: &str) -> Option<PyType> {
    Some(match name {
        "string" | "any" => PyType::Str,
        "integer" => PyType::Int,
        "float" => PyType::Float,
        "boolean" => PyType::Bool,
        "array" | "tuple" => PyType::List,
        "dict" => PyType::Dict,
        _ => return None,
    })
}

/// Python `==` on JSON-decoded values.
fn py_eq(a: &Value, b: &Value) -> bool {
    let num = |v: &Value| match v {
        Value::Bool(x) => Some(f64::from(u8::from(*x))),
        Value::Number(n) => n.as_f64(),
        _ => None,
    };
    match (a, b) {
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(p, q)| py_eq(p, q)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| py_eq(v, w)))
        }
        (Value::Number(x), Value::Number(y)) if x.is_f64() || y.is_f64() => x.as_f64() == y.as_f64(),
        (Value::Number(x), Value::Number(y)) => x.as_i64() == y.as_i64() && x.as_u64() == y.as_u64(),
        (Value::String(x), Value::String(y)) => x == y,
        (Value::Null, Value::Null) => true,
        _ => matches!((num(a), num(b)), (Some(x), Some(y)) if x == y),
    }
}

fn py_in(v: &Value, list: &[Value]) -> bool {
    list.iter().any(|x| py_eq(v, x))
}

/// `standardize_string`.
pub fn standardize(s: &str) -> String {
    s.chars()
        .filter(|c| !matches!(c, ' ' | ',' | '.' | '/' | '-' | '_' | '*' | '^'))
        .collect::<String>()
        .to_lowercase()
        .replace('\'', "\"")
}

fn standardized(v: &Value) -> Value {
    match v {
        Value::String(s) => Value::String(standardize(s)),
        other => other.clone(),
    }
}

fn is_optional_marker(v: &Value) -> bool {
    v.as_str() == Some("")
}

/// `type_checker`: (valid, is_variable).
fn type_check(value: &Value, answers: &[Value], expected: PyType, nested: Option<PyType>) -> (bool, bool) {
    let answer_type = answers.iter().find(|a| !is_optional_marker(a)).map(py_type);
    let is_variable = answer_type.is_some_and(|t| t != expected);
    if py_type(value) == expected {
        let Some(inner) = nested else { return (true, is_variable) };
        for answer in answers {
            let ok = match answer {
                Value::Array(item_answers) => value
                    .as_array()
                    .is_none_or(|items| items.iter().all(|item| type_check(item, item_answers, inner, None).0)),
                _ => true,
            };
            if ok {
                return (true, is_variable);
            }
        }
        return (false, is_variable);
    }
    if answer_type.is_some_and(|t| py_type(value) == t) {
        return (true, true);
    }
    (false, is_variable)
}

/// `dict_checker`: the model's dict against dicts of acceptable-value lists.
fn dict_check(value: &Map<String, Value>, answers: &[Value]) -> bool {
    answers.iter().filter(|a| !is_optional_marker(a)).any(|answer| {
        let Some(answer) = answer.as_object() else { return false };
        let values_ok = value.iter().all(|(k, v)| {
            answer.get(k).and_then(Value::as_array).is_some_and(|acceptable| {
                let acceptable: Vec<Value> = acceptable.iter().map(standardized).collect();
                py_in(&standardized(v), &acceptable)
            })
        });
        let keys_ok = answer.iter().all(|(k, acceptable)| {
            value.contains_key(k) || acceptable.as_array().is_some_and(|a| a.iter().any(is_optional_marker))
        });
        values_ok && keys_ok
    })
}

/// `list_dict_checker`.
fn list_dict_check(value: &[Value], answers: &[Value]) -> bool {
    answers.iter().any(|answer| {
        let Some(dicts) = answer.as_array() else { return false };
        dicts.len() == value.len()
            && value
                .iter()
                .zip(dicts)
                .all(|(v, d)| v.as_object().is_some_and(|v| dict_check(v, std::slice::from_ref(d))))
    })
}

/// `list_checker`.
fn list_check(value: &[Value], answers: &[Value]) -> bool {
    let model = Value::Array(value.iter().map(standardized).collect());
    answers.iter().any(|answer| match answer {
        Value::Array(items) => py_eq(&model, &Value::Array(items.iter().map(standardized).collect())),
        _ => false,
    })
}

/// One expected call: function name → argument → acceptable values (`""` = may be omitted).
pub type ExpectedCall = (String, Map<String, Value>);

/// A function's schema as BFCL gives it (`{"name", "description", "parameters": {…}}`).
fn find_doc<'a>(docs: &'a [Value], name: &str) -> Option<&'a Value> {
    docs.iter().find(|d| d.get("name").and_then(Value::as_str) == Some(name))
}

/// `simple_function_checker` for one call against one expected call.
pub fn check_call(doc: &Value, call: &ToolCall, expected: &ExpectedCall) -> Verdict {
    let (name, answers) = expected;
    if &call.name != name {
        return Verdict::wrong("simple_function_checker:wrong_func_name", format!("function {name:?} not found"));
    }
    let params = &doc["parameters"];
    let properties = params.get("properties").and_then(Value::as_object);
    let required = params.get("required").and_then(Value::as_array).cloned().unwrap_or_default();
    for param in required.iter().filter_map(Value::as_str) {
        if !call.arguments.contains_key(param) {
            return Verdict::wrong(
                "simple_function_checker:missing_required",
                format!("missing required parameter {param:?}"),
            );
        }
    }
    for (param, value) in &call.arguments {
        let (Some(details), Some(acceptable)) = (properties.and_then(|p| p.get(param)), answers.get(param)) else {
            return Verdict::wrong(
                "simple_function_checker:unexpected_param",
                format!("unexpected parameter {param:?}"),
            );
        };
        let acceptable = acceptable.as_array().map(Vec::as_slice).unwrap_or_default();
        let type_name = details.get("type").and_then(Value::as_str).unwrap_or("");
        let Some(expected) = schema_type(type_name) else {
            return Verdict::wrong("type_error:simple", format!("unknown schema type {type_name:?} for {param:?}"));
        };
        let nested = match type_name {
            "array" | "tuple" => details.pointer("/items/type").and_then(Value::as_str).and_then(schema_type),
            _ => None,
        };
        let value = match (type_name, value) {
            ("float", Value::Number(n)) if !n.is_f64() => n.as_f64().map_or(value.clone(), Value::from),
            _ => value.clone(),
        };
        let (type_ok, is_variable) = type_check(&value, acceptable, expected, nested);
        if !type_ok {
            return Verdict::wrong("type_error:simple", format!("incorrect type for {param:?}: {value}"));
        }
        let value_ok = match (&value, is_variable) {
            (Value::Object(map), false) if expected == PyType::Dict => dict_check(map, acceptable),
            (Value::Array(items), false) if expected == PyType::List && nested == Some(PyType::Dict) => {
                list_dict_check(items, acceptable)
            }
            (Value::String(s), false) if expected == PyType::Str => {
                let wanted: Vec<Value> = acceptable.iter().filter(|a| a.is_string()).map(standardized).collect();
                py_in(&Value::String(standardize(s)), &wanted)
            }
            (Value::Array(items), false) if expected == PyType::List => list_check(items, acceptable),
            _ => py_in(&value, acceptable),
        };
        if !value_ok {
            return Verdict::wrong(
                "value_error",
                format!("invalid value for {param:?}: {value}; expected one of {acceptable:?}"),
            );
        }
    }
    for (param, acceptable) in answers {
        let optional = acceptable.as_array().is_some_and(|a| a.iter().any(is_optional_marker));
        if !call.arguments.contains_key(param) && !optional {
            return Verdict::wrong(
                "simple_function_checker:missing_optional",
                format!("parameter {param:?} not provided"),
            );
        }
    }
    Verdict::Correct
}

/// `ast_checker` for one item: the model's calls against the expected calls under `rule`.
pub fn check(rule: CallRule, docs: &[Value], calls: &[ToolCall], expected: &[ExpectedCall]) -> Verdict {
    let doc_for = |name: &str| find_doc(docs, name).or_else(|| (docs.len() == 1).then(|| &docs[0]));
    match rule {
        CallRule::Irrelevance if calls.is_empty() => Verdict::Correct,
        CallRule::Irrelevance => Verdict::wrong("irrelevance:made_a_call", "a call where none was right"),
        _ if calls.len() != expected.len() => {
            Verdict::wrong("wrong_count", format!("{} calls, expected {}", calls.len(), expected.len()))
        }
        CallRule::Simple | CallRule::Multiple => {
            let Some(doc) = doc_for(&expected[0].0) else { return Verdict::wrong("missing_doc", "no schema") };
            check_call(doc, &calls[0], &expected[0])
        }
        CallRule::Parallel => {
            let mut used = vec![false; calls.len()];
            for want in expected {
                let Some(doc) = doc_for(&want.0) else { return Verdict::wrong("missing_doc", "no schema") };
                let found = (0..calls.len()).find(|&i| !used[i] && check_call(doc, &calls[i], want).is_correct());
                match found {
                    Some(i) => used[i] = true,
                    None => {
                        return Verdict::wrong("parallel:cannot_find_match", format!("no call matches {:?}", want.0));
                    }
                }
            }
            Verdict::Correct
        }
    }
}

/// The first acceptable answer of each expected call, as calls: what an oracle model would say.
/// An argument whose list starts with `""` is left out, unless the schema requires it (BFCL's
/// data has such items, e.g. `simple_python_200`; omission fails BFCL's own required check
/// there), in which case its first non-`""` value is used; an argument the schema does not
/// define is left out (BFCL rejects unexpected parameters; e.g. `parallel_multiple_26`).
pub fn first_acceptable(docs: &[Value], expected: &[ExpectedCall]) -> Vec<ToolCall> {
    expected
        .iter()
        .map(|(name, answers)| {
            let doc = find_doc(docs, name);
            let types = doc.and_then(|d| d.pointer("/parameters/properties"));
            let required = doc.and_then(|d| d.pointer("/parameters/required")).and_then(Value::as_array);
            let is_required = |p: &str| required.is_some_and(|r| r.iter().any(|x| x.as_str() == Some(p)));
            let mut arguments = Map::new();
            for (param, acceptable) in answers {
                if types.is_some_and(|t| t.get(param).is_none()) {
                    continue;
                }
                let values = acceptable.as_array().map(Vec::as_slice).unwrap_or_default();
                let first = if is_required(param) {
                    values.iter().find(|v| !is_optional_marker(v))
                } else {
                    values.first().filter(|v| !is_optional_marker(v))
                };
                let Some(first) = first.cloned() else { continue };
                let type_name = types.and_then(|t| t.pointer(&format!("/{param}/type"))).and_then(Value::as_str);
                arguments.insert(param.clone(), first_of_nested(first, type_name));
            }
            ToolCall { name: name.clone(), arguments }
        })
        .collect()
}

/// Dict answers hold acceptable-value lists per key: take the first of each, recursively.
fn first_of_nested(value: Value, type_name: Option<&str>) -> Value {
    let pick = |d: Map<String, Value>| {
        let mut out = Map::new();
        for (k, v) in d {
            match v.as_array().and_then(|a| a.first()) {
                Some(first) if !is_optional_marker(first) => {
                    out.insert(k, first.clone());
                }
                _ => {}
            }
        }
        Value::Object(out)
    };
    match (value, type_name) {
        (Value::Object(d), Some("dict")) => pick(d),
        (Value::Array(items), Some("array")) if items.iter().all(Value::is_object) && !items.is_empty() => {
            Value::Array(items.into_iter().map(|i| i.as_object().cloned().map_or(i, pick)).collect())
        }
        (v, _) => v,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn doc() -> Value {
        json!({"name": "f", "parameters": {"type": "dict", "required": ["x"], "properties": {
            "x": {"type": "float"}, "city": {"type": "string"}, "n": {"type": "integer"},
            "tags": {"type": "array", "items": {"type": "string"}}, "opts": {"type": "dict"},
            "flag": {"type": "boolean"}}}})
    }

    fn expected() -> ExpectedCall {
        let answers = json!({"x": [2.0], "city": ["New York, NY", ""], "n": [3, ""], "tags": [["a", "b"], ""],
            "opts": [{"k": ["v"], "z": [1, ""]}, ""], "flag": [true, ""]});
        ("f".into(), answers.as_object().cloned().unwrap_or_default())
    }

    fn verdict(args: Value) -> Verdict {
        let call = ToolCall { name: "f".into(), arguments: args.as_object().cloned().unwrap_or_default() };
        check(CallRule::Simple, &[doc()], &[call], &[expected()])
    }

    #[test]
    fn python_semantics() {
        assert!(verdict(json!({"x": 2})).is_correct(), "int promotes to float");
        assert!(verdict(json!({"x": 2.0, "city": "new york ny"})).is_correct(), "strings are standardised");
        assert!(verdict(json!({"x": 2.0, "tags": ["A", "b"], "opts": {"k": "V"}})).is_correct());
        assert!(!verdict(json!({"x": 2.0, "n": 3.0})).is_correct(), "3.0 is not an integer");
        assert!(!verdict(json!({"x": 2.0, "flag": 1})).is_correct(), "1 is not a boolean");
        assert!(!verdict(json!({"x": 2.0, "opts": {"z": 1}})).is_correct(), "required dict key k missing");
        assert!(!verdict(json!({"x": 2.0, "tags": ["b", "a"]})).is_correct(), "list order matters");
        assert!(!verdict(json!({"x": 2.0, "extra": 1})).is_correct());
        assert!(!verdict(json!({})).is_correct());
        assert_eq!(standardize("April 1, 2024"), "april12024");
    }

    #[test]
    fn categories_and_python_equality() {
        assert_eq!(CallRule::of_category("live_parallel_multiple"), CallRule::Parallel);
        assert_eq!(CallRule::of_category("multiple"), CallRule::Multiple);
        assert_eq!(CallRule::of_category("live_irrelevance"), CallRule::Irrelevance);
        assert_eq!(CallRule::of_category("simple_python"), CallRule::Simple);
        assert!(py_eq(&json!(1), &json!(1.0)) && py_eq(&json!(true), &json!(1)) && !py_eq(&json!("1"), &json!(1)));
        assert!(check(CallRule::Irrelevance, &[doc()], &[], &[]).is_correct());
    }
}
