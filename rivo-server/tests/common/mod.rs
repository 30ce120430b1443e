//! Test helpers: a fresh, migrated store per test on SQLite (always) or PostgreSQL (when
//! `RIVO_TEST_POSTGRES_URL` is set), and the app around it.

#![allow(dead_code, missing_docs)]

use poem::{Endpoint, EndpointExt, Response, endpoint::BoxEndpoint, test::TestClient};
use rivo_core::{Store, StoreOptions};
use rivo_server::Config;

pub mod process;

pub type Client = TestClient<BoxEndpoint<'static, Response>>;

/// The chat session the chat tests write to.
pub const SESSION: &str = "1b4e28ba-2fa1-11d2-883f-0016d3cca427";
/// The chat endpoint that stores a message.
pub const STREAM: &str = "/api/v1/chat/stream/";
/// The chat endpoint that reads a session's history.
pub const HISTORY: &str = "/api/v1/chat/history/";

/// A migrated store that cleans up after itself.
pub struct TestDb {
    pub store: Store,
    pub url: String,
    scratch: rivo_testkit::ScratchDb,
}

impl TestDb {
    async fn open(scratch: rivo_testkit::ScratchDb) -> Self {
        let store = Store::open_with(&scratch.url, StoreOptions::default())
            .await
            .expect("open the test store");
        store.migrate().await.expect("migrate the test store");
        Self {
            store,
            url: scratch.url.clone(),
            scratch,
        }
    }

    pub async fn sqlite() -> Self {
        Self::open(rivo_testkit::ScratchDb::sqlite()).await
    }

    /// `None` (after saying so) when `RIVO_TEST_POSTGRES_URL` is unset, unless
    /// `RIVO_TEST_REQUIRE_POSTGRES=1`, which makes a missing database a failure.
    pub async fn postgres() -> Option<Self> {
        Some(Self::open(rivo_testkit::ScratchDb::postgres("rivo_srv").await?).await)
    }

    pub fn client(&self) -> Client {
        self.client_with(Config::default())
    }

    pub fn client_with(&self, config: Config) -> Client {
        client_for(self.store.clone(), config)
    }

    pub async fn cleanup(self) {
        self.store.close().await;
        self.scratch.remove().await;
    }
}

pub fn client_for(store: Store, config: Config) -> Client {
    TestClient::new(boxed(rivo_server::app(store, config)))
}

fn boxed(ep: impl Endpoint<Output = Response> + 'static) -> BoxEndpoint<'static, Response> {
    ep.boxed()
}

/// Runs `case` on SQLite, and on PostgreSQL when configured, each time on a fresh database.
#[macro_export]
macro_rules! on_every_backend {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $case() {
                    let db = $crate::common::TestDb::sqlite().await;
                    super::$case(&db).await;
                    db.cleanup().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $case() {
                    let Some(db) = $crate::common::TestDb::postgres().await else { return };
                    super::$case(&db).await;
                    db.cleanup().await;
                }
            )*
        }
    };
}

/// The body of a test response as text.
/// Sends `method path` with an optional `Authorization` header value and JSON body; answers
/// the status and the body as JSON (`Null` when empty, a string when not JSON).
pub async fn send_json(
    c: &Client,
    method: &str,
    authorization: Option<String>,
    path: &str,
    body: Option<serde_json::Value>,
) -> (poem::http::StatusCode, serde_json::Value) {
    let mut req = match method {
        "GET" => c.get(path),
        "POST" => c.post(path),
        "PUT" => c.put(path),
        "PATCH" => c.patch(path),
        "DELETE" => c.delete(path),
        other => panic!("unsupported method {other}"),
    };
    if let Some(authorization) = authorization {
        req = req.header("authorization", authorization);
    }
    if let Some(body) = body {
        req = req.body_json(&body);
    }
    let resp = req.send().await;
    let status = resp.0.status();
    let body = text(resp).await;
    let body = if body.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_str(&body).unwrap_or(serde_json::Value::String(body))
    };
    (status, body)
}

/// [`send_json`] with `Authorization: Bearer {token}` when `token` is given.
pub async fn send_bearer(
    c: &Client,
    method: &str,
    token: Option<&str>,
    path: &str,
    body: Option<serde_json::Value>,
) -> (poem::http::StatusCode, serde_json::Value) {
    send_json(c, method, token.map(bearer), path, body).await
}

pub async fn text(resp: poem::test::TestResponse) -> String {
    resp.0.into_body().into_string().await.expect("utf-8 body")
}

/// Asserts a test response's status and its whole body.
pub async fn assert_answer(
    resp: poem::test::TestResponse,
    status: poem::http::StatusCode,
    body: impl AsRef<str>,
) {
    resp.assert_status(status);
    assert_eq!(text(resp).await, body.as_ref());
}

/// Asserts that the chat history answers a `session_id` that is not a UUID with DRF's 400.
pub async fn assert_history_refuses_a_session_id_not_a_uuid(c: &Client) {
    let resp = c
        .get("/api/v1/chat/history/?session_id=not-a-uuid")
        .send()
        .await;
    let invalid = r#"{"session_id":["Must be a valid UUID."]}"#;
    assert_answer(resp, poem::http::StatusCode::BAD_REQUEST, invalid).await;
}

/// `GET` of the history of `session`: the body as JSON (see [`body_json`]).
pub async fn history_json(c: &Client, session: impl std::fmt::Display) -> serde_json::Value {
    body_json(
        c.get(format!("{HISTORY}?session_id={session}"))
            .send()
            .await,
    )
    .await
}

/// A header of a test response.
pub fn header(resp: &poem::test::TestResponse, name: &str) -> Option<String> {
    resp.0
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The password of every user [`make_user`] creates.
pub const PASSWORD: &str = "a long enough passphrase";

/// The body of a test response as JSON; panics, showing the body, when it is not JSON.
pub async fn body_json(resp: poem::test::TestResponse) -> serde_json::Value {
    let body = text(resp).await;
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

/// An active user `name` (email `name@example.com`, first name `name`, password [`PASSWORD`]).
pub async fn make_user(store: &Store, name: &str, staff: bool, superuser: bool) -> rivo_core::User {
    store
        .create_user(rivo_core::accounts::NewUser {
            is_staff: staff,
            is_superuser: superuser,
            first_name: name.to_owned(),
            ..rivo_core::accounts::NewUser::new(format!("{name}@example.com"), name)
                .password(PASSWORD)
        })
        .await
        .expect("create the test user")
}

/// Deactivates the user `id` (`is_active: false`) in the store.
pub async fn deactivate(store: &Store, id: rivo_core::UserId) {
    let update = rivo_core::accounts::UserUpdate {
        is_active: Some(false),
        ..Default::default()
    };
    store
        .update_user(id, update)
        .await
        .expect("deactivate the test user");
}

/// Creates an active superuser with `email`, `username` and `password` (and no first name,
/// unlike [`make_user`]).
pub async fn create_superuser(
    store: &Store,
    email: &str,
    username: &str,
    password: &str,
) -> rivo_core::User {
    store
        .create_user(rivo_core::accounts::NewUser {
            is_staff: true,
            is_superuser: true,
            ..rivo_core::accounts::NewUser::new(email, username).password(password)
        })
        .await
        .expect("create the test superuser")
}

/// Appends `text` to `session` from `sender` in the store, and returns the stored message.
pub async fn append(
    store: &Store,
    session: rivo_core::SessionId,
    text: &str,
    sender: rivo_core::SenderType,
) -> rivo_core::ChatMessage {
    store
        .append(session, text, sender)
        .await
        .expect("append the test message")
}

/// Posts a login of `email` with `password`, whatever the answer.
pub async fn try_login(c: &Client, email: &str, password: &str) -> poem::test::TestResponse {
    c.post("/api/v1/account/login/")
        .body_json(&serde_json::json!({"email": email, "password": password}))
        .send()
        .await
}

/// Logs `email` in with [`PASSWORD`] (asserting 200) and answers the API token.
pub async fn login(c: &Client, email: &str) -> String {
    let resp = try_login(c, email, PASSWORD).await;
    assert_eq!(resp.0.status(), poem::http::StatusCode::OK);
    body_json(resp).await["token"]
        .as_str()
        .expect("a token in the login answer")
        .to_owned()
}

/// The `Authorization` header value for `token`.
pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// `GET path` with `token`.
pub async fn get(c: &Client, token: &str, path: &str) -> poem::test::TestResponse {
    c.get(path)
        .header("authorization", bearer(token))
        .send()
        .await
}

/// `GET path` with `token`: the body as JSON (see [`body_json`]).
pub async fn get_json(c: &Client, token: &str, path: &str) -> serde_json::Value {
    body_json(get(c, token, path).await).await
}

/// `method path` with `token`, and `body` as JSON unless the method is GET or DELETE.
pub async fn send(
    c: &Client,
    token: &str,
    method: &str,
    path: &str,
    body: serde_json::Value,
) -> poem::test::TestResponse {
    let req = match method {
        "POST" => c.post(path),
        "PATCH" => c.patch(path),
        "PUT" => c.put(path),
        "DELETE" => c.delete(path),
        _ => c.get(path),
    };
    let req = req.header("authorization", bearer(token));
    if method == "GET" || method == "DELETE" {
        req.send().await
    } else {
        req.body_json(&body).send().await
    }
}

/// `POST /api/v1/chat/stream/` of the JSON message `text` (written as is: no characters JSON
/// escapes) in `session`, with the extra `headers`.
pub async fn post_message_with(
    c: &Client,
    headers: &[(&str, &str)],
    session: &str,
    text: &str,
) -> poem::test::TestResponse {
    let mut req = c.post(STREAM);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    req.content_type("application/json")
        .body(format!(
            r#"{{"session_id":"{session}","message":"{text}"}}"#
        ))
        .send()
        .await
}

/// The `key` of every item of the JSON array `list`, as `T`; panics, showing them, when `list`
/// is not an array or an item's `key` is not a `T`.
pub fn each<'a, T: serde::Deserialize<'a>>(list: &'a serde_json::Value, key: &str) -> Vec<T> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a JSON array: {list}"))
        .iter()
        .map(|item| T::deserialize(&item[key]).unwrap_or_else(|e| panic!("{key} of {item}: {e}")))
        .collect()
}

/// The default configuration with the login throttle `login_policy`.
pub fn with_login_policy(login_policy: rivo_core::auth::LoginPolicy) -> Config {
    Config {
        login_policy,
        ..Config::default()
    }
}

/// `POST /api/v1/admin/users/` of the JSON `user` with `token`.
pub async fn post_user(
    c: &Client,
    token: &str,
    user: serde_json::Value,
) -> poem::test::TestResponse {
    send(c, token, "POST", "/api/v1/admin/users/", user).await
}

/// `POST /api/v1/admin/users/{id}/password/` of `password` with `token`.
pub async fn post_password(
    c: &Client,
    token: &str,
    id: i64,
    password: &str,
) -> poem::test::TestResponse {
    let path = format!("/api/v1/admin/users/{id}/password/");
    send(
        c,
        token,
        "POST",
        &path,
        serde_json::json!({ "password": password }),
    )
    .await
}

/// Creates the superuser `root` (see [`make_user`]) and answers its API token.
pub async fn superuser_token(db: &TestDb, c: &Client) -> String {
    make_user(&db.store, "root", true, true).await;
    login(c, "root@example.com").await
}

/// Every `Set-Cookie` header of a test response, in order.
pub fn set_cookies(resp: &poem::test::TestResponse) -> Vec<String> {
    resp.0
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().expect("an ASCII cookie").to_owned())
        .collect()
}

/// Creates the active staff user `name` (see [`make_user`]) with `permissions`, or a superuser
/// when `None`, and answers its API token.
pub async fn staff_token(
    db: &TestDb,
    c: &Client,
    name: &str,
    permissions: Option<std::collections::BTreeSet<rivo_core::Permission>>,
) -> String {
    db.store
        .create_user(rivo_core::accounts::NewUser {
            is_staff: true,
            is_superuser: permissions.is_none(),
            permissions: permissions.unwrap_or_default(),
            ..rivo_core::accounts::NewUser::new(format!("{name}@example.com"), name)
                .password(PASSWORD)
        })
        .await
        .expect("create the test user");
    login(c, &format!("{name}@example.com")).await
}
