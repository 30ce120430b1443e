//! API tokens on every backend: hashed, expiring, revoked, refused for inactive users and on a
//! password change.

use super::{count, deactivate, staff};
use crate::auth::*;
use crate::*;

behaviours!(
    tokens_are_hashed_expire_and_revoke,
    tokens_of_inactive_users_are_refused,
    set_password_revokes_tokens,
);

async fn tokens_are_hashed_expire_and_revoke(store: &Store) {
    let user = staff(store, "tok").await;
    let issued = store
        .issue_token(
            user.id,
            TokenKind::Api,
            std::time::Duration::from_secs(3600),
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .user_for_token(&issued.token, TokenKind::Api)
            .await
            .unwrap()
            .id,
        user.id
    );
    assert!(matches!(
        store
            .user_for_token(&issued.token, TokenKind::Session)
            .await,
        Err(Error::Authentication(AuthFailure::InvalidToken))
    ));
    let stored = store
        .fetch_texts("SELECT kind FROM auth_tokens")
        .await
        .unwrap();
    assert_eq!(stored, ["api"]);
    let hex = match store.kind() {
        BackendKind::Postgres => "encode(token_hash, 'hex')",
        BackendKind::Sqlite => "lower(hex(token_hash))",
    };
    let hashes = store
        .fetch_texts(&format!("SELECT {hex} FROM auth_tokens"))
        .await
        .unwrap();
    assert_ne!(hashes[0], issued.token, "the token itself is never stored");
    assert_eq!(hashes[0].len(), 64);
    for bad in ["", "nope", &"g".repeat(64), &"0".repeat(64)] {
        assert!(store.user_for_token(bad, TokenKind::Api).await.is_err());
    }
    let expired = store
        .issue_token(user.id, TokenKind::Session, std::time::Duration::ZERO)
        .await
        .unwrap();
    assert!(
        store
            .user_for_token(&expired.token, TokenKind::Session)
            .await
            .is_err()
    );
    assert_eq!(
        store.purge_expired(&LoginPolicy::default()).await.unwrap(),
        1
    );
    store.revoke_token(&issued.token).await.unwrap();
    store.revoke_token(&issued.token).await.unwrap();
    assert!(
        store
            .user_for_token(&issued.token, TokenKind::Api)
            .await
            .is_err()
    );
    assert!(matches!(
        store
            .issue_token(
                UserId(999),
                TokenKind::Api,
                std::time::Duration::from_secs(1)
            )
            .await,
        Err(Error::NotFound { entity: "user" })
    ));
}

async fn tokens_of_inactive_users_are_refused(store: &Store) {
    let user = staff(store, "sleepy").await;
    let issued = store
        .issue_token(
            user.id,
            TokenKind::Session,
            std::time::Duration::from_secs(60),
        )
        .await
        .unwrap();
    deactivate(store, user.id).await;
    assert!(
        store
            .user_for_token(&issued.token, TokenKind::Session)
            .await
            .is_err()
    );
    store.delete_user(user.id).await.unwrap();
    assert_eq!(
        count(store, "auth_tokens").await,
        0,
        "tokens go with their user"
    );
}

async fn set_password_revokes_tokens(store: &Store) {
    let user = staff(store, "rotate").await;
    let other = staff(store, "keeper").await;
    let ttl = std::time::Duration::from_secs(60);
    let a = store
        .issue_token(user.id, TokenKind::Api, ttl)
        .await
        .unwrap();
    let b = store
        .issue_token(user.id, TokenKind::Session, ttl)
        .await
        .unwrap();
    let kept = store
        .issue_token(other.id, TokenKind::Api, ttl)
        .await
        .unwrap();
    store
        .set_password(user.id, "brand new passphrase")
        .await
        .unwrap();
    assert!(
        store
            .user_for_token(&a.token, TokenKind::Api)
            .await
            .is_err()
    );
    assert!(
        store
            .user_for_token(&b.token, TokenKind::Session)
            .await
            .is_err()
    );
    assert!(
        store
            .user_for_token(&kept.token, TokenKind::Api)
            .await
            .is_ok()
    );
    assert_eq!(store.revoke_user_tokens(other.id).await.unwrap(), 1);
}
