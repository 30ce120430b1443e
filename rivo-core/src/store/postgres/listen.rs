//! The one `LISTEN` connection of a PostgreSQL store, which turns other servers' `NOTIFY`s
//! into wake-ups of this process's live streams.

use std::time::Duration;

use super::Backend;

impl Backend {
    /// Starts the one `LISTEN` task of a store (`None` behind a transaction-mode pooler, which
    /// cannot carry `LISTEN`: streams poll there). It holds one pool connection, forwards every
    /// notification to `wake`, and after a lost connection reconnects and wakes everyone.
    pub(crate) fn spawn_listener(
        &self,
        wake: tokio::sync::broadcast::Sender<crate::streams::Wake>,
        routes: std::sync::Arc<crate::streams::Routes>,
    ) -> Option<tokio::task::JoinHandle<()>> {
        if self.ext.pooler {
            return None;
        }
        let pool = self.write.pool.clone();
        Some(tokio::spawn(async move {
            use crate::streams::Wake;
            loop {
                let connected = async {
                    let mut listener = ::sqlx::postgres::PgListener::connect_with(&pool).await?;
                    listener.listen(crate::streams::CHANNEL).await?;
                    Ok::<_, ::sqlx::Error>(listener)
                }
                .await;
                let mut listener = match connected {
                    Ok(listener) => listener,
                    Err(::sqlx::Error::PoolClosed) => return,
                    Err(err) => {
                        tracing::warn!(%err, "live streams: LISTEN failed; retrying in 1 s");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                };
                // (Re)connected: whatever was sent meanwhile is in the database.
                let _ = wake.send(Wake::Everything);
                routes.look(&Wake::Everything);
                loop {
                    match listener.try_recv().await {
                        Ok(Some(n)) => {
                            let (w, origin) = Wake::from_payload(n.payload());
                            // This process's own batches reached its streams in memory.
                            if !routes.is_own(origin) {
                                routes.look(&w);
                                let _ = wake.send(w);
                            }
                        }
                        // Lost and re-established: look again.
                        Ok(None) => {
                            let _ = wake.send(Wake::Everything);
                            routes.look(&Wake::Everything);
                        }
                        Err(::sqlx::Error::PoolClosed) => return,
                        Err(err) => {
                            tracing::warn!(%err, "live streams: LISTEN connection failed");
                            tokio::time::sleep(Duration::from_secs(1)).await;
                            break;
                        }
                    }
                }
            }
        }))
    }
}
