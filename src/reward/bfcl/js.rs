//! BFCL's JavaScript literal converter (`type_convertor/js_type_converter.py`, bfcl-eval
//! 2026.3.23), ported regex for regex, and its inverse for the oracle answer.
//!
//! In the JavaScript category every argument is a string of JS source; BFCL converts it by the
//! schema type and falls back to the text. Quirks kept: `String` is unquoted only when both ends
//! carry the same quote, `any` is never unquoted, arrays split on every comma, object values are
//! stripped of all surrounding quote characters before being read, and any failure inside a
//! collection yields the (stripped) text.

use std::sync::LazyLock;

use fancy_regex::Regex;
use serde_json::{Map, Value};

use super::Unconvertible;
use super::python::{found, group, inner, py_float, py_int, py_strip, quoted_with, regex};

static INT: LazyLock<Regex> = LazyLock::new(|| regex(r"\A-?[0-9]+(?=\n?\z)"));
static FLOAT: LazyLock<Regex> = LazyLock::new(|| regex(r"\A-?[0-9]+(\.[0-9]+)?(?=\n?\z)"));
static BIGINT: LazyLock<Regex> = LazyLock::new(|| regex(r"\A-?[0-9]+n(?=\n?\z)"));
static ARRAY_2D: LazyLock<Regex> = LazyLock::new(|| {
    regex(r"\A(?:\[\s*\[.*?\]\s*(,\s*\[.*?\]\s*)*\]|\bnew\s+Array\(\s*\[.*?\]\s*(,\s*\[.*?\]\s*)*\))")
});
static BRACKETED: LazyLock<Regex> = LazyLock::new(|| regex(r"\[(.*?)\]"));
static ARRAY_1D: LazyLock<Regex> = LazyLock::new(|| regex(r"\A(?:\[(.*?)\]|\bnew\s+Array\((.*?)\))"));
static DICT: LazyLock<Regex> = LazyLock::new(|| regex(r"\A\{(.*?)\}"));
static PAIR: LazyLock<Regex> = LazyLock::new(|| regex(r"([^:]+):\s*(.*?)(?:,\s*(?=[^,]+:)|(?=\n?\z))"));

fn text(s: &str) -> Value {
    Value::String(s.to_string())
}

/// `js_type_converter(value, expected_type, nested_type)`.
///
/// # Errors
/// Types outside BFCL's JS table, and the one input BFCL crashes on (`"5n\n"` as a `Bigint`).
pub fn convert(value: &str, ty: &str, nested: Option<&str>) -> Result<Value, Unconvertible> {
    Ok(match ty {
        "String" if quoted_with(value, '"') || quoted_with(value, '\'') => Value::String(inner(value)),
        "integer" if found(&INT, value) => py_int(value).unwrap_or_else(|| text(value)),
        "float" if found(&FLOAT, value) => py_float(value).unwrap_or_else(|| text(value)),
        "Bigint" if found(&BIGINT, value) => {
            // BFCL: `int(value[:-1])`, which raises when the match ended before a newline.
            let digits = value.strip_suffix('n').ok_or_else(|| Unconvertible(format!("int({value:?}[:-1]) raises")))?;
            py_int(digits).unwrap_or_else(|| text(value))
        }
        "Boolean" if value == "true" || value == "false" => Value::Bool(value == "true"),
        "String" | "integer" | "float" | "Bigint" | "Boolean" | "any" => text(value),
        "dict" => collection(value, Kind::Dict, nested),
        "array" => collection(value, Kind::Array, nested),
        other => return Err(Unconvertible(format!("unsupported JavaScript type {other:?}"))),
    })
}

#[derive(Clone, Copy)]
enum Kind {
    Array,
    Dict,
}

/// `parse_js_collection`: never fails, a failure inside yields the stripped text.
fn collection(code: &str, kind: Kind, nested: Option<&str>) -> Value {
    let code = py_strip(code);
    let parsed = match kind {
        Kind::Array => array(code, nested),
        Kind::Dict => Ok(dict(code)),
    };
    parsed.unwrap_or_else(|_| text(code))
}

fn array(code: &str, nested: Option<&str>) -> Result<Value, Unconvertible> {
    if let Ok(Some(whole)) = ARRAY_2D.find(code) {
        let mut rows = Vec::new();
        for (idx, caps) in BRACKETED.captures_iter(whole.as_str()).flatten().enumerate() {
            let Some(m) = caps.get(1) else { continue };
            let mut row = py_strip(m.as_str());
            if idx == 0 {
                row = row.strip_prefix('[').unwrap_or(row);
            }
            rows.push(Value::Array(row.split(',').map(|e| value(py_strip(e))).collect()));
        }
        return Ok(Value::Array(rows));
    }
    let Ok(Some(caps)) = ARRAY_1D.captures(code) else { return Ok(text(code)) };
    let elements = caps.get(1).or_else(|| caps.get(2)).map_or("", |m| py_strip(m.as_str()));
    let elements: Vec<&str> = if elements.is_empty() { Vec::new() } else { elements.split(',').collect() };
    match nested.filter(|n| !n.is_empty()) {
        Some(t) => elements
            .into_iter()
            .map(|e| {
                let e = py_strip(e);
                let inner_type = (e.starts_with('\'') || e.starts_with('"')).then_some("String");
                convert(e, t, inner_type)
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        None => Ok(Value::Array(elements.into_iter().map(|e| value(py_strip(e))).collect())),
    }
}

fn dict(code: &str) -> Value {
    if code == "{}" {
        return Value::Object(Map::new());
    }
    let Some(content) = group(&DICT, code) else { return text(code) };
    let mut map = Map::new();
    for caps in PAIR.captures_iter(content).flatten() {
        let (Some(k), Some(v)) = (caps.get(1), caps.get(2)) else { continue };
        let key = py_strip(k.as_str()).trim_matches(['\'', '"']).to_string();
        let v = py_strip(v.as_str());
        let parsed = if v.starts_with('[') && v.ends_with(']') {
            collection(v, Kind::Array, None)
        } else if v.starts_with('{') && v.ends_with('}') {
            collection(v, Kind::Dict, None)
        } else {
            value(v.trim_matches(['\'', '"']))
        };
        map.insert(key, parsed);
    }
    Value::Object(map)
}

/// `parse_js_value`: a literal without a known type.
fn value(s: &str) -> Value {
    let s = py_strip(s);
    match s {
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        _ if quoted_with(s, '"') || quoted_with(s, '\'') => Value::String(inner(s)),
        _ => py_int(s).or_else(|| py_float(s)).unwrap_or_else(|| text(s)),
    }
}

/// An untyped literal, as `parse_js_value` (or the object-value reader) reads it back.
fn untyped(v: &Value) -> String {
    match v {
        Value::String(s) => format!("\"{s}\""),
        Value::Array(items) => format!("[{}]", items.iter().map(untyped).collect::<Vec<_>>().join(", ")),
        Value::Object(map) => object(map),
        Value::Number(n) => n.as_f64().filter(|_| n.is_f64()).map_or_else(|| n.to_string(), |f| f.to_string()),
        other => other.to_string(),
    }
}

fn object(map: &Map<String, Value>) -> String {
    let pairs: Vec<String> = map.iter().map(|(k, v)| format!("{k}: {}", untyped(v))).collect();
    format!("{{{}}}", pairs.join(", "))
}

/// JS source that [`convert`] turns back into `value` (the oracle's answer).
pub fn literal(value: &Value, ty: &str, nested: Option<&str>) -> String {
    match (value, ty) {
        (Value::String(s), "String") => format!("\"{s}\""),
        (Value::String(s), _) => s.clone(),
        (Value::Number(n), "Bigint") => format!("{n}n"),
        (Value::Array(items), _) => {
            let one = |v: &Value| match (v, nested) {
                (Value::String(s), Some("String")) => format!("\"{s}\""),
                (Value::String(s), _) => s.clone(),
                (other, _) => untyped(other),
            };
            format!("[{}]", items.iter().map(one).collect::<Vec<_>>().join(", "))
        }
        (Value::Object(map), _) => object(map),
        (other, _) => untyped(other),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn c(value: &str, ty: &str, nested: Option<&str>) -> Value {
        convert(value, ty, nested).unwrap_or_else(|e| panic!("{e:?}"))
    }

    /// BFCL's own `test_js_type_converter*` cases.
    #[test]
    fn bfcl_converter_cases() {
        assert_eq!(c("123n", "Bigint", None), json!(123));
        assert_eq!(c("abc", "String", None), json!("abc"));
        assert_eq!(c("-3.25", "float", None), json!(-3.25));
        assert_eq!(c("new Array(1, 2, 3)", "array", None), json!([1, 2, 3]));
        assert_eq!(
            c("{'key1': 123, 'key2': 'value', 'key3': false}", "dict", None),
            json!({"key1": 123, "key2": "value", "key3": false})
        );
        assert_eq!(c("[1, 'two', true]", "array", None), json!([1, "two", true]));
        assert_eq!(c("new Array(4n, 5n, 6n)", "array", Some("Bigint")), json!([4, 5, 6]));
        assert_eq!(c(r#"["hello", "world", "!"]"#, "array", Some("String")), json!(["hello", "world", "!"]));
        assert_eq!(c(" [ [ 1, 2 ], [ 3,   4], [5, 6]]", "array", Some("array")), json!([[1, 2], [3, 4], [5, 6]]));
        assert_eq!(c("new Array([1, 2], [3, 4], [5, 6])", "array", Some("array")), json!([[1, 2], [3, 4], [5, 6]]));
        assert_eq!(
            c(r#"new Array({"key1": 1}, {"key2": 2})"#, "array", Some("dict")),
            json!([{"key1": 1}, {"key2": 2}])
        );
        let complex = r#"{"initialState": initialStateObject, "reducers": reducersMap, "middlewares": ["loggerMiddleware"], "enhancers": ["applyMiddleware", "myMiddleWare"]}"#;
        let expected = json!({"initialState": "initialStateObject", "reducers": "reducersMap",
            "middlewares": ["loggerMiddleware"], "enhancers": ["applyMiddleware", "myMiddleWare"]});
        assert_eq!(c(complex, "dict", None), expected);
        assert_eq!(c("[1, 2]", "array", Some("Tree")), json!("[1, 2]"), "a failure inside yields the text");
        assert_eq!(c("{o: {k: 1}}", "dict", None), json!({"o": "{k: 1"}), "BFCL's lazy braces: no nested objects");
        assert!(convert("5n\n", "Bigint", None).is_err() && convert("x", "Tree", None).is_err());
    }

    #[test]
    fn literal_round_trips() {
        for (v, ty, nested) in [
            (json!("a b"), "String", None),
            (json!(12), "Bigint", None),
            (json!(2.5), "float", None),
            (json!([60.0, 30.0]), "array", Some("float")),
            (json!(["x", "y z"]), "array", Some("String")),
            (json!({"method": "GET", "n": 2, "list": ["a"], "ok": true}), "dict", None),
        ] {
            assert_eq!(c(&literal(&v, ty, nested), ty, nested), v, "{v} as {ty}");
        }
    }
}
