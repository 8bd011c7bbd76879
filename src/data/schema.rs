//! BFCL's function docs → the JSON Schema tools a model is shown, as BFCL's own prompt builder
//! does it (`_func_doc_language_specific_pre_processing` then `_cast_to_openai_type` with
//! `GORILLA_TO_OPENAPI`, bfcl-eval 2026.3.23): a language hint on every description; in the
//! Java / JavaScript categories every parameter becomes a `string` (of source code) whose
//! description names the original type; then BFCL's type names become JSON Schema's
//! (`dict` → `object`, `float` → `number` with `format: float`, `tuple` → `array`, `any` →
//! `string`, …). The checker keeps reading the original docs.

use serde_json::{Map, Value};

use super::answer::Language;

/// `GORILLA_TO_OPENAPI`; unknown names become `string`, as in BFCL.
pub fn json_schema_type(bfcl: &str) -> &'static str {
    match bfcl {
        "integer" | "byte" | "short" | "long" | "Bigint" => "integer",
        "number" | "float" | "double" => "number",
        "boolean" | "bool" => "boolean",
        "array" | "list" | "tuple" | "ArrayList" | "Array" | "Queue" | "Stack" => "array",
        "dict" | "object" | "HashMap" | "Hashtable" => "object",
        _ => "string",
    }
}

fn hint(language: Language) -> &'static str {
    match language {
        Language::Java => " Note that the provided function is in Java 8 SDK syntax.",
        Language::JavaScript => " Note that the provided function is in JavaScript syntax.",
        Language::Python => " Note that the provided function is in Python 3 syntax.",
    }
}

fn append(map: &mut Map<String, Value>, key: &str, text: &str) {
    let old = map.get(key).and_then(Value::as_str).unwrap_or("").to_string();
    map.insert(key.to_string(), Value::String(old + text));
}

/// The Java / JavaScript rewrite of one parameter: a string of source code.
fn as_source_string(p: &mut Map<String, Value>, language: Language) {
    let ty = p.get("type").and_then(Value::as_str).unwrap_or("any").to_string();
    let lang = if language == Language::Java { "Java" } else { "JavaScript" };
    if ty == "any" {
        append(
            p,
            "description",
            &format!(" This parameter can be of any type of {lang} object in string representation."),
        );
    } else {
        append(p, "description", &format!(" This is {lang} {ty} type parameter in string representation."));
    }
    if matches!(ty.as_str(), "ArrayList" | "Array" | "array") {
        let item = p.get("items").and_then(|i| i.get("type")).and_then(Value::as_str).unwrap_or("").to_string();
        append(
            p,
            "description",
            &format!(" The list elements are of type {item}; they are not in string representation."),
        );
        p.remove("items");
    }
    if language == Language::JavaScript
        && ty == "dict"
        && let Some(props) = p.remove("properties")
    {
        let text = format!(
            " The dictionary entries have the following schema; they are not in string representation. {}",
            python_json(&props)
        );
        append(p, "description", &text);
    }
    p.insert("type".into(), Value::String("string".into()));
}

/// `json.dumps` spacing (`", "` and `": "`).
fn python_json(v: &Value) -> String {
    match v {
        Value::Object(m) => {
            let items: Vec<String> =
                m.iter().map(|(k, v)| format!("{}: {}", Value::from(k.as_str()), python_json(v))).collect();
            format!("{{{}}}", items.join(", "))
        }
        Value::Array(a) => format!("[{}]", a.iter().map(python_json).collect::<Vec<_>>().join(", ")),
        other => other.to_string(),
    }
}

/// `_cast_to_openai_type` over a `properties` map.
fn cast(properties: &mut Map<String, Value>) {
    for value in properties.values_mut() {
        let Some(p) = value.as_object_mut() else { continue };
        let ty = p.get("type").and_then(Value::as_str).map(str::to_string);
        let Some(ty) = ty else {
            p.insert("type".into(), Value::String("string".into()));
            continue;
        };
        if ty == "float" {
            p.insert("format".into(), Value::String("float".into()));
            append(p, "description", " This is a float type value.");
        }
        let new = json_schema_type(&ty);
        p.insert("type".into(), Value::String(new.into()));
        if !matches!(new, "array" | "object") {
            continue;
        }
        if let Some(Value::Object(inner)) = p.get_mut("properties") {
            cast(inner);
        } else if let Some(Value::Object(items)) = p.get_mut("items") {
            let item_ty = items.get("type").and_then(Value::as_str).unwrap_or("").to_string();
            let item_new = json_schema_type(&item_ty);
            items.insert("type".into(), Value::String(item_new.into()));
            let (deeper_key, nested) = if item_new == "array" { ("items", false) } else { ("properties", true) };
            match items.get_mut(deeper_key) {
                Some(Value::Object(inner)) if nested && item_new == "object" => cast(inner),
                Some(Value::Object(deeper)) if !nested => {
                    let t = deeper.get("type").and_then(Value::as_str).unwrap_or("").to_string();
                    deeper.insert("type".into(), Value::String(json_schema_type(&t).into()));
                }
                _ => {}
            }
        }
    }
}

/// One BFCL function doc as the JSON Schema tool BFCL's prompt shows for `language`.
pub fn bfcl_tool(doc: &Value, language: Language) -> Value {
    let mut doc = doc.clone();
    let Some(f) = doc.as_object_mut() else { return doc };
    append(f, "description", hint(language));
    if let Some(Value::Object(params)) = f.get_mut("parameters") {
        params.insert("type".into(), Value::String("object".into()));
        if let Some(Value::Object(props)) = params.get_mut("properties") {
            if language != Language::Python {
                for p in props.values_mut().filter_map(Value::as_object_mut) {
                    as_source_string(p, language);
                }
            }
            cast(props);
        }
    }
    doc
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn python_and_java_docs() {
        let doc = json!({"name": "f", "description": "d", "parameters": {"type": "dict", "properties": {
            "x": {"type": "float", "description": "x."}, "t": {"type": "tuple", "items": {"type": "integer"}},
            "o": {"type": "dict", "properties": {"k": {"type": "any"}}}}}});
        let py = bfcl_tool(&doc, Language::Python);
        assert_eq!(py["parameters"]["type"], "object");
        assert_eq!(
            py["parameters"]["properties"]["x"],
            json!({"type": "number", "format": "float", "description": "x. This is a float type value."})
        );
        assert_eq!(py["parameters"]["properties"]["t"]["type"], "array");
        assert_eq!(py["parameters"]["properties"]["o"]["properties"]["k"]["type"], "string");
        let java = json!({"name": "g", "description": "d", "parameters": {"type": "dict", "properties": {
            "ids": {"type": "ArrayList", "description": "Ids.", "items": {"type": "long"}}}}});
        let j = bfcl_tool(&java, Language::Java);
        let ids = &j["parameters"]["properties"]["ids"];
        assert_eq!(ids["type"], "string");
        assert!(ids.get("items").is_none());
        assert_eq!(
            ids["description"],
            "Ids. This is Java ArrayList type parameter in string representation. The list elements are of type long; they are not in string representation."
        );
        assert!(j["description"].as_str().is_some_and(|d| d.ends_with("Java 8 SDK syntax.")));
    }
}
