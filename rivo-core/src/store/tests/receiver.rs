//! A tiny HTTP/1.1 webhook receiver on loopback for tests (rivo-core's and rivo-server's, which
//! includes this file by path): records every request's headers and body, and answers 500 to
//! the first `fail_first` requests, never answers (hangs) while `hang` is set, and 200 after.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One request as received.
#[derive(Debug, Clone)]
pub struct Received {
    /// Header names lowercased.
    pub headers: HashMap<String, String>,
    /// The raw body.
    pub body: Vec<u8>,
    /// The status the receiver answered (0 when it hung).
    pub answered: u16,
}

impl Received {
    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("the body is JSON")
    }

    /// A header's value.
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map(String::as_str)
            .unwrap_or_default()
    }
}

/// The receiver's state, shared with its task.
#[derive(Default)]
pub struct Receiver {
    pub received: Mutex<Vec<Received>>,
    pub fail_first: AtomicUsize,
    pub hang: AtomicBool,
    pub requests: AtomicUsize,
    pub notify: tokio::sync::Notify,
    /// Answer with keep-alive and serve further requests on the connection (else each answer
    /// closes it).
    pub keep_alive: AtomicBool,
    /// Connections accepted.
    pub connections: AtomicUsize,
}

impl Receiver {
    /// Starts a receiver on 127.0.0.1; returns it and its URL.
    pub async fn start() -> (Arc<Receiver>, String) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
        let receiver = Arc::new(Receiver::default());
        let r = receiver.clone();
        tokio::spawn(async move {
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    return;
                };
                let r = r.clone();
                r.connections.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut socket = socket;
                    let mut buf = Vec::new();
                    while r.serve(&mut socket, &mut buf).await {}
                });
            }
        });
        (receiver, url)
    }

    /// Serves one request; `true` when the connection stays open for another.
    async fn serve(&self, socket: &mut tokio::net::TcpStream, buf: &mut Vec<u8>) -> bool {
        let mut chunk = [0u8; 4096];
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            match socket.read(&mut chunk).await {
                Ok(0) | Err(_) => return false,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
        let headers: HashMap<String, String> = head
            .lines()
            .skip(1)
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let len: usize = headers
            .get("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        while buf.len() < head_end + len {
            match socket.read(&mut chunk).await {
                Ok(0) | Err(_) => return false,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let body = buf[head_end..head_end + len].to_vec();
        buf.drain(..head_end + len);
        let n = self.requests.fetch_add(1, Ordering::SeqCst);
        if self.hang.load(Ordering::SeqCst) {
            self.received.lock().expect("lock").push(Received {
                headers,
                body,
                answered: 0,
            });
            self.notify.notify_waiters();
            // Hold the connection open, never answering.
            let _ = socket.read(&mut chunk).await;
            std::future::pending::<()>().await;
            return false;
        }
        let status = if n < self.fail_first.load(Ordering::SeqCst) {
            500
        } else {
            200
        };
        self.received.lock().expect("lock").push(Received {
            headers,
            body,
            answered: status,
        });
        self.notify.notify_waiters();
        let reason = if status == 200 {
            "OK"
        } else {
            "Internal Server Error"
        };
        let keep_alive = self.keep_alive.load(Ordering::SeqCst);
        let connection = if keep_alive { "keep-alive" } else { "close" };
        let _ = socket
            .write_all(
                format!(
                    "HTTP/1.1 {status} {reason}\r\ncontent-length: 2\r\nconnection: {connection}\r\n\r\nok"
                )
                .as_bytes(),
            )
            .await;
        if !keep_alive {
            let _ = socket.shutdown().await;
        }
        keep_alive
    }

    /// A copy of what was received so far.
    pub fn all(&self) -> Vec<Received> {
        self.received.lock().expect("lock").clone()
    }

    /// The requests answered 2xx.
    pub fn delivered(&self) -> Vec<Received> {
        self.all()
            .into_iter()
            .filter(|r| (200..300).contains(&r.answered))
            .collect()
    }

    /// Waits (at most `secs`) until `done` holds for what was received.
    pub async fn wait_until(&self, secs: u64, done: impl Fn(&[Received]) -> bool) -> bool {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(secs);
        loop {
            if done(&self.all()) {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            let _ = tokio::time::timeout(
                std::time::Duration::from_millis(100),
                self.notify.notified(),
            )
            .await;
        }
    }
}
