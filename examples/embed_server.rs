//! Mounting Rivo inside your own poem service, under a path prefix.
//!
//! The host app keeps its own routes (`/`, `/healthz`) and serves the whole Rivo server — chat
//! API, account and admin API, spec and API viewer — under `/support`:
//! `POST /support/api/v1/chat/stream/`, `GET /support/api/v1/admin/clients/`, … Use
//! `Route::nest` (it strips the prefix, so Rivo sees the absolute `/api/v1/...` paths its
//! routing and middleware expect; `nest_no_strip` would not match any Rivo route). Pagination
//! links (`next`, `previous`) keep the prefix. An SDK generated from `openapi.json` takes the
//! base URL with the prefix: `http://host/support`.
//!
//! ```sh
//! cargo run --example embed_server            # serves on http://127.0.0.1:8080 (PORT to change)
//! cargo run --example embed_server -- --check # serves on a free port, calls it through the prefix, exits
//! DATABASE_URL=postgres://postgres@127.0.0.1/postgres cargo run --example embed_server -- --check
//! ```

use poem::{
    Endpoint, EndpointExt, IntoEndpoint, Route, get, handler,
    listener::{Acceptor, Listener, TcpListener},
};
use rivo_client::{ClientInfo, types};
use rivo_core::{SessionId, Store, accounts::NewUser};

/// Where Rivo lives inside the host app.
const PREFIX: &str = "/support";

#[handler]
fn home() -> &'static str {
    "My shop. Chat support lives under /support/api/v1/ (API viewer: /support/api/docs/)."
}

#[handler]
fn healthz() -> &'static str {
    "ok"
}

/// The host app: its own routes, plus Rivo under [`PREFIX`].
fn host_app(store: Store) -> impl Endpoint {
    let config = rivo_server::Config {
        database_url: rivo_examples::database_url(),
        ..rivo_server::Config::default()
    };
    Route::new()
        .at("/", get(home))
        .at("/healthz", get(healthz))
        .nest(PREFIX, rivo_server::app(store, config))
        .into_endpoint()
        .map_to_response()
}

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

#[tokio::main]
async fn main() -> Result<()> {
    let store = Store::open(&rivo_examples::database_url()).await?;
    store.migrate().await?;
    if std::env::args().any(|a| a == "--check") {
        return check(store).await;
    }
    let port = std::env::var("PORT").unwrap_or_else(|_| "8080".to_owned());
    let addr = format!("127.0.0.1:{port}");
    println!("host app on http://{addr}/ — Rivo under http://{addr}{PREFIX}/api/v1/");
    poem::Server::new(TcpListener::bind(addr))
        .run(host_app(store))
        .await?;
    Ok(())
}

/// Fails with a message unless `cond` holds.
fn ensure(cond: bool, what: &str) -> Result<()> {
    if cond {
        Ok(())
    } else {
        Err(format!("check failed: {what}").into())
    }
}

/// Serves the host app on a free port and sends real HTTP requests through the prefix with the
/// Rust SDK (`rivo-client`, whose base URL simply includes the prefix): the chat round trip, a
/// login, the admin API with pagination links, and the host's own routes.
async fn check(store: Store) -> Result<()> {
    // Unique names, so the check can run again on the same PostgreSQL database.
    let run = SessionId::new_random();
    let email = format!("admin-{run}@example.com");
    let password = "violet tractor over 9412 hills";
    store
        .create_user(NewUser {
            is_staff: true,
            is_superuser: true,
            ..NewUser::new(email.clone(), format!("admin-{run}")).password(password)
        })
        .await?;

    let acceptor = TcpListener::bind("127.0.0.1:0").into_acceptor().await?;
    let addr = acceptor
        .local_addr()
        .into_iter()
        .find_map(|a| a.as_socket_addr().copied())
        .ok_or("no TCP address")?;
    tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(host_app(store)));
    let host = format!("http://{addr}");
    let rivo = rivo_client::Client::new(&format!("{host}{PREFIX}"));

    let front = rivo.client().get(format!("{host}/")).send().await?;
    ensure(front.status().as_u16() == 200, "the host's / answers")?;

    let session = uuid::Uuid::parse_str(&run.to_string())?;
    let sent = rivo
        .chat_send()
        .body(types::SendMessageRequest {
            session_id: session,
            message: "Hello from the shop".into(),
            sender_type: Some(types::SenderType::Client),
            data_type: None,
        })
        .send()
        .await?;
    println!("POST {PREFIX}/api/v1/chat/stream/ -> message {}", sent.id);
    let history = rivo
        .chat_history()
        .session_id(run.to_string())
        .send()
        .await?;
    ensure(
        history.messages.len() == 1 && history.messages[0].message == "Hello from the shop",
        "history replays the message",
    )?;
    println!(
        "GET {PREFIX}/api/v1/chat/history/ -> {} message(s)",
        history.messages.len()
    );

    let login = rivo
        .account_login()
        .body(types::LoginRequest {
            email,
            password: password.into(),
        })
        .send()
        .await?;
    let admin = rivo_client::with_token(&format!("{host}{PREFIX}"), &login.token)?;
    for name in ["Ada", "Grace", "Edsger"] {
        admin
            .admin_clients_create()
            .body(types::ClientCreateRequest {
                name: format!("{name} {run}"),
                chat_session_id: None,
                context_data: None,
                current_stage: None,
                email: None,
                phone: None,
            })
            .send()
            .await?;
    }
    let page = admin
        .admin_clients_list()
        .search(run.to_string())
        .page_size(2)
        .send()
        .await?;
    let next = page.next.clone().unwrap_or_default();
    ensure(page.count == 3, "three clients listed")?;
    ensure(
        next.starts_with(&format!("{host}{PREFIX}/api/v1/admin/clients/?")),
        &format!("the next link keeps the prefix: {next}"),
    )?;
    println!("GET {PREFIX}/api/v1/admin/clients/ -> count 3, next {next}");

    let spec = rivo
        .client()
        .get(format!("{host}{PREFIX}/api/v1/openapi.json"))
        .send()
        .await?;
    ensure(spec.status().as_u16() == 200, "the spec is served")?;
    let outside = rivo
        .client()
        .get(format!("{host}/api/v1/chat/history/"))
        .send()
        .await?;
    ensure(
        outside.status().as_u16() == 404,
        "nothing of Rivo outside the prefix",
    )?;
    println!("embedding check passed");
    Ok(())
}
