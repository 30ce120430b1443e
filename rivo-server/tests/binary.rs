//! The real binary: starts on a free port with a temporary SQLite database, answers a POST and a
//! GET over real HTTP, and on SIGTERM finishes the request in flight and exits 0.

#![allow(clippy::unwrap_used)] // Test helpers: a failure should panic.

mod common;

use rivo_testkit::free_port;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::SESSION;
use common::process::{self, Server};

/// `rivo-server` with a clean environment, on the SQLite file `t.sqlite3` in `dir`, its output
/// captured by `output()`.
fn command(dir: &std::path::Path, port: u16) -> Command {
    let mut command = process::command(port, &process::sqlite_in(dir));
    command
        .current_dir(dir)
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

fn start() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut command = command(dir.path(), port);
    command.stdout(Stdio::null()).stderr(Stdio::null());
    Server::start(command, port, "/healthz", Duration::from_secs(30)).with_dir(dir)
}

fn request(addr: SocketAddr, raw: &str) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.write_all(raw.as_bytes())?;
    let mut out = String::new();
    stream.read_to_string(&mut out)?;
    Ok(out)
}

fn body_of(resp: &str) -> &str {
    resp.split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .unwrap_or_default()
}

fn post(body: &str) -> String {
    format!(
        "POST /api/v1/chat/stream/ HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

fn sigterm(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

fn wait_exit(child: &mut Child) -> std::process::ExitStatus {
    process::wait_for(
        Duration::from_secs(30),
        Duration::from_millis(50),
        "server did not exit after SIGTERM",
        || child.try_wait().unwrap(),
    )
}

#[test]
fn post_and_get_over_http_then_graceful_shutdown() {
    let mut server = start();
    let created = request(
        server.addr,
        &post(&format!(
            r#"{{"session_id":"{SESSION}","message":" over the wire "}}"#
        )),
    )
    .unwrap();
    assert!(created.starts_with("HTTP/1.1 201"), "{created}");
    let created_body = body_of(&created);
    assert!(
        created_body.contains(r#""message":"over the wire""#),
        "{created}"
    );

    let history = request(
        server.addr,
        &format!(
            "GET /api/v1/chat/history?session_id={SESSION} HTTP/1.1\r\nHost: localhost\r\n\
             Connection: close\r\n\r\n"
        ),
    )
    .unwrap();
    assert!(history.starts_with("HTTP/1.1 200"), "{history}");
    assert_eq!(
        body_of(&history),
        format!(r#"{{"session_id":"{SESSION}","messages":[{created_body}]}}"#)
    );

    // A request in flight when SIGTERM arrives: headers and half the body sent.
    let body = format!(r#"{{"session_id":"{SESSION}","message":"in flight"}}"#);
    let raw = post(&body);
    let (first, second) = raw.split_at(raw.len() - 10);
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(first.as_bytes()).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    sigterm(&server.child);
    std::thread::sleep(Duration::from_millis(300));
    stream.write_all(second.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");

    let status = wait_exit(&mut server.child);
    assert_eq!(status.code(), Some(0), "{status:?}");
    // No longer listening.
    assert!(TcpStream::connect(server.addr).is_err());
}

/// Rows of `chat_messages` in the SQLite file `path` opened alone (copied away from any WAL).
fn rows_in_file_alone(path: &std::path::Path) -> Option<i64> {
    let copy_dir = tempfile::tempdir().unwrap();
    let copy = copy_dir.path().join("copy.sqlite3");
    std::fs::copy(path, &copy).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        use sqlx::Connection;
        let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", copy.display()))
            .await
            .unwrap();
        let count = sqlx::query_scalar("SELECT count(*) FROM chat_messages")
            .fetch_one(&mut conn)
            .await
            .ok();
        conn.close().await.unwrap();
        count
    })
}

/// Issue 15, finding 1: a second server on the same SQLite file is refused with a clear error;
/// `rivo-server backup FILE` copies the database while the server runs; after a clean stop the
/// main file alone holds every row (the WAL was checkpointed), so a file copy is a backup too.
#[test]
fn second_server_on_one_sqlite_file_is_refused_backup_runs_online_and_stop_checkpoints() {
    let mut server = start();
    let dir = server.dir().to_owned();
    for i in 0..20 {
        let created = request(
            server.addr,
            &post(&format!(r#"{{"session_id":"{SESSION}","message":"m{i}"}}"#)),
        )
        .unwrap();
        assert!(created.starts_with("HTTP/1.1 201"), "{created}");
    }

    let second = command(&dir, free_port()).output().unwrap();
    assert!(!second.status.success(), "a second server started");
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(
        stderr.contains("is in use by another rivo-server process"),
        "{stderr}"
    );

    let backup_file = dir.join("backup.sqlite3");
    let backup = command(&dir, 0)
        .arg("backup")
        .arg(&backup_file)
        .output()
        .unwrap();
    assert!(
        backup.status.success(),
        "{}",
        String::from_utf8_lossy(&backup.stderr)
    );
    assert_eq!(rows_in_file_alone(&backup_file), Some(20));
    // An existing file is never overwritten.
    let again = command(&dir, 0)
        .arg("backup")
        .arg(&backup_file)
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));

    sigterm(&server.child);
    let status = wait_exit(&mut server.child);
    assert_eq!(status.code(), Some(0), "{status:?}");
    assert_eq!(rows_in_file_alone(&dir.join("t.sqlite3")), Some(20));
    let wal = std::fs::metadata(dir.join("t.sqlite3-wal")).map_or(0, |m| m.len());
    assert_eq!(wal, 0, "the WAL still holds {wal} bytes after a clean stop");

    // The lock went with the process: a new server starts on the file.
    let port = free_port();
    let mut command = command(&dir, port);
    command.stdout(Stdio::null()).stderr(Stdio::null());
    let mut next = Server::start(command, port, "/healthz", Duration::from_secs(30));
    sigterm(&next.child);
    assert_eq!(wait_exit(&mut next.child).code(), Some(0));
}
