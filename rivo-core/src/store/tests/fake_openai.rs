//! A tiny OpenAI-protocol server on loopback for tests (rivo-core's and rivo-server's, which
//! includes this file by path): answers `POST …/chat/completions` with scripted replies, one per
//! request (the last one repeats), and records each request's headers and JSON body.
#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What the fake provider does with one request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// A chat completion whose message content is this text (model `fake-model-1`).
    Content(String),
    /// This status and raw body.
    Raw(u16, String),
    /// Waits this long before answering with the next reply in the script (or never, for a
    /// hang longer than the client's timeout).
    Sleep(Duration, Box<Reply>),
}

/// One request as received.
#[derive(Debug, Clone)]
pub struct Request {
    /// The path with the query.
    pub path: String,
    /// Header names lowercased.
    pub headers: HashMap<String, String>,
    /// The JSON body.
    pub body: serde_json::Value,
}

/// The provider's state, shared with its task.
#[derive(Default)]
pub struct FakeOpenAi {
    pub script: Mutex<VecDeque<Reply>>,
    pub requests: Mutex<Vec<Request>>,
    pub started: AtomicUsize,
    pub notify: tokio::sync::Notify,
}

impl FakeOpenAi {
    /// Starts on 127.0.0.1 with `script`; returns it and its base URL (`http://…/v1`).
    pub async fn start(script: Vec<Reply>) -> (Arc<FakeOpenAi>, String) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}/v1", listener.local_addr().expect("addr"));
        let fake = Arc::new(FakeOpenAi {
            script: Mutex::new(script.into()),
            ..Default::default()
        });
        let f = fake.clone();
        tokio::spawn(async move {
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    return;
                };
                let f = f.clone();
                tokio::spawn(async move { f.serve(socket).await });
            }
        });
        (fake, base)
    }

    /// The chat completion body whose content is `text`.
    pub fn completion(text: &str) -> String {
        serde_json::json!({
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "model": "fake-model-1",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                         "finish_reason": "stop"}],
        })
        .to_string()
    }

    fn next_reply(&self) -> Reply {
        let mut script = self.script.lock().expect("lock");
        if script.len() > 1 {
            script.pop_front().expect("non-empty")
        } else {
            script
                .front()
                .cloned()
                .unwrap_or(Reply::Raw(500, "{}".into()))
        }
    }

    async fn serve(&self, mut socket: tokio::net::TcpStream) {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 8192];
        let (head_end, content_length) = loop {
            let Ok(n) = socket.read(&mut chunk).await else {
                return;
            };
            if n == 0 {
                return;
            }
            buf.extend_from_slice(&chunk[..n]);
            if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..pos]).to_string();
                let length = head
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("content-length")
                            .then(|| v.trim().parse::<usize>().ok())?
                    })
                    .unwrap_or(0);
                break (pos + 4, length);
            }
        };
        while buf.len() < head_end + content_length {
            let Ok(n) = socket.read(&mut chunk).await else {
                return;
            };
            if n == 0 {
                return;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
        let mut lines = head.lines();
        let path = lines
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .unwrap_or_default()
            .to_owned();
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let body = serde_json::from_slice(&buf[head_end..head_end + content_length])
            .unwrap_or(serde_json::Value::Null);
        self.requests.lock().expect("lock").push(Request {
            path,
            headers,
            body,
        });
        self.started.fetch_add(1, Ordering::SeqCst);
        self.notify.notify_waiters();
        let mut reply = self.next_reply();
        loop {
            match reply {
                Reply::Sleep(d, then) => {
                    tokio::time::sleep(d).await;
                    reply = *then;
                }
                Reply::Content(text) => {
                    reply = Reply::Raw(200, Self::completion(&text));
                }
                Reply::Raw(status, body) => {
                    let answer = format!(
                        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n\
                         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = socket.write_all(answer.as_bytes()).await;
                    let _ = socket.shutdown().await;
                    return;
                }
            }
        }
    }
}
