//! API tokens on every backend: hashed, expiring, revoked, refused for inactive users and on a
//! password change.

use std::time::Duration;

use super::{count, deactivate, staff};
use crate::auth::*;
use crate::*;

behaviours!(
    tokens_are_hashed_expire_and_revoke,
    tokens_of_inactive_users_are_refused,
    set_password_revokes_tokens,
);

/// A token of `kind` for `user`, valid for `ttl`.
async fn issue(store: &Store, user: UserId, kind: TokenKind, ttl: Duration) -> IssuedToken {
    store
        .issue_token(user, kind, ttl)
        .await
        .expect("issue the token")
}

/// Whether the store takes `token` as a token of `kind`.
async fn accepted(store: &Store, token: &IssuedToken, kind: TokenKind) -> bool {
    store.user_for_token(&token.token, kind).await.is_ok()
}

async fn tokens_are_hashed_expire_and_revoke(store: &Store) {
    let user = staff(store, "tok").await;
    let issued = issue(store, user.id, TokenKind::Api, Duration::from_secs(3600)).await;
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
    let expired = issue(store, user.id, TokenKind::Session, Duration::ZERO).await;
    assert!(!accepted(store, &expired, TokenKind::Session).await);
    assert_eq!(
        store.purge_expired(&LoginPolicy::default()).await.unwrap(),
        1
    );
    store.revoke_token(&issued.token).await.unwrap();
    store.revoke_token(&issued.token).await.unwrap();
    assert!(!accepted(store, &issued, TokenKind::Api).await);
    assert!(matches!(
        store
            .issue_token(UserId(999), TokenKind::Api, Duration::from_secs(1))
            .await,
        Err(Error::NotFound { entity: "user" })
    ));
}

async fn tokens_of_inactive_users_are_refused(store: &Store) {
    let user = staff(store, "sleepy").await;
    let issued = issue(store, user.id, TokenKind::Session, Duration::from_secs(60)).await;
    deactivate(store, user.id).await;
    assert!(!accepted(store, &issued, TokenKind::Session).await);
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
    let ttl = Duration::from_secs(60);
    let a = issue(store, user.id, TokenKind::Api, ttl).await;
    let b = issue(store, user.id, TokenKind::Session, ttl).await;
    let kept = issue(store, other.id, TokenKind::Api, ttl).await;
    store
        .set_password(user.id, "brand new passphrase")
        .await
        .unwrap();
    assert!(!accepted(store, &a, TokenKind::Api).await);
    assert!(!accepted(store, &b, TokenKind::Session).await);
    assert!(accepted(store, &kept, TokenKind::Api).await);
    assert_eq!(store.revoke_user_tokens(other.id).await.unwrap(), 1);
}
