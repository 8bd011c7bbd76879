//! Python's semantics, as BFCL's checker relies on them, over JSON values: the type of a
//! `json.loads` result, `==` and `in`, `str.strip`, `int(str)` / `float(str)`, `s[1:-1]`, and
//! BFCL's `standardize_string`.
//!
//! Known divergences (documented, tested where they matter): integers beyond 64 bits and
//! non-finite floats cannot live in JSON, so [`py_int`] / [`py_float`] keep such text as a string
//! (Python keeps an `int` / a `float('inf')`; either way no acceptable answer equals it, only the
//! error type can differ); digits outside ASCII are not numbers here (Python's `\d` and `int`
//! accept every Unicode decimal digit).

use fancy_regex::Regex;
use serde_json::{Map, Value};

/// A constant pattern, compiled (`fancy_regex` backtracks like Python's `re`). Python's `$`
/// without MULTILINE is written `(?=\n?\z)`, `re.match`'s anchoring `\A`.
pub(crate) fn regex(pattern: &str) -> Regex {
    Regex::new(pattern).unwrap_or_else(|e| panic!("constant pattern {pattern:?}: {e}"))
}

/// `re.search(re, text).group(1)` (a backtracking-limit error counts as no match).
pub(crate) fn group<'t>(re: &Regex, text: &'t str) -> Option<&'t str> {
    re.captures(text).ok().flatten().and_then(|c| c.get(1)).map(|m| m.as_str())
}

/// `re.search(re, text) is not None`.
pub(crate) fn found(re: &Regex, text: &str) -> bool {
    re.is_match(text).unwrap_or(false)
}

/// Python's type of a JSON value, as `json.loads` would produce it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PyType {
    None,
    Bool,
    Int,
    Float,
    Str,
    List,
    Dict,
}

impl PyType {
    /// Python's name of the type, for messages.
    pub(crate) fn name(self) -> &'static str {
        match self {
            PyType::None => "NoneType",
            PyType::Bool => "bool",
            PyType::Int => "int",
            PyType::Float => "float",
            PyType::Str => "str",
            PyType::List => "list",
            PyType::Dict => "dict",
        }
    }
}

pub(crate) fn py_type(v: &Value) -> PyType {
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

/// Python `==` on JSON-decoded values (`1 == 1.0`, `True == 1`, containers element-wise).
pub(crate) fn py_eq(a: &Value, b: &Value) -> bool {
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

/// Python `v in list`.
pub(crate) fn py_in(v: &Value, list: &[Value]) -> bool {
    list.iter().any(|x| py_eq(v, x))
}

/// `str.isspace` for one character: Unicode White_Space plus the ASCII separators 0x1c–0x1f.
fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// `s.strip()`.
pub(crate) fn py_strip(s: &str) -> &str {
    s.trim_matches(is_py_space)
}

/// `s[1:-1]`, by characters.
pub(crate) fn inner(s: &str) -> String {
    let n = s.chars().count();
    s.chars().skip(1).take(n.saturating_sub(2)).collect()
}

/// `s.startswith(q) and s.endswith(q)`.
pub(crate) fn quoted_with(s: &str, q: char) -> bool {
    s.starts_with(q) && s.ends_with(q)
}

/// The text `int()` / `float()` sees: stripped, with underscores removed when each one sits
/// between two digits (Python's rule); `None` when an underscore is misplaced.
fn numeric_text(s: &str) -> Option<String> {
    let s = py_strip(s);
    let chars: Vec<char> = s.chars().collect();
    for (i, c) in chars.iter().enumerate() {
        if *c == '_' {
            let before = i.checked_sub(1).and_then(|j| chars.get(j)).is_some_and(char::is_ascii_digit);
            let after = chars.get(i + 1).is_some_and(char::is_ascii_digit);
            if !(before && after) {
                return None;
            }
        }
    }
    Some(chars.into_iter().filter(|c| *c != '_').collect())
}

/// `int(s)`: `None` where Python raises `ValueError`. Beyond 64 bits the text stays a string.
pub(crate) fn py_int(s: &str) -> Option<Value> {
    let text = numeric_text(s)?;
    let digits = text.strip_prefix(['+', '-']).unwrap_or(&text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let text = text.strip_prefix('+').unwrap_or(&text);
    Some(match (text.parse::<i64>(), text.parse::<u64>()) {
        (Ok(v), _) => Value::from(v),
        (_, Ok(v)) => Value::from(v),
        _ => Value::String(py_strip(s).to_string()),
    })
}

/// `float(s)`: `None` where Python raises `ValueError`. Non-finite results stay a string.
pub(crate) fn py_float(s: &str) -> Option<Value> {
    let text = numeric_text(s)?;
    let body = text.strip_prefix(['+', '-']).unwrap_or(&text);
    let word = matches!(body.to_ascii_lowercase().as_str(), "inf" | "infinity" | "nan");
    let decimal = body.chars().all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-'));
    if !(word || decimal) {
        return None;
    }
    let value: f64 = text.parse().ok()?;
    Some(serde_json::Number::from_f64(value).map_or_else(|| Value::String(py_strip(s).to_string()), Value::Number))
}

/// BFCL's `standardize_string`: spaces and `,./-_*^` removed, lower-cased, `'` → `"`.
pub fn standardize(s: &str) -> String {
    s.chars()
        .filter(|c| !matches!(c, ' ' | ',' | '.' | '/' | '-' | '_' | '*' | '^'))
        .collect::<String>()
        .to_lowercase()
        .replace('\'', "\"")
}

pub(crate) fn standardized(v: &Value) -> Value {
    match v {
        Value::String(s) => Value::String(standardize(s)),
        other => other.clone(),
    }
}

/// `""` in an acceptable-value list: the argument may be omitted.
pub(crate) fn is_optional_marker(v: &Value) -> bool {
    v.as_str() == Some("")
}

/// `get_possible_answer_type`: the type of the first acceptable value that is not `""`.
fn answer_type(answers: &[Value]) -> Option<PyType> {
    answers.iter().find(|a| !is_optional_marker(a)).map(py_type)
}

/// `type_checker`: `Ok(is_variable)` or `Err(error_type)`. A value of the acceptable answers'
/// type where the schema says otherwise is a "variable" (a name standing for the value).
pub(crate) fn type_check(
    value: &Value,
    answers: &[Value],
    expected: PyType,
    nested: Option<PyType>,
) -> Result<bool, &'static str> {
    let answer_type = answer_type(answers);
    let is_variable = answer_type.is_some_and(|t| t != expected);
    let mut error = "type_error:simple";
    if py_type(value) == expected {
        let Some(inner) = nested else { return Ok(is_variable) };
        for answer in answers {
            let ok = match (answer, value) {
                (Value::Array(item_answers), Value::Array(items)) => {
                    items.iter().all(|item| type_check(item, item_answers, inner, None).is_ok())
                }
                _ => true,
            };
            if ok {
                return Ok(is_variable);
            }
        }
        error = "type_error:nested";
    }
    if answer_type.is_some_and(|t| py_type(value) == t) {
        // BFCL marks the variable but keeps a failed nested check failed.
        return if error == "type_error:nested" { Err(error) } else { Ok(true) };
    }
    Err("type_error:simple")
}

/// Python iterating an acceptable-value "list": a list's items, a string's characters.
fn py_iter(v: &Value) -> Vec<Value> {
    match v {
        Value::Array(items) => items.clone(),
        Value::String(s) => s.chars().map(|c| Value::String(c.to_string())).collect(),
        _ => Vec::new(),
    }
}

/// Python `"" in v`: a list holding `""`, or any string (the empty substring).
pub(crate) fn allows_omission(v: &Value) -> bool {
    match v {
        Value::Array(items) => items.iter().any(is_optional_marker),
        Value::String(_) => true,
        _ => false,
    }
}

/// `dict_checker`: the model's dict against dicts of acceptable-value lists. BFCL's data has
/// dict answers whose values are bare strings (`simple_java_64`); Python then iterates the
/// string's characters and finds `""` in it, and so does this port.
pub(crate) fn dict_check(value: &Map<String, Value>, answers: &[Value]) -> Result<(), &'static str> {
    let mut error = "dict_checker:unclear";
    for answer in answers.iter().filter(|a| !is_optional_marker(a)) {
        let Some(answer) = answer.as_object() else {
            error = "dict_checker:unclear";
            continue;
        };
        let mut failed = None;
        for (k, v) in value {
            let Some(acceptable) = answer.get(k) else {
                failed = Some("value_error:dict_key");
                break;
            };
            let acceptable: Vec<Value> = py_iter(acceptable).iter().map(standardized).collect();
            if !py_in(&standardized(v), &acceptable) {
                failed = Some("value_error:dict_value");
                break;
            }
        }
        let missing = answer.iter().any(|(k, acceptable)| !value.contains_key(k) && !allows_omission(acceptable));
        // BFCL checks missing keys after a failed value too, and that error type wins.
        match (failed, missing) {
            (None, false) => return Ok(()),
            (_, true) => error = "value_error:dict_key",
            (Some(e), false) => error = e,
        }
    }
    Err(error)
}

/// `list_dict_checker`: a list of dicts, position by position, against lists of dict answers.
pub(crate) fn list_dict_check(value: &[Value], answers: &[Value]) -> Result<(), &'static str> {
    let mut error = "list_dict_checker:unclear";
    for answer in answers {
        let dicts = answer.as_array().map(Vec::as_slice).unwrap_or_default();
        if dicts.len() != value.len() {
            error = "value_error:list_dict_count";
            continue;
        }
        let mut ok = true;
        for (v, d) in value.iter().zip(dicts) {
            let checked = match v.as_object() {
                Some(v) => dict_check(v, std::slice::from_ref(d)),
                None => Err("dict_checker:unclear"),
            };
            if let Err(e) = checked {
                error = e;
                ok = false;
                break;
            }
        }
        if ok {
            return Ok(());
        }
    }
    Err(error)
}

/// `list_checker`: strings standardised on both sides, then list equality.
pub(crate) fn list_check(value: &[Value], answers: &[Value]) -> bool {
    let model = Value::Array(value.iter().map(standardized).collect());
    answers.iter().any(|answer| match answer {
        Value::Array(items) => py_eq(&model, &Value::Array(items.iter().map(standardized).collect())),
        _ => false,
    })
}

/// `string_checker`: standardised membership among the string answers.
pub(crate) fn string_check(value: &str, answers: &[Value]) -> bool {
    let wanted: Vec<Value> = answers.iter().filter(|a| a.is_string()).map(standardized).collect();
    py_in(&Value::String(standardize(value)), &wanted)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn python_numbers_and_strings() {
        assert_eq!(py_int(" 1_000 "), Some(json!(1000)));
        assert_eq!(py_int("+7"), Some(json!(7)));
        assert_eq!(py_int("1__0"), None);
        assert_eq!(py_int("_1"), None);
        assert_eq!(py_int("1.0"), None);
        assert_eq!(py_int("99999999999999999999999"), Some(json!("99999999999999999999999")));
        assert_eq!(py_float("1e3"), Some(json!(1000.0)));
        assert_eq!(py_float(".5"), Some(json!(0.5)));
        assert_eq!(py_float("-Infinity"), Some(json!("-Infinity")));
        assert_eq!(py_float("abc"), None);
        assert_eq!(inner("\""), "");
        assert_eq!(inner("'ab'"), "ab");
        assert_eq!(py_strip("\u{1c} x \n"), "x");
        assert!(py_eq(&json!(1), &json!(1.0)) && py_eq(&json!(true), &json!(1)) && !py_eq(&json!("1"), &json!(1)));
        assert_eq!(standardize("April 1, 2024"), "april12024");
    }
}
