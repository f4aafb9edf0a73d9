//! JSON Schema → the OpenAPI 3.0 subset Gemini's `responseSchema` accepts.

use serde_json::{json, Map, Value};

/// Keywords `responseSchema` knows; everything else (`additionalProperties`, `$schema`,
/// `strict`, …) is dropped.
const KEPT: &[&str] = &[
    "type",
    "format",
    "title",
    "description",
    "nullable",
    "enum",
    "maxItems",
    "minItems",
    "minProperties",
    "maxProperties",
    "minLength",
    "maxLength",
    "pattern",
    "example",
    "default",
    "minimum",
    "maximum",
    "propertyOrdering",
    "required",
];

/// Deepest `$ref` / nesting followed; deeper (recursive) schemas become a plain object.
const MAX_DEPTH: usize = 24;

/// Converts `schema` (with `$defs` / `definitions` at its root) to a `responseSchema`.
pub(crate) fn response_schema(schema: &Value) -> Value {
    let empty = Map::new();
    let defs = schema
        .get("$defs")
        .or_else(|| schema.get("definitions"))
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    convert(schema, defs, 0)
}

fn resolve<'a>(reference: &str, defs: &'a Map<String, Value>) -> Option<&'a Value> {
    let name = reference
        .strip_prefix("#/$defs/")
        .or_else(|| reference.strip_prefix("#/definitions/"))?;
    defs.get(name)
}

fn is_null_type(v: &Value) -> bool {
    v.get("type").and_then(Value::as_str) == Some("null")
}

fn convert(schema: &Value, defs: &Map<String, Value>, depth: usize) -> Value {
    let Some(obj) = schema.as_object() else {
        return json!({});
    };
    if depth > MAX_DEPTH {
        return json!({"type": "object"});
    }
    if let Some(target) = obj
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| resolve(r, defs))
    {
        let mut resolved = convert(target, defs, depth + 1);
        if let (Some(d), Some(out)) = (obj.get("description"), resolved.as_object_mut()) {
            out.insert("description".to_owned(), d.clone());
        }
        return resolved;
    }
    let mut out = Map::new();
    for key in KEPT {
        if let Some(v) = obj.get(*key) {
            out.insert((*key).to_owned(), v.clone());
        }
    }
    if let Some(c) = obj.get("const") {
        out.insert("enum".to_owned(), json!([c]));
    }
    // `type: ["string", "null"]` → `type: string, nullable: true`.
    if let Some(types) = obj.get("type").and_then(Value::as_array) {
        let non_null: Vec<&Value> = types.iter().filter(|t| *t != "null").collect();
        if non_null.len() < types.len() {
            out.insert("nullable".to_owned(), Value::Bool(true));
        }
        match non_null.as_slice() {
            [one] => {
                out.insert("type".to_owned(), (*one).clone());
            }
            _ => {
                out.remove("type");
                let variants: Vec<Value> = non_null.iter().map(|t| json!({"type": t})).collect();
                if !variants.is_empty() {
                    out.insert("anyOf".to_owned(), Value::Array(variants));
                }
            }
        }
    }
    if let Some(props) = obj.get("properties").and_then(Value::as_object) {
        let converted: Map<String, Value> = props
            .iter()
            .map(|(k, v)| (k.clone(), convert(v, defs, depth + 1)))
            .collect();
        out.insert("properties".to_owned(), Value::Object(converted));
    }
    if let Some(items) = obj.get("items") {
        out.insert("items".to_owned(), convert(items, defs, depth + 1));
    }
    if let Some(variants) = obj
        .get("anyOf")
        .or_else(|| obj.get("oneOf"))
        .and_then(Value::as_array)
    {
        let nullable = variants.iter().any(is_null_type);
        let mut rest: Vec<Value> = variants
            .iter()
            .filter(|v| !is_null_type(v))
            .map(|v| convert(v, defs, depth + 1))
            .collect();
        if nullable {
            out.insert("nullable".to_owned(), Value::Bool(true));
        }
        if rest.len() == 1 {
            if let Some(single) = rest.pop().and_then(|v| v.as_object().cloned()) {
                for (k, v) in single {
                    out.entry(k).or_insert(v);
                }
            }
        } else if !rest.is_empty() {
            out.insert("anyOf".to_owned(), Value::Array(rest));
        }
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs_nullable_and_unknown_keywords() {
        let schema = json!({
            "$schema": "x", "type": "object", "additionalProperties": false,
            "properties": {
                "city": {"$ref": "#/$defs/City"},
                "note": {"type": ["string", "null"]},
                "alt": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
                "kind": {"const": "a"}
            },
            "required": ["city"],
            "$defs": {"City": {"type": "object", "properties": {"name": {"type": "string"}}, "additionalProperties": false}}
        });
        assert_eq!(
            response_schema(&schema),
            json!({
                "type": "object", "required": ["city"],
                "properties": {
                    "city": {"type": "object", "properties": {"name": {"type": "string"}}},
                    "note": {"type": "string", "nullable": true},
                    "alt": {"type": "integer", "nullable": true},
                    "kind": {"enum": ["a"]}
                }
            })
        );
    }

    #[test]
    fn recursive_refs_stop() {
        let schema = json!({"$ref": "#/$defs/N", "$defs": {"N": {"type": "object", "properties": {"next": {"$ref": "#/$defs/N"}}}}});
        let out = response_schema(&schema);
        assert_eq!(out["type"], "object");
    }
}
