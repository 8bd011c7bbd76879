//! BFCL's Java literal converter (`type_convertor/java_type_converter.py`, bfcl-eval 2026.3.23),
//! ported regex for regex (with `fancy_regex`, a backtracking engine like Python's `re`), and
//! its inverse for the oracle answer.
//!
//! In the Java category a model passes every argument as a string of Java source
//! (`"50"`, `"5L"`, `"new ArrayList<>(Arrays.asList(1, 2))"`); BFCL converts it by the schema
//! type, falling back to the text itself when it does not parse. Its quirks are kept on
//! purpose: `String` and `char` values are not unquoted, `Array` elements are converted by type
//! without unquoting, `ArrayList<String>` elements are, and `HashMap` values are parsed
//! untyped. `Set`, `Hashtable`, `Queue` and `Stack` raise `NotImplementedError` in BFCL.

use std::sync::LazyLock;

use fancy_regex::Regex;
use serde_json::{Map, Value};

use super::Unconvertible;
use super::python::{found, group, inner, py_float, py_int, py_strip, quoted_with, regex};

// Python's `$` (no MULTILINE) also matches before a final newline: `(?=\n?\z)`.
static INT: LazyLock<Regex> = LazyLock::new(|| regex(r"\A-?[0-9]+(?=\n?\z)"));
static FLOAT_F: LazyLock<Regex> = LazyLock::new(|| regex(r"\A(-?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?)[fF](?=\n?\z)"));
static DOUBLE: LazyLock<Regex> = LazyLock::new(|| regex(r"\A-?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?(?=\n?\z)"));
static LONG: LazyLock<Regex> = LazyLock::new(|| regex(r"\A(-?[0-9]+)[lL](?=\n?\z)"));
static AS_LIST: LazyLock<Regex> = LazyLock::new(|| regex(r"new\s+ArrayList<\w*>\(Arrays\.asList\((.+?)\)\)"));
static ADDS: LazyLock<Regex> = LazyLock::new(|| regex(r"(?s)new\s+ArrayList<\w*>\(\)\s*\{\{\s*(.+?)\s*\}\}"));
static ADD: LazyLock<Regex> = LazyLock::new(|| regex(r"add\((.+?)\)"));
static EMPTY_LIST: LazyLock<Regex> = LazyLock::new(|| regex(r"new\s+ArrayList<\w*>\(\)"));
static ARRAY: LazyLock<Regex> = LazyLock::new(|| regex(r"new\s+\w+\[\]\s*\{(.*?)\}"));
static HASHMAP: LazyLock<Regex> =
    LazyLock::new(|| regex(r"(?s)new\s+HashMap<.*?>\s*\(\)\s*\{\s*\{?\s*(.*?)\s*\}?\s*\}"));
static PUT: LazyLock<Regex> = LazyLock::new(|| regex(r#"put\("(.*?)",\s*(.*?)\)"#));
static EMPTY_MAP: LazyLock<Regex> = LazyLock::new(|| regex(r"new\s+HashMap<.*?>\s*\(\)"));

fn text(s: &str) -> Value {
    Value::String(s.to_string())
}

/// `java_type_converter(value, expected_type, nested_type)`.
///
/// # Errors
/// The types BFCL itself cannot convert.
pub fn convert(value: &str, ty: &str, nested: Option<&str>) -> Result<Value, Unconvertible> {
    let nested = nested.filter(|n| !n.is_empty());
    Ok(match ty {
        "byte" | "short" | "integer" if found(&INT, value) => py_int(value).unwrap_or_else(|| text(value)),
        "float" => group(&FLOAT_F, value).and_then(py_float).unwrap_or_else(|| text(value)),
        "double" if found(&DOUBLE, value) => py_float(value).unwrap_or_else(|| text(value)),
        "long" => group(&LONG, value).and_then(py_int).unwrap_or_else(|| text(value)),
        "boolean" if value == "true" || value == "false" => Value::Bool(value == "true"),
        "byte" | "short" | "integer" | "double" | "boolean" | "char" | "String" | "any" => text(value),
        "ArrayList" => array_list(value, nested)?,
        "Array" => array(value, nested)?,
        "HashMap" => hash_map(value),
        "Set" | "Hashtable" | "Queue" | "Stack" => {
            return Err(Unconvertible(format!("BFCL does not implement {ty} conversion")));
        }
        other => return Err(Unconvertible(format!("unsupported Java type {other:?}"))),
    })
}

/// An element of a collection whose element type is known (or not).
fn element(element: &str, nested: Option<&str>, unquote_text: bool) -> Result<Value, Unconvertible> {
    match nested {
        Some("char" | "String") if unquote_text => Ok(Value::String(inner(element))),
        Some(t) => convert(element, t, None),
        None => Ok(value(element)),
    }
}

fn array_list(input: &str, nested: Option<&str>) -> Result<Value, Unconvertible> {
    if let Some(elements) = group(&AS_LIST, input) {
        let items = elements.split(',').map(|e| element(py_strip(e), nested, true));
        return items.collect::<Result<Vec<_>, _>>().map(Value::Array);
    }
    if let Some(adds) = group(&ADDS, input) {
        let mut items = Vec::new();
        for caps in ADD.captures_iter(adds).flatten() {
            let Some(m) = caps.get(1) else { continue };
            items.push(element(py_strip(m.as_str()), nested, true)?);
        }
        return Ok(Value::Array(items));
    }
    Ok(if found(&EMPTY_LIST, input) { Value::Array(Vec::new()) } else { text(input) })
}

fn array(input: &str, nested: Option<&str>) -> Result<Value, Unconvertible> {
    let Some(elements) = group(&ARRAY, input) else { return Ok(text(input)) };
    let items = elements.split(',').map(py_strip).filter(|e| !e.is_empty()).map(|e| element(e, nested, false));
    items.collect::<Result<Vec<_>, _>>().map(Value::Array)
}

fn hash_map(input: &str) -> Value {
    if let Some(puts) = group(&HASHMAP, input) {
        let mut map = Map::new();
        if !py_strip(puts).is_empty() {
            for caps in PUT.captures_iter(puts).flatten() {
                let (Some(k), Some(v)) = (caps.get(1), caps.get(2)) else { continue };
                map.insert(k.as_str().to_string(), value(py_strip(v.as_str())));
            }
        }
        return Value::Object(map);
    }
    if found(&EMPTY_MAP, input) { Value::Object(Map::new()) } else { text(input) }
}

/// `parse_java_value`: a literal without a known type.
fn value(s: &str) -> Value {
    match s {
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        _ if quoted_with(s, '"') => Value::String(inner(s)),
        _ => group(&LONG, s)
            .and_then(py_int)
            .or_else(|| group(&FLOAT_F, s).and_then(py_float))
            .or_else(|| py_int(s))
            .or_else(|| py_float(s))
            .unwrap_or_else(|| text(s)),
    }
}

/// Shortest round-trip text of a number; never an exponent (Rust's `Display`).
fn number(n: &serde_json::Number) -> String {
    n.to_string()
}

fn scalar(v: &Value, ty: Option<&str>) -> String {
    match (v, ty) {
        (Value::String(s), _) => s.clone(),
        (Value::Number(n), Some("long")) => format!("{n}L"),
        (Value::Number(n), Some("float")) => format!("{}f", n.as_f64().map_or_else(|| number(n), |f| f.to_string())),
        (Value::Number(n), Some("double")) => n.as_f64().map_or_else(|| number(n), |f| f.to_string()),
        (Value::Number(n), _) => number(n),
        (other, _) => other.to_string(),
    }
}

/// An untyped literal, as `parse_java_value` reads it back.
fn untyped(v: &Value) -> String {
    match v {
        Value::String(s) => format!("\"{s}\""),
        other => scalar(other, None),
    }
}

/// Java source that [`convert`] turns back into `value` (the oracle's answer): the inverse of
/// BFCL's converter for the value shapes its ground truth holds.
pub fn literal(value: &Value, ty: &str, nested: Option<&str>) -> String {
    let join = |items: &[Value], quote: bool| {
        let one = |v: &Value| match (v, nested) {
            (Value::String(s), Some("char" | "String")) if quote => format!("\"{s}\""),
            _ => scalar(v, nested),
        };
        items.iter().map(one).collect::<Vec<_>>().join(", ")
    };
    match (value, ty) {
        (Value::Array(items), "ArrayList") if items.is_empty() => "new ArrayList<>()".into(),
        (Value::Array(items), "ArrayList") => format!("new ArrayList<>(Arrays.asList({}))", join(items, true)),
        (Value::Array(items), _) => {
            let element_type = match nested {
                Some("String") => "String",
                Some("integer") => "int",
                Some(t) if !t.is_empty() => t,
                _ => "Object",
            };
            format!("new {element_type}[]{{{}}}", join(items, false))
        }
        (Value::Object(map), _) => {
            let puts: Vec<String> = map.iter().map(|(k, v)| format!("put(\"{k}\", {});", untyped(v))).collect();
            format!("new HashMap<String, Object>() {{{{ {} }}}}", puts.join(" "))
        }
        (other, _) => scalar(other, Some(ty)),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn c(value: &str, ty: &str, nested: Option<&str>) -> Value {
        convert(value, ty, nested).unwrap_or_else(|e| panic!("{e:?}"))
    }

    /// BFCL's own `test_java_type_converter` cases.
    #[test]
    fn bfcl_converter_cases() {
        assert_eq!(c("true", "boolean", None), json!(true));
        assert_eq!(c("-123", "integer", None), json!(-123));
        assert_eq!(c("3.25f", "float", None), json!(3.25));
        assert_eq!(c("3e-3F", "float", None), json!(3e-3));
        assert_eq!(c("3.14e2", "double", None), json!(314.0));
        assert_eq!(c("-9223372036854775808L", "long", None), json!(i64::MIN));
        assert_eq!(c("a", "char", None), json!("a"));
        assert_eq!(c("123", "any", None), json!("123"));
        assert_eq!(c("3.14", "float", None), json!("3.14"));
        assert_eq!(c("new int[]{1, 2, 3}", "Array", None), json!([1, 2, 3]));
        assert_eq!(c("new int[] { }", "Array", None), json!([]));
        assert_eq!(c("new long[]{1L, 2, 3L}", "Array", Some("long")), json!([1, "2", 3]));
        assert_eq!(c(r#"new Object[]{1, "abc", true}"#, "Array", None), json!([1, "abc", true]));
        assert_eq!(c(r#"new ArrayList<>(Arrays.asList("a", "b"))"#, "ArrayList", None), json!(["a", "b"]));
        assert_eq!(
            c("new ArrayList<Float>() {{ add(1.0f); add(2.0f); }}", "ArrayList", Some("float")),
            json!([1.0, 2.0])
        );
        assert_eq!(c("new ArrayList<Character>() {{ add('a'); }}", "ArrayList", Some("char")), json!(["a"]));
        assert_eq!(c("new ArrayList<>()", "ArrayList", None), json!([]));
        assert_eq!(c("new HashMap<>() {{ }}", "HashMap", None), json!({}));
        let map = r#"new HashMap<String, Object>() {{ put("key1", 1); put("key2", "value"); put("key3", true); }}"#;
        assert_eq!(c(map, "HashMap", None), json!({"key1": 1, "key2": "value", "key3": true}));
        assert!(convert("x", "Queue", None).is_err() && convert("x", "Tree", None).is_err());
    }

    #[test]
    fn literal_round_trips() {
        for (v, ty, nested) in [
            (json!(5), "long", None),
            (json!(2.5), "float", None),
            (json!(1e-7), "double", None),
            (json!([101, 202]), "ArrayList", Some("long")),
            (json!(["a b", "c"]), "ArrayList", Some("String")),
            (json!(["-v", "x"]), "Array", Some("String")),
            (json!({"limit": 50, "s": "public", "f": 0.5}), "HashMap", None),
        ] {
            assert_eq!(c(&literal(&v, ty, nested), ty, nested), v, "{v} as {ty}");
        }
    }
}
