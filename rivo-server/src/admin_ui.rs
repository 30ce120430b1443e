//! The admin web UI at `/admin/`: plain HTML, JavaScript modules and CSS written for Rivo,
//! compiled into the binary with `include_bytes!` (no build step, no files to deploy).
//!
//! The UI talks only to the documented admin API with the cookie session and CSRF header, so
//! everything it shows a script can do too. It routes in the URL fragment (`/admin/#/clients/1`),
//! so the server answers only `/admin/` and the listed asset names (`pages/` holds one module
//! per page); anything else under `/admin/` (including `..` tricks) is a 404.

use poem::{
    Endpoint, Response, Result, Route, get, handler,
    http::{HeaderValue, StatusCode, header},
    web::Path,
};

use crate::error::ApiError;

/// Path the admin UI is mounted at.
pub const ADMIN_PATH: &str = "/admin";

/// The Content-Security-Policy of every admin UI response: scripts, styles, images and API
/// calls from this origin only, no inline scripts, no framing.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; \
     object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// One embedded file: its name under `/admin/`, content type and bytes.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

const INDEX: Asset = Asset {
    name: "index.html",
    content_type: "text/html; charset=utf-8",
    body: include_bytes!("../admin-ui/index.html"),
};

/// A script of the UI, by its path under `admin-ui/` (and `/admin/`).
macro_rules! script {
    ($name:literal) => {
        Asset {
            name: $name,
            content_type: "text/javascript; charset=utf-8",
            body: include_bytes!(concat!("../admin-ui/", $name)),
        }
    };
}

/// Every file of the UI (a fixed list: nothing is looked up on disk or by pattern). The page
/// loads `main.js`, which imports the others: the shared modules, then one module per page
/// under `pages/`.
const ASSETS: &[Asset] = &[
    INDEX,
    script!("main.js"),
    script!("api.js"),
    script!("dom.js"),
    script!("session.js"),
    script!("shell.js"),
    script!("sections.js"),
    script!("names.js"),
    script!("forms.js"),
    script!("live.js"),
    script!("privacy.js"),
    script!("pages/home.js"),
    script!("pages/login.js"),
    script!("pages/changelist.js"),
    script!("pages/form.js"),
    script!("pages/delete.js"),
    script!("pages/password.js"),
    script!("pages/transcript.js"),
    script!("pages/client.js"),
    script!("pages/webhooks.js"),
    Asset {
        name: "style.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../admin-ui/style.css"),
    },
    Asset {
        name: "favicon.svg",
        content_type: "image/svg+xml",
        body: include_bytes!("../admin-ui/favicon.svg"),
    },
];

/// The page with the names the scripts share with the server filled in (the CSRF cookie's and
/// header's, from [`rivo_core::admin::CSRF_COOKIE`] and [`rivo_core::admin::CSRF_HEADER`], which
/// the server's CSRF check reads too); the other files as they are.
fn body(asset: &Asset) -> poem::Body {
    if asset.name == INDEX.name {
        let page = String::from_utf8_lossy(asset.body)
            .replace("{{CSRF_COOKIE}}", rivo_core::admin::CSRF_COOKIE)
            .replace("{{CSRF_HEADER}}", rivo_core::admin::CSRF_HEADER);
        poem::Body::from_string(page)
    } else {
        poem::Body::from(asset.body)
    }
}

fn serve(asset: &Asset) -> Response {
    let mut resp = Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, asset.content_type)
        // Assets change with the binary; revalidation is cheap and avoids stale UIs after upgrades.
        .header(header::CACHE_CONTROL, "no-cache")
        .body(body(asset));
    resp.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    resp
}

/// `GET /admin/`: the single page.
#[handler]
fn index() -> Response {
    serve(&INDEX)
}

/// `GET /admin/<name>`: one of the embedded files, or a JSON 404.
#[handler]
fn embedded_file(Path(name): Path<String>) -> Result<Response> {
    asset(&name)
}

/// `GET /admin/pages/<name>`: one of the page modules.
#[handler]
fn embedded_page(Path(name): Path<String>) -> Result<Response> {
    asset(&format!("pages/{name}"))
}

/// The embedded file called `name` exactly, or a JSON 404.
fn asset(name: &str) -> Result<Response> {
    match ASSETS.iter().find(|a| a.name == name) {
        Some(asset) => Ok(serve(asset)),
        None => Err(ApiError::NotFound.into()),
    }
}

/// The admin UI, to nest at [`ADMIN_PATH`] (`Route::nest`): `/` and the embedded files.
pub fn endpoint() -> impl Endpoint {
    Route::new()
        .at("/", get(index))
        .at("/:name", get(embedded_file))
        .at("/pages/:name", get(embedded_page))
}
