//! The command line: `rivo-server [serve|migrate|backup|openapi|check|import-django|
//! createsuperuser|changepassword]`.

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
    /// Write a consistent copy of the SQLite database to FILE while servers keep running
    /// (`VACUUM INTO`). For PostgreSQL, explains `pg_dump`.
    Backup {
        /// The new database file to write (must not exist).
        file: std::path::PathBuf,
    },
    /// Print the OpenAPI spec (JSON) to stdout.
    Openapi,
    /// Validate the configuration, connect to the database and report pending migrations.
    Check {
        /// Also list every insecure setting (like Django's `check --deploy`); with DEBUG=False,
        /// fail when any is found.
        #[arg(long)]
        deploy: bool,
    },
    /// Create an active staff superuser. The password comes from RIVO_SUPERUSER_PASSWORD (for
    /// scripts) or a prompt.
    Createsuperuser {
        /// Login email.
        #[arg(long)]
        email: String,
        /// Username (default: the part of the email before `@`).
        #[arg(long)]
        username: Option<String>,
    },
    /// Set a user's password. The password comes from RIVO_PASSWORD (for scripts) or a prompt.
    /// Ends the user's sessions and tokens.
    Changepassword {
        /// The user's email.
        email: String,
    },
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
        Command::Backup { file } => server::backup(config, &file).await,
        Command::Check { deploy } => server::check(config, deploy).await,
        Command::ImportDjango { from, merge } => import_django(&config, &from, merge).await,
        Command::Createsuperuser { email, username } => {
            createsuperuser(&config, &email, username).await
        }
        Command::Changepassword { email } => changepassword(&config, &email).await,
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

/// The password from `env_var`, or asked twice on the terminal (or read from standard input).
fn new_password(env_var: &str) -> Result<String, BoxError> {
    if let Ok(password) = std::env::var(env_var) {
        return Ok(password);
    }
    let first = rpassword::prompt_password("Password: ")?;
    let again = rpassword::prompt_password("Password (again): ")?;
    if first != again {
        return Err("the two passwords differ".into());
    }
    Ok(first)
}

/// Explains a refused account change line by line.
fn explain(err: rivo_core::Error) -> BoxError {
    match err {
        rivo_core::Error::Validation(errors) => errors
            .iter()
            .map(|(field, rule)| format!("{field}: {rule}"))
            .collect::<Vec<_>>()
            .join("\n")
            .into(),
        other => other.to_string().into(),
    }
}

/// `rivo-server createsuperuser --email … [--username …]`.
async fn createsuperuser(
    config: &Config,
    email: &str,
    username: Option<String>,
) -> Result<(), BoxError> {
    let store = server::open_store(config).await?;
    store.migrate().await?;
    let username = username.unwrap_or_else(|| email.split('@').next().unwrap_or(email).to_owned());
    let password = new_password("RIVO_SUPERUSER_PASSWORD")?;
    let result = store
        .create_user(rivo_core::accounts::NewUser {
            is_staff: true,
            is_superuser: true,
            ..rivo_core::accounts::NewUser::new(email, username).password(password)
        })
        .await;
    store.close().await;
    let user = result.map_err(explain)?;
    println!("Superuser {} (id {}) created.", user.email, user.id);
    Ok(())
}

/// `rivo-server changepassword EMAIL`.
async fn changepassword(config: &Config, email: &str) -> Result<(), BoxError> {
    let store = server::open_store(config).await?;
    store.migrate().await?;
    let result = async {
        let user = store.user_by_email(email).await.map_err(|err| match err {
            rivo_core::Error::NotFound { .. } => format!("no user has the email {email:?}").into(),
            other => explain(other),
        })?;
        let password = new_password("RIVO_PASSWORD")?;
        store
            .set_password(user.id, &password)
            .await
            .map_err(explain)?;
        Ok::<_, BoxError>(user)
    }
    .await;
    store.close().await;
    let user = result?;
    println!(
        "Password changed for {}; their sessions and tokens were ended.",
        user.email
    );
    Ok(())
}
