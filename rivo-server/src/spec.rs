//! Post-processing of the generated OpenAPI document so that SDK generators (progenitor,
//! openapi-python-client, openapi-typescript) produce clean, working code from it. The wire
//! behaviour is unchanged: only the description of it is made easier to generate from.
//!
//! - **One error type.** Every error response (status ≥ 400) refers to the named schema
//!   [`ERROR_BODY`], one of DRF's three error shapes (`ErrorDetail`, `ErrorMessage`,
//!   `FieldErrors`): generators give each operation one typed error instead of a per-status
//!   anonymous union (progenitor cannot generate several error types for one operation).
//!   Each response's description still says which shape that status carries.
//! - **One request media type.** Bodies are documented as `application/json` only; the chat
//!   route's description says that URL-encoded and multipart forms are accepted too (generators
//!   handle one media type per body).
//! - **References without wrappers.** poem-openapi writes a described reference as
//!   `allOf: [{$ref}, {description}]`; generators cannot take `allOf` of an enum, so it becomes
//!   the plain `$ref` with the description beside it.
//! - **Nullable fields marked.** An optional field of a response schema is sent as `null` when
//!   it has no value, so it is marked `nullable: true` (poem-openapi leaves that out).

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

/// Name of the schema every error response refers to.
pub const ERROR_BODY: &str = "ErrorBody";

const SCHEMA_PREFIX: &str = "#/components/schemas/";

/// Applies every rewrite of this module to an OpenAPI 3.0 document.
pub fn tidy_for_sdks(doc: &mut Value) {
    unify_error_bodies(doc);
    json_request_bodies_only(doc);
    unwrap_described_refs(doc);
    mark_nullable_response_fields(doc);
}

/// Keys that only describe a schema.
const ANNOTATIONS: [&str; 4] = ["description", "title", "example", "default"];

/// `{"allOf": [{"$ref": X}, {"description": D}], ...}` → `{"$ref": X, "description": D, ...}`,
/// everywhere in the document.
fn unwrap_described_refs(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.values_mut().for_each(unwrap_described_refs);
            let Some(Value::Array(members)) = map.get("allOf") else {
                return;
            };
            let refs: Vec<&Value> = members.iter().filter(|m| m.get("$ref").is_some()).collect();
            let only_annotations = members.iter().filter(|m| m.get("$ref").is_none()).all(|m| {
                m.as_object()
                    .is_some_and(|o| o.keys().all(|k| ANNOTATIONS.contains(&k.as_str())))
            });
            if refs.len() != 1 || !only_annotations {
                return;
            }
            let reference = refs[0]["$ref"].clone();
            let description = members.iter().find_map(|m| m.get("description")).cloned();
            map.remove("allOf");
            map.insert("$ref".to_owned(), reference);
            if let Some(description) = description {
                map.entry("description").or_insert(description);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(unwrap_described_refs),
        _ => {}
    }
}

/// Every operation object of the document.
fn operations_mut(doc: &mut Value) -> impl Iterator<Item = &mut Map<String, Value>> {
    doc.get_mut("paths")
        .and_then(Value::as_object_mut)
        .into_iter()
        .flat_map(|paths| paths.values_mut())
        .filter_map(Value::as_object_mut)
        .flat_map(|item| item.values_mut())
        .filter_map(Value::as_object_mut)
}

fn unify_error_bodies(doc: &mut Value) {
    let mut changed = false;
    for op in operations_mut(doc) {
        let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else {
            continue;
        };
        for (status, response) in responses.iter_mut() {
            let is_error = status.parse::<u16>().is_ok_and(|s| s >= 400);
            let Some(json_body) = response.pointer_mut("/content/application~1json") else {
                continue;
            };
            if is_error {
                json_body["schema"] = json!({ "$ref": format!("{SCHEMA_PREFIX}{ERROR_BODY}") });
                changed = true;
            }
        }
    }
    if !changed {
        return;
    }
    if let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    {
        schemas.insert(
            ERROR_BODY.to_owned(),
            json!({
                "title": ERROR_BODY,
                "description": "An error, in one of Django REST framework's shapes: \
                    `{\"detail\": \"...\"}` (`ErrorDetail`), `{\"error\": \"...\"}` \
                    (`ErrorMessage`) or one list of messages per wrong field (`FieldErrors`). \
                    Each response says which shape its status carries.",
                "oneOf": [
                    { "$ref": format!("{SCHEMA_PREFIX}ErrorDetail") },
                    { "$ref": format!("{SCHEMA_PREFIX}ErrorMessage") },
                    { "$ref": format!("{SCHEMA_PREFIX}FieldErrors") },
                ],
            }),
        );
    }
}

fn json_request_bodies_only(doc: &mut Value) {
    for op in operations_mut(doc) {
        let Some(content) = op
            .get_mut("requestBody")
            .and_then(|body| body.get_mut("content"))
            .and_then(Value::as_object_mut)
        else {
            continue;
        };
        if content.len() > 1 && content.contains_key("application/json") {
            content.retain(|media_type, _| media_type == "application/json");
        }
    }
}

/// Names of the schemas `value` refers to.
fn collect_refs(value: &Value, into: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            if let Some(name) = map
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix(SCHEMA_PREFIX))
            {
                into.insert(name.to_owned());
            }
            map.values().for_each(|v| collect_refs(v, into));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, into)),
        _ => {}
    }
}

fn mark_nullable_response_fields(doc: &mut Value) {
    // Schemas reachable from a response body.
    let mut reachable = BTreeSet::new();
    if let Some(paths) = doc.get("paths").and_then(Value::as_object) {
        for op in paths
            .values()
            .filter_map(Value::as_object)
            .flat_map(|item| item.values())
        {
            if let Some(responses) = op.get("responses") {
                collect_refs(responses, &mut reachable);
            }
        }
    }
    let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    let mut todo: Vec<String> = reachable.iter().cloned().collect();
    while let Some(name) = todo.pop() {
        let mut found = BTreeSet::new();
        if let Some(schema) = schemas.get(&name) {
            collect_refs(schema, &mut found);
        }
        for next in found {
            if reachable.insert(next.clone()) {
                todo.push(next);
            }
        }
    }
    for name in &reachable {
        let Some(schema) = schemas.get_mut(name).and_then(Value::as_object_mut) else {
            continue;
        };
        let required: BTreeSet<String> = schema
            .get("required")
            .and_then(Value::as_array)
            .map(|r| {
                r.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        let Some(properties) = schema.get_mut("properties").and_then(Value::as_object_mut) else {
            continue;
        };
        for (field, property) in properties.iter_mut() {
            if required.contains(field) {
                continue;
            }
            let Some(prop) = property.as_object_mut() else {
                continue;
            };
            // `nullable` beside a `$ref` is ignored in OpenAPI 3.0: wrap the reference (in
            // `oneOf`: generators cannot take `allOf` of an enum).
            if let Some(reference) = prop.remove("$ref") {
                prop.insert("oneOf".to_owned(), json!([{ "$ref": reference }]));
            }
            prop.insert("nullable".to_owned(), Value::Bool(true));
        }
    }
}

/// Parses JSON like `serde_json::from_str`, but an object key given twice keeps both values
/// when they are objects (merged, recursively) instead of only the last one.
pub fn parse_merging_duplicates(text: &str) -> Result<Value, serde_json::Error> {
    use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

    struct Merging;

    impl<'de> DeserializeSeed<'de> for Merging {
        type Value = Value;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
            d.deserialize_any(self)
        }
    }

    impl<'de> Visitor<'de> for Merging {
        type Value = Value;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("JSON")
        }
        fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
            Ok(Value::Bool(v))
        }
        fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
            Ok(Value::from(v))
        }
        fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
            Ok(Value::from(v))
        }
        fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
            Ok(Value::from(v))
        }
        fn visit_str<E>(self, v: &str) -> Result<Value, E> {
            Ok(Value::String(v.to_owned()))
        }
        fn visit_string<E>(self, v: String) -> Result<Value, E> {
            Ok(Value::String(v))
        }
        fn visit_unit<E>(self) -> Result<Value, E> {
            Ok(Value::Null)
        }
        fn visit_none<E>(self) -> Result<Value, E> {
            Ok(Value::Null)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
            let mut items = Vec::new();
            while let Some(item) = seq.next_element_seed(Merging)? {
                items.push(item);
            }
            Ok(Value::Array(items))
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
            let mut object = serde_json::Map::new();
            while let Some(key) = map.next_key::<String>()? {
                let value = map.next_value_seed(Merging)?;
                match (object.get_mut(&key), value) {
                    (Some(Value::Object(old)), Value::Object(new)) => merge(old, new),
                    (_, value) => {
                        object.insert(key, value);
                    }
                }
            }
            Ok(Value::Object(object))
        }
    }

    fn merge(into: &mut serde_json::Map<String, Value>, from: serde_json::Map<String, Value>) {
        for (key, value) in from {
            match (into.get_mut(&key), value) {
                (Some(Value::Object(old)), Value::Object(new)) => merge(old, new),
                (_, value) => {
                    into.insert(key, value);
                }
            }
        }
    }

    let mut de = serde_json::Deserializer::from_str(text);
    let value = Merging.deserialize(&mut de)?;
    de.end()?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn optional_response_fields_become_nullable_and_refs_are_wrapped() {
        let mut doc = json!({
            "paths": {"/a/": {"get": {"responses": {"200": {"content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/Page"}}}}}}}},
            "components": {"schemas": {
                "Page": {"type": "object", "required": ["count"], "properties": {
                    "count": {"type": "integer"},
                    "next": {"type": "string"},
                    "item": {"$ref": "#/components/schemas/Item"}}},
                "Item": {"type": "object", "properties": {"note": {"type": "string"}}},
                "OnlyInRequests": {"type": "object", "properties": {"x": {"type": "string"}}}
            }}
        });
        tidy_for_sdks(&mut doc);
        let schemas = &doc["components"]["schemas"];
        assert_eq!(schemas["Page"]["properties"]["count"].get("nullable"), None);
        assert_eq!(schemas["Page"]["properties"]["next"]["nullable"], true);
        assert_eq!(
            schemas["Page"]["properties"]["item"],
            json!({"oneOf": [{"$ref": "#/components/schemas/Item"}], "nullable": true})
        );
        assert_eq!(schemas["Item"]["properties"]["note"]["nullable"], true);
        assert_eq!(
            schemas["OnlyInRequests"]["properties"]["x"].get("nullable"),
            None
        );
    }

    #[test]
    fn error_responses_share_one_named_schema_and_bodies_keep_json() {
        let mut doc = json!({
            "paths": {"/a/": {"post": {
                "requestBody": {"content": {
                    "application/json": {"schema": {"type": "object"}},
                    "multipart/form-data": {"schema": {"type": "object"}}}},
                "responses": {
                    "201": {"content": {"application/json": {"schema": {"type": "object"}}}},
                    "400": {"content": {"application/json": {"schema": {"oneOf": []}}}},
                    "503": {"content": {"application/json": {"schema": {"type": "object"}}}}}}}},
            "components": {"schemas": {}}
        });
        tidy_for_sdks(&mut doc);
        let op = &doc["paths"]["/a/"]["post"];
        let error_ref = json!({"$ref": "#/components/schemas/ErrorBody"});
        assert_eq!(
            op["responses"]["400"]["content"]["application/json"]["schema"],
            error_ref
        );
        assert_eq!(
            op["responses"]["503"]["content"]["application/json"]["schema"],
            error_ref
        );
        assert_eq!(
            op["responses"]["201"]["content"]["application/json"]["schema"],
            json!({"type": "object"})
        );
        let media: Vec<&String> = op["requestBody"]["content"]
            .as_object()
            .map(|c| c.keys().collect())
            .unwrap_or_default();
        assert_eq!(media, ["application/json"]);
        assert!(doc["components"]["schemas"]["ErrorBody"]["oneOf"].is_array());
    }

    #[test]
    fn described_references_lose_their_all_of_wrapper() {
        let mut doc = json!({
            "paths": {},
            "components": {"schemas": {"Client": {"type": "object", "required": ["stage"],
                "properties": {"stage": {
                    "allOf": [{"$ref": "#/components/schemas/Stage"}, {"description": "Stage."}],
                    "description": "Stage."}}}}}
        });
        tidy_for_sdks(&mut doc);
        assert_eq!(
            doc["components"]["schemas"]["Client"]["properties"]["stage"],
            json!({"$ref": "#/components/schemas/Stage", "description": "Stage."})
        );
    }

    #[test]
    fn a_path_served_by_two_apis_keeps_the_operations_of_both() {
        let doc = super::parse_merging_duplicates(
            r#"{"paths": {"/a/": {"get": {"operationId": "read"}}, "/a/": {"patch": {"operationId": "update"}}}, "n": [1, 2.5, null, true]}"#,
        )
        .unwrap();
        assert_eq!(doc["paths"]["/a/"]["get"]["operationId"], "read");
        assert_eq!(doc["paths"]["/a/"]["patch"]["operationId"], "update");
        assert_eq!(doc["n"], json!([1, 2.5, null, true]));
    }
}
