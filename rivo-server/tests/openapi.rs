//! The committed `openapi.json` is exactly what the server generates, and its shape is pinned.

#![allow(clippy::unwrap_used)] // Test helpers: a failure should panic.

use std::path::PathBuf;

use serde_json::Value;

fn committed_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../openapi.json")
}

#[test]
fn committed_openapi_json_matches_the_generated_spec() {
    let generated = format!("{}\n", rivo_server::openapi_json());
    let path = committed_path();
    if std::env::var("UPDATE_OPENAPI").is_ok_and(|v| v == "1") {
        std::fs::write(&path, &generated).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "openapi.json at the repository root differs from the spec the server generates.\n\
         Regenerate it with:\n\n    UPDATE_OPENAPI=1 cargo test -p rivo-server --test openapi\n\n\
         (or `cargo run -p rivo-server -- openapi > openapi.json`) and commit it."
    );
}

/// A compact description of the spec: operations with their ids, tags and statuses, and the
/// schema names. Changes here are API changes: review them.
#[test]
fn spec_shape() {
    let spec: Value = serde_json::from_str(&rivo_server::openapi_json()).unwrap();
    let mut lines = vec![format!(
        "openapi {}",
        spec["openapi"].as_str().unwrap_or("?")
    )];
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let statuses: Vec<&String> = op["responses"].as_object().unwrap().keys().collect();
            let content: Vec<&String> = op["requestBody"]["content"]
                .as_object()
                .map(|c| c.keys().collect())
                .unwrap_or_default();
            lines.push(format!(
                "{} {path} id={} tags={} responses={statuses:?} body={content:?}",
                method.to_uppercase(),
                op["operationId"].as_str().unwrap_or("MISSING"),
                op["tags"],
            ));
        }
    }
    for (name, schema) in spec["components"]["schemas"].as_object().unwrap() {
        let props: Vec<&String> = schema["properties"]
            .as_object()
            .map(|p| p.keys().collect())
            .unwrap_or_default();
        lines.push(format!(
            "schema {name} props={props:?} required={} example={}",
            schema["required"],
            !schema["example"].is_null()
        ));
    }
    insta::assert_snapshot!(lines.join("\n"));
}

#[test]
fn every_operation_has_an_id_summary_and_tag() {
    let spec: Value = serde_json::from_str(&rivo_server::openapi_json()).unwrap();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            assert!(op["operationId"].is_string(), "{method} {path}");
            assert!(op["summary"].is_string(), "{method} {path}");
            assert!(
                op["tags"].as_array().is_some_and(|t| !t.is_empty()),
                "{method} {path}"
            );
        }
    }
}
