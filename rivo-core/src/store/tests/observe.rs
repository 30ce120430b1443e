//! What the store reports about itself, on every backend: pool connections, operations in
//! flight (cancelled ones included), and the metrics of operations, failures, group commits and
//! logins, with bounded labels only.

use std::sync::Arc;

use metrics_util::debugging::{DebugValue, DebuggingRecorder};

type Snapshot = Vec<(
    metrics_util::CompositeKey,
    Option<metrics::Unit>,
    Option<metrics::SharedString>,
    DebugValue,
)>;

use super::{TestDb, append, session};
use crate::auth::LoginPolicy;
use crate::observability::names;
use crate::*;

// On a current-thread runtime, so the thread-local recorder sees every task (the
// group-commit writer included).
db_behaviours!(
    (flavor = "current_thread");
    pool_stats_name_each_pool_and_its_connections,
    operations_in_flight_rise_and_fall_also_when_cancelled,
    operations_failures_batches_and_logins_are_measured,
);

async fn pool_stats_name_each_pool_and_its_connections(db: &TestDb) {
    db.store.history(session()).await.unwrap();
    // A connection goes back to its pool in a task of its own: give it a moment.
    let mut stats = db.store.pool_stats();
    for _ in 0..200 {
        if stats.iter().any(|p| p.idle >= 1) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        stats = db.store.pool_stats();
    }
    match db.store.kind() {
        BackendKind::Postgres => {
            assert_eq!(stats.len(), 1);
            assert_eq!(stats[0].pool, "main");
            assert_eq!(stats[0].max, StoreOptions::default().max_connections);
        }
        BackendKind::Sqlite => {
            let names: Vec<&str> = stats.iter().map(|s| s.pool).collect();
            assert_eq!(names, ["read", "write"]);
            assert_eq!(stats[1].max, 1, "one writer");
        }
    }
    for pool in &stats {
        assert!(pool.size >= 1 && pool.size <= pool.max, "{pool:?}");
        assert!(pool.idle <= pool.size, "{pool:?}");
        assert_eq!(pool.in_use(), pool.size - pool.idle);
    }
    assert!(stats.iter().any(|p| p.idle >= 1), "{stats:?}");
}

async fn operations_in_flight_rise_and_fall_also_when_cancelled(db: &TestDb) {
    assert_eq!(db.store.operations_in_flight(), 0);
    // One connection for many callers: most of them wait, and are counted while they do.
    let store = Store::open_with(
        &db.url,
        StoreOptions {
            max_connections: 1,
            ..StoreOptions::default()
        },
    )
    .await
    .unwrap();
    let calls: Vec<_> = (0..32)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.history(session()).await })
        })
        .collect();
    let mut most = 0;
    while calls.iter().any(|c| !c.is_finished()) {
        most = most.max(store.operations_in_flight());
        tokio::task::yield_now().await;
    }
    for call in calls {
        call.await.unwrap().unwrap();
    }
    assert!(most > 1, "at most {most} operations seen in flight");
    assert_eq!(store.operations_in_flight(), 0);
    // A caller that gives up (a cancelled request) is not counted any more.
    // (An operation may finish at its first poll: try until one is caught under way.)
    let mut caught = false;
    for _ in 0..100 {
        let mut pending = Box::pin(store.history(session()));
        if futures_util::poll!(pending.as_mut()).is_pending() {
            assert_eq!(store.operations_in_flight(), 1);
            drop(pending);
            assert_eq!(store.operations_in_flight(), 0);
            caught = true;
            break;
        }
        drop(pending);
        assert_eq!(store.operations_in_flight(), 0);
    }
    assert!(caught, "no operation was ever pending at its first poll");
    store.close().await;
}

/// The counter or histogram-count `name` with exactly `labels` (sorted by key).
fn sample(snapshot: &Snapshot, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let mut wanted: Vec<(String, String)> = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    wanted.sort();
    snapshot.iter().find_map(|(key, _, _, value)| {
        let mut have: Vec<(String, String)> = key
            .key()
            .labels()
            .map(|l| (l.key().to_owned(), l.value().to_owned()))
            .collect();
        have.sort();
        (key.key().name() == name && have == wanted).then(|| match value {
            DebugValue::Counter(c) => *c as f64,
            DebugValue::Gauge(g) => g.into_inner(),
            DebugValue::Histogram(h) => h.len() as f64,
        })
    })
}

async fn operations_failures_batches_and_logins_are_measured(db: &TestDb) {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let recorder = Arc::new(recorder);
    let _local = metrics::set_default_local_recorder(recorder.as_ref());

    let s = session();
    append(&db.store, s, "hello", SenderType::Client).await;
    db.store.append(s, "again", SenderType::Bot).await.unwrap();
    db.store.history(s).await.unwrap();
    assert!(matches!(
        db.store.message(MessageId::from(i64::MAX)).await,
        Err(Error::NotFound { .. })
    ));
    let policy = LoginPolicy {
        max_failures_per_email: 1,
        ..LoginPolicy::default()
    };
    let email = "who@example.com";
    let failed = db
        .store
        .login(email, "nope", Some("10.0.0.1"), &policy)
        .await;
    assert!(matches!(
        failed,
        Err(Error::Authentication(AuthFailure::UnknownEmail))
    ));
    let throttled = db
        .store
        .login(email, "nope", Some("10.0.0.1"), &policy)
        .await;
    assert!(matches!(throttled, Err(Error::Throttled { .. })));

    // One snapshot: taking one drains the histograms.
    let snapshot: Snapshot = snapshotter.snapshot().into_vec();
    let snapshotter = &snapshot;
    let history = sample(
        snapshotter,
        names::DB_OPERATION_DURATION,
        &[("operation", "history")],
    );
    assert_eq!(history, Some(1.0));
    let not_found = sample(
        snapshotter,
        names::DB_ERRORS,
        &[("operation", "message"), ("kind", "not_found")],
    );
    assert_eq!(not_found, Some(1.0));
    let batches = sample(snapshotter, names::APPEND_BATCH_MESSAGES, &[]);
    assert_eq!(batches, Some(2.0), "two lone appends: two batches");
    assert_eq!(
        sample(snapshotter, names::APPEND_QUEUE_WAIT, &[]),
        Some(2.0)
    );
    assert_eq!(
        sample(snapshotter, names::APPEND_COMMIT_DURATION, &[]),
        Some(2.0)
    );
    assert_eq!(
        sample(
            snapshotter,
            names::LOGIN_FAILURES,
            &[("reason", "unknown_email")]
        ),
        Some(1.0)
    );
    assert_eq!(sample(snapshotter, names::LOGIN_THROTTLED, &[]), Some(1.0));
    // Every label value is from a closed set: never the session, the email or the address.
    for (key, _, _, _) in snapshotter {
        for label in key.key().labels() {
            let value = label.value();
            assert!(
                !value.contains(&s.to_string())
                    && !value.contains(email)
                    && !value.contains("10.0.0.1"),
                "{key:?}"
            );
        }
    }
    let stats = db.store.group_commit_stats();
    assert_eq!((stats.batches, stats.messages, stats.queued), (2, 2, 0));
}
