//! The append path on PostgreSQL: a batch of messages in one statement that locks the session
//! rows, takes ids and times under those locks, notifies other servers and fills the outbox.

use super::{Backend, Db};
use crate::store::sql::{Tx, sqlx};

impl Backend {
    /// Writes a batch of messages in one statement (one round trip, one commit) and returns
    /// them in the batch's order.
    ///
    /// `sent_at` comes from the database clock, so several servers on one database agree on
    /// the order of a conversation. The statement first upserts the batch's session rows in
    /// session order: that row lock is held until commit, so concurrent batches touching one
    /// session (from any server) take their ids and times one after the other, and history
    /// order always agrees with ids. A message's time is taken under that lock and never goes
    /// back within its session (`greatest` with the session's last time), even if the clock
    /// does. Batches touching different sessions do not wait for each other.
    pub(crate) async fn append_batch(
        &self,
        rows: &[&crate::store::append::NewMessage],
        origin: &str,
    ) -> crate::Result<(Vec<crate::ChatMessage>, Vec<crate::streams::Mark>)> {
        let stored = append_query(rows, origin).fetch_all(&self.write).await?;
        Ok(stored_messages(stored, rows))
    }

    /// The batch statement of [`Backend::append_batch`] inside an open transaction (lead
    /// capture stores its message this way, then changes the client in the same transaction).
    /// The marks are to be handed to this process's streams after the commit.
    pub(crate) async fn append_in(
        &self,
        tx: &mut Tx<Db>,
        rows: &[&crate::store::append::NewMessage],
        origin: &str,
    ) -> crate::Result<(Vec<crate::ChatMessage>, Vec<crate::streams::Mark>)> {
        let stored = append_query(rows, origin).fetch_all(&mut **tx).await?;
        Ok(stored_messages(stored, rows))
    }

    /// The live-stream marks of rows committed through [`Backend::append_in`] (PostgreSQL's
    /// come from the statement itself).
    pub(crate) fn committed_marks(
        &self,
        _stored: &[crate::ChatMessage],
        marks: Vec<crate::streams::Mark>,
    ) -> crate::Result<Vec<crate::streams::Mark>> {
        Ok(marks)
    }

    /// Recounts every session row from the messages, in the import's transaction (imports
    /// insert messages with their own ids and times, outside the append path).
    pub(crate) async fn refresh_imported_sessions(&self, tx: &mut Tx<Db>) -> crate::Result<()> {
        sqlx::query(
            "INSERT INTO chat_sessions (session_id, client_id, message_count, first_message_at, \
                 last_message_at, last_message_preview, last_sender_type, append_seq) \
             SELECT a.session_id, \
                 (SELECT c.client_id FROM client_contexts c \
                  WHERE c.chat_session_id = a.session_id ORDER BY c.id LIMIT 1), \
                 a.n, a.first_at, l.sent_at, left(l.message, 100), l.sender_type, \
                 (extract(epoch FROM clock_timestamp()) * 1000000)::bigint * 1024 \
             FROM (SELECT session_id, count(*) AS n, min(sent_at) AS first_at \
                   FROM chat_messages GROUP BY session_id) AS a \
             CROSS JOIN LATERAL (SELECT m.sent_at, m.message, m.sender_type FROM chat_messages m \
                 WHERE m.session_id = a.session_id ORDER BY m.sent_at DESC, m.id DESC LIMIT 1) AS l \
             ON CONFLICT (session_id) DO UPDATE SET client_id = excluded.client_id, \
                 message_count = excluded.message_count, \
                 first_message_at = excluded.first_message_at, \
                 last_message_at = excluded.last_message_at, \
                 last_message_preview = excluded.last_message_preview, \
                 last_sender_type = excluded.last_sender_type, \
                 append_seq = chat_sessions.append_seq + 1",
        )
        .execute(&mut **tx)
        .await?;
        Ok(())
    }
}

/// The batch statement bound to `rows` (session, text, sender, data type per row) and to this
/// process's `origin` (in its `NOTIFY`).
fn append_query<'q>(
    rows: &[&crate::store::append::NewMessage],
    origin: &str,
) -> sqlx::query::QueryAs<
    'q,
    Db,
    (i64, chrono::DateTime<chrono::Utc>, i64, i64),
    sqlx::postgres::PgArguments,
> {
    let sessions: Vec<uuid::Uuid> = rows.iter().map(|r| r.session_id.0).collect();
    let texts: Vec<String> = rows.iter().map(|r| r.message.clone()).collect();
    let senders: Vec<&'static str> = rows.iter().map(|r| r.sender_type.as_str()).collect();
    let kinds: Vec<&'static str> = rows.iter().map(|r| r.data_type.as_str()).collect();
    sqlx::query_as(APPEND_BATCH)
        .bind(sessions)
        .bind(texts)
        .bind(senders)
        .bind(kinds)
        .bind(origin.to_owned())
}

/// The stored messages of a batch, in the batch's order, from its `(id, sent_at, seq, n)` rows,
/// and each session's live-stream mark (its `append_seq` before and after the batch).
fn stored_messages(
    stored: Vec<(i64, chrono::DateTime<chrono::Utc>, i64, i64)>,
    rows: &[&crate::store::append::NewMessage],
) -> (Vec<crate::ChatMessage>, Vec<crate::streams::Mark>) {
    let mut marks: Vec<crate::streams::Mark> = Vec::new();
    let messages = stored
        .into_iter()
        .zip(rows)
        .map(|((id, sent_at, seq, n), row)| {
            if !marks.iter().any(|m| m.session == row.session_id) {
                marks.push(crate::streams::Mark {
                    session: row.session_id,
                    prev: Some(seq - n),
                    next: seq,
                });
            }
            crate::ChatMessage {
                id: crate::MessageId(id),
                session_id: row.session_id,
                message: row.message.clone(),
                sender_type: row.sender_type,
                data_type: row.data_type,
                sent_at,
            }
        })
        .collect();
    (messages, marks)
}

/// One batch of appends: lock (upsert) the session rows in session order, then insert the
/// messages in batch order under those locks, with the time taken under the lock. Each row
/// comes back with its session's `append_seq` after the batch and the batch's message count
/// in that session (the live-stream marks: `crate::streams::Mark`).
const APPEND_BATCH: &str = "\
WITH input AS (
    SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[]) WITH ORDINALITY
        AS t(session_id, message, sender_type, data_type, ord)
), per_session AS (
    SELECT DISTINCT ON (session_id) session_id, message, sender_type,
           count(*) OVER (PARTITION BY session_id) AS n
    FROM input ORDER BY session_id, ord DESC
), locked AS (
    INSERT INTO chat_sessions AS s (session_id, client_id, message_count, first_message_at,
                                    last_message_at, last_message_preview, last_sender_type,
                                    append_seq)
    SELECT p.session_id,
           (SELECT c.client_id FROM client_contexts c WHERE c.chat_session_id = p.session_id
            ORDER BY c.id LIMIT 1),
           p.n, p.now, p.now, left(p.message, 100), p.sender_type,
           (extract(epoch FROM p.now) * 1000000)::bigint * 1024 + p.n
    FROM (SELECT per_session.*, clock_timestamp() AS now FROM per_session) AS p
    ORDER BY p.session_id
    ON CONFLICT (session_id) DO UPDATE SET
        message_count = s.message_count + excluded.message_count,
        last_message_at = greatest(s.last_message_at, clock_timestamp()),
        last_message_preview = excluded.last_message_preview,
        last_sender_type = excluded.last_sender_type,
        append_seq = s.append_seq + excluded.message_count
    RETURNING s.session_id, s.last_message_at, s.append_seq
), inserted AS (
    INSERT INTO chat_messages (session_id, message, sender_type, data_type, sent_at)
    SELECT i.session_id, i.message, i.sender_type, i.data_type, l.last_message_at
    FROM input i JOIN locked l ON l.session_id = i.session_id
    ORDER BY i.ord
    RETURNING id, session_id, sent_at
), wake AS (
    -- One wake-up per batch for live streams of other servers (sent at commit): the batch's
    -- sessions, or `m*` when they would not fit in a NOTIFY payload, then `@` and this
    -- process's origin (its own streams got the rows in memory). A volatile CTE runs once.
    SELECT pg_notify('rivo_events', CASE WHEN count(*) > 200 THEN 'm*'
                     ELSE 'm' || string_agg(session_id::text, ',') END || '@' || $5::text)
    FROM locked
), outbox AS (
    -- message.created for each active endpoint that wants it (webhooks; none: no row).
    INSERT INTO webhook_deliveries (endpoint_id, event_id, event_type, message_id, session_id,
                                    created_at, next_attempt_at, retry_since)
    SELECT e.id, 'msg_' || n.id, 'message.created', n.id, n.session_id, t.us, t.us, t.us
    FROM webhook_endpoints e
    CROSS JOIN inserted n
    CROSS JOIN LATERAL (SELECT (extract(epoch FROM n.sent_at) * 1000000)::bigint AS us) t
    WHERE e.active AND (e.event_mask & 1) <> 0
)
SELECT n.id, n.sent_at, l.append_seq, p.n
FROM inserted n
JOIN locked l ON l.session_id = n.session_id
JOIN per_session p ON p.session_id = n.session_id
CROSS JOIN wake ORDER BY n.id";
