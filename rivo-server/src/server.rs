//! Running the server: open the store, migrate, serve until SIGTERM/SIGINT.

use futures_util::future::BoxFuture;
use rivo_core::{Store, StoreOptions};

use crate::config::Config;

/// Any failure of a CLI command; its `Display` is printed to the operator.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Opens the store of `config` (creating an SQLite file if needed) for a command run by an
/// operator (`migrate`, `import-django`, `backup`, …): no statement timeout, since those
/// statements serve no request and may rightly take minutes on a big database. Does not migrate.
pub async fn open_store(config: &Config) -> Result<Store, BoxError> {
    open_store_with(config, None).await
}

/// The store `serve` answers requests from: the database gives up on a statement when the
/// request it serves has timed out (`RIVO_REQUEST_TIMEOUT_SECS`).
async fn open_serving_store(config: &Config) -> Result<Store, BoxError> {
    open_store_with(
        config,
        Some(config.request_timeout).filter(|t| !t.is_zero()),
    )
    .await
}

async fn open_store_with(
    config: &Config,
    statement_timeout: Option<std::time::Duration>,
) -> Result<Store, BoxError> {
    let options = StoreOptions {
        max_connections: config.db_max_connections,
        acquire_timeout: config.db_timeout,
        append_batch_max: config.append_batch_max,
        append_writers: config.append_writers,
        statement_timeout,
        transaction_pooler: config.db_pooler_transaction,
        ..StoreOptions::default()
    };
    Store::open_with(&config.database_url, options)
        .await
        .map_err(|err| {
            format!(
                "cannot open database {}: {err}",
                config.database_url_redacted()
            )
            .into()
        })
}

/// `rivo-server serve`: refuses insecure production settings, applies migrations, serves until
/// SIGTERM or SIGINT, then finishes the requests in flight (up to
/// `RIVO_SHUTDOWN_TIMEOUT_SECS`) and closes the database.
pub async fn serve(config: Config) -> Result<(), BoxError> {
    config.check_secure()?;
    // Before the store opens, so the store's first metrics are kept.
    crate::observability::install(&config);
    rivo_core::accounts::set_max_concurrent_hashes(config.max_concurrent_hashes);
    let store = open_serving_store(&config).await?;
    // One server process per SQLite file (a second one would break the id order of history):
    // held until this function returns, released by the OS however the process ends.
    let _lock = store.lock_exclusive()?;
    store
        .migrate()
        .await
        .map_err(|err| format!("applying migrations failed: {err}"))?;
    let fd_limit = crate::http::raise_fd_limit();
    let max_connections = match fd_limit {
        // Leave descriptors for the database pool, log files and the listener.
        Some(limit) => config
            .max_connections
            .min(usize::try_from(limit.saturating_sub(128)).unwrap_or(usize::MAX))
            .max(1),
        None => config.max_connections,
    };
    let listener = tokio::net::TcpListener::bind(config.bind)
        .await
        .map_err(|err| format!("cannot listen on {}: {err}", config.bind))?;
    tracing::info!(
        fd_limit,
        max_connections,
        header_read_timeout_secs = config.header_read_timeout.as_secs(),
        "connection limits"
    );
    tracing::info!(
        bind = %config.bind,
        database = %config.database_url_redacted(),
        debug = config.debug,
        "rivo-server listening on http://{}",
        config.bind
    );
    let purger = spawn_purger(store.clone(), &config);
    let metrics_server = match config.metrics_bind {
        Some(bind) => {
            let listener = tokio::net::TcpListener::bind(bind)
                .await
                .map_err(|err| format!("cannot listen on RIVO_METRICS_BIND={bind}: {err}"))?;
            tracing::info!(%bind, "metrics on http://{bind}/metrics");
            let endpoint = crate::observability::dedicated_endpoint(
                store.with_limits(config.limits.clone()),
                std::sync::Arc::new(config.clone()),
            );
            let limits = crate::http::HttpLimits {
                header_read_timeout: config.header_read_timeout,
                max_connections: 64,
                shutdown_timeout: std::time::Duration::from_secs(1),
            };
            Some(tokio::spawn(crate::http::serve_http(
                listener,
                endpoint,
                limits,
                std::future::pending::<()>(),
            )))
        }
        None => None,
    };
    let retention = spawn_retention(store.clone(), &config);
    let (webhooks, stop_webhooks) = spawn_webhook_worker(store.clone(), &config);
    let (summaries, stop_summaries) = spawn_summary_worker(store.clone(), &config);
    let limits = crate::http::HttpLimits {
        header_read_timeout: config.header_read_timeout,
        max_connections,
        shutdown_timeout: config.shutdown_timeout,
    };
    crate::http::serve_http(listener, crate::app(store.clone(), config), limits, async {
        shutdown_signal().await;
        crate::events::end_all_streams();
    })
    .await?;
    if let Some(purger) = purger {
        purger.abort();
    }
    if let Some(metrics_server) = metrics_server {
        metrics_server.abort();
    }
    if let Some(retention) = retention {
        retention.abort();
    }
    // The webhook attempts in flight finish (each bounded by RIVO_WEBHOOK_TIMEOUT_SECS).
    let _ = stop_webhooks.send(());
    let _ = webhooks.await;
    // The summary calls in flight finish (each bounded by RIVO_AI_TIMEOUT_SECS).
    let _ = stop_summaries.send(());
    let _ = summaries.await;
    store.close().await;
    tracing::info!("rivo-server stopped");
    Ok(())
}

/// Starts the background task that deletes expired tokens, sessions and login failures every
/// `RIVO_PURGE_INTERVAL_SECS` ([`Store::purge_expired_every`]); `None` when the interval is
/// zero. `serve` aborts it at shutdown. Several servers on one database may all run it.
pub fn spawn_purger(store: Store, config: &Config) -> Option<tokio::task::JoinHandle<()>> {
    if config.purge_interval.is_zero() {
        return None;
    }
    let policy = config.login_policy.clone();
    let every = config.purge_interval;
    Some(tokio::spawn(async move {
        store.purge_expired_every(policy, every).await
    }))
}

/// The retention policy of `RIVO_CHAT_RETENTION_DAYS` (`None` when it is off).
pub fn retention_policy(config: &Config) -> Option<rivo_core::privacy::RetentionPolicy> {
    (config.chat_retention_days > 0).then(|| rivo_core::privacy::RetentionPolicy {
        batch_size: config.chat_retention_batch,
        ..rivo_core::privacy::RetentionPolicy::new(std::time::Duration::from_secs(
            u64::from(config.chat_retention_days) * 86_400,
        ))
    })
}

/// Starts the background task of chat retention ([`Store::run_retention_every`]) when
/// `RIVO_CHAT_RETENTION_DAYS` is set; `None` otherwise. Several servers on one database run
/// it once per `RIVO_CHAT_RETENTION_INTERVAL_SECS` between them (a lease row).
pub fn spawn_retention(store: Store, config: &Config) -> Option<tokio::task::JoinHandle<()>> {
    let policy = retention_policy(config)?;
    let every = config.chat_retention_interval;
    Some(tokio::spawn(async move {
        store.run_retention_every(policy, every).await
    }))
}

/// Starts the webhook delivery worker ([`Store::run_webhook_worker`]) with the
/// `RIVO_WEBHOOK_*` settings; it stops (letting attempts in flight finish) when the returned
/// sender sends or is dropped. Several servers on one database share the deliveries.
pub fn spawn_webhook_worker(store: Store, config: &Config) -> StoppableTask {
    store.set_webhook_options(config.webhooks.clone());
    spawn_stoppable(move |shutdown| async move { store.run_webhook_worker(shutdown).await })
}

/// Starts the AI summary worker ([`Store::run_summary_worker`]) with the
/// `AI_INTEGRATIONS_OPENAI_*` / `RIVO_AI_*` settings, off the request path; it stops (letting
/// the calls in flight finish) when the returned sender sends or is dropped. It idles while
/// summaries are disabled. Several servers on one database share the jobs.
pub fn spawn_summary_worker(store: Store, config: &Config) -> StoppableTask {
    store.set_summary_options(config.summaries.clone());
    if config.summaries.enabled() {
        tracing::info!(endpoint = %config.summaries.endpoint(), model = %config.summaries.model,
            "AI summaries enabled");
    } else {
        tracing::info!(
            "{}",
            rivo_core::summaries::SummaryOptions::disabled_reason()
        );
    }
    spawn_stoppable(move |shutdown| async move { store.run_summary_worker(shutdown).await })
}

/// A background task and the sender that asks it to stop (sending or dropping it).
pub type StoppableTask = (
    tokio::task::JoinHandle<()>,
    tokio::sync::oneshot::Sender<()>,
);

/// Spawns the future `task` makes of its shutdown signal: a future that resolves when the
/// returned sender sends or is dropped.
fn spawn_stoppable<F>(task: impl FnOnce(BoxFuture<'static, ()>) -> F) -> StoppableTask
where
    F: Future<Output = ()> + Send + 'static,
{
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let shutdown = Box::pin(async {
        let _ = stopped.await;
    });
    (tokio::spawn(task(shutdown)), stop)
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(%err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::error!(%err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutdown signal received, finishing requests in flight");
}

/// `rivo-server backup FILE`: writes a consistent copy of an SQLite database to `FILE`
/// (which must not exist) while servers keep running; on PostgreSQL, fails with how to use
/// `pg_dump` instead.
pub async fn backup(config: Config, file: &std::path::Path) -> Result<(), BoxError> {
    if rivo_core::BackendKind::from_url(&config.database_url)
        == Some(rivo_core::BackendKind::Postgres)
    {
        return Err(
            "DATABASE_URL is PostgreSQL: back it up with `pg_dump --format=custom \
             --file=FILE \"$DATABASE_URL\"` (online and consistent; restore with `pg_restore \
             --dbname=\"$DATABASE_URL\" FILE`)"
                .into(),
        );
    }
    if file.exists() {
        return Err(format!("{} already exists: choose a new file", file.display()).into());
    }
    let store = open_store(&config).await?;
    let result = store.backup(file).await;
    store.close().await;
    result.map_err(|err| format!("backup to {} failed: {err}", file.display()))?;
    println!("Backup written to {}", file.display());
    Ok(())
}

/// `rivo-server migrate`: applies pending migrations and lists them.
pub async fn migrate(config: Config) -> Result<(), BoxError> {
    let store = open_store(&config).await?;
    let pending = store.pending_migrations().await?;
    store.migrate().await?;
    if pending.is_empty() {
        println!("No migrations to apply.");
    } else {
        for name in pending {
            println!("Applied {name}");
        }
    }
    store.close().await;
    Ok(())
}

/// `rivo-server check [--deploy]`: validates the configuration (as `serve` would), connects and
/// reports pending migrations. Fails when the configuration is refused or the database is
/// unreachable. With `deploy`, first lists every insecure setting
/// ([`Config::deploy_checklist`]) and, with `DEBUG=False`, fails when any is found.
pub async fn check(config: Config, deploy: bool) -> Result<(), BoxError> {
    println!("configuration: {config:?}");
    let issues = if deploy {
        config.deploy_checklist()
    } else {
        Vec::new()
    };
    if deploy {
        if issues.is_empty() {
            println!("deployment checklist: no issues");
        } else {
            println!("deployment checklist: {} issue(s):", issues.len());
            for issue in &issues {
                println!("  {issue}");
            }
        }
    }
    config.check_secure()?;
    let store = open_store(&config).await?;
    store.ping().await.map_err(|err| {
        format!(
            "database {} unreachable: {err}",
            config.database_url_redacted()
        )
    })?;
    println!("database: reachable ({:?})", store.kind());
    let pending = store.pending_migrations().await?;
    if pending.is_empty() {
        println!("migrations: up to date");
    } else {
        println!(
            "migrations: {} pending (applied by `rivo-server migrate` or on `serve`):",
            pending.len()
        );
        for name in pending {
            println!("  {name}");
        }
    }
    store.close().await;
    if !issues.is_empty() && !config.debug {
        return Err(format!(
            "{} insecure setting(s) with DEBUG=False (listed above)",
            issues.len()
        )
        .into());
    }
    println!("OK");
    Ok(())
}
