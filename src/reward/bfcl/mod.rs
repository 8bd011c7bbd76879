//! BFCL's AST checker (`bfcl_eval/eval_checker/ast_eval/ast_checker.py`, bfcl-eval 2026.3.23),
//! ported rule for rule over JSON values, for Python, Java and JavaScript categories.
//!
//! A model's call arguments arrive as JSON; BFCL's arrive as Python values. The mapping is the
//! one `json.loads` makes (integer literal → int, `5.0` → float, object → dict, array → list),
//! and every comparison is Python's (`python`). The rules: acceptable-value lists per
//! argument, `""` marking an argument that may be omitted, int → float promotion for Python
//! `float` parameters, string standardisation (spaces and `,./-_*^` removed, lower-cased,
//! `'` → `"`), one level of nested type checks, a "variable" escape when the acceptable values
//! have another type than the schema, and the category's call rules (simple: exactly one call;
//! multiple: one call of the expected function; parallel: a one-to-one match in any order). In
//! the Java and JavaScript categories every argument must be a string of source code, converted
//! by BFCL's literal converters ([`java`], [`js`]) before the same checks. Error types are
//! BFCL's own strings, so a verdict can be compared with BFCL's report line for line.

pub mod java;
pub mod js;
mod oracle;
pub(crate) mod python;

use serde_json::Value;

pub use oracle::first_acceptable;
pub use python::standardize;
use python::{
    PyType, allows_omission, dict_check, list_check, list_dict_check, py_in, py_type, string_check, type_check,
};

pub use crate::data::answer::{ExpectedCall, Language};
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
    /// BFCL itself cannot check it (it raises): a schema type outside its tables, a converter it
    /// does not implement (`Set`, `Queue`…).
    Unsupported {
        /// What BFCL would raise on.
        reason: String,
    },
}

impl Verdict {
    fn wrong(error_type: &'static str, reason: impl Into<String>) -> Self {
        Verdict::Wrong { error_type, reason: reason.into() }
    }
    /// Whether BFCL would count it correct.
    pub fn is_correct(&self) -> bool {
        matches!(self, Verdict::Correct)
    }
    /// BFCL's error type; `None` when correct or unsupported.
    pub fn error_type(&self) -> Option<&'static str> {
        match self {
            Verdict::Wrong { error_type, .. } => Some(error_type),
            _ => None,
        }
    }
}

/// A literal BFCL's converters cannot take (they raise instead of converting).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unconvertible(pub String);

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
    /// Any call is right (BFCL's `live_relevance`: the request is answerable with the tools).
    Relevance,
}

impl CallRule {
    /// The rule of a BFCL category name (`simple_python`, `parallel_multiple`, `irrelevance`…).
    pub fn of_category(category: &str) -> Self {
        if category.contains("irrelevance") {
            CallRule::Irrelevance
        } else if category.contains("relevance") {
            CallRule::Relevance
        } else if category.contains("parallel") {
            CallRule::Parallel
        } else if category.contains("multiple") {
            CallRule::Multiple
        } else {
            CallRule::Simple
        }
    }

    /// The rule a turn's expected calls imply when no category names it: no call →
    /// irrelevance, one call among one / several functions → simple / multiple, more → parallel.
    pub fn of_expected(expected_calls: usize, functions: usize) -> Self {
        match expected_calls {
            0 => CallRule::Irrelevance,
            1 if functions == 1 => CallRule::Simple,
            1 => CallRule::Multiple,
            _ => CallRule::Parallel,
        }
    }

    fn wrong_count(self) -> &'static str {
        match self {
            CallRule::Parallel => "parallel_function_checker_no_order:wrong_count",
            CallRule::Multiple => "multiple_function_checker:wrong_count",
            _ => "simple_function_checker:wrong_count",
        }
    }
}

impl Language {
    /// The Python type BFCL's table gives a schema type name (`PYTHON_TYPE_MAPPING`,
    /// `JAVA_TYPE_CONVERSION`, `JS_TYPE_CONVERSION`); `None` where BFCL has no entry (or a `set`).
    /// Python also takes JSON Schema's `number` and `object` (absent from BFCL's data), so tasks
    /// whose tools are plain JSON Schema are checked with the same rules.
    fn py_type(self, name: &str) -> Option<PyType> {
        use PyType::{Bool, Dict, Float, Int, List, Str};
        Some(match (self, name) {
            (Language::Python, "string" | "any") => Str,
            (Language::Python, "integer") => Int,
            (Language::Python, "float" | "number") => Float,
            (Language::Python, "boolean") => Bool,
            (Language::Python, "array" | "tuple") => List,
            (Language::Python, "dict" | "object") => Dict,
            (Language::Java, "byte" | "short" | "integer" | "long") => Int,
            (Language::Java, "float" | "double") => Float,
            (Language::Java, "boolean") => Bool,
            (Language::Java, "char" | "String" | "any") => Str,
            (Language::Java, "Array" | "ArrayList" | "Queue" | "Stack") => List,
            (Language::Java, "HashMap" | "Hashtable") => Dict,
            (Language::JavaScript, "String" | "any") => Str,
            (Language::JavaScript, "integer" | "Bigint") => Int,
            (Language::JavaScript, "float") => Float,
            (Language::JavaScript, "Boolean") => Bool,
            (Language::JavaScript, "dict") => Dict,
            (Language::JavaScript, "array") => List,
            _ => return None,
        })
    }

    /// Whether the schema type carries an element type BFCL checks or converts by.
    fn is_nested(self, name: &str) -> bool {
        match self {
            Language::Python => matches!(name, "array" | "tuple"),
            Language::Java | Language::JavaScript => matches!(name, "Array" | "ArrayList" | "array"),
        }
    }

    fn type_error(self) -> &'static str {
        match self {
            Language::Java => "type_error:java",
            _ => "type_error:js",
        }
    }

    /// A model's literal turned into the value BFCL compares (Java/JS); Python values pass.
    fn convert(self, value: &str, ty: &str, nested: Option<&str>) -> Result<Value, Unconvertible> {
        match self {
            Language::Java => java::convert(value, ty, nested),
            Language::JavaScript => js::convert(value, ty, nested),
            Language::Python => Ok(Value::String(value.to_string())),
        }
    }
}

/// A function's schema as BFCL gives it (`{"name", "description", "parameters": {…}}`).
fn find_doc<'a>(docs: &'a [Value], name: &str) -> Option<&'a Value> {
    docs.iter().find(|d| d.get("name").and_then(Value::as_str) == Some(name))
}

/// `simple_function_checker` for one call against one expected call.
pub fn check_call(language: Language, doc: &Value, call: &ToolCall, expected: &ExpectedCall) -> Verdict {
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
        if let Err(verdict) = check_argument(language, param, details, value, acceptable) {
            return verdict;
        }
    }
    for (param, acceptable) in answers {
        if !call.arguments.contains_key(param) && !allows_omission(acceptable) {
            return Verdict::wrong(
                "simple_function_checker:missing_optional",
                format!("parameter {param:?} not provided"),
            );
        }
    }
    Verdict::Correct
}

/// One argument's type and value checks (the body of `simple_function_checker`'s loop).
fn check_argument(
    language: Language,
    param: &str,
    details: &Value,
    value: &Value,
    acceptable: &[Value],
) -> Result<(), Verdict> {
    let unsupported = |reason: String| Verdict::Unsupported { reason };
    let type_name = details.get("type").and_then(Value::as_str).unwrap_or("");
    let expected =
        language.py_type(type_name).ok_or_else(|| unsupported(format!("schema type {type_name:?} of {param:?}")))?;
    if language != Language::Python && !value.is_string() {
        let got = py_type(value).name();
        return Err(Verdict::wrong(language.type_error(), format!("{param:?} must be a string, got {got}")));
    }
    let nested_name = if language.is_nested(type_name) {
        let name = details.pointer("/items/type").and_then(Value::as_str);
        Some(name.ok_or_else(|| unsupported(format!("{param:?} ({type_name}) has no items.type")))?)
    } else {
        None
    };
    let nested = match nested_name {
        Some(n) => Some(language.py_type(n).ok_or_else(|| unsupported(format!("item type {n:?} of {param:?}")))?),
        None => None,
    };
    let value = match (language, value) {
        (Language::Python, Value::Number(n)) if matches!(type_name, "float" | "number") && !n.is_f64() => {
            n.as_f64().map_or(value.clone(), Value::from)
        }
        (Language::Python, _) => value.clone(),
        (_, literal) => {
            let literal = literal.as_str().unwrap_or_default();
            language.convert(literal, type_name, nested_name).map_err(|e| unsupported(format!("{param:?}: {}", e.0)))?
        }
    };
    let is_variable = type_check(&value, acceptable, expected, nested)
        .map_err(|e| Verdict::wrong(e, format!("incorrect type for {param:?}: {value}")))?;
    let invalid = |e: &'static str| {
        Verdict::wrong(e, format!("invalid value for {param:?}: {value}; expected one of {acceptable:?}"))
    };
    match (&value, is_variable) {
        (Value::Object(map), false) if expected == PyType::Dict => dict_check(map, acceptable).map_err(invalid),
        (Value::Array(items), false) if expected == PyType::List && nested == Some(PyType::Dict) => {
            list_dict_check(items, acceptable).map_err(invalid)
        }
        (Value::String(s), false) if expected == PyType::Str => {
            string_check(s, acceptable).then_some(()).ok_or_else(|| invalid("value_error:string"))
        }
        (Value::Array(items), false) if expected == PyType::List => {
            list_check(items, acceptable).then_some(()).ok_or_else(|| invalid("value_error:list/tuple"))
        }
        _ => py_in(&value, acceptable).then_some(()).ok_or_else(|| invalid("value_error:others")),
    }
}

/// `ast_checker` for one item: the model's calls against the expected calls under `rule`.
pub fn check(
    rule: CallRule,
    language: Language,
    docs: &[Value],
    calls: &[ToolCall],
    expected: &[ExpectedCall],
) -> Verdict {
    let doc_for = |name: &str| find_doc(docs, name).or_else(|| (docs.len() == 1).then(|| &docs[0]));
    match rule {
        CallRule::Irrelevance if calls.is_empty() => Verdict::Correct,
        CallRule::Irrelevance => Verdict::wrong("irrelevance:made_a_call", "a call where none was right"),
        CallRule::Relevance if calls.is_empty() => Verdict::wrong("relevance:no_call", "no call where one was right"),
        CallRule::Relevance => Verdict::Correct,
        _ if calls.len() != expected.len() => {
            Verdict::wrong(rule.wrong_count(), format!("{} calls, expected {}", calls.len(), expected.len()))
        }
        CallRule::Simple | CallRule::Multiple => {
            let doc = if rule == CallRule::Simple { docs.first() } else { doc_for(&expected[0].0) };
            let Some(doc) = doc else { return Verdict::Unsupported { reason: "no schema for the call".into() } };
            check_call(language, doc, &calls[0], &expected[0])
        }
        CallRule::Parallel => {
            let mut used = vec![false; calls.len()];
            for want in expected {
                let Some(doc) = doc_for(&want.0) else {
                    return Verdict::Unsupported { reason: format!("no schema for {:?}", want.0) };
                };
                let mut found = None;
                for i in (0..calls.len()).filter(|&i| !used[i]) {
                    match check_call(language, doc, &calls[i], want) {
                        Verdict::Correct => {
                            found = Some(i);
                            break;
                        }
                        unsupported @ Verdict::Unsupported { .. } => return unsupported,
                        Verdict::Wrong { .. } => {}
                    }
                }
                match found {
                    Some(i) => used[i] = true,
                    None => {
                        return Verdict::wrong(
                            "parallel_function_checker_no_order:cannot_find_match",
                            format!("no call matches {:?}", want.0),
                        );
                    }
                }
            }
            Verdict::Correct
        }
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
        check(CallRule::Simple, Language::Python, &[doc()], &[call], &[expected()])
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
        assert_eq!(Language::of_category("simple_javascript"), Language::JavaScript);
        assert_eq!(Language::of_category("simple_java"), Language::Java);
        assert_eq!(Language::of_category("parallel"), Language::Python);
        assert!(check(CallRule::Irrelevance, Language::Python, &[doc()], &[], &[]).is_correct());
    }

    proptest::proptest! {
        /// The converters are total: any text, any type, no panic (BFCL's raise is an `Err`).
        #[test]
        fn converters_never_panic(text in "\\PC{0,40}|new (ArrayList<>|HashMap<>|int\\[\\]|Array)[(){}\\[\\]\",' a-z0-9LfFn.]{0,30}") {
            for ty in ["integer", "long", "float", "double", "boolean", "char", "String", "Array", "ArrayList", "HashMap", "Set"] {
                for nested in [None, Some("String"), Some("long"), Some("char"), Some("float")] {
                    let _ = java::convert(&text, ty, nested);
                }
            }
            for ty in ["String", "integer", "float", "Bigint", "Boolean", "dict", "array", "any"] {
                for nested in [None, Some("String"), Some("array"), Some("dict"), Some("integer")] {
                    let _ = js::convert(&text, ty, nested);
                }
            }
        }
    }

    #[test]
    fn java_arguments_are_source_strings() {
        let doc = json!({"name": "g", "parameters": {"type": "dict", "required": ["n"], "properties": {
            "n": {"type": "long"}, "ids": {"type": "ArrayList", "items": {"type": "integer"}}, "q": {"type": "Queue"}}}});
        let answers = json!({"n": [5], "ids": [[1, 2], ""], "q": ["queue", ""]});
        let expected = ("g".to_string(), answers.as_object().cloned().unwrap_or_default());
        let run = |args: Value| {
            let call = ToolCall { name: "g".into(), arguments: args.as_object().cloned().unwrap_or_default() };
            check(
                CallRule::Simple,
                Language::Java,
                std::slice::from_ref(&doc),
                &[call],
                std::slice::from_ref(&expected),
            )
        };
        assert!(run(json!({"n": "5L"})).is_correct());
        assert!(run(json!({"n": "5L", "ids": "new ArrayList<>(Arrays.asList(1, 2))"})).is_correct());
        assert_eq!(run(json!({"n": 5})).error_type(), Some("type_error:java"));
        assert_eq!(run(json!({"n": "5"})).error_type(), Some("type_error:simple"), "5 without L stays text");
        assert_eq!(run(json!({"n": "6L"})).error_type(), Some("value_error:others"));
        assert!(matches!(run(json!({"n": "5L", "q": "queue"})), Verdict::Unsupported { .. }));
    }
}
