//! What the browser suites (`browser.rs`, `browser_navigation.rs`) share: whether they run,
//! the real server with a superuser on a fresh SQLite database, and chromedriver.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder};
use rivo_testkit::free_port;
use serde_json::Value;
use tokio::process::{Child, Command};

/// The chromium and chromedriver to use, or `None` (after saying why) when the suite is off:
/// on with `RIVO_TEST_BROWSER=1`; with `RIVO_TEST_REQUIRE_BROWSER=1` a missing browser fails.
/// `RIVO_CHROMIUM` and `RIVO_CHROMEDRIVER` override `/usr/bin/chromium` and
/// `/usr/bin/chromedriver`.
pub fn browser_binaries() -> Option<(PathBuf, PathBuf)> {
    if std::env::var("RIVO_TEST_BROWSER").map_or(true, |v| v != "1") {
        println!(
            "browser suite skipped: set RIVO_TEST_BROWSER=1 (needs chromium and chromium-driver)"
        );
        return None;
    }
    let required = std::env::var("RIVO_TEST_REQUIRE_BROWSER").is_ok_and(|v| v == "1");
    let chromium = std::env::var_os("RIVO_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    let driver = std::env::var_os("RIVO_CHROMEDRIVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromedriver"));
    for path in [&chromium, &driver] {
        if !path.exists() {
            let msg = format!(
                "{} not found: apt-get install -y chromium chromium-driver",
                path.display()
            );
            if required {
                panic!("RIVO_TEST_REQUIRE_BROWSER=1 but {msg}");
            }
            println!("browser suite skipped: {msg}");
            return None;
        }
    }
    Some((chromium, driver))
}

/// Waits until something listens on `port` (`what`, for the message if nothing does).
pub async fn wait_for_port(port: u16, what: &str) {
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what} did not listen on port {port}");
}

/// A process killed when dropped.
pub struct Guard(pub Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.start_kill();
    }
}

/// The real server binary on a free port, with a fresh SQLite database in `dir`, the superuser
/// `email` with `password`, and `env` besides: the guard and the base URL.
pub async fn start_server(
    dir: &Path,
    email: &str,
    password: &str,
    env: &[(&str, &str)],
) -> (Guard, String) {
    let db = format!("sqlite://{}?mode=rwc", dir.join("rivo.sqlite3").display());
    let bin = env!("CARGO_BIN_EXE_rivo-server");
    let status = Command::new(bin)
        .args(["createsuperuser", "--email", email])
        .env("DATABASE_URL", &db)
        .env("RIVO_SUPERUSER_PASSWORD", password)
        .current_dir(dir)
        .stdout(Stdio::null())
        .status()
        .await
        .expect("run createsuperuser");
    assert!(status.success(), "createsuperuser failed");
    let port = free_port();
    let mut command = Command::new(bin);
    command
        .env("DATABASE_URL", &db)
        .env("BIND_ADDRESS", "127.0.0.1")
        .env("PORT", port.to_string())
        .env("RUST_LOG", "warn");
    for (name, value) in env {
        command.env(name, value);
    }
    let child = command
        .current_dir(dir)
        .kill_on_drop(true)
        .spawn()
        .expect("start rivo-server");
    wait_for_port(port, "rivo-server").await;
    (Guard(child), format!("http://127.0.0.1:{port}"))
}

/// The WebDriver capabilities of a headless `chromium` at 1280×900 with its profile in
/// `profile`, and `extra_args` on its command line.
pub fn headless_chromium(chromium: &Path, profile: &Path, extra_args: &[&str]) -> Value {
    let mut args = vec![
        "--headless".to_owned(),
        "--no-sandbox".to_owned(),
        "--disable-gpu".to_owned(),
        "--disable-dev-shm-usage".to_owned(),
        "--no-first-run".to_owned(),
        "--window-size=1280,900".to_owned(),
    ];
    args.extend(extra_args.iter().map(|a| (*a).to_owned()));
    args.push(format!("--user-data-dir={}", profile.display()));
    serde_json::json!({
        "browserName": "chrome",
        "goog:chromeOptions": { "binary": chromium, "args": args },
    })
}

/// chromedriver on a free port, and a WebDriver session on it with `capabilities`.
pub async fn start_browser(driver: &Path, capabilities: Value) -> (Guard, Client) {
    let port = free_port();
    let child = Command::new(driver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start chromedriver");
    wait_for_port(port, "chromedriver").await;
    let Value::Object(capabilities) = capabilities else {
        panic!("capabilities are a JSON object")
    };
    let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("WebDriver session");
    (Guard(child), client)
}
