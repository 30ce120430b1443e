//! The real `rivo-server` binary as a child process, for the tests that need the binary itself
//! (signals, several servers on one database, the listener): its clean environment, waiting for
//! it to answer, and one raw HTTP/1.1 request per connection.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `rivo-server`, killed (if a test failed before stopping it) when dropped.
pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    /// A directory removed after the server (its SQLite file, say), see [`Server::with_dir`].
    dir: Option<tempfile::TempDir>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Spawns `command` (see [`command`]) listening on `port`, and waits up to `timeout` until
    /// `path` answers 200.
    pub fn start(mut command: Command, port: u16, path: &str, timeout: Duration) -> Self {
        let server = Self {
            child: command.spawn().expect("spawn rivo-server"),
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            dir: None,
        };
        let answered = || {
            call(server.addr, "GET", path, &[], None)
                .is_ok_and(|r| r.status == 200)
                .then_some(())
        };
        let what = format!("server did not answer {path}");
        wait_for(timeout, Duration::from_millis(100), &what, answered);
        server
    }

    /// Keeps `dir` until the server is dropped.
    pub fn with_dir(mut self, dir: tempfile::TempDir) -> Self {
        self.dir = Some(dir);
        self
    }

    /// The directory given to [`Server::with_dir`].
    pub fn dir(&self) -> &Path {
        self.dir.as_ref().expect("a server started with_dir").path()
    }
}

/// `rivo-server` with a clean environment (only `PATH`), on 127.0.0.1:`port` and
/// `database_url`, logging at `warn`, its output discarded. Callers add or override the rest.
/// Polls `poll` every `every` until it answers `Some`, and returns what it answered; panics,
/// saying `what` did not happen, after `timeout`.
pub fn wait_for<T>(
    timeout: Duration,
    every: Duration,
    what: &str,
    mut poll: impl FnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(done) = poll() {
            return done;
        }
        assert!(Instant::now() < deadline, "{what}");
        std::thread::sleep(every);
    }
}

pub fn command(port: u16, database_url: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_rivo-server"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("BIND_ADDRESS", "127.0.0.1")
        .env("PORT", port.to_string())
        .env("DATABASE_URL", database_url)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    command
}

/// The URL of the SQLite file `t.sqlite3` in `dir`, created on first use.
pub fn sqlite_in(dir: &Path) -> String {
    format!("sqlite://{}?mode=rwc", dir.join("t.sqlite3").display())
}

/// A raw response: status, headers as sent, body.
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Resp {
    /// The body as JSON; panics, showing the body, when it is not JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|_| panic!("not JSON: {}", self.body))
    }

    /// The value of the cookie `name` the response sets.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
            .filter_map(|(_, v)| v.split(';').next())
            .find_map(|pair| pair.strip_prefix(&format!("{name}=")).map(str::to_owned))
    }
}

/// One HTTP/1.1 request on its own connection (`Host: 127.0.0.1`); a body is sent as JSON.
pub fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    json_body: Option<&str>,
) -> std::io::Result<Resp> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut raw = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    for (name, value) in headers {
        raw.push_str(&format!("{name}: {value}\r\n"));
    }
    let body = json_body.unwrap_or("");
    if json_body.is_some() {
        raw.push_str("Content-Type: application/json\r\n");
    }
    raw.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    stream.write_all(raw.as_bytes())?;
    let mut out = String::new();
    stream.read_to_string(&mut out)?;
    Ok(parse(&out))
}

/// Reads a raw HTTP/1.1 response: the status (0 when there is none), the headers as sent, and
/// the body (not decoded).
pub fn parse(raw: &str) -> Resp {
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((raw, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    Resp {
        status,
        headers,
        body: body.to_owned(),
    }
}

impl Resp {
    /// The headers with lowercase names.
    pub fn lowercase_headers<C: FromIterator<(String, String)>>(&self) -> C {
        self.headers
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
            .collect()
    }
}
