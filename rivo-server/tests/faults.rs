//! Faults: a PostgreSQL outage while writes stream in (a TCP proxy the test controls sits between
//! the server and the database and is cut, then restored), SIGTERM on the real binary while 64
//! clients write, and concurrent writers, assigns and stage changes over HTTP. Every test prints
//! its figures (`FIGURES ...`), copied into RELIABILITY.md.
//!
//! The concurrency and shutdown tests run on SQLite and PostgreSQL (`sqlite::` / `postgres::`);
//! the outage test is PostgreSQL-only and named `pg_outage_...` so the CI count of the two
//! backends stays equal.

#![allow(clippy::unwrap_used)] // Test helpers: a failure should panic.

mod common;

use rivo_testkit::free_port;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{
    PASSWORD, TestDb, create_superuser, each, get, history_json, send, set_cookies,
    superuser_token, text,
};
use poem::http::StatusCode;
use rivo_core::accounts::NewUser;
use rivo_core::{SessionId, Store, StoreOptions};
use rivo_server::Config;
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream as TokioStream};
use tokio::sync::watch;

fn session() -> SessionId {
    SessionId::new_random()
}

fn median(mut v: Vec<Duration>) -> Duration {
    if v.is_empty() {
        return Duration::ZERO;
    }
    v.sort();
    v[v.len() / 2]
}

// ---------- a TCP proxy the test can cut ----------

/// Forwards connections to `upstream` while up; when cut, closes every open connection and
/// closes new ones at once (what clients see when the database goes away).
struct Proxy {
    addr: SocketAddr,
    up: Arc<AtomicBool>,
    /// When cut: keep connections open but forward nothing (a network partition) instead of
    /// closing them (the database going away).
    silent: Arc<AtomicBool>,
    generation: watch::Sender<u64>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    async fn start(upstream: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let up = Arc::new(AtomicBool::new(true));
        let (generation, _) = watch::channel(0u64);
        let gen_tx = generation.clone();
        let up_flag = up.clone();
        let silent = Arc::new(AtomicBool::new(false));
        let silent_flag = silent.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    continue;
                };
                if !up_flag.load(Ordering::SeqCst) {
                    if silent_flag.load(Ordering::SeqCst) {
                        // Hold the connection open, answer nothing, until the partition ends.
                        let mut healed = gen_tx.subscribe();
                        tokio::spawn(async move {
                            let _held = inbound;
                            let _ = healed.changed().await;
                        });
                    } else {
                        drop(inbound);
                    }
                    continue;
                }
                let silent_flag = silent_flag.clone();
                let mut cut = gen_tx.subscribe();
                let upstream = upstream.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TokioStream::connect(&upstream).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cut.changed() => {
                            if silent_flag.load(Ordering::SeqCst) {
                                // Answer nothing until the partition ends, then close (by then
                                // the database has given up on these sessions too).
                                let _held = (inbound, outbound);
                                let _ = cut.changed().await;
                            }
                        }
                    }
                });
            }
        });
        Self {
            addr,
            up,
            silent,
            generation,
            task,
        }
    }

    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        self.generation.send_modify(|g| *g += 1);
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
        // Ends the connections held through a partition.
        self.generation.send_modify(|g| *g += 1);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// `postgres://user@host:port/db?...` → (`host:port`, the URL with `host:port` replaced by
/// `proxy`).
fn reroute(url: &str, proxy: SocketAddr) -> (String, String) {
    let (scheme, rest) = url.split_once("://").unwrap();
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((u, h)) => (format!("{u}@"), h),
        None => (String::new(), authority),
    };
    let upstream = if hostport.contains(':') {
        hostport.to_owned()
    } else {
        format!("{hostport}:5432")
    };
    let rerouted = format!("{scheme}://{userinfo}{proxy}{}", &rest[authority_end..]);
    (upstream, rerouted)
}

#[derive(Debug)]
struct Outcome {
    writer: usize,
    seq: usize,
    status: u16,
    latency: Duration,
    id: Option<i64>,
    body: String,
}

/// PostgreSQL goes away for 3 s while 16 clients write: the server answers 503 with a JSON body
/// within its configured timeout, `/readyz` says not ready, it recovers by itself, every 201 is
/// stored, and nothing is half-written.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pg_outage_during_writes_answers_503_and_recovers() {
    outage(false).await;
}

/// The same with a network partition: the proxy keeps every connection open but forwards
/// nothing, so queries already sent never get an answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pg_partition_during_writes_answers_503_and_recovers() {
    outage(true).await;
}

/// A proxy in front of `db`'s PostgreSQL, and a store on `db`'s database through it with at
/// most `max_connections`, each acquired within `db_timeout`.
async fn store_behind_proxy(
    db: &TestDb,
    max_connections: u32,
    db_timeout: Duration,
) -> (Proxy, Store) {
    let proxy = Proxy::start(reroute(&db.url, "127.0.0.1:1".parse().unwrap()).0).await;
    let (_, proxied_url) = reroute(&db.url, proxy.addr);
    let store = Store::open_with(
        &proxied_url,
        StoreOptions {
            max_connections,
            acquire_timeout: db_timeout,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    (proxy, store)
}

async fn outage(silent: bool) {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let db_timeout = Duration::from_secs(2);
    let (proxy, store) = store_behind_proxy(&db, 8, db_timeout).await;
    let config = Config {
        db_timeout,
        request_timeout: Duration::from_secs(3),
        ..Config::default()
    };
    // A request "hangs" if it takes more than this; the figures report the real maximum.
    let hang = db_timeout * 4;
    let stop = Arc::new(AtomicBool::new(false));
    let sessions: Vec<SessionId> = (0..4).map(|_| session()).collect();
    let mut writers = Vec::new();
    for w in 0..16 {
        let c = common::client_for(store.clone(), config.clone());
        let stop = stop.clone();
        let target = sessions[w % sessions.len()];
        writers.push(tokio::spawn(async move {
            let mut out = Vec::new();
            let mut seq = 0;
            while !stop.load(Ordering::SeqCst) {
                let started = Instant::now();
                let send = c
                    .post("/api/v1/chat/stream/")
                    .body_json(&json!({
                        "session_id": target.to_string(),
                        "message": format!("outage w{w} n{seq} {}", "x".repeat(64)),
                        "sender_type": "client",
                    }))
                    .send();
                let resp = tokio::time::timeout(hang, send)
                    .await
                    .unwrap_or_else(|_| panic!("a write hung for more than {hang:?}"));
                let status = resp.0.status().as_u16();
                let body = text(resp).await;
                let latency = started.elapsed();
                let id = (status == 201).then(|| {
                    serde_json::from_str::<Value>(&body).unwrap()["id"]
                        .as_i64()
                        .unwrap()
                });
                out.push(Outcome {
                    writer: w,
                    seq,
                    status,
                    latency,
                    id,
                    body,
                });
                seq += 1;
                if status != 201 {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
            out
        }));
    }

    let probe = common::client_for(store.clone(), config.clone());
    tokio::time::sleep(Duration::from_secs(1)).await;
    proxy.silent.store(silent, Ordering::SeqCst);
    proxy.cut();
    let cut_at = Instant::now();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    let ready = tokio::time::timeout(hang, probe.get("/readyz").send())
        .await
        .expect("/readyz hung during the outage");
    let readyz_latency = started.elapsed();
    assert_eq!(ready.0.status(), StatusCode::SERVICE_UNAVAILABLE);
    let ready_body: Value = serde_json::from_str(&text(ready).await).unwrap();
    assert!(ready_body["detail"].is_string(), "{ready_body}");
    tokio::time::sleep(Duration::from_secs(3).saturating_sub(cut_at.elapsed())).await;
    proxy.restore();
    let restored_at = Instant::now();
    let recovery = loop {
        let resp = probe.get("/readyz").send().await;
        if resp.0.status() == StatusCode::OK {
            break restored_at.elapsed();
        }
        assert!(
            restored_at.elapsed() < Duration::from_secs(30),
            "the server did not recover after the database came back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::SeqCst);
    let mut outcomes = Vec::new();
    for w in writers {
        outcomes.extend(w.await.unwrap());
    }

    // What the database holds (read directly, not through the proxy).
    let mut stored: HashMap<i64, String> = HashMap::new();
    for s in &sessions {
        let history = db.store.history(*s).await.unwrap();
        let ids: Vec<i64> = history.iter().map(|m| m.id.0).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted, "history order disagrees with ids");
        for m in history {
            assert!(stored.insert(m.id.0, m.message).is_none());
        }
    }
    let sent: HashMap<(usize, usize), &Outcome> =
        outcomes.iter().map(|o| ((o.writer, o.seq), o)).collect();
    let mut acknowledged = 0;
    let mut unavailable = 0;
    let mut after_recovery = 0;
    for o in &outcomes {
        match o.status {
            201 => {
                acknowledged += 1;
                let id = o.id.unwrap();
                let expected = format!("outage w{} n{} {}", o.writer, o.seq, "x".repeat(64));
                assert_eq!(stored.get(&id), Some(&expected), "acknowledged write lost");
            }
            503 => {
                unavailable += 1;
                let body: Value = serde_json::from_str(&o.body).unwrap();
                assert!(
                    body["detail"].is_string(),
                    "503 without a JSON body: {body}"
                );
            }
            other => panic!("unexpected status {other}: {}", o.body),
        }
    }
    for o in outcomes.iter().rev() {
        if o.status == 201 {
            after_recovery += 1;
        } else {
            break;
        }
    }
    // Nothing half-written: every stored row is exactly one message that was sent.
    let mut errored_but_committed = 0;
    for message in stored.values() {
        let mut parts = message.split(' ');
        let (_, w, n) = (parts.next(), parts.next().unwrap(), parts.next().unwrap());
        let key = (
            w[1..].parse::<usize>().unwrap(),
            n[1..].parse::<usize>().unwrap(),
        );
        let o = sent.get(&key).expect("a stored message nobody sent");
        assert_eq!(
            message,
            &format!("outage {w} {n} {}", "x".repeat(64)),
            "half-written"
        );
        if o.status != 201 {
            // The commit reached the database but its answer was cut: stored, not acknowledged.
            errored_but_committed += 1;
        }
    }
    let max_latency = outcomes.iter().map(|o| o.latency).max().unwrap_or_default();
    let max_503 = outcomes
        .iter()
        .filter(|o| o.status == 503)
        .map(|o| o.latency)
        .max()
        .unwrap_or_default();
    assert!(unavailable > 0, "the outage produced no 503");
    assert!(
        after_recovery > 0,
        "no write succeeded after the database came back"
    );
    let found = outcomes
        .iter()
        .filter(|o| o.status == 201)
        .filter(|o| stored.contains_key(&o.id.unwrap()))
        .count();
    println!(
        "FIGURES pg_outage (partition: {silent}): sent={} acknowledged={acknowledged} found_stored={found} lost={} \
         503s={unavailable} other_errors=0 errored_but_committed={errored_but_committed} \
         max_latency_ms={} max_503_latency_ms={} median_latency_ms={} readyz_during_outage=503 \
         in {}ms recovered_after_restore_ms={} db_timeout_s={} request_timeout_s=3",
        outcomes.len(),
        acknowledged - found,
        max_latency.as_millis(),
        max_503.as_millis(),
        median(outcomes.iter().map(|o| o.latency).collect()).as_millis(),
        readyz_latency.as_millis(),
        recovery.as_millis(),
        db_timeout.as_secs(),
    );
    store.close().await;
    drop(proxy);
    db.cleanup().await;
}

// ---------- concurrency over HTTP, both backends ----------

/// 64 writers (half on one session, half over 8 others), 10 messages each, over HTTP: no lost
/// or duplicated message, history in id order, and no 5xx (on SQLite: no `database is locked`).
async fn http_writers_lose_nothing_and_keep_id_order(db: &TestDb) {
    let one = session();
    let many: Vec<SessionId> = (0..8).map(|_| session()).collect();
    let mut tasks = Vec::new();
    let started = Instant::now();
    for w in 0..64 {
        let c = db.client();
        let target = if w % 2 == 0 { one } else { many[w % 8] };
        tasks.push(tokio::spawn(async move {
            let mut acks = Vec::new();
            for i in 0..10 {
                let resp = c
                    .post("/api/v1/chat/stream/")
                    .body_json(
                        &json!({"session_id": target.to_string(), "message": format!("w{w}-{i}")}),
                    )
                    .send()
                    .await;
                let status = resp.0.status();
                let body = text(resp).await;
                assert_eq!(status, StatusCode::CREATED, "{body}");
                let v: Value = serde_json::from_str(&body).unwrap();
                acks.push((v["id"].as_i64().unwrap(), format!("w{w}-{i}")));
            }
            acks
        }));
    }
    let mut acknowledged = BTreeMap::new();
    for t in tasks {
        for (id, message) in t.await.unwrap() {
            assert!(
                acknowledged.insert(id, message).is_none(),
                "duplicate id {id}"
            );
        }
    }
    let elapsed = started.elapsed();
    let mut stored = BTreeMap::new();
    for s in std::iter::once(one).chain(many.iter().copied()) {
        let v = history_json(&db.client(), s).await;
        let ids: Vec<i64> = each(&v["messages"], "id");
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted, "history order disagrees with ids");
        for m in v["messages"].as_array().unwrap() {
            stored.insert(
                m["id"].as_i64().unwrap(),
                m["message"].as_str().unwrap().to_owned(),
            );
        }
    }
    assert_eq!(stored, acknowledged);
    println!(
        "FIGURES http_writers {:?}: writers=64 sent=640 acknowledged={} found_stored={} lost=0 \
         duplicated=0 elapsed_ms={}",
        db.store.kind(),
        acknowledged.len(),
        stored.len(),
        elapsed.as_millis()
    );
}

/// 32 concurrent assigns of one client over HTTP leave exactly one active assignment, and 32
/// concurrent stage changes leave a history that replays to the current stage.
async fn http_assigns_and_stage_changes_stay_consistent(db: &TestDb) {
    let c = db.client();
    let token = superuser_token(db, &c).await;
    let mut agents = Vec::new();
    for i in 0..4 {
        let u = db
            .store
            .create_user(NewUser {
                is_staff: true,
                ..NewUser::new(format!("agent{i}@example.com"), format!("agent{i}"))
            })
            .await
            .unwrap();
        agents.push(u.id.0);
    }
    let resp = send(
        &c,
        &token,
        "POST",
        "/api/v1/admin/clients/",
        json!({"name": "Hot lead"}),
    )
    .await;
    assert_eq!(resp.0.status(), StatusCode::CREATED);
    let id = serde_json::from_str::<Value>(&text(resp).await).unwrap()["id"]
        .as_i64()
        .unwrap();

    let stages = [
        "contacted",
        "qualified",
        "docs_pending",
        "lost",
        "active",
        "closed",
        "lead",
    ];
    let mut tasks = Vec::new();
    for i in 0..64 {
        let c = db.client();
        let token = token.clone();
        let (path, body) = if i % 2 == 0 {
            (
                format!("/api/v1/admin/clients/{id}/assign/"),
                json!({"assigned_to": agents[i % 4]}),
            )
        } else {
            (
                format!("/api/v1/admin/clients/{id}/stage/"),
                json!({"to_stage": stages[i % stages.len()]}),
            )
        };
        tasks.push(tokio::spawn(async move {
            let resp = c
                .post(path)
                .header("authorization", format!("Bearer {token}"))
                .body_json(&body)
                .send()
                .await;
            let status = resp.0.status();
            (status, text(resp).await)
        }));
    }
    let (mut assigned, mut staged) = (0, 0);
    for t in tasks {
        let (status, body) = t.await.unwrap();
        match status {
            StatusCode::CREATED => assigned += 1,
            StatusCode::OK => staged += 1,
            other => panic!("{other}: {body}"),
        }
    }
    assert_eq!((assigned, staged), (32, 32));
    let get = |path: String| {
        let c = db.client();
        let token = token.clone();
        async move {
            let resp = get(&c, &token, &path).await;
            serde_json::from_str::<Value>(&text(resp).await).unwrap()
        }
    };
    let active = get(format!(
        "/api/v1/admin/assignments/?client={id}&is_active=true"
    ))
    .await;
    assert_eq!(active["count"], 1, "{active}");
    let all = get(format!(
        "/api/v1/admin/clients/{id}/assignments/?page_size=100"
    ))
    .await;
    assert_eq!(all["count"], 32);
    let history = get(format!(
        "/api/v1/admin/clients/{id}/stage-history/?ordering=id&page_size=100"
    ))
    .await;
    let mut current = Value::Null;
    let entries = history["results"].as_array().unwrap();
    for entry in entries {
        assert_eq!(entry["from_stage"], current, "{history}");
        current = entry["to_stage"].clone();
    }
    let client = get(format!("/api/v1/admin/clients/{id}/")).await;
    assert_eq!(client["current_stage"], current);
    println!(
        "FIGURES http_assign_stage {:?}: assigns=32 acknowledged={assigned} active=1 \
         stage_changes=32 acknowledged={staged} history_entries={} replays_to_current=true",
        db.store.kind(),
        entries.len()
    );
}

// ---------- SIGTERM on the real binary under load, both backends ----------

fn raw_post(session: SessionId, message: &str) -> String {
    let body = format!(r#"{{"session_id":"{session}","message":"{message}"}}"#);
    format!(
        "POST /api/v1/chat/stream/ HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

enum Sent {
    /// `201` with the id.
    Created(i64),
    /// The connection was refused: the server no longer accepts.
    Refused,
    /// Reset before any byte of an answer: accepted by the kernel into the listen backlog but
    /// never by the server, then reset when the listener closed (checked below: never stored).
    Reset,
    /// Anything else (status line and body), a failure.
    Other(String),
}

fn send_raw(addr: SocketAddr, raw: &str) -> Sent {
    let mut stream = match TcpStream::connect(addr) {
        Ok(s) => s,
        Err(_) => return Sent::Refused,
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    if let Err(err) = stream.write_all(raw.as_bytes()) {
        // A connection still in the listen backlog when the listener closes is reset; the reset
        // can reach the client while it is still writing. Like a reset on read, the server never
        // handled it (the caller checks that its message was not stored).
        if matches!(
            err.kind(),
            std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
        ) {
            return Sent::Reset;
        }
        return Sent::Other(format!("write failed: {err}"));
    }
    let mut out = String::new();
    match stream.read_to_string(&mut out) {
        Err(err) if err.kind() == std::io::ErrorKind::ConnectionReset && out.is_empty() => {
            return Sent::Reset;
        }
        Err(err) => return Sent::Other(format!("read failed: {err}")),
        Ok(_) if out.is_empty() => return Sent::Reset,
        Ok(_) => {}
    }
    if !out.starts_with("HTTP/1.1 201") {
        return Sent::Other(out);
    }
    let body = out.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    match serde_json::from_str::<Value>(body) {
        Ok(v) => Sent::Created(v["id"].as_i64().unwrap()),
        Err(_) => Sent::Other(out),
    }
}

struct Binary {
    child: Child,
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// SIGTERM while 64 clients write to the real binary: requests in flight finish with 201, new
/// connections are refused, the process exits 0 within the grace period, every 201 is stored.
async fn sigterm_under_load_keeps_every_acknowledged_write(db: &TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let grace = Duration::from_secs(10);
    let child = Command::new(env!("CARGO_BIN_EXE_rivo-server"))
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("BIND_ADDRESS", "127.0.0.1")
        .env("PORT", port.to_string())
        .env("DATABASE_URL", &db.url)
        .env("RIVO_SHUTDOWN_TIMEOUT_SECS", grace.as_secs().to_string())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut server = Binary { child };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let healthy = TcpStream::connect(addr)
            .and_then(|mut s| {
                s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?;
                let mut out = String::new();
                s.read_to_string(&mut out)?;
                Ok(out.starts_with("HTTP/1.1 200"))
            })
            .unwrap_or(false);
        if healthy {
            break;
        }
        assert!(Instant::now() < deadline, "server did not become healthy");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Slow requests in flight at SIGTERM: headers and most of the body sent before it, the rest
    // after it.
    let slow_session = session();
    let mut slow = Vec::new();
    for i in 0..4 {
        let raw = raw_post(slow_session, &format!("slow-{i}"));
        let (first, _) = raw.split_at(raw.len() - 5);
        let mut stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        stream.write_all(first.as_bytes()).unwrap();
        slow.push((stream, raw));
    }

    let stop = Arc::new(AtomicBool::new(false));
    let sent_total = Arc::new(AtomicU64::new(0));
    let one = session();
    let many: Vec<SessionId> = (0..8).map(|_| session()).collect();
    let mut writers = Vec::new();
    for w in 0..64 {
        let stop = stop.clone();
        let sent_total = sent_total.clone();
        let target = if w % 2 == 0 { one } else { many[w % 8] };
        writers.push(std::thread::spawn(move || {
            let mut results = Vec::new();
            let mut i = 0;
            while !stop.load(Ordering::SeqCst) {
                sent_total.fetch_add(1, Ordering::SeqCst);
                let r = send_raw(addr, &raw_post(target, &format!("w{w}-{i}")));
                let refused = matches!(r, Sent::Refused | Sent::Reset);
                results.push((format!("w{w}-{i}"), r));
                i += 1;
                if refused {
                    break;
                }
            }
            results
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let sent_before = sent_total.load(Ordering::SeqCst);
    let status = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let term_at = Instant::now();
    // New connections are refused while the in-flight ones (held open by this test) are still
    // unfinished, so the process is still running.
    let refused_after = loop {
        if TcpStream::connect(addr).is_err() {
            break term_at.elapsed();
        }
        assert!(
            term_at.elapsed() < Duration::from_secs(5),
            "new connections still accepted 5 s after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let refused_probe = server.child.try_wait().unwrap().is_none();
    let mut slow_created = Vec::new();
    for (mut stream, raw) in slow {
        stream.write_all(&raw.as_bytes()[raw.len() - 5..]).unwrap();
        let mut out = String::new();
        stream.read_to_string(&mut out).unwrap();
        assert!(out.starts_with("HTTP/1.1 201"), "in-flight request: {out}");
        let body = out.split_once("\r\n\r\n").unwrap().1;
        slow_created.push(
            serde_json::from_str::<Value>(body).unwrap()["id"]
                .as_i64()
                .unwrap(),
        );
    }
    let exit = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            term_at.elapsed() < grace + Duration::from_secs(5),
            "server still running after the grace period"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let exited_after = term_at.elapsed();
    stop.store(true, Ordering::SeqCst);
    assert_eq!(exit.code(), Some(0), "{exit:?}");
    assert!(
        refused_probe,
        "the server exited before its requests in flight were finished"
    );

    let mut acknowledged: HashMap<i64, String> = HashMap::new();
    let (mut refused, mut failures) = (0, Vec::new());
    let mut reset = Vec::new();
    let mut sent = 0;
    for w in writers {
        for (message, r) in w.join().unwrap() {
            sent += 1;
            match r {
                Sent::Created(id) => {
                    acknowledged.insert(id, message);
                }
                Sent::Refused => refused += 1,
                Sent::Reset => reset.push(message),
                Sent::Other(text) => failures.push(text),
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failed: {:?}",
        failures.len(),
        &failures[..1]
    );
    for (i, id) in slow_created.iter().enumerate() {
        acknowledged.insert(*id, format!("slow-{i}"));
    }
    let mut stored: HashMap<i64, String> = HashMap::new();
    let mut seen = HashSet::new();
    for s in std::iter::once(one)
        .chain(many.iter().copied())
        .chain([slow_session])
    {
        for m in db.store.history(s).await.unwrap() {
            assert!(seen.insert(m.id.0));
            stored.insert(m.id.0, m.message);
        }
    }
    let mut lost = 0;
    for (id, message) in &acknowledged {
        if stored.get(id) != Some(message) {
            lost += 1;
        }
    }
    assert_eq!(lost, 0, "acknowledged writes missing after shutdown");
    // A reset connection was never handled: had the server started on it, it would have
    // finished it (and stored the message).
    let stored_messages: HashSet<&String> = stored.values().collect();
    for message in &reset {
        assert!(
            !stored_messages.contains(message),
            "{message} was stored but its connection was reset: an in-flight request was cut"
        );
    }
    println!(
        "FIGURES sigterm_under_load {:?}: writers=64 sent={} (before SIGTERM {sent_before}) \
         acknowledged={} (in flight at SIGTERM: {}) found_stored={} lost=0 refused_after_sigterm={refused} \
         reset_in_backlog={} (none stored) other_failures=0 refused_from_ms={} exit_code=0 exited_after_ms={} grace_s={}",
        db.store.kind(),
        sent + slow_created.len(),
        acknowledged.len(),
        slow_created.len(),
        acknowledged.len() - lost,
        reset.len(),
        refused_after.as_millis(),
        exited_after.as_millis(),
        grace.as_secs(),
    );
}

on_every_backend!(
    database_failure_while_checking_credentials_answers_503,
    http_writers_lose_nothing_and_keep_id_order,
    http_assigns_and_stage_changes_stay_consistent,
    sigterm_under_load_keeps_every_acknowledged_write,
);

// ---------- credentials checked while the database fails (issue 15, finding 8) ----------

/// A token (for `Bearer` and `Token`) and a session cookie header of a fresh superuser.
async fn credentials(store: &Store, c: &common::Client) -> (String, String) {
    create_superuser(store, "cred@example.com", "cred", PASSWORD).await;
    let login = json!({"email": "cred@example.com", "password": PASSWORD});
    let resp = c
        .post("/api/v1/account/login/")
        .body_json(&login)
        .send()
        .await;
    assert_eq!(resp.0.status(), StatusCode::OK);
    let token: Value = serde_json::from_str(&text(resp).await).unwrap();
    let token = token["token"].as_str().unwrap().to_owned();
    let resp = c
        .post("/api/v1/account/session/")
        .body_json(&login)
        .send()
        .await;
    assert_eq!(resp.0.status(), StatusCode::OK);
    let cookie = set_cookies(&resp)
        .iter()
        .map(|v| v.split(';').next().unwrap().to_owned())
        .collect::<Vec<_>>()
        .join("; ");
    (token, cookie)
}

/// Every spelling of credentials answers 503 (not 401: the client must keep its token) with
/// the JSON body of the other 503s, on an account route and an admin route.
async fn assert_credentials_answer_503(c: &common::Client, token: &str, cookie: &str) {
    for path in ["/api/v1/account/me/", "/api/v1/admin/clients/"] {
        for (name, value) in [
            ("authorization", format!("Bearer {token}")),
            ("authorization", format!("Token {token}")),
            ("cookie", cookie.to_owned()),
        ] {
            let resp = c.get(path).header(name, &value).send().await;
            let status = resp.0.status();
            let body = text(resp).await;
            assert_eq!(
                status,
                StatusCode::SERVICE_UNAVAILABLE,
                "{path} with {name}: {}: {body}",
                value.split(' ').next().unwrap_or_default()
            );
            let body: Value = serde_json::from_str(&body).unwrap();
            assert!(body["detail"].as_str().is_some(), "{body}");
        }
    }
}

/// The store's pools closed under the server: every credential check fails in the database.
async fn database_failure_while_checking_credentials_answers_503(db: &TestDb) {
    let c = db.client();
    let (token, cookie) = credentials(&db.store, &c).await;
    let resp = c
        .get("/api/v1/account/me/")
        .header("authorization", format!("Token {token}"))
        .send()
        .await;
    assert_eq!(resp.0.status(), StatusCode::OK);
    db.store.close().await;
    assert_credentials_answer_503(&c, &token, &cookie).await;
}

/// PostgreSQL unreachable (the proxy cut): 503 for every spelling, then 200 again once it is
/// back, with the same token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_unreachable_while_checking_credentials_answers_503() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let db_timeout = Duration::from_secs(1);
    let (proxy, store) = store_behind_proxy(&db, 4, db_timeout).await;
    let config = Config {
        db_timeout,
        ..Config::default()
    };
    let c = common::client_for(store.clone(), config);
    let (token, cookie) = credentials(&store, &c).await;
    proxy.cut();
    assert_credentials_answer_503(&c, &token, &cookie).await;
    proxy.restore();
    let mut status = StatusCode::SERVICE_UNAVAILABLE;
    for _ in 0..50 {
        let resp = get(&c, &token, "/api/v1/account/me/").await;
        status = resp.0.status();
        if status == StatusCode::OK {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, StatusCode::OK, "the token did not work again");
    store.close().await;
    db.cleanup().await;
}
