//! The admin UI in a real browser: a slow earlier page never overwrites a later one. The page's
//! `fetch` is made to answer the clients list 1.5 s late; going to the clients and then, at
//! once, to the users must end on the users (the clients page's read is aborted), not busy and
//! without an error. Like `browser.rs`, runs with `RIVO_TEST_BROWSER=1` (chromium and
//! chromium-driver), and `RIVO_TEST_REQUIRE_BROWSER=1` makes a missing browser a failure.

#![allow(missing_docs, clippy::unwrap_used)]

use std::path::Path;
use std::time::Duration;

use browser_kit::{Guard, browser_binaries};
use fantoccini::{Client, Locator};
use serde_json::Value;

mod browser_kit;

const EMAIL: &str = "admin@example.com";
const PASSWORD: &str = "correct horse battery staple";
const WAIT: Duration = Duration::from_secs(20);

async fn start_browser(chromium: &Path, driver: &Path, dir: &Path) -> (Guard, Client) {
    let caps = browser_kit::headless_chromium(chromium, &dir.join("profile"), &[]);
    browser_kit::start_browser(driver, caps).await
}

async fn wait_text(client: &Client, css: &str, text: &str) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        for el in client.find_all(Locator::Css(css)).await.unwrap() {
            if el.text().await.is_ok_and(|t| t.contains(text)) {
                return;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no `{css}` containing {text:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn js(client: &Client, script: &str) -> Value {
    client.execute(script, vec![]).await.unwrap()
}

/// Makes the page's reads of the clients list answer 1.5 s late (and honour an abort).
const SLOW_CLIENTS: &str = "
    const original = window.fetch;
    window.fetch = (input, init) => {
      if (!String(input).startsWith('/api/v1/admin/clients/?')) return original(input, init);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => original(input, init).then(resolve, reject), 1500);
        init?.signal?.addEventListener('abort', () => {
          clearTimeout(timer);
          reject(new DOMException('The read was aborted.', 'AbortError'));
        });
      });
    };";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_earlier_page_never_overwrites_a_later_one() {
    let Some((chromium, driver)) = browser_binaries() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (_server, base) = browser_kit::start_server(dir.path(), EMAIL, PASSWORD, &[]).await;
    let (_driver, client) = start_browser(&chromium, &driver, dir.path()).await;

    client.goto(&format!("{base}/admin/#/")).await.unwrap();
    let email = client
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css("#login-email"))
        .await
        .unwrap();
    email.send_keys(EMAIL).await.unwrap();
    client
        .find(Locator::Css("#login-password"))
        .await
        .unwrap()
        .send_keys(PASSWORD)
        .await
        .unwrap();
    client
        .find(Locator::Css("#login-submit"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_text(&client, "#sections", "Clients").await;

    js(&client, SLOW_CLIENTS).await;
    js(
        &client,
        "location.hash = '#/clients'; setTimeout(() => { location.hash = '#/users'; }, 200);",
    )
    .await;
    wait_text(&client, "main h1", "Select user to change").await;
    // Past the moment the clients list would have answered.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let state = js(
        &client,
        "return {h1: document.querySelector('main h1')?.textContent, \
         ready: document.getElementById('main').dataset.ready, \
         busy: document.getElementById('main').getAttribute('aria-busy'), \
         messages: document.getElementById('messages').textContent};",
    )
    .await;
    assert_eq!(state["h1"], "Select user to change", "{state}");
    assert_eq!(state["ready"], "#/users", "{state}");
    assert_eq!(state["busy"], Value::Null, "{state}");
    assert_eq!(state["messages"], "", "{state}");

    // The slow page still works when it is the latest one.
    js(&client, "location.hash = '#/clients';").await;
    wait_text(&client, "main h1", "Select client to change").await;
    client.close().await.unwrap();
}
