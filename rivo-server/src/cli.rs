//! The command line: `rivo-server [serve|migrate|openapi|check|import-django]`.

use std::net::SocketAddr;

use clap::{Parser, Subcommand};

use crate::config::Config;
use crate::server::{self, BoxError};

/// Rivo's HTTP server. Configured by environment variables (and a `.env` file): DATABASE_URL,
/// SECRET_KEY, DEBUG, ALLOWED_HOSTS, BIND_ADDRESS, PORT, CORS_ALLOWED_ORIGINS, RUST_LOG.
#[derive(Debug, Parser)]
#[command(name = "rivo-server", version, about, long_about = None)]
pub struct Cli {
    /// What to do; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply migrations and serve HTTP until SIGTERM/SIGINT (the default).
    Serve {
        /// Listen address, overriding BIND_ADDRESS and PORT (e.g. 127.0.0.1:8000).
        #[arg(long)]
        bind: Option<SocketAddr>,
    },
    /// Apply pending database migrations.
    Migrate,
    /// Print the OpenAPI spec (JSON) to stdout.
    Openapi,
    /// Validate the configuration, connect to the database and report pending migrations.
    Check,
    /// Copy the original Django app's database into DATABASE_URL (migrating it first) and print
    /// counts per table. Refuses a target that already holds data unless --merge.
    ImportDjango {
        /// PostgreSQL URL of the Django database (with Supabase: a direct connection or the
        /// session-mode pooler, not the transaction-mode pooler on port 6543).
        #[arg(long = "from", value_name = "POSTGRES_URL")]
        from: String,
        /// Import into a non-empty database, skipping rows whose id is already present.
        #[arg(long)]
        merge: bool,
    },
}

/// Runs the command line. The caller prints the error and exits non-zero.
pub async fn run(cli: Cli) -> Result<(), BoxError> {
    let command = cli.command.unwrap_or(Command::Serve { bind: None });
    if let Command::Openapi = command {
        println!("{}", crate::openapi_json());
        return Ok(());
    }
    let mut config = Config::from_env()?;
    match command {
        Command::Serve { bind } => {
            if let Some(bind) = bind {
                config.bind = bind;
            }
            server::serve(config).await
        }
        Command::Migrate => server::migrate(config).await,
        Command::Check => server::check(config).await,
        Command::ImportDjango { from, merge } => import_django(&config, &from, merge).await,
        Command::Openapi => Ok(()),
    }
}

/// `rivo-server import-django --from <url> [--merge]`: a thin call into
/// [`rivo_core::import::import_django`], printing its report.
async fn import_django(config: &Config, from: &str, merge: bool) -> Result<(), BoxError> {
    let store = server::open_store(config).await?;
    store.migrate().await?;
    let options = rivo_core::import::ImportOptions { merge };
    let result = rivo_core::import::import_django(from, &store, options).await;
    store.close().await;
    print!("{}", result?);
    Ok(())
}
