//! `append` and `history` through rivo-core, without HTTP, on SQLite and (when
//! `RIVO_BENCH_POSTGRES_URL` is set) PostgreSQL.
//!
//! ```sh
//! RIVO_BENCH_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres cargo bench -p rivo-core --bench store
//! ```
#![allow(missing_docs, clippy::unwrap_used)]

use criterion::{Criterion, criterion_group, criterion_main};
use rivo_core::{ChatMessage, SenderType, SessionId, Store};
use rivo_testkit::ScratchDb;

struct Target {
    name: &'static str,
    store: Store,
    session_20: SessionId,
    session_1000: SessionId,
    db: ScratchDb,
}

async fn seeded(name: &'static str, db: ScratchDb) -> Target {
    let store = Store::open(&db.url).await.unwrap();
    store.migrate().await.unwrap();
    let (session_20, session_1000) = (SessionId::new_random(), SessionId::new_random());
    for (session, n) in [(session_20, 20), (session_1000, 1000)] {
        for i in 0..n {
            let sender = if i % 2 == 0 {
                SenderType::Client
            } else {
                SenderType::Bot
            };
            store
                .append(
                    session,
                    &format!("message number {i} of a realistic length"),
                    sender,
                )
                .await
                .unwrap();
        }
    }
    Target {
        name,
        store,
        session_20,
        session_1000,
        db,
    }
}

/// A customer's first message, the one every append benchmark writes.
async fn append_a_first_message(store: &Store, session: SessionId) -> ChatMessage {
    store
        .append(
            session,
            "Hello, I would like to know more",
            SenderType::Client,
        )
        .await
        .unwrap()
}

async fn targets() -> Vec<Target> {
    let mut targets = vec![seeded("sqlite", ScratchDb::sqlite()).await];
    if let Ok(url) = std::env::var("RIVO_BENCH_POSTGRES_URL") {
        let db = ScratchDb::postgres_on(url, "rivo_bench").await;
        targets.push(seeded("postgres", db).await);
    } else {
        eprintln!("PostgreSQL benchmarks skipped: set RIVO_BENCH_POSTGRES_URL");
    }
    targets
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let targets = rt.block_on(targets());
    for t in &targets {
        let mut group = c.benchmark_group(t.name);
        let pool: Vec<SessionId> = (0..1000).map(|_| SessionId::new_random()).collect();
        let mut i = 0usize;
        group.bench_function("append", |b| {
            b.to_async(&rt).iter(|| {
                i = i.wrapping_add(7919);
                let session = pool[i % pool.len()];
                let store = t.store.clone();
                async move { append_a_first_message(&store, session).await }
            })
        });
        // 64 concurrent callers, 16 appends each: what group commit is for (one element is
        // the whole burst of 1,024 messages).
        group.bench_function("append_64_concurrent_x16", |b| {
            b.to_async(&rt).iter(|| {
                let store = t.store.clone();
                let pool = pool.clone();
                async move {
                    let tasks: Vec<_> = (0..64usize)
                        .map(|w| {
                            let store = store.clone();
                            let session = pool[w * 13 % pool.len()];
                            tokio::spawn(async move {
                                for _ in 0..16 {
                                    append_a_first_message(&store, session).await;
                                }
                            })
                        })
                        .collect();
                    for task in tasks {
                        task.await.unwrap();
                    }
                }
            })
        });
        group.bench_function("history_20", |b| {
            b.to_async(&rt)
                .iter(|| async { t.store.history(t.session_20).await.unwrap() })
        });
        group.bench_function("history_1000", |b| {
            b.to_async(&rt)
                .iter(|| async { t.store.history(t.session_1000).await.unwrap() })
        });
        group.bench_function("history_page_50_of_1000", |b| {
            b.to_async(&rt).iter(|| async {
                t.store
                    .history_page(t.session_1000, None, 50)
                    .await
                    .unwrap()
            })
        });
        group.finish();
    }
    // Leave nothing behind on the PostgreSQL server: each run seeds a schema of its own.
    rt.block_on(async {
        for t in targets {
            t.store.close().await;
            t.db.remove().await;
        }
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
