//! End to end through the generated Rust SDK (`rivo-client`, built by progenitor from the
//! committed `openapi.json`): the real server listens on a free port and the client posts
//! messages, reads the history, logs in, lists clients and moves a stage. A spec that stops
//! generating a working client fails to build or fails here.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers: a failure should panic.

mod common;

use common::{TestDb, create_superuser};
use poem::listener::{Acceptor, Listener, TcpListener};
use rivo_client::types;
use rivo_server::Config;

const PASSWORD: &str = "correct horse battery staple 42";

/// Serves the app on `127.0.0.1:<free port>` in the background; returns the base URL.
async fn serve(db: &TestDb) -> String {
    let acceptor = TcpListener::bind("127.0.0.1:0")
        .into_acceptor()
        .await
        .expect("bind a free port");
    let addr = acceptor
        .local_addr()
        .into_iter()
        .find_map(|a| a.as_socket_addr().copied())
        .expect("a TCP address");
    let app = rivo_server::app(db.store.clone(), Config::default());
    tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(app));
    format!("http://{addr}")
}

async fn generated_client_drives_the_api(db: &TestDb) {
    create_superuser(&db.store, "admin@example.com", "admin", PASSWORD).await;
    let base = serve(db).await;
    let rivo = rivo_client::Client::new(&base);

    // Chat: post two messages, read them back in order.
    let session = uuid::Uuid::new_v4();
    for (text, sender) in [
        ("Hi, I need a loan", types::SenderType::Client),
        ("Sure, how much?", types::SenderType::Bot),
    ] {
        let sent = rivo
            .chat_send()
            .body(types::SendMessageRequest {
                session_id: session,
                message: text.into(),
                sender_type: Some(sender),
                data_type: None,
            })
            .send()
            .await
            .unwrap();
        assert_eq!(sent.status().as_u16(), 201);
        assert_eq!(sent.message, text);
        assert_eq!(sent.sender_type, sender);
    }
    let history = rivo
        .chat_history()
        .session_id(session.to_string())
        .send()
        .await
        .unwrap();
    let texts: Vec<&str> = history
        .messages
        .iter()
        .map(|m| m.message.as_str())
        .collect();
    assert_eq!(texts, ["Hi, I need a loan", "Sure, how much?"]);
    assert_eq!(history.session_id, session.to_string());

    // A typed DRF error body: a blank message is a field error.
    let err = rivo
        .chat_send()
        .body(types::SendMessageRequest {
            session_id: session,
            message: "   ".into(),
            sender_type: None,
            data_type: None,
        })
        .send()
        .await
        .unwrap_err();
    match err {
        rivo_client::Error::ErrorResponse(resp) => {
            assert_eq!(resp.status().as_u16(), 400);
            let types::ErrorBody::FieldErrors(fields) = resp.into_inner() else {
                panic!("expected field errors");
            };
            assert!(fields.contains_key("message"), "{fields:?}");
        }
        other => panic!("expected a 400 error response, got {other:?}"),
    }

    // Account: log in, then the admin API with the token.
    let login = rivo
        .account_login()
        .body(types::LoginRequest {
            email: "admin@example.com".into(),
            password: PASSWORD.into(),
        })
        .send()
        .await
        .unwrap();
    assert_eq!(login.user.email, "admin@example.com");
    let admin = rivo_client::with_token(&base, &login.token).unwrap();

    let created = admin
        .admin_clients_create()
        .body(types::ClientCreateRequest {
            name: "Ada Lovelace".into(),
            chat_session_id: Some(session.to_string()),
            context_data: None,
            current_stage: None,
            email: None,
            phone: Some("+44 20 7946 0000".into()),
        })
        .send()
        .await
        .unwrap();
    assert_eq!(created.current_stage, types::Stage::Lead);

    let page = admin
        .admin_clients_list()
        .search("ada")
        .send()
        .await
        .unwrap();
    assert_eq!(page.count, 1);
    assert_eq!(page.results[0].id, created.id);
    assert_eq!(page.next, None);

    let moved = admin
        .admin_clients_set_stage()
        .id(created.id)
        .body(types::StageRequest {
            to_stage: types::Stage::Contacted,
            remarks: Some("called back".into()),
        })
        .send()
        .await
        .unwrap();
    assert!(moved.changed);
    assert_eq!(moved.client.current_stage, types::Stage::Contacted);
    let history = moved.into_inner().history.expect("a stage change");
    assert_eq!(history.from_stage, Some(types::Stage::Lead));
    assert_eq!(history.to_stage, types::Stage::Contacted);

    // Without the token the admin API answers a typed 401.
    let unauthenticated = rivo.admin_clients_list().send().await.unwrap_err();
    assert_eq!(
        unauthenticated.status().map(|s| s.as_u16()),
        Some(401),
        "{unauthenticated:?}"
    );
}

on_every_backend!(generated_client_drives_the_api);
