//! The oracle answer: each expected call with its first acceptable values, written the way the
//! category's language wants them (JSON values for Python, Java / JavaScript source strings).

use serde_json::{Map, Value};

use super::python::{PyType, is_optional_marker};
use super::{ExpectedCall, Language, find_doc, java, js};
use crate::tools::ToolCall;

/// The first acceptable answer of each expected call, as calls: what an oracle model would say.
/// An argument whose list starts with `""` is left out, unless the schema requires it (BFCL's
/// data has such items, e.g. `simple_python_200`; omission fails BFCL's own required check
/// there), in which case its first non-`""` value is used; an argument the schema does not
/// define is left out (BFCL rejects unexpected parameters; e.g. `parallel_multiple_26`).
pub fn first_acceptable(language: Language, docs: &[Value], expected: &[ExpectedCall]) -> Vec<ToolCall> {
    expected
        .iter()
        .map(|(name, answers)| {
            let doc = find_doc(docs, name).or_else(|| (docs.len() == 1).then(|| &docs[0]));
            let types = doc.and_then(|d| d.pointer("/parameters/properties"));
            let required = doc.and_then(|d| d.pointer("/parameters/required")).and_then(Value::as_array);
            let is_required = |p: &str| required.is_some_and(|r| r.iter().any(|x| x.as_str() == Some(p)));
            let mut arguments = Map::new();
            for (param, acceptable) in answers {
                let Some(details) = types.and_then(|t| t.get(param)) else { continue };
                let values = acceptable.as_array().map(Vec::as_slice).unwrap_or_default();
                let first = if is_required(param) {
                    values.iter().find(|v| !is_optional_marker(v))
                } else {
                    values.first().filter(|v| !is_optional_marker(v))
                };
                let Some(first) = first.cloned() else { continue };
                let type_name = details.get("type").and_then(Value::as_str).unwrap_or("");
                let nested = details.pointer("/items/type").and_then(Value::as_str);
                let value = first_of_nested(first, language.py_type(type_name));
                let value = match language {
                    Language::Python => value,
                    Language::Java => Value::String(java::literal(&value, type_name, nested)),
                    Language::JavaScript => Value::String(js::literal(&value, type_name, nested)),
                };
                arguments.insert(param.clone(), value);
            }
            ToolCall { name: name.clone(), arguments }
        })
        .collect()
}

/// Dict answers hold acceptable-value lists per key: take the first of each, recursively.
fn first_of_nested(value: Value, ty: Option<PyType>) -> Value {
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
    match (value, ty) {
        (Value::Object(d), Some(PyType::Dict)) => pick(d),
        (Value::Array(items), Some(PyType::List)) if !items.is_empty() && items.iter().all(Value::is_object) => {
            Value::Array(items.into_iter().map(|i| i.as_object().cloned().map_or(i, pick)).collect())
        }
        (v, _) => v,
    }
}
