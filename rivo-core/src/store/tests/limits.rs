//! Limits on every backend: the login throttle, chat rate limits and size limits, atomic under
//! concurrency.

use serde_json::json;

use super::{append, count, list_all, session, staff};
use crate::audit::*;
use crate::auth::*;
use crate::chat::*;
use crate::clients::*;
use crate::*;

behaviours!(
    login_throttle_counts_email_and_address,
    concurrent_wrong_passwords_evaluate_at_most_the_limit,
    chat_rate_limits_are_atomic_per_address_and_session,
    size_limits_bound_messages_contexts_audit_and_history,
);

async fn login_throttle_counts_email_and_address(store: &Store) {
    staff(store, "thr").await;
    staff(store, "other").await;
    let policy = LoginPolicy {
        max_failures_per_email: 3,
        max_failures_per_address: 5,
        window: std::time::Duration::from_secs(600),
    };
    for _ in 0..3 {
        let err = store
            .login("thr@example.com", "wrong", Some("10.0.0.1"), &policy)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Authentication(_)), "{err:?}");
    }
    // The email is locked, even with the right password and from elsewhere.
    match store
        .login(
            "THR@example.com",
            "a long passphrase",
            Some("10.0.0.2"),
            &policy,
        )
        .await
    {
        Err(Error::Throttled { retry_after }) => {
            assert!(retry_after.as_secs() >= 1 && retry_after.as_secs() <= 600)
        }
        other => panic!("expected throttling, got {other:?}"),
    }
    // Two more failures from 10.0.0.1 on another email lock that address for every email.
    for _ in 0..2 {
        assert!(matches!(
            store
                .login("other@example.com", "wrong", Some("10.0.0.1"), &policy)
                .await,
            Err(Error::Authentication(_))
        ));
    }
    assert!(matches!(
        store
            .login(
                "other@example.com",
                "a long passphrase",
                Some("10.0.0.1"),
                &policy
            )
            .await,
        Err(Error::Throttled { .. })
    ));
    // Another address with the right password still gets in, and success clears the email.
    store
        .login(
            "other@example.com",
            "a long passphrase",
            Some("10.0.0.3"),
            &policy,
        )
        .await
        .unwrap();
    assert!(matches!(
        store
            .login("other@example.com", "wrong", None, &policy)
            .await,
        Err(Error::Authentication(_))
    ));
    // A zero-length window forgets everything.
    let forgetful = LoginPolicy {
        window: std::time::Duration::ZERO,
        ..policy
    };
    store
        .login(
            "thr@example.com",
            "a long passphrase",
            Some("10.0.0.1"),
            &forgetful,
        )
        .await
        .unwrap();
}

/// Issue 15, finding 5: 100 concurrent wrong passwords for one email under a policy of 5. The
/// check and the count are one atomic step, so at most 5 attempts are evaluated (401), and the
/// rest are throttled (429) without checking the password.
async fn concurrent_wrong_passwords_evaluate_at_most_the_limit(store: &Store) {
    staff(store, "race").await;
    let policy = LoginPolicy::default();
    let attempts = (0..100).map(|i| {
        let store = store.clone();
        let policy = policy.clone();
        tokio::spawn(async move {
            let address = format!("10.1.{}.{}", i / 200, i % 200);
            store
                .login("race@example.com", "wrong", Some(&address), &policy)
                .await
        })
    });
    let (mut evaluated, mut throttled) = (0, 0);
    for attempt in attempts.collect::<Vec<_>>() {
        match attempt.await.unwrap() {
            Err(Error::Authentication(_)) => evaluated += 1,
            Err(Error::Throttled { .. }) => throttled += 1,
            other => panic!("expected 401 or 429, got {other:?}"),
        }
    }
    eprintln!("THROTTLE 100 concurrent: evaluated={evaluated} throttled={throttled}");
    assert_eq!(evaluated, 5, "exactly the policy's limit is evaluated");
    assert_eq!(throttled, 95);
    assert_eq!(count(store, "login_failures").await, 10);
}

/// Issue 15, finding 13: with limits set, 50 concurrent posts from one address get exactly the
/// limit stored and the rest throttled; the session limit holds across addresses; an invalid
/// message does not count; without limits nothing is throttled.
async fn chat_rate_limits_are_atomic_per_address_and_session(store: &Store) {
    use crate::chat_guard::{ChatPolicy, PostOrigin};
    let policy = ChatPolicy {
        max_per_address: 7,
        max_per_session: 12,
        window: std::time::Duration::from_secs(3600),
        bot_key: None,
    };
    let target = session();
    let posts: Vec<_> = (0..50)
        .map(|i| {
            let (store, policy) = (store.clone(), policy.clone());
            tokio::spawn(async move {
                let origin = PostOrigin {
                    client_address: Some("203.0.113.7"),
                    bot_key: None,
                };
                store
                    .append_guarded(
                        target,
                        &format!("m{i}"),
                        SenderType::Client,
                        origin,
                        &policy,
                    )
                    .await
            })
        })
        .collect();
    let (mut stored, mut throttled) = (0, 0);
    for post in posts {
        match post.await.unwrap() {
            Ok(_) => stored += 1,
            Err(Error::Throttled { retry_after }) => {
                assert!((1..=3600).contains(&retry_after.as_secs()));
                throttled += 1
            }
            other => panic!("expected stored or throttled, got {other:?}"),
        }
    }
    assert_eq!((stored, throttled), (7, 43));
    assert_eq!(store.history(target).await.unwrap().len(), 7);
    // The session's limit (12) holds whatever the address.
    let mut more = 0;
    for i in 0..10 {
        let address = format!("198.51.100.{i}");
        let origin = PostOrigin {
            client_address: Some(&address),
            bot_key: None,
        };
        if store
            .append_guarded(target, "again", SenderType::Client, origin, &policy)
            .await
            .is_ok()
        {
            more += 1;
        }
    }
    assert_eq!(more, 5);
    // An invalid message is a validation error, not a throttle, and counts for nothing.
    let origin = PostOrigin {
        client_address: Some("192.0.2.1"),
        bot_key: None,
    };
    assert!(matches!(
        store
            .append_guarded(session(), "  ", SenderType::Client, origin, &policy)
            .await,
        Err(Error::Validation(_))
    ));
    // The default policy limits nothing (the original's behaviour).
    for _ in 0..20 {
        store
            .append_guarded(
                target,
                "free",
                SenderType::Client,
                origin,
                &ChatPolicy::default(),
            )
            .await
            .unwrap();
    }
}

/// Issue 15, finding 2: configurable limits on messages, contexts, audit entries and one
/// unpaginated history answer.
async fn size_limits_bound_messages_contexts_audit_and_history(store: &Store) {
    let limits = Limits {
        max_message_chars: 10,
        max_context_keys: 3,
        max_context_bytes: 200,
        max_audit_value_chars: 20,
        max_audit_bytes: 400,
        max_history_bytes: 1000,
    };
    let admin = staff(store, "limits").await;
    let limited = store.with_limits(limits.clone());
    let as_admin = limited.acting_as(&admin);
    assert_eq!(as_admin.limits(), &limits);

    // Messages: characters, not bytes; nothing is written when refused.
    let s = SessionId::new_random();
    append(&limited, s, "éééééééééé", SenderType::Client).await;
    let err = limited
        .append(s, "ééééééééééé", SenderType::Client)
        .await
        .unwrap_err();
    let Error::Validation(errors) = err else {
        panic!("{err:?}")
    };
    assert_eq!(errors.field("message"), vec![&Rule::TooLong { max: 10 }]);
    assert_eq!(limited.history(s).await.unwrap().len(), 1);
    // The default limit accepts several MiB, as the original did.
    append(store, s, &"x".repeat(3 * 1024 * 1024), SenderType::Client).await;

    // Contexts: keys and serialized size, checked after the change is applied.
    let client = as_admin.create_client(NewClient::new("Big")).await.unwrap();
    let merge = |n: usize, len: usize| {
        ContextChange::Merge(
            (0..n)
                .map(|i| (format!("k{i}"), json!("v".repeat(len))))
                .collect(),
        )
    };
    as_admin
        .change_context(client.id, &[merge(3, 5)])
        .await
        .unwrap();
    for (change, text) in [
        (merge(4, 1), "no more than 3 keys"),
        (merge(1, 300), "no larger than 200 bytes"),
    ] {
        let err = as_admin
            .change_context(client.id, &[change])
            .await
            .unwrap_err();
        let Error::Validation(errors) = err else {
            panic!("{err:?}")
        };
        let rules = errors.field("context_data");
        assert!(
            rules.iter().any(|r| r.to_string().contains(text)),
            "{rules:?}"
        );
    }
    assert_eq!(limited.context(client.id).await.unwrap().data.len(), 3);

    // Audit: long strings cut with a marker; a large entry summarised.
    as_admin
        .change_context(
            client.id,
            &[ContextChange::Set("k0".into(), json!("y".repeat(100)))],
        )
        .await
        .unwrap();
    let wide = Store::with_limits(
        store,
        Limits {
            max_context_bytes: 1 << 20,
            max_context_keys: 10_000,
            ..limits.clone()
        },
    )
    .acting_as(&admin);
    wide.change_context(client.id, &[merge(1000, 1)])
        .await
        .unwrap();
    let log = list_all(store, &AuditFilter::default(), Sort::asc(AuditSort::Id)).await;
    let contexts: Vec<&serde_json::Value> = log
        .items
        .iter()
        .filter(|e| e.object_type == "context")
        .map(|e| &e.changes)
        .collect();
    let set = contexts[contexts.len() - 2].to_string();
    assert!(set.contains("…[truncated: 100 characters]"), "{set}");
    assert!(!set.contains(&"y".repeat(21)), "{set}");
    let big = contexts[contexts.len() - 1];
    assert_eq!(big["truncated"], json!(true), "{big}");
    assert!(big.to_string().len() <= 400, "{big}");
    for entry in &log.items {
        assert!(entry.changes.to_string().len() <= 400, "{}", entry.changes);
    }

    // History: one unpaginated answer holds at most ~1000 bytes; the cursor gives the rest.
    let h = SessionId::new_random();
    for i in 0..30 {
        append(&limited, h, &format!("message {i:02}"), SenderType::Bot).await;
    }
    let first = limited.history_bounded(h).await.unwrap();
    assert!(first.messages.len() < 30 && !first.messages.is_empty());
    let mut all = first.messages.clone();
    let mut next = first.next;
    while let Some(cursor) = next {
        let page = limited.history_page(h, Some(cursor), 1000).await.unwrap();
        all.extend(page.messages);
        next = page.next;
    }
    assert_eq!(all, limited.history(h).await.unwrap());
    // Under the budget: the whole history and no cursor.
    let whole = store.history_bounded(h).await.unwrap();
    assert_eq!(whole.messages.len(), 30);
    assert!(whole.next.is_none());
}
