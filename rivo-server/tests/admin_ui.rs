//! The admin web UI's files under `/admin/`: embedded, with content types and a self-only
//! Content-Security-Policy; nothing else under `/admin/` is served. (The UI itself is tested in
//! a browser by `tests/browser.rs`.)

#![allow(clippy::unwrap_used)] // Test helpers: a failure should panic.

mod common;

use poem::http::StatusCode;

use common::{TestDb, text};

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; \
                   form-action 'self'; frame-ancestors 'none'";

#[tokio::test]
async fn admin_ui_serves_the_page_and_its_assets_with_content_types_and_csp() {
    let db = TestDb::sqlite().await;
    let client = db.client();
    for (path, content_type, needle) in [
        (
            "/admin/",
            "text/html; charset=utf-8",
            "<script type=\"module\" src=\"/admin/main.js\">",
        ),
        (
            "/admin/index.html",
            "text/html; charset=utf-8",
            "Rivo administration",
        ),
        (
            "/admin/main.js",
            "text/javascript; charset=utf-8",
            "from \"./api.js\"",
        ),
        (
            "/admin/api.js",
            "text/javascript; charset=utf-8",
            "export async function api(",
        ),
        (
            "/admin/pages/client.js",
            "text/javascript; charset=utf-8",
            "export async function clientPage(",
        ),
        (
            "/admin/sections.js",
            "text/javascript; charset=utf-8",
            "export const SECTIONS",
        ),
        (
            "/admin/dom.js",
            "text/javascript; charset=utf-8",
            "export function h(",
        ),
        (
            "/admin/privacy.js",
            "text/javascript; charset=utf-8",
            "export function privacyCard(",
        ),
        (
            "/admin/style.css",
            "text/css; charset=utf-8",
            "@media (max-width: 760px)",
        ),
        ("/admin/favicon.svg", "image/svg+xml", "<svg"),
    ] {
        let resp = client.get(path).send().await;
        resp.assert_status_is_ok();
        resp.assert_header("content-type", content_type);
        resp.assert_header("content-security-policy", CSP);
        resp.assert_header("x-content-type-options", "nosniff");
        resp.assert_header("x-frame-options", "SAMEORIGIN");
        let body = text(resp).await;
        assert!(body.contains(needle), "{path} lacks {needle:?}");
    }
    db.cleanup().await;
}

/// Every file of `admin-ui/` (the page modules under `pages/` too) is served, so no import of a
/// module can fail in the browser.
#[tokio::test]
async fn admin_ui_serves_every_file_of_its_folder() {
    fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else {
                out.push(path);
            }
        }
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("admin-ui");
    let mut files = Vec::new();
    walk(&root, &mut files);
    assert!(files.len() > 10, "{files:?}");
    let db = TestDb::sqlite().await;
    let client = db.client();
    for file in files {
        let name = file
            .strip_prefix(&root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let resp = client.get(format!("/admin/{name}")).send().await;
        resp.assert_status_is_ok();
        if name.ends_with(".js") {
            resp.assert_header("content-type", "text/javascript; charset=utf-8");
        }
        resp.assert_header("content-security-policy", CSP);
        resp.assert_header("cache-control", "no-cache");
    }
    db.cleanup().await;
}

#[tokio::test]
async fn admin_ui_has_no_inline_scripts_or_styles() {
    let db = TestDb::sqlite().await;
    let html = text(db.client().get("/admin/").send().await).await;
    assert!(!html.contains("<script>"), "inline script in index.html");
    assert!(!html.contains("<style"), "inline style in index.html");
    assert!(!html.contains(" style="), "style attribute in index.html");
    assert!(!html.contains(" onclick="), "inline handler in index.html");
    db.cleanup().await;
}

#[tokio::test]
async fn admin_ui_answers_404_outside_its_files_including_traversal() {
    let db = TestDb::sqlite().await;
    let client = db.client();
    for path in [
        "/admin/missing.js",
        "/admin/../Cargo.toml",
        "/admin/..%2fCargo.toml",
        "/admin/%2e%2e/Cargo.toml",
        "/admin/..%2F..%2Fetc%2Fpasswd",
        "/admin/admin-ui/main.js",
        "/admin/main.js/",
        "/admin/app.js",
        "/admin/pages/",
        "/admin/pages/..%2fmain.js",
        "/admin/pages/main.js",
        "/admin/pages/pages/home.js",
        "/admin/clients/1",
        "/admin/.env",
    ] {
        let resp = client.get(path).send().await;
        resp.assert_status(StatusCode::NOT_FOUND);
        let body = text(resp).await;
        assert!(
            !body.contains("[package]") && !body.contains("root:"),
            "{path} leaked a file"
        );
    }
    db.cleanup().await;
}
