//! End-to-end tests of the admin web UI at `/admin/` in headless Chromium.
//!
//! Switched on by `RIVO_TEST_BROWSER=1` (skipped with a notice otherwise); with
//! `RIVO_TEST_REQUIRE_BROWSER=1` a missing `chromium` or `chromedriver` is a failure. The test
//! starts the real `rivo-server` binary on a free port with a fresh SQLite database and a
//! superuser, starts chromedriver on another free port, and walks the support lead's day through
//! the UI. A failing step leaves `target/browser-failures/<step>.png`; the pages it passes
//! through are saved under `target/browser-screenshots/` (`admin-client.png` is the README's
//! `docs/admin-client.png`). `RIVO_CHROMIUM` and `RIVO_CHROMEDRIVER` override the default
//! `/usr/bin/chromium` and `/usr/bin/chromedriver`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use browser_kit::{Guard, browser_binaries};
use fantoccini::elements::Element;
use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, Locator};
use serde_json::{Value, json};

mod browser_kit;

#[path = "../../rivo-core/src/store/tests/receiver.rs"]
#[allow(missing_docs, clippy::unwrap_used)]
mod receiver;

const ADMIN_EMAIL: &str = "admin@example.com";
const ADMIN_PASSWORD: &str = "correct horse battery staple";
const SUPPORT_EMAIL: &str = "support@example.com";
const SUPPORT_PASSWORD: &str = "plum orchard telescope 42";
const SESSION_ONE: &str = "3f2504e0-4f89-11d3-9a0c-0305e82c3301";
const SESSION_TWO: &str = "9b2d3c4e-1111-4a2b-8c3d-0123456789ab";
/// A long conversation: with it there are 30 messages, more than one page of 25.
/// The conversation of the live-update and webhook steps.
const SESSION_LIVE: &str = "1ea7e000-4444-4d5e-8f90-0123456789ab";
const SESSION_LONG: &str = "c0ffee00-2222-4b3c-9d4e-abcdefabcdef";
const WAIT: Duration = Duration::from_secs(20);

type Error = Box<dyn std::error::Error + Send + Sync>;
type Result<T = ()> = std::result::Result<T, Error>;

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

/// The real server binary on a free port, with a fresh SQLite database and a superuser.
async fn start_server(dir: &Path) -> (Guard, String) {
    let env = [
        // The webhook step's receiver runs on loopback.
        ("RIVO_WEBHOOK_ALLOW_PRIVATE", "True"),
        ("RIVO_WEBHOOK_BACKOFF_BASE_MS", "100"),
    ];
    browser_kit::start_server(dir, ADMIN_EMAIL, ADMIN_PASSWORD, &env).await
}

/// Where the browser saves downloads.
fn downloads_dir(dir: &Path) -> PathBuf {
    dir.join("downloads")
}

async fn start_browser(chromium: &Path, driver: &Path, dir: &Path) -> (Guard, Client) {
    let quiet = [
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--lang=en-US",
    ];
    let mut caps = browser_kit::headless_chromium(chromium, &dir.join("chromium-profile"), &quiet);
    // Downloads (the privacy exports) land in `<dir>/downloads` without a prompt.
    caps["goog:chromeOptions"]["prefs"] = json!({
        "download.default_directory": downloads_dir(dir),
        "download.prompt_for_download": false,
    });
    caps["goog:loggingPrefs"] = json!({ "browser": "ALL" });
    browser_kit::start_browser(driver, caps).await
}

/// chromedriver's `POST /session/{id}/se/log`: the browser console since the last call.
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> std::result::Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/se/log",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _url: &url::Url) -> (http::Method, Option<String>) {
        (
            http::Method::POST,
            Some(json!({"type": "browser"}).to_string()),
        )
    }
}

/// The browser on the admin UI, remembering the current step for failure screenshots.
struct Ui {
    client: Client,
    base: String,
    step: std::sync::Mutex<String>,
    /// The browser's download directory.
    downloads: PathBuf,
}

impl Ui {
    fn step(&self, name: &str) {
        println!("browser step: {name}");
        if let Ok(mut step) = self.step.lock() {
            *step = name.to_owned();
        }
    }

    fn current_step(&self) -> String {
        self.step.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Opens `/admin/<hash>` (e.g. `#/clients`).
    async fn open(&self, hash: &str) -> Result {
        self.client
            .goto(&format!("{}/admin/{hash}", self.base))
            .await?;
        Ok(())
    }

    /// Sets the fragment in the open page (no reload), like following a link.
    async fn route(&self, hash: &str) -> Result {
        self.client
            .execute("location.hash = arguments[0];", vec![json!(hash)])
            .await?;
        Ok(())
    }

    async fn find(&self, css: &str) -> Result<Element> {
        Ok(self
            .client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(css))
            .await?)
    }

    /// Waits until an element matching `css` contains `text`.
    async fn wait_text(&self, css: &str, text: &str) -> Result<Element> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            for el in self.client.find_all(Locator::Css(css)).await? {
                if let Ok(found) = el.text().await
                    && found.contains(text)
                {
                    return Ok(el);
                }
            }
            if tokio::time::Instant::now() > deadline {
                return Err(format!("no `{css}` containing {text:?}").into());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn js(&self, script: &str) -> Result<Value> {
        Ok(self.client.execute(script, vec![]).await?)
    }

    /// Replaces the value of the field `css` with `text`.
    async fn fill(&self, css: &str, text: &str) -> Result {
        let field = self.find(css).await?;
        field.clear().await?;
        field.send_keys(text).await?;
        Ok(())
    }

    async fn click(&self, css: &str) -> Result {
        self.find(css).await?.click().await?;
        Ok(())
    }

    async fn select(&self, css: &str, value: &str) -> Result {
        self.find(css).await?.select_by_value(value).await?;
        Ok(())
    }

    /// Logs in through the login form and waits for the home page.
    async fn login(&self, email: &str, password: &str) -> Result {
        self.open("#/").await?;
        self.fill("#login-email", email).await?;
        self.fill("#login-password", password).await?;
        self.click("#login-submit").await?;
        self.find("#sections").await?;
        Ok(())
    }

    async fn logout(&self) -> Result {
        self.click("#logout").await?;
        self.find("#login-email").await?;
        Ok(())
    }

    /// The texts of the cells of `column` (1-based, checkbox column included) of the change list.
    async fn column(&self, column: usize) -> Result<Vec<String>> {
        let value = self
            .js(&format!(
                "return [...document.querySelectorAll('#result_list tbody tr')]\
                 .map(tr => tr.children[{}].textContent.trim());",
                column - 1
            ))
            .await?;
        Ok(serde_json::from_value(value)?)
    }

    async fn screenshot(&self, path: &Path) -> Result {
        let png = self.client.screenshot().await?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, png)?;
        Ok(())
    }

    /// Saves the current page under `target/browser-screenshots/<name>.png`.
    async fn keep(&self, name: &str) -> Result {
        self.screenshot(
            &target_dir()
                .join("browser-screenshots")
                .join(format!("{name}.png")),
        )
        .await
    }

    /// Errors in the browser console since the last call. Failed HTTP requests (the API's 4xx
    /// answers to wrong passwords and invalid forms, which the UI shows) are not page errors.
    async fn console_errors(&self) -> Result<Vec<String>> {
        let log = self.client.issue_cmd(BrowserLog).await?;
        let entries = log.as_array().cloned().unwrap_or_default();
        Ok(entries
            .iter()
            .filter(|e| e["level"] == "SEVERE" || e["level"] == "WARNING")
            .map(|e| e["message"].as_str().unwrap_or_default().to_owned())
            .filter(|m| {
                !m.contains("Failed to load resource: the server responded with a status of 4")
            })
            .collect())
    }

    /// Every visible form control has a label, and nothing clickable is a bare `div`/`span`.
    async fn assert_accessible(&self) -> Result {
        let problems = self
            .js(
                "return [...document.querySelectorAll('input, select, textarea')]\
                 .filter(el => el.type !== 'hidden' && el.offsetParent !== null)\
                 .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label'))\
                 .map(el => el.outerHTML);",
            )
            .await?;
        if problems != json!([]) {
            return Err(format!("form controls without a label: {problems}").into());
        }
        Ok(())
    }
}

/// Posts chat messages through the public chat API from the page.
async fn send_chat(ui: &Ui, session: &str, lines: &[(&str, &str)]) -> Result {
    for (sender, message) in lines {
        let status = ui
            .client
            .execute(
                "return fetch('/api/v1/chat/stream/', {method: 'POST', \
                 headers: {'Content-Type': 'application/json'}, \
                 body: JSON.stringify({session_id: arguments[0], message: arguments[1], \
                 sender_type: arguments[2]})}).then(r => r.status);",
                vec![json!(session), json!(message), json!(sender)],
            )
            .await?;
        if status != json!(201) && status != json!(200) {
            return Err(format!("chat API answered {status}").into());
        }
    }
    Ok(())
}

async fn scenario(ui: &Ui) -> Result {
    ui.step("login-page");
    ui.open("").await?;
    ui.find("#login-email").await?;
    // The console check sees what the page logs (and this empties the log).
    ui.js("console.error('rivo console self-check');").await?;
    let seen = ui.console_errors().await?;
    if !seen.iter().any(|m| m.contains("rivo console self-check")) {
        return Err(format!("the browser console is not readable: {seen:?}").into());
    }
    ui.assert_accessible().await?;
    ui.fill("#login-email", ADMIN_EMAIL).await?;
    ui.fill("#login-password", "wrong password").await?;
    ui.click("#login-submit").await?;
    ui.wait_text(".login .form-errors", "correct email address and password")
        .await?;

    ui.step("login-superuser");
    ui.login(ADMIN_EMAIL, ADMIN_PASSWORD).await?;
    ui.wait_text("#sections", "Audit log").await?;
    ui.keep("home-superuser").await?;

    ui.step("seed-chat");
    send_chat(
        ui,
        SESSION_ONE,
        &[
            ("client", "Hi, I need a loan for a small bakery"),
            ("bot", "Happy to help! How much would you like to borrow?"),
            ("client", "About 5000 euros, over two years"),
            ("bot", "Thanks. A support lead will call you back today."),
        ],
    )
    .await?;
    tokio::time::sleep(Duration::from_millis(20)).await;
    send_chat(
        ui,
        SESSION_TWO,
        &[
            ("client", "Can I refinance my mortgage?"),
            ("bot", "Yes: tell me your current rate."),
        ],
    )
    .await?;

    let long: Vec<String> = (1..=24).map(|n| format!("Question number {n}")).collect();
    let long: Vec<(&str, &str)> = long.iter().map(|m| ("client", m.as_str())).collect();
    send_chat(ui, SESSION_LONG, &long).await?;

    ui.step("paginate");
    ui.route("#/chat_messages").await?;
    ui.wait_text("#result-count", "30 chat messages").await?;
    if ui.column(2).await?.len() != 25 {
        return Err("the first page does not hold 25 rows".into());
    }
    ui.click(".paginator a[href*='page=2']").await?;
    ui.wait_text(".paginator .this-page", "2").await?;
    let rows = ui.column(2).await?;
    if rows.len() != 5 {
        return Err(format!("page 2 holds {} rows", rows.len()).into());
    }

    ui.step("create-role");
    ui.route("#/roles/add").await?;
    ui.fill("#id_name", "Support").await?;
    ui.fill("#id_description", "Front-line support leads")
        .await?;
    for perm in [
        "client.view_client",
        "client.add_client",
        "client.change_client",
        "client.delete_client",
        "client.view_clientstagehistory",
        "client.view_clientassignment",
        "client.add_clientassignment",
        "client.change_clientassignment",
        "account.view_user",
    ] {
        ui.click(&format!("#perm-{}", perm.replace('.', "-")))
            .await?;
    }
    ui.assert_accessible().await?;
    ui.keep("role-form").await?;
    ui.click("#roles-form button[type=submit]").await?;
    ui.wait_text(".message.success", "The role “Support” was added")
        .await?;
    ui.wait_text("#result_list", "Front-line support leads")
        .await?;

    ui.step("create-staff-user");
    ui.route("#/users/add").await?;
    ui.fill("#id_email", "not an email").await?;
    ui.fill("#id_username", "support").await?;
    ui.fill("#id_password", SUPPORT_PASSWORD).await?;
    ui.click("#users-form button[type=submit]").await?;
    // Field-level message from the API, next to the field.
    ui.wait_text(".field[data-field=email] .errorlist", "")
        .await?;
    ui.keep("user-form-errors").await?;
    ui.fill("#id_email", SUPPORT_EMAIL).await?;
    ui.fill("#id_first_name", "Sam").await?;
    ui.fill("#id_last_name", "Support").await?;
    let role = ui
        .js("return [...document.querySelectorAll('#id_role option')].find(o => o.textContent === 'Support').value;")
        .await?;
    ui.select("#id_role", role.as_str().unwrap_or_default())
        .await?;
    ui.click("#id_is_staff").await?;
    ui.click("#users-form button[type=submit]").await?;
    ui.wait_text(".message.success", SUPPORT_EMAIL).await?;

    ui.step("search-and-filter-users");
    ui.fill("#changelist-search input[type=search]", "sam")
        .await?;
    ui.click("#changelist-search button").await?;
    ui.wait_text("#result-count", "1 user").await?;
    let emails = ui.column(2).await?;
    if emails != [SUPPORT_EMAIL] {
        return Err(format!("search for sam found {emails:?}").into());
    }
    ui.route("#/users?is_staff=true").await?;
    ui.wait_text("#result-count", "2 users").await?;
    // Sorting by clicking the column header: ascending, then descending.
    ui.click("th.sortable a[href*='ordering=email']").await?;
    ui.find("th[aria-sort=ascending] a[href*='ordering=-email']")
        .await?;
    ui.click("th.sortable a[href*='ordering=-email']").await?;
    ui.find("th[aria-sort=descending] a[href*='ordering=email']")
        .await?;
    let emails = ui.column(2).await?;
    if emails != [SUPPORT_EMAIL, ADMIN_EMAIL] {
        return Err(format!("descending emails: {emails:?}").into());
    }
    ui.keep("users-list").await?;

    ui.step("change-password");
    ui.route("#/users?search=sam").await?;
    ui.wait_text("#result-count", "1 user").await?;
    ui.click("#result_list tbody a").await?;
    ui.click("#change-password").await?;
    ui.fill("#id_password", "one passphrase to rule them")
        .await?;
    ui.fill("#id_password2", "another passphrase entirely")
        .await?;
    ui.click("#password-form button[type=submit]").await?;
    ui.wait_text(".field[data-field=password2] .errorlist", "didn’t match")
        .await?;
    ui.fill("#id_password", SUPPORT_PASSWORD).await?;
    ui.fill("#id_password2", SUPPORT_PASSWORD).await?;
    ui.click("#password-form button[type=submit]").await?;
    ui.wait_text(".message.success", "Password changed").await?;

    ui.step("non-staff-cannot-log-in");
    // An active user without staff status, created through the API from the page.
    let status = ui
        .client
        .execute(
            "return fetch('/api/v1/account/me/').then(r => r.json()).then(me => \
             fetch('/api/v1/admin/users/', {method: 'POST', headers: \
             {'Content-Type': 'application/json', 'X-CSRFToken': me.csrf_token}, \
             body: JSON.stringify({email: 'visitor@example.com', username: 'visitor', \
             password: arguments[0]})})).then(r => r.status);",
            vec![json!(SUPPORT_PASSWORD)],
        )
        .await?;
    if status != json!(201) {
        return Err(format!("creating a non-staff user answered {status}").into());
    }
    ui.logout().await?;
    ui.fill("#login-email", "visitor@example.com").await?;
    ui.fill("#login-password", SUPPORT_PASSWORD).await?;
    ui.click("#login-submit").await?;
    ui.wait_text(".login .form-errors", "only active staff users")
        .await?;
    ui.open("#/clients").await?;
    ui.find("#login-email").await?;

    ui.step("login-as-support-with-the-keyboard");
    // The login page focuses the email field; Tab moves to the password, Enter submits.
    let tab = char::from(fantoccini::key::Key::Tab);
    let enter = char::from(fantoccini::key::Key::Enter);
    ui.client
        .active_element()
        .await?
        .send_keys(&format!("{SUPPORT_EMAIL}{tab}{SUPPORT_PASSWORD}{enter}"))
        .await?;
    // Back where the logged-out visit wanted to go, then home.
    ui.wait_text("main h1", "Select client to change").await?;
    ui.route("#/").await?;
    ui.find("#sections").await?;
    let sections = ui
        .js("return [...document.querySelectorAll('#sections tbody th')].map(th => th.textContent);")
        .await?;
    if sections != json!(["Users", "Clients", "Stage history", "Assignments"]) {
        return Err(format!("the Support role sees {sections}").into());
    }
    // Users are view-only for this role: no Add link.
    let add_user = ui
        .client
        .find_all(Locator::Css("a[href='#/users/add']"))
        .await?;
    if !add_user.is_empty() {
        return Err("a view-only user is offered to add users".into());
    }
    ui.keep("home-support").await?;
    ui.route("#/roles").await?;
    ui.wait_text("main h1", "Page not found").await?;

    ui.step("create-client");
    ui.route("#/clients/add").await?;
    ui.click("#clients-form button[type=submit]").await?;
    ui.wait_text(".field[data-field=name] .errorlist", "")
        .await?;
    ui.fill("#id_name", "Ada Lovelace").await?;
    ui.fill("#id_email", "ada@example.com").await?;
    ui.fill("#id_phone", "+44 20 7946 0000").await?;
    ui.click("#clients-form button[type=submit]").await?;
    ui.wait_text("main h1", "Ada Lovelace").await?;
    ui.wait_text("#current-stage", "Lead").await?;

    ui.step("delete-a-client");
    ui.route("#/clients/add").await?;
    ui.fill("#id_name", "Duplicate lead").await?;
    ui.click("#clients-form button[type=submit]").await?;
    ui.wait_text("main h1", "Duplicate lead").await?;
    ui.click("#client-details .deletelink").await?;
    ui.wait_text(
        "main",
        "Are you sure you want to delete the client “Duplicate lead”?",
    )
    .await?;
    ui.click("#confirm-delete").await?;
    ui.wait_text(".message.success", "“Duplicate lead” was deleted")
        .await?;
    ui.wait_text("#result-count", "1 client").await?;
    ui.click("#result_list tbody a").await?;
    ui.wait_text("main h1", "Ada Lovelace").await?;

    ui.step("move-through-stages");
    ui.select("#id_to_stage", "contacted").await?;
    ui.fill("#id_stage_remarks", "called back").await?;
    ui.click("#move-stage").await?;
    ui.wait_text("#current-stage", "Contacted").await?;
    ui.select("#id_to_stage", "qualified").await?;
    ui.fill("#id_stage_remarks", "income checked").await?;
    ui.click("#move-stage").await?;
    ui.wait_text("#current-stage", "Qualified").await?;
    let history = ui.find("#stage-history").await?.text().await?;
    for expected in [
        "Contacted",
        "Qualified",
        "called back",
        "income checked",
        SUPPORT_EMAIL,
    ] {
        if !history.contains(expected) {
            return Err(format!("stage history lacks {expected:?}: {history}").into());
        }
    }

    ui.step("assign-and-reassign");
    for (email, remarks) in [
        (ADMIN_EMAIL, "first call"),
        (SUPPORT_EMAIL, "taking it over"),
    ] {
        // The picker's options read "email (name)".
        let user_id = ui
            .js(&format!("return [...document.querySelectorAll('#id_assigned_to option')].find(o => o.textContent.startsWith('{email}')).value;"))
            .await?;
        ui.select("#id_assigned_to", user_id.as_str().unwrap_or_default())
            .await?;
        ui.fill("#id_assign_remarks", remarks).await?;
        ui.click("#assign").await?;
        ui.wait_text("#current-assignee", email).await?;
    }
    let rows = ui
        .js("return [...document.querySelectorAll('#assignment-history tbody tr')].map(tr => tr.textContent);")
        .await?;
    let rows: Vec<String> = serde_json::from_value(rows)?;
    if rows.len() != 2 || !rows[0].contains("taking it over") || !rows[1].contains("first call") {
        return Err(format!("assignment history: {rows:?}").into());
    }
    ui.route("#/assignments?is_active=true").await?;
    ui.wait_text("#result-count", "1 assignment").await?;
    ui.route("#/stage_history?to_stage=qualified").await?;
    ui.wait_text("#result-count", "1 stage change").await?;

    ui.step("context-and-transcript");
    ui.logout().await?;
    ui.login(ADMIN_EMAIL, ADMIN_PASSWORD).await?;
    ui.route("#/clients?search=lovelace").await?;
    ui.wait_text("#result-count", "1 client").await?;
    ui.click("#result_list tbody a").await?;
    ui.fill("#id_context_data", "{\"loan_amount\": 5000,")
        .await?;
    ui.click("#save-context").await?;
    ui.wait_text(
        ".field[data-field=context_data] .errorlist",
        "Enter valid JSON",
    )
    .await?;
    ui.fill(
        "#id_context_data",
        "{\"loan_amount\": 5000, \"purpose\": \"bakery\", \"term_months\": 24}",
    )
    .await?;
    ui.fill("#id_chat_session_id", SESSION_ONE).await?;
    ui.click("#save-context").await?;
    ui.wait_text(".message.success", "Context saved").await?;
    ui.wait_text("#client-transcript", "About 5000 euros")
        .await?;
    ui.assert_accessible().await?;
    ui.client.set_window_size(1280, 1500).await?;
    ui.js("window.scrollTo(0, 0);").await?;
    ui.keep("admin-client").await?;

    ui.step("phone-width");
    ui.client.set_window_size(390, 844).await?;
    ui.client.refresh().await?;
    ui.wait_text("#client-transcript", "About 5000 euros")
        .await?;
    // Nothing wider than the phone's screen (tables scroll inside their own box).
    let wide = ui
        .js("return [...document.querySelectorAll('body *')]\
             .filter(el => !(el.parentElement && el.parentElement.closest('.results')) && el.getBoundingClientRect().right > window.innerWidth + 1)\
             .map(el => el.tagName + '#' + el.id + '.' + el.className).slice(0, 10);")
        .await?;
    if wide != json!([]) {
        return Err(format!("wider than a phone: {wide}").into());
    }
    let widths = ui
        .js("const d = document.documentElement; \
             return [d.scrollWidth, d.clientWidth, window.innerWidth, document.body.scrollWidth];")
        .await?;
    if widths[0].as_i64() > widths[2].as_i64() {
        return Err(format!(
            "the page scrolls sideways on a phone (scroll, client, inner, body): {widths}"
        )
        .into());
    }
    ui.keep("admin-client-phone").await?;
    ui.client.set_window_size(1280, 900).await?;

    ui.step("chat-session-transcript");
    ui.route("#/chat_sessions").await?;
    ui.wait_text("#result-count", "3 chat sessions").await?;
    let sessions = ui.column(2).await?;
    if sessions != [SESSION_LONG, SESSION_TWO, SESSION_ONE] {
        return Err(format!("sessions not newest first: {sessions:?}").into());
    }
    ui.click(&format!("a[href='#/chat_sessions/{SESSION_ONE}']"))
        .await?;
    ui.wait_text(".transcript", "Hi, I need a loan").await?;
    let senders = ui
        .js("return [...document.querySelectorAll('.transcript .bubble')].map(b => b.className);")
        .await?;
    if senders
        != json!([
            "bubble from-client",
            "bubble from-bot",
            "bubble from-client",
            "bubble from-bot"
        ])
    {
        return Err(format!("transcript bubbles: {senders}").into());
    }
    ui.keep("transcript").await?;

    ui.step("bulk-delete-chat-messages");
    ui.route(&format!("#/chat_messages?session_id={SESSION_TWO}"))
        .await?;
    ui.wait_text("#result-count", "2 chat messages").await?;
    ui.click("#select-all").await?;
    ui.wait_text(".action-counter", "2 of 2 selected").await?;
    ui.select("#action", "delete_selected").await?;
    ui.click("#run-action").await?;
    ui.wait_text("main h1", "Are you sure?").await?;
    ui.wait_text("#delete-objects", "refinance").await?;
    ui.keep("bulk-delete-confirm").await?;
    ui.click("#confirm-delete").await?;
    ui.wait_text(".message.success", "Successfully deleted 2 chat messages")
        .await?;
    ui.route("#/chat_messages").await?;
    ui.wait_text("#result-count", "28 chat messages").await?;
    ui.route("#/chat_messages?sender_type=bot").await?;
    ui.wait_text("#result-count", "2 chat messages").await?;
    ui.keep("chat-messages").await?;

    ui.step("audit-log");
    ui.route("#/log").await?;
    // Wait for the log page itself: right after the route change the previous list may still
    // be on screen.
    ui.wait_text("main h1", "Select log entry to view").await?;
    for expected in ["Support", SUPPORT_EMAIL, "Ada Lovelace"] {
        ui.wait_text("#result_list", expected).await?;
    }
    ui.route("#/log?action=delete").await?;
    ui.wait_text("#result_list", "Delete").await?;
    ui.keep("audit-log").await?;

    live_updates(ui).await?;
    webhooks_step(ui).await?;
    privacy_steps(ui).await?;

    ui.step("console");
    let errors = ui.console_errors().await?;
    if !errors.is_empty() {
        return Err(format!("browser console errors: {errors:#?}").into());
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Personal data: export, erasure and the search for unlinked conversations (privacy.js)

/// An unlinked conversation that mentions an email address and a phone number.
const SESSION_PERSONAL: &str = "5e55104d-3333-4c4d-8e5f-0123456789ab";

impl Ui {
    /// Clicks `button` and waits for the download `name` to be complete; returns its text.
    async fn download(&self, button: &str, name: &str) -> Result<String> {
        let path = self.downloads.join(name);
        let _ = std::fs::remove_file(&path);
        self.click(button).await?;
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            // Chromium writes `<name>.crdownload` and renames it when done.
            if path.exists() {
                return Ok(std::fs::read_to_string(&path)?);
            }
            if tokio::time::Instant::now() > deadline {
                let seen: Vec<_> = std::fs::read_dir(&self.downloads)
                    .map(|d| d.flatten().map(|e| e.file_name()).collect())
                    .unwrap_or_default();
                return Err(format!("no download {name} (downloads: {seen:?})").into());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Ticks the confirmation of the erase page and erases; waits for the success message.
    async fn confirm_erasure(&self, flash: &str) -> Result {
        self.wait_text("main h1", "Are you sure?").await?;
        // Without the box ticked nothing happens but a message next to it.
        self.click("#confirm-erase").await?;
        self.wait_text(".field[data-field=understood] .errorlist", "Tick this box")
            .await?;
        self.assert_accessible().await?;
        self.click("#erase-understood").await?;
        self.click("#confirm-erase").await?;
        self.wait_text(".message.success", flash).await?;
        Ok(())
    }
}

/// The client of the walkthrough (Ada Lovelace) opened from the client list; returns its id.
async fn open_ada(ui: &Ui) -> Result<String> {
    ui.route("#/clients?search=lovelace").await?;
    ui.wait_text("#result-count", "1 client").await?;
    ui.click("#result_list tbody a").await?;
    ui.wait_text("main h1", "Ada Lovelace").await?;
    let hash = ui.js("return location.hash;").await?;
    let id = hash
        .as_str()
        .and_then(|h| h.strip_prefix("#/clients/"))
        .ok_or_else(|| format!("not on a client page: {hash}"))?;
    Ok(id.to_owned())
}

/// Support (client permissions, no chat history and no erase permission) sees no export or
/// erase buttons and no personal-data search.
async fn privacy_hidden_without_permissions(ui: &Ui) -> Result {
    ui.step("privacy-needs-permissions");
    ui.logout().await?;
    ui.login(SUPPORT_EMAIL, SUPPORT_PASSWORD).await?;
    if !ui
        .client
        .find_all(Locator::Css("#find-personal-data"))
        .await?
        .is_empty()
    {
        return Err("Support is offered the personal-data search".into());
    }
    let id = open_ada(ui).await?;
    ui.find("#client-stage").await?;
    if !ui
        .client
        .find_all(Locator::Css("#privacy"))
        .await?
        .is_empty()
    {
        return Err("Support is offered export or erase on the client page".into());
    }
    ui.route(&format!("#/clients/{id}/erase")).await?;
    ui.wait_text("main h1", "Page not found").await?;
    ui.route("#/personal_data").await?;
    ui.wait_text("main h1", "Page not found").await?;
    ui.logout().await?;
    ui.login(ADMIN_EMAIL, ADMIN_PASSWORD).await?;
    Ok(())
}

/// The client page's export buttons: JSON that parses into rivo-core's `ClientExport`, and the
/// transcript as text and CSV.
async fn export_client(ui: &Ui) -> Result<String> {
    ui.step("export-client");
    let id = open_ada(ui).await?;
    ui.find("#privacy #erase").await?;
    ui.assert_accessible().await?;
    ui.keep("admin-client-privacy").await?;
    let json = ui
        .download("#export-json", &format!("client-{id}.json"))
        .await?;
    let export: rivo_core::privacy::ClientExport = serde_json::from_str(&json)
        .map_err(|e| format!("the JSON export does not parse ({e}): {json}"))?;
    if export.client.name != "Ada Lovelace"
        || export.sessions.len() != 1
        || export.sessions[0].session.session_id.to_string() != SESSION_ONE
        || export.sessions[0].messages.len() != 4
        || export.stage_history.len() != 3
        || export.assignments.len() != 2
    {
        return Err(format!(
            "the JSON export lacks data: {} sessions, {:?} messages, {} stage changes, {} \
             assignments: {json}",
            export.sessions.len(),
            export
                .sessions
                .iter()
                .map(|s| s.messages.len())
                .collect::<Vec<_>>(),
            export.stage_history.len(),
            export.assignments.len()
        )
        .into());
    }
    let text = ui
        .download("#export-text", &format!("client-{id}.txt"))
        .await?;
    if !text.contains("client: Hi, I need a loan for a small bakery") {
        return Err(format!("the text transcript: {text}").into());
    }
    let csv = ui
        .download("#export-csv", &format!("client-{id}.csv"))
        .await?;
    if !csv.starts_with("session_id,message_id,sent_at,sender_type,message\r\n")
        || csv.lines().count() != 5
        || !csv.contains(SESSION_ONE)
    {
        return Err(format!("the CSV transcript: {csv}").into());
    }
    ui.wait_text("#privacy-status", "Downloaded").await?;
    Ok(id)
}

/// The personal-data search finds an unlinked conversation by email and by phone; from there,
/// the session page exports it and erases it, after which the search finds nothing.
async fn find_export_and_erase_a_session(ui: &Ui) -> Result {
    ui.step("find-personal-data");
    send_chat(
        ui,
        SESSION_PERSONAL,
        &[
            (
                "client",
                "Please call me back: +44 (20) 7946-0999 or grace.hopper@example.net",
            ),
            ("bot", "Thanks, we will be in touch."),
        ],
    )
    .await?;
    ui.route("#/").await?;
    ui.click("#find-personal-data").await?;
    ui.wait_text("main h1", "Find personal data").await?;
    ui.select("#pd-kind", "phone").await?;
    ui.fill("#pd-value", "0999").await?;
    ui.click("#pd-search").await?;
    // Too few digits: the API's message, next to the field.
    ui.wait_text(".field[data-field=phone] .errorlist", "")
        .await?;
    ui.fill("#pd-value", "(20) 7946 0999").await?;
    ui.click("#pd-search").await?;
    ui.wait_text("#personal-data-count", "1 message in 1 conversation")
        .await?;
    ui.select("#pd-kind", "email").await?;
    ui.fill("#pd-value", "Grace.Hopper@example.net").await?;
    ui.click("#pd-search").await?;
    ui.wait_text("#personal-data-count", "1 message in 1 conversation")
        .await?;
    ui.wait_text("#personal-data-list", "Please call me back")
        .await?;
    ui.assert_accessible().await?;
    ui.keep("personal-data").await?;

    ui.step("export-session");
    ui.click(&format!(
        "#personal-data-list a[href='#/chat_sessions/{SESSION_PERSONAL}']"
    ))
    .await?;
    ui.wait_text(".transcript", "Please call me back").await?;
    let json = ui
        .download("#export-json", &format!("session-{SESSION_PERSONAL}.json"))
        .await?;
    let export: rivo_core::privacy::SessionExport = serde_json::from_str(&json)
        .map_err(|e| format!("the session export does not parse ({e}): {json}"))?;
    if export.session.session_id.to_string() != SESSION_PERSONAL || export.messages.len() != 2 {
        return Err(format!("the session export: {json}").into());
    }
    let csv = ui
        .download("#export-csv", &format!("session-{SESSION_PERSONAL}.csv"))
        .await?;
    if csv.lines().count() != 3 || !csv.contains("grace.hopper@example.net") {
        return Err(format!("the session CSV: {csv}").into());
    }

    ui.step("erase-session");
    ui.click("#privacy #erase").await?;
    ui.wait_text("#erase-summary", "2 messages").await?;
    ui.keep("erase-session-confirm").await?;
    ui.confirm_erasure("The conversation was erased: 2 messages deleted")
        .await?;
    ui.wait_text("main h1", "Select chat session").await?;
    ui.route(&format!("#/chat_sessions/{SESSION_PERSONAL}"))
        .await?;
    ui.wait_text(".message.error", "does not exist").await?;
    ui.route("#/personal_data?email=grace.hopper%40example.net")
        .await?;
    ui.wait_text("#personal-data-count", "No unlinked conversation")
        .await?;
    Ok(())
}

/// Erasing the client from its page: afterwards the client, its linked conversation and its
/// name in the audit log are gone, and the log holds one erasure entry.
async fn erase_client(ui: &Ui, id: &str) -> Result {
    ui.step("erase-client");
    ui.route(&format!("#/clients/{id}")).await?;
    ui.wait_text("main h1", "Ada Lovelace").await?;
    ui.click("#privacy #erase").await?;
    ui.wait_text("main p", "the client “Ada Lovelace”").await?;
    ui.keep("erase-client-confirm").await?;
    // "No, take me back" returns to the client, untouched.
    ui.click("#erase-form a.cancel").await?;
    ui.wait_text("main h1", "Ada Lovelace").await?;
    ui.click("#privacy #erase").await?;
    ui.confirm_erasure(
        "The client was erased: 1 conversation with 4 messages, 3 stage changes and 2 assignments deleted",
    )
    .await?;
    ui.wait_text("#result-count", "0 clients").await?;
    ui.route("#/chat_sessions").await?;
    // Left: the long conversation and the two of the live-update steps (the second one's
    // messages were deleted earlier).
    ui.wait_text("#result-count", "3 chat sessions").await?;
    let sessions = ui.column(2).await?;
    if sessions.iter().any(|s| s == SESSION_ONE) || !sessions.iter().any(|s| s == SESSION_LONG) {
        return Err(format!("the erased client's conversation is listed: {sessions:?}").into());
    }
    ui.route("#/log?search=Ada").await?;
    ui.wait_text("main h1", "Select log entry to view").await?;
    ui.find("#result_list, main p.empty").await?;
    let log = ui.find("main").await?.text().await?;
    if log.contains("Ada Lovelace") || log.contains("ada@example.com") {
        return Err(format!("the audit log still names the erased client: {log}").into());
    }
    ui.route("#/log?action=delete").await?;
    ui.wait_text("#result_list", "[erased]").await?;
    ui.keep("audit-log-erased").await?;
    Ok(())
}

/// Export and erasure from the client and session pages, and the personal-data search.
async fn privacy_steps(ui: &Ui) -> Result {
    privacy_hidden_without_permissions(ui).await?;
    let id = export_client(ui).await?;
    find_export_and_erase_a_session(ui).await?;
    erase_client(ui, &id).await?;
    Ok(())
}

/// Issue 13: the transcript and the session list follow the admin event stream. A message
/// POSTed while the transcript is open appears without a reload; a new session appears in the
/// list by itself.
async fn live_updates(ui: &Ui) -> Result {
    ui.step("live-transcript");
    // A conversation of its own: SESSION_ONE's message count is checked by the export step
    // that follows, and SESSION_TWO's messages were deleted earlier in the walkthrough.
    send_chat(ui, SESSION_LIVE, &[("client", "Hello, is this live?")]).await?;
    ui.route(&format!("#/chat_sessions/{SESSION_LIVE}")).await?;
    ui.wait_text(".transcript", "Hello, is this live?").await?;
    let before = ui
        .js("return document.querySelectorAll('.transcript .bubble').length;")
        .await?;
    // Mark the page: a reload would lose the mark.
    ui.js("window.rivoNoReload = true;").await?;
    // Give the EventSource a moment to connect (a message before it is not shown live).
    tokio::time::sleep(Duration::from_millis(500)).await;
    send_chat(
        ui,
        SESSION_LIVE,
        &[("client", "Is the live transcript working?")],
    )
    .await?;
    ui.wait_text(
        ".transcript .bubble:last-child",
        "Is the live transcript working?",
    )
    .await?;
    send_chat(ui, SESSION_LIVE, &[("bot", "Yes, live.")]).await?;
    ui.wait_text(".transcript .bubble.from-bot:last-child", "Yes, live.")
        .await?;
    let after = ui
        .js("return [document.querySelectorAll('.transcript .bubble').length, window.rivoNoReload === true];")
        .await?;
    if after != json!([before.as_u64().unwrap_or(0) + 2, true]) {
        return Err(format!("live transcript: {before} bubbles before, then {after}").into());
    }
    ui.wait_text(
        "#message-count",
        &format!("{} messages", before.as_u64().unwrap_or(0) + 2),
    )
    .await?;
    ui.keep("live-transcript").await?;

    ui.step("live-session-list");
    ui.route("#/chat_sessions").await?;
    ui.wait_text("main h1", "chat session").await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let fresh = "5b0c6a1e-1d2f-4e3a-9b4c-7d8e9f0a1b2c";
    send_chat(ui, fresh, &[("client", "A brand new conversation")]).await?;
    ui.wait_text("#result_list", fresh).await?;
    ui.keep("live-session-list").await?;
    Ok(())
}

/// The webhook page: register an endpoint (the secret is shown once), see a chat message
/// arrive signed at a loopback receiver, see its delivery listed, re-send it.
async fn webhooks_step(ui: &Ui) -> Result {
    ui.step("webhooks");
    let (rx, url) = receiver::Receiver::start().await;
    ui.route("#/").await?;
    ui.click("#webhooks-link").await?;
    ui.wait_text("main h1", "Webhooks").await?;
    ui.wait_text("#webhooks", "No endpoints yet").await?;
    ui.assert_accessible().await?;
    ui.fill("#webhook-url", "ftp://example.com/x").await?;
    ui.click("#webhook-save").await?;
    ui.wait_text(".errorlist", "http or https").await?;
    ui.fill("#webhook-url", &url).await?;
    ui.fill("#webhook-description", "Bot backend").await?;
    ui.click("#webhook-save").await?;
    let secret = ui
        .wait_text("#webhook-secret-shown", "whsec_")
        .await?
        .find(Locator::Css("#webhook-secret-value"))
        .await?
        .text()
        .await?;
    ui.keep("webhook-created").await?;
    // SESSION_LIVE: SESSION_ONE's message count is checked by the export step that follows.
    send_chat(ui, SESSION_LIVE, &[("client", "Is anyone there?")]).await?;
    if !rx
        .wait_until(20, |r| r.iter().any(|r| r.answered == 200))
        .await
    {
        return Err("the receiver got no delivery".into());
    }
    let now = chrono::Utc::now().timestamp();
    for r in rx.all() {
        rivo_core::webhooks::verify_signature(
            &secret,
            r.header("rivo-signature"),
            &r.body,
            now,
            300,
        )
        .map_err(|e| format!("bad signature: {e}"))?;
    }
    // The delivery is listed with its attempt; re-send it.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        ui.route("#/webhooks").await?;
        ui.wait_text("#webhooks", "Bot backend").await?;
        ui.click("#webhooks tbody a").await?;
        ui.wait_text("main h1", "Webhook endpoint").await?;
        if ui.wait_text("#deliveries", "delivered").await.is_ok() {
            break;
        }
        if tokio::time::Instant::now() > deadline {
            return Err("the delivery was not listed as delivered".into());
        }
    }
    ui.wait_text("#deliveries", "message.created").await?;
    ui.keep("webhook-deliveries").await?;
    ui.click("#deliveries button.resend").await?;
    ui.wait_text(".message", "will be sent again").await?;
    if !rx
        .wait_until(20, |r| r.iter().filter(|r| r.answered == 200).count() == 2)
        .await
    {
        return Err("the re-sent delivery did not arrive".into());
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_admin_walkthrough() {
    let Some((chromium, driver)) = browser_binaries() else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let (_server, base) = start_server(dir.path()).await;
    let (_driver, client) = start_browser(&chromium, &driver, dir.path()).await;
    let ui = Ui {
        client,
        base,
        step: std::sync::Mutex::new("start".to_owned()),
        downloads: downloads_dir(dir.path()),
    };
    let outcome = scenario(&ui).await;
    if let Err(err) = outcome {
        let step = ui.current_step();
        let shot = target_dir()
            .join("browser-failures")
            .join(format!("{step}.png"));
        let saved = ui.screenshot(&shot).await;
        let console = ui.console_errors().await.unwrap_or_default();
        let _ = ui.client.close().await;
        panic!(
            "browser step `{step}` failed: {err}\nscreenshot: {} ({saved:?})\nconsole: {console:#?}",
            shot.display()
        );
    }
    ui.client.close().await.expect("close the browser session");
    println!("browser suite passed");
}
