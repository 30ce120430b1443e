//! The admin's section descriptions (`rivo_core::admin::RESOURCES`), the OpenAPI spec and the
//! admin UI agree: every described route, filter, ordering and column exists in the spec with
//! the described shape, the admin index serves the descriptions, and the UI's section extras
//! name only described sections and re-declare nothing the index serves (labels, routes, stages,
//! the page size, the CSRF names).

#![allow(clippy::unwrap_used)] // Test helpers: a failure should panic.

mod common;

use common::{TestDb, create_superuser, each, get, text, try_login};
use poem::http::StatusCode;
use rivo_core::admin::{self, ColumnKind, RESOURCES, ResourceSpec};
use serde_json::Value;

fn spec() -> Value {
    serde_json::from_str(&rivo_server::openapi_json()).unwrap()
}

/// `(path, method, operation)` of the operation with `id`.
fn operation<'a>(spec: &'a Value, id: &str) -> Option<(&'a str, &'a str, &'a Value)> {
    spec["paths"].as_object()?.iter().find_map(|(path, item)| {
        item.as_object()?
            .iter()
            .find(|(_, op)| op["operationId"] == id)
            .map(|(method, op)| (path.as_str(), method.as_str(), op))
    })
}

fn query_params(op: &Value) -> Vec<(&str, &str)> {
    op["parameters"]
        .as_array()
        .map(|ps| {
            ps.iter()
                .filter(|p| p["in"] == "query")
                .map(|p| {
                    (
                        p["name"].as_str().unwrap_or_default(),
                        p["description"].as_str().unwrap_or_default(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn schema<'a>(spec: &'a Value, reference: &Value) -> &'a Value {
    let name = reference["$ref"]
        .as_str()
        .and_then(|r| r.strip_prefix("#/components/schemas/"))
        .unwrap_or_else(|| panic!("not a schema reference: {reference}"));
    &spec["components"]["schemas"][name]
}

/// The properties of one row of a list operation's `results`.
fn row_properties<'a>(spec: &'a Value, list: &Value) -> Vec<&'a str> {
    let page = schema(
        spec,
        &list["responses"]["200"]["content"]["application/json"]["schema"],
    );
    let row = schema(spec, &page["properties"]["results"]["items"]);
    row["properties"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect()
}

fn check_routes(spec: &Value, r: &ResourceSpec) {
    let (path, method, list) = operation(spec, r.list_operation)
        .unwrap_or_else(|| panic!("{}: no operation {}", r.name, r.list_operation));
    assert_eq!((path, method), (r.path, "get"), "{}: list route", r.name);
    for (id, want) in [
        (r.read_operation, "get"),
        (r.delete_operation, "delete"),
        (r.update_operation, "patch"),
    ] {
        let Some(id) = id else { continue };
        let (path, method, _) =
            operation(spec, id).unwrap_or_else(|| panic!("{}: no operation {id}", r.name));
        let tail = path.strip_prefix(r.path).unwrap_or_default();
        assert!(
            method == want
                && tail.starts_with('{')
                && tail.ends_with("}/")
                && tail.matches('/').count() == 1,
            "{}: {id} is {method} {path}, not {want} {}{{id}}/",
            r.name,
            r.path
        );
    }
    if let Some(id) = r.create_operation {
        let (path, method, _) = operation(spec, id).unwrap();
        assert_eq!((path, method), (r.path, "post"), "{}: {id}", r.name);
    }
    if let Some(bulk) = r.bulk_delete_path {
        assert!(
            spec["paths"][bulk]["post"].is_object(),
            "{}: no POST {bulk}",
            r.name
        );
    }

    let params = query_params(list);
    let names: Vec<&str> = params.iter().map(|(n, _)| *n).collect();
    for required in ["page", "page_size"] {
        assert!(names.contains(&required), "{}: no {required}", r.name);
    }
    assert_eq!(
        names.contains(&"search"),
        r.searchable(),
        "{}: `search` parameter vs described search fields {:?}",
        r.name,
        r.search
    );
    for filter in r.filters {
        assert!(
            names.contains(&filter.key),
            "{}: filter {} is no query parameter of {}",
            r.name,
            filter.key,
            r.list_operation
        );
    }
    let ordering = params.iter().find(|(n, _)| *n == "ordering");
    assert_eq!(
        ordering.is_some(),
        !r.orderings.is_empty(),
        "{}: `ordering` parameter vs described orderings",
        r.name
    );
    if let Some((_, doc)) = ordering {
        // The parameter's documentation lists exactly the accepted fields.
        for field in r.orderings {
            assert!(
                doc.contains(&format!("`{field}`")),
                "{}: ordering {field} undocumented in {doc:?}",
                r.name
            );
        }
        let documented = doc.matches('`').count() / 2;
        assert_eq!(
            documented,
            r.orderings.len() + 1, // and `-`
            "{}: the ordering documentation lists other fields: {doc:?}",
            r.name
        );
    }

    let row = row_properties(spec, list);
    for column in r.columns {
        assert!(
            row.contains(&column.key),
            "{}: column {} is no field of the list's rows {row:?}",
            r.name,
            column.key
        );
        let name_field = match column.kind {
            ColumnKind::Client => Some("client_name".to_owned()),
            ColumnKind::User | ColumnKind::Assignee => Some(format!("{}_repr", column.key)),
            _ => None,
        };
        if let Some(field) = name_field {
            assert!(
                row.contains(&field.as_str()),
                "{}: column {} shows {field}, which the rows lack",
                r.name,
                column.key
            );
        }
    }
    assert!(
        row.contains(&r.id_field),
        "{}: rows lack the id field {}",
        r.name,
        r.id_field
    );
}

#[test]
fn every_description_matches_the_spec() {
    let spec = spec();
    for r in RESOURCES {
        check_routes(&spec, r);
    }
}

#[test]
fn the_spec_spells_the_stages_and_the_session_cookie_as_the_core_does() {
    let spec = spec();
    let stages: Vec<&str> = spec["components"]["schemas"]["Stage"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    let core: Vec<&str> = admin::stages().map(|(value, _)| value).collect();
    assert_eq!(stages, core);
    assert_eq!(
        spec["components"]["securitySchemes"]["SessionCookie"]["name"],
        admin::SESSION_COOKIE
    );
}

/// The names of the UI's section extras (`export const SECTIONS = { name: {…}, … }`).
fn ui_section_names(js: &str) -> Vec<String> {
    let body = js
        .split_once("export const SECTIONS = {")
        .map(|(_, rest)| rest)
        .unwrap();
    body.lines()
        .take_while(|line| *line != "};")
        .filter_map(|line| {
            let key = line.strip_prefix("  ")?;
            if key.starts_with(' ') {
                return None;
            }
            let (name, rest) = key.split_once(':')?;
            (rest.trim_start().starts_with('{')
                && name.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
            .then(|| name.to_owned())
        })
        .collect()
}

const SECTIONS_JS: &str = include_str!("../admin-ui/sections.js");

/// Every script of the UI as `(path under admin-ui/, text)`: main.js, the shared modules and the
/// page modules under `pages/`.
fn ui_scripts() -> Vec<(String, String)> {
    fn walk(dir: &std::path::Path, root: &std::path::Path, out: &mut Vec<(String, String)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, root, out);
            } else if path.extension().is_some_and(|e| e == "js") {
                let name = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                out.push((name, std::fs::read_to_string(&path).unwrap()));
            }
        }
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("admin-ui");
    let mut scripts = Vec::new();
    walk(&root, &root, &mut scripts);
    scripts.sort();
    scripts
}

#[test]
fn the_ui_describes_only_served_sections_and_copies_nothing_the_index_serves() {
    let names = ui_section_names(SECTIONS_JS);
    assert!(names.len() >= 5, "could not read sections.js: {names:?}");
    for name in &names {
        assert!(
            admin::resource(name).is_some(),
            "sections.js describes {name}, which the server does not"
        );
    }
    // What the index serves is not declared again in the UI.
    for copy in [
        "columns:",
        "filters:",
        "api:",
        "defaultOrdering:",
        "search:",
        "singular:",
        "rowLink:",
        "STAGES",
        "ORDER",
    ] {
        assert!(
            !SECTIONS_JS.contains(copy),
            "sections.js declares {copy:?} again"
        );
    }
    let scripts = ui_scripts();
    assert!(
        scripts.iter().any(|(file, _)| file == "main.js")
            && scripts.iter().any(|(file, _)| file.starts_with("pages/")),
        "could not read the UI's scripts: {:?}",
        scripts.iter().map(|(file, _)| file).collect::<Vec<_>>()
    );
    for (file, js) in &scripts {
        for copy in ["STAGES", "PAGE_SIZE", "ORDER"] {
            assert!(!js.contains(copy), "{file} declares {copy:?} again");
        }
        assert!(
            !js.contains(admin::CSRF_COOKIE),
            "{file} spells the CSRF cookie's name"
        );
        assert!(
            !js.to_ascii_lowercase()
                .contains(&admin::CSRF_HEADER.to_ascii_lowercase()),
            "{file} spells the CSRF header's name"
        );
        for (value, _) in admin::stages().filter(|(v, _)| v.contains('_')) {
            assert!(
                !js.contains(&format!("\"{value}\"")),
                "{file} spells the stage {value}"
            );
        }
        for r in RESOURCES {
            assert!(
                !js.contains(&format!("\"{}\"", r.label)),
                "{file} spells the label {:?}",
                r.label
            );
            // Section routes come from the index's `path`, not from `${ADMIN}/…`.
            let tail = r.path.strip_prefix("/api/v1/admin").unwrap();
            assert!(
                !js.contains(r.path) && !js.contains(&format!("${{ADMIN}}{tail}")),
                "{file} spells the route {}",
                r.path
            );
        }
    }
}

async fn index_for_superuser(db: &TestDb) -> Value {
    let password = "a long enough passphrase";
    create_superuser(&db.store, "root@example.com", "root", password).await;
    let c = db.client();
    let resp = try_login(&c, "root@example.com", password).await;
    let token: Value = serde_json::from_str(&text(resp).await).unwrap();
    let token = token["token"].as_str().unwrap().to_owned();
    let resp = get(&c, &token, "/api/v1/admin/").await;
    assert_eq!(resp.0.status(), StatusCode::OK);
    serde_json::from_str(&text(resp).await).unwrap()
}

async fn the_index_serves_the_descriptions_and_shared_constants(db: &TestDb) {
    let index = index_for_superuser(db).await;
    let served: Vec<&str> = each(&index["sections"], "name");
    let described: Vec<&str> = RESOURCES.iter().map(|r| r.name).collect();
    assert_eq!(
        served, described,
        "a superuser sees every section, in order"
    );
    for (section, r) in index["sections"].as_array().unwrap().iter().zip(RESOURCES) {
        assert_eq!(section["path"], r.path);
        assert_eq!(section["label"], r.label);
        assert_eq!(section["list_operation"], r.list_operation);
        assert_eq!(section["id_field"], r.id_field);
        let columns: Vec<&str> = each(&section["columns"], "key");
        let described: Vec<&str> = r.columns.iter().map(|c| c.key).collect();
        assert_eq!(columns, described, "{}", r.name);
        let orderings: Vec<&str> = section["orderings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o.as_str().unwrap())
            .collect();
        assert_eq!(orderings, r.orderings, "{}", r.name);
        for column in section["columns"].as_array().unwrap() {
            if let Some(sort) = column["sort"].as_str() {
                assert!(orderings.contains(&sort), "{}: {sort}", r.name);
            }
        }
    }
    let stages: Vec<&str> = index["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["value"].as_str().unwrap())
        .collect();
    assert_eq!(stages.len(), 14);
    assert_eq!(stages[0], "lead");
    assert_eq!(index["page_size"], admin::DEFAULT_PAGE_SIZE);
    assert_eq!(index["max_page_size"], admin::MAX_PAGE_SIZE);
    assert_eq!(index["csrf_cookie"], admin::CSRF_COOKIE);
    assert_eq!(index["csrf_header"], admin::CSRF_HEADER);
    assert_eq!(index["session_cookie"], admin::SESSION_COOKIE);
}

/// The page carries the names its scripts need before any API call: the CSRF cookie's and the
/// CSRF header's, spelled as the server's CSRF check reads them.
async fn the_page_carries_the_csrf_cookie_and_header_names(db: &TestDb) {
    let html = text(db.client().get("/admin/").send().await).await;
    assert!(
        html.contains(&format!("data-csrf-cookie=\"{}\"", admin::CSRF_COOKIE)),
        "{html}"
    );
    assert!(
        html.contains(&format!("data-csrf-header=\"{}\"", admin::CSRF_HEADER)),
        "{html}"
    );
}

on_every_backend!(
    the_index_serves_the_descriptions_and_shared_constants,
    the_page_carries_the_csrf_cookie_and_header_names,
);
