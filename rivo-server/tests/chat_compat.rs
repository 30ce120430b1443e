//! Black-box compatibility suite: request → exact status, headers that matter and body, for
//! every behaviour of the original chat API that front ends rely on (and its fixed bugs).
//! Runs on SQLite, and on PostgreSQL when `RIVO_TEST_POSTGRES_URL` is set.

#![allow(clippy::unwrap_used)] // Test helpers: a failure should panic.

mod common;

use common::{
    Client, HISTORY, SESSION, STREAM, TestDb, assert_answer,
    assert_history_refuses_a_session_id_not_a_uuid, header, post_message_with, text,
};
use poem::http::StatusCode;
use rivo_server::Config;

async fn post_json(c: &Client, body: &str) -> poem::test::TestResponse {
    post_as(c, "application/json", body.to_owned()).await
}

/// Posts `body` to the stream endpoint as `content_type`.
async fn post_as(
    c: &Client,
    content_type: impl AsRef<str>,
    body: impl Into<poem::Body>,
) -> poem::test::TestResponse {
    c.post(STREAM)
        .content_type(content_type)
        .body(body)
        .send()
        .await
}

/// `GET` of the history endpoint with the query string `query`.
async fn get_history(c: &Client, query: &str) -> poem::test::TestResponse {
    c.get(format!("{HISTORY}?{query}")).send().await
}

/// Asserts a 201 answer holding the stored message (see [`check_message`]); answers its id and
/// `sent_at`.
async fn assert_created(
    resp: poem::test::TestResponse,
    session: &str,
    message_json: &str,
    sender: &str,
) -> (i64, String) {
    resp.assert_status(StatusCode::CREATED);
    check_message(&text(resp).await, session, message_json, sender)
}

/// Checks DRF's datetime format: `YYYY-MM-DDTHH:MM:SS[.ffffff]Z`.
fn assert_drf_datetime(s: &str) {
    let b = s.as_bytes();
    let ok_prefix = b.len() >= 20
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':';
    let tail = &s[19..];
    let ok_tail = tail == "Z"
        || (tail.len() == 8
            && tail.starts_with('.')
            && tail.ends_with('Z')
            && tail[1..7].bytes().all(|c| c.is_ascii_digit()));
    assert!(ok_prefix && ok_tail, "not a DRF datetime: {s}");
}

/// Splits a created message into (id, sent_at) and checks the rest of the bytes exactly.
fn check_message(body: &str, session: &str, message_json: &str, sender: &str) -> (i64, String) {
    let rest = body.strip_prefix("{\"id\":").expect(body);
    let (id, rest) = rest.split_once(',').expect(body);
    let expected_middle = format!(
        "\"session_id\":\"{session}\",\"message\":{message_json},\"sender_type\":\"{sender}\",\"sent_at\":\""
    );
    let rest = rest
        .strip_prefix(&expected_middle)
        .unwrap_or_else(|| panic!("unexpected body {body}, expected middle {expected_middle}"));
    let sent_at = rest.strip_suffix("\"}").expect(body);
    assert_drf_datetime(sent_at);
    (id.parse().expect(body), sent_at.to_owned())
}

async fn post_json_answers_201_with_the_stored_message(db: &TestDb) {
    let c = db.client();
    let resp = post_json(
        &c,
        r#"{"session_id": "1B4E28BA2FA111D2883F0016D3CCA427", "message": "  Hello there \n", "sender_type": "bot"}"#,
    )
    .await;
    resp.assert_status(StatusCode::CREATED);
    resp.assert_content_type("application/json");
    resp.assert_header_is_not_exist("location");
    resp.assert_header("allow", "POST, OPTIONS");
    resp.assert_header("x-frame-options", "SAMEORIGIN");
    resp.assert_header("x-content-type-options", "nosniff");
    resp.assert_header("referrer-policy", "same-origin");
    resp.assert_header("cross-origin-opener-policy", "same-origin");
    resp.assert_header("vary", "Accept, Cookie");
    resp.assert_header_exist("x-request-id");
    let body = text(resp).await;
    check_message(&body, SESSION, "\"Hello there\"", "bot");
}

async fn sender_type_defaults_to_client(db: &TestDb) {
    let c = db.client();
    let resp = post_json(
        &c,
        &format!(r#"{{"session_id":"{SESSION}","message":"hi"}}"#),
    )
    .await;
    assert_created(resp, SESSION, "\"hi\"", "client").await;
}

async fn form_body_is_accepted_and_empty_sender_type_means_client(db: &TestDb) {
    let c = db.client();
    let resp = post_as(
        &c,
        "application/x-www-form-urlencoded",
        format!("session_id={SESSION}&message=+Hi+%26+bye+&sender_type="),
    )
    .await;
    assert_created(resp, SESSION, "\"Hi & bye\"", "client").await;
}

async fn multipart_body_is_accepted(db: &TestDb) {
    let c = db.client();
    let boundary = "XyZzY";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"session_id\"\r\n\r\n{SESSION}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"message\"\r\n\r\nfrom a form\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"sender_type\"\r\n\r\nbot\r\n\
         --{boundary}--\r\n"
    );
    let resp = post_as(
        &c,
        format!("multipart/form-data; boundary={boundary}"),
        body,
    )
    .await;
    assert_created(resp, SESSION, "\"from a form\"", "bot").await;
}

async fn every_python_uuid_spelling_is_accepted_and_answered_lowercase(db: &TestDb) {
    let c = db.client();
    for spelling in [
        "1b4e28ba-2fa1-11d2-883f-0016d3cca427",
        "1B4E28BA-2FA1-11D2-883F-0016D3CCA427",
        "1b4e28ba2fa111d2883f0016d3cca427",
        "{1b4e28ba-2fa1-11d2-883f-0016d3cca427}",
        "urn:uuid:1b4e28ba-2fa1-11d2-883f-0016d3cca427",
        "1b4e-28ba-2fa1-11d2-883f-0016-d3cc-a427",
    ] {
        let resp = post_json(
            &c,
            &format!(r#"{{"session_id":"{spelling}","message":"x"}}"#),
        )
        .await;
        assert_created(resp, SESSION, "\"x\"", "client").await;
    }
}

async fn history_is_oldest_first_and_echoes_the_session_as_sent(db: &TestDb) {
    let c = db.client();
    let mut ids = Vec::new();
    for (message, sender) in [("one", "client"), ("two", "bot"), ("three", "client")] {
        let resp = post_json(
            &c,
            &format!(
                r#"{{"session_id":"{SESSION}","message":"{message}","sender_type":"{sender}"}}"#
            ),
        )
        .await;
        resp.assert_status(StatusCode::CREATED);
        ids.push(text(resp).await);
    }
    let spelled = "1B4E28BA2FA111D2883F0016D3CCA427";
    let resp = get_history(&c, &format!("session_id={spelled}")).await;
    resp.assert_status(StatusCode::OK);
    resp.assert_content_type("application/json");
    resp.assert_header("allow", "GET, HEAD, OPTIONS");
    let body = text(resp).await;
    assert_eq!(
        body,
        format!(
            "{{\"session_id\":\"{spelled}\",\"messages\":[{}]}}",
            ids.join(",")
        )
    );
}

async fn unknown_session_has_an_empty_history(db: &TestDb) {
    let c = db.client();
    let resp = get_history(&c, &format!("session_id=%7B{SESSION}%7D")).await;
    assert_answer(
        resp,
        StatusCode::OK,
        format!("{{\"session_id\":\"{{{SESSION}}}\",\"messages\":[]}}"),
    )
    .await;
}

async fn field_errors(db: &TestDb) {
    let c = db.client();
    let cases: &[(&str, &str)] = &[
        (
            "{}",
            r#"{"session_id":["This field is required."],"message":["This field is required."]}"#,
        ),
        (
            r#"{"session_id":null,"message":null,"sender_type":null}"#,
            r#"{"session_id":["This field may not be null."],"message":["This field may not be null."],"sender_type":["This field may not be null."]}"#,
        ),
        (
            r#"{"session_id":"nope","message":"   ","sender_type":"robot"}"#,
            r#"{"session_id":["Must be a valid UUID."],"message":["This field may not be blank."],"sender_type":["\"robot\" is not a valid choice."]}"#,
        ),
        (
            r#"{"sender_type":"Bot","message":"hi","session_id":"1b4e28ba"}"#,
            r#"{"session_id":["Must be a valid UUID."],"sender_type":["\"Bot\" is not a valid choice."]}"#,
        ),
        (
            &format!(r#"{{"session_id":"{SESSION}","message":"hi","sender_type":""}}"#),
            r#"{"sender_type":["\"\" is not a valid choice."]}"#,
        ),
        (
            &format!(r#"{{"session_id":"{SESSION}","message":"a\u0000b"}}"#),
            r#"{"message":["Null characters are not allowed."]}"#,
        ),
        (
            &format!(r#"{{"session_id":"{SESSION}","message":" \u001c\u001f\t"}}"#),
            r#"{"message":["This field may not be blank."]}"#,
        ),
        (
            &format!(r#"{{"session_id":"{SESSION}","message":true}}"#),
            r#"{"message":["Not a valid string."]}"#,
        ),
        (
            "[1, 2]",
            r#"{"non_field_errors":["Invalid data. Expected a dictionary, but got list."]}"#,
        ),
        (
            r#""text""#,
            r#"{"non_field_errors":["Invalid data. Expected a dictionary, but got str."]}"#,
        ),
        (
            "42",
            r#"{"non_field_errors":["Invalid data. Expected a dictionary, but got int."]}"#,
        ),
    ];
    for (body, expected) in cases {
        let resp = post_json(&c, body).await;
        resp.assert_status(StatusCode::BAD_REQUEST);
        resp.assert_content_type("application/json");
        resp.assert_header("allow", "POST, OPTIONS");
        assert_eq!(&text(resp).await, expected, "body {body}");
    }
}

async fn form_field_errors(db: &TestDb) {
    let c = db.client();
    let resp = post_as(
        &c,
        "application/x-www-form-urlencoded",
        "session_id=&message=",
    )
    .await;
    assert_answer(
        resp,
        StatusCode::BAD_REQUEST,
        r#"{"session_id":["Must be a valid UUID."],"message":["This field may not be blank."]}"#,
    )
    .await;
}

async fn json_numbers_are_text_for_message(db: &TestDb) {
    let c = db.client();
    let resp = post_json(&c, &format!(r#"{{"session_id":"{SESSION}","message":5}}"#)).await;
    assert_created(resp, SESSION, "\"5\"", "client").await;
}

async fn malformed_json_is_a_400_parse_error(db: &TestDb) {
    let c = db.client();
    // Python's `json` wording (CPython 3.11, the original's runtime), DRF's prefix.
    let cases: &[(&[u8], &str)] = &[
        (
            br#"{"session_id": "#,
            "Expecting value: line 1 column 16 (char 15)",
        ),
        (
            b"{'session_id': 1}",
            "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)",
        ),
        (
            br#"{"message": "hi",}"#,
            "Expecting property name enclosed in double quotes: line 1 column 18 (char 17)",
        ),
        (
            br#"{"message" "hi"}"#,
            "Expecting ':' delimiter: line 1 column 12 (char 11)",
        ),
        (
            br#"{"message": "hi" "x": 1}"#,
            "Expecting ',' delimiter: line 1 column 18 (char 17)",
        ),
        (br#"{"a": 1} {}"#, "Extra data: line 1 column 10 (char 9)"),
        (
            b"{\n  \"message\": \"caf\xc3\xa9",
            "Unterminated string starting at: line 2 column 14 (char 15)",
        ),
        (
            b"{\"message\": \"a\tb\"}",
            "Invalid control character at: line 1 column 15 (char 14)",
        ),
        (
            br#"{"message": "\q"}"#,
            "Invalid \\escape: line 1 column 14 (char 13)",
        ),
        (
            br#"{"message": "\u12"}"#,
            "Invalid \\uXXXX escape: line 1 column 15 (char 14)",
        ),
        (
            br#"{"message": NaN}"#,
            "Out of range float values are not JSON compliant: 'NaN'",
        ),
        (
            b"\xef\xbb\xbf{}",
            "Unexpected UTF-8 BOM (decode using utf-8-sig): line 1 column 1 (char 0)",
        ),
        (
            b"{\"message\": \"\xff\"}",
            "'utf-8' codec can't decode byte 0xff in position 13: invalid start byte",
        ),
        (b"   ", "Expecting value: line 1 column 4 (char 3)"),
    ];
    for (body, reason) in cases {
        let resp = post_as(&c, "application/json", body.to_vec()).await;
        resp.assert_status(StatusCode::BAD_REQUEST);
        resp.assert_content_type("application/json");
        let expected = serde_json::json!({ "detail": format!("JSON parse error - {reason}") });
        assert_eq!(
            text(resp).await,
            expected.to_string(),
            "{}",
            String::from_utf8_lossy(body)
        );
    }
}

/// Django's multipart parser: its boundary errors, and a lenient read of the parts.
async fn multipart_errors_are_djangos(db: &TestDb) {
    let c = db.client();
    for (content_type, detail) in [
        (
            "multipart/form-data".to_owned(),
            "Invalid boundary in multipart: None",
        ),
        (
            "multipart/form-data; boundary=\" \"".to_owned(),
            "Invalid boundary in multipart:  ",
        ),
    ] {
        let resp = post_as(&c, content_type, "whatever").await;
        resp.assert_status(StatusCode::BAD_REQUEST);
        let expected =
            serde_json::json!({ "detail": format!("Multipart form parse error - {detail}") });
        assert_eq!(text(resp).await, expected.to_string());
    }
    // A body that is not multipart at all holds no fields.
    let resp = post_as(&c, "multipart/form-data; boundary=XyZzY", "not multipart").await;
    assert_answer(
        resp,
        StatusCode::BAD_REQUEST,
        r#"{"session_id":["This field is required."],"message":["This field is required."]}"#,
    )
    .await;
    // Files: DRF's `str()` of an upload is its name; a file is not a string.
    let boundary = "XyZzY";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"session_id\"\r\n\r\n{SESSION}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"message\"; filename=\"note.txt\"\r\n\r\nhi\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"sender_type\"; filename=\"../robot.png\"\r\n\
         Content-Type: image/png\r\n\r\nPNG\r\n--{boundary}--\r\n"
    );
    let resp = post_as(
        &c,
        format!("multipart/form-data; boundary={boundary}"),
        body,
    )
    .await;
    assert_answer(resp, StatusCode::BAD_REQUEST, r#"{"message":["Not a valid string."],"sender_type":["\"robot.png\" is not a valid choice."]}"#).await;
}

/// DRF quotes Python's `str()` of a non-string choice; numbers are Python's.
async fn choice_errors_quote_python_values(db: &TestDb) {
    let c = db.client();
    for (value, shown) in [
        (r#"[1, "a", true, null]"#, "[1, 'a', True, None]"),
        (r#"{"a": {"b": "it's"}}"#, r#"{'a': {'b': \"it's\"}}"#),
        ("1.0", "1.0"),
        ("1e20", "1e+20"),
        (
            "123456789012345678901234567890",
            "123456789012345678901234567890",
        ),
        ("false", "False"),
    ] {
        let resp = post_json(
            &c,
            &format!(r#"{{"session_id":"{SESSION}","message":"hi","sender_type":{value}}}"#),
        )
        .await;
        resp.assert_status(StatusCode::BAD_REQUEST);
        assert_eq!(
            text(resp).await,
            format!(r#"{{"sender_type":["\"{shown}\" is not a valid choice."]}}"#),
            "{value}"
        );
    }
    // CharField's `str()` of a float; Python's `True` is the UUID number 1.
    let resp = post_json(&c, r#"{"session_id":true,"message":1e20}"#).await;
    assert_created(
        resp,
        "00000000-0000-0000-0000-000000000001",
        "\"1e+20\"",
        "client",
    )
    .await;
    // A repeated key: the last one wins (a Python dict).
    let resp = post_json(
        &c,
        &format!(r#"{{"session_id":"nope","message":"x","session_id":"{SESSION}"}}"#),
    )
    .await;
    resp.assert_status(StatusCode::CREATED);
    // DRF's parser choice matches wildcards: `*/*` is read as JSON.
    let resp = post_as(
        &c,
        "*/*",
        format!(r#"{{"session_id":"{SESSION}","message":"any"}}"#),
    )
    .await;
    resp.assert_status(StatusCode::CREATED);
}

/// DRF negotiates before anything else: `Accept` no renderer satisfies → 406, an unknown
/// `?format=` → 404; `indent` in `Accept` indents.
async fn content_negotiation_is_drfs(db: &TestDb) {
    let c = db.client();
    let history = format!("{HISTORY}?session_id={SESSION}");
    for (method, uri, allow) in [
        ("POST", STREAM.to_owned(), "POST, OPTIONS"),
        ("GET", STREAM.to_owned(), "POST, OPTIONS"),
        ("GET", history.clone(), "GET, HEAD, OPTIONS"),
        ("OPTIONS", history.clone(), "GET, HEAD, OPTIONS"),
        ("GET", "/api/v1/chat/".to_owned(), "GET, HEAD, OPTIONS"),
    ] {
        let resp = c
            .request(method.parse().unwrap(), &uri)
            .header("accept", "application/xml")
            .content_type("application/json")
            .body("{")
            .send()
            .await;
        resp.assert_status(StatusCode::NOT_ACCEPTABLE);
        resp.assert_content_type("application/json");
        resp.assert_header("allow", allow);
        resp.assert_header("vary", "Accept");
        assert_eq!(
            text(resp).await,
            r#"{"detail":"Could not satisfy the request Accept header."}"#,
            "{method} {uri}"
        );
        let sep = if uri.contains('?') { '&' } else { '?' };
        let resp = c
            .request(method.parse().unwrap(), format!("{uri}{sep}format=xml"))
            .send()
            .await;
        resp.assert_status(StatusCode::NOT_FOUND);
        resp.assert_header("allow", allow);
        assert_eq!(text(resp).await, r#"{"detail":"Not found."}"#);
    }
    for accept in ["application/json", "*/*", "application/*", "text/html"] {
        let resp = c
            .get(format!("{history}&format=json"))
            .header("accept", if accept == "text/html" { "*/*" } else { accept })
            .send()
            .await;
        resp.assert_status(StatusCode::OK);
        // The browsable API (`text/html`, `?format=api`) is answered in JSON.
        let resp = c.get(&history).header("accept", accept).send().await;
        resp.assert_status(StatusCode::OK);
        resp.assert_content_type("application/json");
    }
    let indented = [("accept", "application/json; indent=2")];
    let resp = post_message_with(&c, &indented, SESSION, "pretty").await;
    resp.assert_status(StatusCode::CREATED);
    let body = text(resp).await;
    assert!(
        body.starts_with("{\n  \"id\": ")
            && body.contains(&format!(
                ",\n  \"session_id\": \"{SESSION}\",\n  \"message\": \"pretty\",\n  \"sender_type\": \"client\",\n  \"sent_at\": \""
            ))
            && body.ends_with("\"\n}"),
        "{body}"
    );
}

/// Django's `QueryDict.get` returns the last of repeated parameters.
async fn repeated_session_id_takes_the_last(db: &TestDb) {
    let c = db.client();
    let resp = get_history(&c, &format!("session_id=not-a-uuid&session_id={SESSION}")).await;
    assert_answer(
        resp,
        StatusCode::OK,
        format!(r#"{{"session_id":"{SESSION}","messages":[]}}"#),
    )
    .await;
    let resp = get_history(&c, &format!("session_id={SESSION}&session_id=")).await;
    assert_answer(
        resp,
        StatusCode::BAD_REQUEST,
        r#"{"error":"session_id is required"}"#,
    )
    .await;
}

/// A request without any Host header (HTTP/1.0) is answered whatever `ALLOWED_HOSTS` says.
async fn requests_without_host_are_answered(db: &TestDb) {
    let c = db.client_with(Config {
        allowed_hosts: Some(vec!["chat.example.com".to_owned()]),
        ..Config::default()
    });
    let resp = get_history(&c, &format!("session_id={SESSION}")).await;
    resp.assert_status(StatusCode::OK);
    let resp = c
        .get(format!("{HISTORY}?session_id={SESSION}"))
        .header("host", "")
        .send()
        .await;
    resp.assert_status(StatusCode::BAD_REQUEST);
}

async fn unsupported_media_types_are_415(db: &TestDb) {
    let c = db.client();
    let resp = post_as(&c, "text/plain", "hello").await;
    resp.assert_status(StatusCode::UNSUPPORTED_MEDIA_TYPE);
    resp.assert_content_type("application/json");
    assert_eq!(
        text(resp).await,
        r#"{"detail":"Unsupported media type \"text/plain\" in request."}"#
    );
    let resp = c.post(STREAM).body("hello").send().await;
    assert_answer(
        resp,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        r#"{"detail":"Unsupported media type \"\" in request."}"#,
    )
    .await;
}

async fn rejected_requests_consume_no_id(db: &TestDb) {
    let c = db.client();
    let ok = format!(r#"{{"session_id":"{SESSION}","message":"x"}}"#);
    let first = check_message(
        &text(post_json(&c, &ok).await).await,
        SESSION,
        "\"x\"",
        "client",
    )
    .0;
    post_json(&c, r#"{"session_id":"bad","message":"x"}"#)
        .await
        .assert_status(StatusCode::BAD_REQUEST);
    let second = check_message(
        &text(post_json(&c, &ok).await).await,
        SESSION,
        "\"x\"",
        "client",
    )
    .0;
    assert_eq!(second, first + 1);
}

async fn history_parameter_errors(db: &TestDb) {
    let c = db.client();
    for uri in [HISTORY.to_owned(), format!("{HISTORY}?session_id=")] {
        let resp = c.get(&uri).send().await;
        resp.assert_status(StatusCode::BAD_REQUEST);
        assert_eq!(
            text(resp).await,
            r#"{"error":"session_id is required"}"#,
            "{uri}"
        );
    }
    assert_history_refuses_a_session_id_not_a_uuid(&c).await;
}

async fn wrong_methods_are_405_with_allow(db: &TestDb) {
    let c = db.client();
    for (method, path, allow) in [
        ("GET", STREAM, "POST, OPTIONS"),
        ("PUT", STREAM, "POST, OPTIONS"),
        ("POST", HISTORY, "GET, HEAD, OPTIONS"),
        ("DELETE", HISTORY, "GET, HEAD, OPTIONS"),
    ] {
        let resp = c
            .request(method.parse().expect("method"), path)
            .send()
            .await;
        resp.assert_status(StatusCode::METHOD_NOT_ALLOWED);
        resp.assert_header("allow", allow);
        resp.assert_content_type("application/json");
        assert_eq!(
            text(resp).await,
            format!(r#"{{"detail":"Method \"{method}\" not allowed."}}"#)
        );
    }
}

async fn options_describes_the_endpoint(db: &TestDb) {
    let c = db.client();
    let renders_parses = r#""renders":["application/json","text/html"],"parses":["application/json","application/x-www-form-urlencoded","multipart/form-data"]}"#;
    for (path, allow, name_description) in [
        (
            STREAM,
            "POST, OPTIONS",
            r#"{"name":"Stream","description":"Send a message and add it to chat history\n\nPOST /chat/stream//\n{\n    \"session_id\": \"550e8400-e29b-41d4-a716-446655440000\",\n    \"message\": \"Hello!\",\n    \"sender_type\": \"client\"\n}","#,
        ),
        (
            HISTORY,
            "GET, HEAD, OPTIONS",
            r#"{"name":"History","description":"Get chat history for a specific session\n\nGET /chat/history/?session_id=550e8400-e29b-41d4-a716-446655440000","#,
        ),
        (
            "/api/v1/chat/",
            "GET, HEAD, OPTIONS",
            r#"{"name":"Api Root","description":"The default basic root view for DefaultRouter","#,
        ),
    ] {
        let resp = c.request(poem::http::Method::OPTIONS, path).send().await;
        resp.assert_status(StatusCode::OK);
        resp.assert_header("allow", allow);
        resp.assert_header("vary", "Accept, Cookie");
        assert_eq!(
            text(resp).await,
            format!("{name_description}{renders_parses}")
        );
    }
}

async fn head_history_has_no_body(db: &TestDb) {
    let c = db.client();
    let resp = c
        .request(
            poem::http::Method::HEAD,
            format!("{HISTORY}?session_id={SESSION}"),
        )
        .send()
        .await;
    assert_answer(resp, StatusCode::OK, "").await;
}

async fn missing_trailing_slash_gets_the_same_answer(db: &TestDb) {
    let c = db.client();
    let resp = c
        .post("/api/v1/chat/stream")
        .content_type("application/json")
        .body(format!(
            r#"{{"session_id":"{SESSION}","message":"no slash"}}"#
        ))
        .send()
        .await;
    resp.assert_status(StatusCode::CREATED);
    let created = text(resp).await;
    let resp = c
        .get(format!("/api/v1/chat/history?session_id={SESSION}"))
        .send()
        .await;
    assert_answer(
        resp,
        StatusCode::OK,
        format!(r#"{{"session_id":"{SESSION}","messages":[{created}]}}"#),
    )
    .await;
    let resp = c.get("/api/v1/chat/stream").send().await;
    resp.assert_status(StatusCode::METHOD_NOT_ALLOWED);
    resp.assert_header("allow", "POST, OPTIONS");
}

async fn api_root_is_an_empty_object(db: &TestDb) {
    let c = db.client();
    for path in [
        "/api/v1/chat/",
        "/api/v1/chat",
        "/api/v1/chat/.json",
        "/api/v1/chat/?format=json",
    ] {
        let resp = c.get(path).send().await;
        resp.assert_status(StatusCode::OK);
        resp.assert_content_type("application/json");
        resp.assert_header("allow", "GET, HEAD, OPTIONS");
        resp.assert_header("vary", "Accept, Cookie");
        assert_eq!(text(resp).await, "{}", "{path}");
    }
    let resp = c.post("/api/v1/chat/").send().await;
    resp.assert_status(StatusCode::METHOD_NOT_ALLOWED);
    resp.assert_header("allow", "GET, HEAD, OPTIONS");
    assert_eq!(
        text(resp).await,
        r#"{"detail":"Method \"POST\" not allowed."}"#
    );
    let resp = c.get("/api/v1/chat/.xml").send().await;
    resp.assert_status(StatusCode::NOT_FOUND);
}

async fn format_suffixes_are_json_404(db: &TestDb) {
    let c = db.client();
    for path in [
        "/api/v1/chat/stream.json",
        "/api/v1/chat/history.json",
        "/api/v1/nope/",
    ] {
        let resp = c.get(path).send().await;
        resp.assert_status(StatusCode::NOT_FOUND);
        resp.assert_content_type("application/json");
        assert_eq!(text(resp).await, r#"{"detail":"Not found."}"#);
    }
}

async fn line_separators_are_escaped_in_output(db: &TestDb) {
    let c = db.client();
    let resp = post_json(
        &c,
        &format!(
            "{{\"session_id\":\"{SESSION}\",\"message\":\"a\u{2028}b\u{2029}c <b>😀</b> / \\\"q\\\"\"}}"
        ),
    )
    .await;
    resp.assert_status(StatusCode::CREATED);
    check_message(
        &text(resp).await,
        SESSION,
        r#""a\u2028b\u2029c <b>😀</b> / \"q\"""#,
        "client",
    );
}

async fn chat_routes_need_no_csrf_token(db: &TestDb) {
    let c = db.client();
    let cookies_from_a_page = [
        ("cookie", "sessionid=abc; csrftoken=def"),
        ("origin", "http://localhost:5000"),
    ];
    let resp = post_message_with(&c, &cookies_from_a_page, SESSION, "hi").await;
    resp.assert_status(StatusCode::CREATED);
}

async fn large_bodies_are_accepted_up_to_the_limit(db: &TestDb) {
    let c = db.client();
    let big = "x".repeat(3 * 1024 * 1024);
    let resp = post_json(
        &c,
        &format!(r#"{{"session_id":"{SESSION}","message":"{big}"}}"#),
    )
    .await;
    resp.assert_status(StatusCode::CREATED);

    let small = db.client_with(Config {
        max_body_bytes: 100,
        ..Config::default()
    });
    let resp = post_json(
        &small,
        &format!(
            r#"{{"session_id":"{SESSION}","message":"{}"}}"#,
            "y".repeat(200)
        ),
    )
    .await;
    resp.assert_status(StatusCode::PAYLOAD_TOO_LARGE);
    resp.assert_content_type("application/json");
    assert!(text(resp).await.starts_with(r#"{"detail":"#));
}

async fn cors_only_for_configured_origins(db: &TestDb) {
    let allowed = "https://shop.example";
    let c = db.client_with(Config {
        cors_allowed_origins: vec![allowed.to_owned()],
        ..Config::default()
    });
    let resp = c
        .request(poem::http::Method::OPTIONS, STREAM)
        .header("origin", allowed)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .send()
        .await;
    resp.assert_status(StatusCode::OK);
    resp.assert_header("access-control-allow-origin", allowed);
    let methods = header(&resp, "access-control-allow-methods").unwrap_or_default();
    assert!(methods.contains("POST"), "{methods}");
    let allow_headers = header(&resp, "access-control-allow-headers").unwrap_or_default();
    assert!(allow_headers.contains("content-type"), "{allow_headers}");

    let resp = post_message_with(&c, &[("origin", allowed)], SESSION, "hi").await;
    resp.assert_status(StatusCode::CREATED);
    resp.assert_header("access-control-allow-origin", allowed);

    for client in [&c, &db.client()] {
        let resp = client
            .get(format!("{HISTORY}?session_id={SESSION}"))
            .header("origin", "https://evil.example")
            .send()
            .await;
        resp.assert_status(StatusCode::OK);
        resp.assert_header_is_not_exist("access-control-allow-origin");
        let resp = client
            .request(poem::http::Method::OPTIONS, STREAM)
            .header("origin", "https://evil.example")
            .header("access-control-request-method", "POST")
            .send()
            .await;
        resp.assert_header_is_not_exist("access-control-allow-origin");
    }
}

async fn hosts_outside_allowed_hosts_get_400(db: &TestDb) {
    let c = db.client_with(Config {
        allowed_hosts: Some(vec!["chat.example.com".to_owned(), ".rivo.test".to_owned()]),
        ..Config::default()
    });
    let resp = c
        .get(format!("{HISTORY}?session_id={SESSION}"))
        .header("host", "evil.example")
        .send()
        .await;
    resp.assert_status(StatusCode::BAD_REQUEST);
    resp.assert_content_type("application/json");
    resp.assert_header("x-frame-options", "SAMEORIGIN");
    assert!(text(resp).await.contains("evil.example"));
    for host in [
        "chat.example.com",
        "CHAT.example.com:5000",
        "rivo.test",
        "a.rivo.test",
    ] {
        let resp = c
            .get(format!("{HISTORY}?session_id={SESSION}"))
            .header("host", host)
            .send()
            .await;
        resp.assert_status(StatusCode::OK);
    }
    let resp = c
        .get("/healthz")
        .header("host", "10.0.0.7:5000")
        .send()
        .await;
    resp.assert_status(StatusCode::OK);
}

/// Issue 15, finding 9: `evil.com/.example.org` used to pass `.example.org` and end up in the
/// pagination links; two Host headers are refused; DEBUG without ALLOWED_HOSTS allows only
/// local names.
async fn hosts_with_bad_syntax_or_twice_get_400(db: &TestDb) {
    let c = db.client_with(Config {
        allowed_hosts: Some(vec![".example.org".to_owned()]),
        ..Config::default()
    });
    for host in [
        "evil.com/.example.org",
        "evil.com?.example.org",
        "evil.com#.example.org",
        "evil.com@www.example.org",
        "evil.com\\.example.org",
    ] {
        let resp = c
            .get(format!("{HISTORY}?session_id={SESSION}"))
            .header("host", host)
            .send()
            .await;
        resp.assert_status(StatusCode::BAD_REQUEST);
        resp.assert_content_type("application/json");
        let body: serde_json::Value = serde_json::from_str(&text(resp).await).unwrap();
        assert!(
            body["detail"]
                .as_str()
                .unwrap()
                .starts_with("Invalid HTTP_HOST header"),
            "{host}: {body}"
        );
    }
    let resp = c
        .get(format!("{HISTORY}?session_id={SESSION}"))
        .header("host", "www.example.org")
        .header("host", "evil.com")
        .send()
        .await;
    resp.assert_status(StatusCode::BAD_REQUEST);
    let resp = c
        .get(format!("{HISTORY}?session_id={SESSION}"))
        .header("host", "www.example.org")
        .send()
        .await;
    resp.assert_status(StatusCode::OK);

    // DEBUG (the default) without ALLOWED_HOSTS: Django's local names only.
    let debug = db.client();
    for (host, status) in [
        ("localhost:5000", StatusCode::OK),
        ("127.0.0.1", StatusCode::OK),
        ("[::1]:5000", StatusCode::OK),
        ("app.localhost", StatusCode::OK),
        ("evil.example", StatusCode::BAD_REQUEST),
        ("10.0.0.7:5000", StatusCode::BAD_REQUEST),
    ] {
        let resp = debug
            .get(format!("{HISTORY}?session_id={SESSION}"))
            .header("host", host)
            .send()
            .await;
        resp.assert_status(status);
    }
}

async fn probes_and_docs(db: &TestDb) {
    let c = db.client();
    let resp = c.get("/healthz").send().await;
    assert_answer(resp, StatusCode::OK, r#"{"status":"ok"}"#).await;
    let resp = c.get("/readyz").send().await;
    resp.assert_status(StatusCode::OK);
    let resp = c.get("/api/v1/openapi.json").send().await;
    resp.assert_status(StatusCode::OK);
    resp.assert_content_type("application/json");
    assert_eq!(text(resp).await, rivo_server::openapi_json());
    for path in ["/api/docs/", "/api/docs"] {
        let resp = c.get(path).send().await;
        resp.assert_status(StatusCode::OK);
        assert!(text(resp).await.contains("swagger"), "{path}");
    }
}

on_every_backend!(
    post_json_answers_201_with_the_stored_message,
    sender_type_defaults_to_client,
    form_body_is_accepted_and_empty_sender_type_means_client,
    multipart_body_is_accepted,
    every_python_uuid_spelling_is_accepted_and_answered_lowercase,
    history_is_oldest_first_and_echoes_the_session_as_sent,
    unknown_session_has_an_empty_history,
    field_errors,
    form_field_errors,
    json_numbers_are_text_for_message,
    malformed_json_is_a_400_parse_error,
    multipart_errors_are_djangos,
    choice_errors_quote_python_values,
    content_negotiation_is_drfs,
    repeated_session_id_takes_the_last,
    requests_without_host_are_answered,
    unsupported_media_types_are_415,
    rejected_requests_consume_no_id,
    history_parameter_errors,
    wrong_methods_are_405_with_allow,
    options_describes_the_endpoint,
    head_history_has_no_body,
    missing_trailing_slash_gets_the_same_answer,
    api_root_is_an_empty_object,
    format_suffixes_are_json_404,
    line_separators_are_escaped_in_output,
    chat_routes_need_no_csrf_token,
    large_bodies_are_accepted_up_to_the_limit,
    cors_only_for_configured_origins,
    hosts_outside_allowed_hosts_get_400,
    hosts_with_bad_syntax_or_twice_get_400,
    probes_and_docs,
);

/// A database that cannot be reached answers 503 JSON, quickly, never a hang or a 500.
#[tokio::test]
async fn database_outage_is_503_json() {
    let store = rivo_core::Store::open_with(
        "postgres://rivo@127.0.0.1:1/rivo",
        rivo_core::StoreOptions {
            max_connections: 2,
            acquire_timeout: std::time::Duration::from_secs(1),
            ..Default::default()
        },
    )
    .await
    .expect("PostgreSQL connects lazily");
    let c = common::client_for(store, Config::default());
    let started = std::time::Instant::now();
    let resp = post_json(
        &c,
        &format!(r#"{{"session_id":"{SESSION}","message":"hi"}}"#),
    )
    .await;
    resp.assert_status(StatusCode::SERVICE_UNAVAILABLE);
    resp.assert_content_type("application/json");
    assert_eq!(
        text(resp).await,
        r#"{"detail":"Service temporarily unavailable, try again later."}"#
    );
    let resp = get_history(&c, &format!("session_id={SESSION}")).await;
    resp.assert_status(StatusCode::SERVICE_UNAVAILABLE);
    let resp = c.get("/readyz").send().await;
    resp.assert_status(StatusCode::SERVICE_UNAVAILABLE);
    // Client errors are still answered without the database.
    let resp = post_json(&c, r#"{"session_id":"bad","message":"hi"}"#).await;
    resp.assert_status(StatusCode::BAD_REQUEST);
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
}
