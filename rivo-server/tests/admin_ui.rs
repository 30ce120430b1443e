//! The admin web UI's files under `/admin/`: embedded, with content types and a self-only
//! Content-Security-Policy; nothing else under `/admin/` is served. (The UI itself is tested in
//! a browser by `tests/browser.rs`.)

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
            "<script type=\"module\" src=\"/admin/app.js\">",
        ),
        (
            "/admin/index.html",
            "text/html; charset=utf-8",
            "Rivo administration",
        ),
        (
            "/admin/app.js",
            "text/javascript; charset=utf-8",
            "from \"./api.js\"",
        ),
        (
            "/admin/api.js",
            "text/javascript; charset=utf-8",
            "X-CSRFToken",
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
        "/admin/admin-ui/app.js",
        "/admin/app.js/",
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
