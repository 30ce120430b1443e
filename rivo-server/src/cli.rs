//! The command line: `rivo-server [serve|migrate|backup|openapi|check|import-django|
//! createsuperuser|changepassword|purge|export|erase|find-personal-data]`.

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
    /// Delete chat sessions whose last message is older than --older-than, with their messages
    /// (retention by hand; clients are kept). Skips when another run holds the lease.
    Purge {
        /// Age limit: days (`90d`), hours (`12h`) or seconds (`3600s`).
        #[arg(long, value_parser = parse_age)]
        older_than: std::time::Duration,
        /// Only report what would be deleted.
        #[arg(long)]
        dry_run: bool,
        /// Most sessions per batch (one short transaction each).
        #[arg(long, default_value_t = 500)]
        batch: u32,
    },
    /// Print one client's or one session's data to stdout: JSON, or a text or CSV transcript.
    Export {
        /// Output format.
        #[arg(long, value_enum, default_value = "json")]
        format: ExportFormat,
        /// What to export.
        #[command(subcommand)]
        target: Target,
    },
    /// Erase one client (its row, context, stage history, assignments and linked
    /// conversations) or one chat session for good, scrubbing earlier audit entries.
    Erase {
        /// Confirm: nothing is erased without it.
        #[arg(long)]
        yes: bool,
        /// What to erase.
        #[command(subcommand)]
        target: Target,
    },
    /// List messages of sessions linked to no client that contain an email or a phone number.
    FindPersonalData {
        /// An email (case-insensitive).
        #[arg(long, conflicts_with = "phone", required_unless_present = "phone")]
        email: Option<String>,
        /// A phone number (compared by its digits).
        #[arg(long)]
        phone: Option<String>,
        /// Most messages listed.
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
}

/// `90d`, `12h`, `3600s` (or a bare number of days).
pub fn parse_age(value: &str) -> Result<std::time::Duration, String> {
    let value = value.trim();
    let (number, unit) = match value.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&value[..i], c.to_ascii_lowercase()),
        _ => (value, 'd'),
    };
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{value:?} is not an age such as 90d, 12h or 3600s"))?;
    let seconds = match unit {
        'd' => n.checked_mul(86_400),
        'h' => n.checked_mul(3_600),
        's' => Some(n),
        _ => None,
    }
    .ok_or_else(|| format!("{value:?} is not an age such as 90d, 12h or 3600s"))?;
    if seconds == 0 {
        return Err("the age must be more than zero".into());
    }
    Ok(std::time::Duration::from_secs(seconds))
}

/// What `export` and `erase` act on.
#[derive(Debug, Subcommand)]
pub enum Target {
    /// One client (with its linked conversations).
    Client {
        /// The client's id.
        id: i64,
    },
    /// One chat session.
    Session {
        /// The session (a UUID).
        session_id: String,
    },
}

/// Output of `export`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ExportFormat {
    /// The typed export (`rivo_core::privacy::ClientExport` / `SessionExport`) as JSON.
    Json,
    /// A plain-text transcript of the conversations.
    Text,
    /// A CSV transcript (RFC 4180).
    Csv,
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
        Command::Purge {
            older_than,
            dry_run,
            batch,
        } => purge(&config, older_than, dry_run, batch).await,
        Command::Export { format, target } => export(&config, format, target).await,
        Command::Erase { yes, target } => erase(&config, yes, target).await,
        Command::FindPersonalData {
            email,
            phone,
            limit,
        } => find_personal_data(&config, email, phone, limit).await,
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

/// Opens and migrates the store, runs `f`, closes the store.
async fn with_store<T, F>(config: &Config, f: F) -> Result<T, BoxError>
where
    F: AsyncFnOnce(&rivo_core::Store) -> Result<T, BoxError>,
{
    let store = server::open_store(config).await?;
    store.migrate().await?;
    let result = f(&store).await;
    store.close().await;
    result
}

/// `rivo-server purge --older-than 90d [--dry-run]`.
async fn purge(
    config: &Config,
    older_than: std::time::Duration,
    dry_run: bool,
    batch: u32,
) -> Result<(), BoxError> {
    with_store(config, async |store| {
        if dry_run {
            let p = store.preview_retention(older_than).await?;
            println!(
                "Dry run: {} sessions with {} messages whose last message is before {} would be \
                 deleted.",
                p.sessions,
                p.messages,
                p.cutoff.to_rfc3339()
            );
            return Ok(());
        }
        let policy = rivo_core::privacy::RetentionPolicy {
            batch_size: batch.max(1),
            ..rivo_core::privacy::RetentionPolicy::new(older_than)
        };
        let report = store.run_retention(&policy).await?;
        if !report.ran {
            return Err("another retention run holds the lease; nothing was deleted".into());
        }
        println!(
            "Deleted {} sessions with {} messages (last message before {}) in {} batches.",
            report.sessions,
            report.messages,
            report.cutoff.to_rfc3339(),
            report.batches.len()
        );
        Ok(())
    })
    .await
}

fn session_arg(value: &str) -> Result<rivo_core::SessionId, BoxError> {
    value
        .parse()
        .map_err(|rule: rivo_core::Rule| format!("session {value:?}: {rule}").into())
}

/// `rivo-server export [--format json|text|csv] client ID | session UUID`.
async fn export(config: &Config, format: ExportFormat, target: Target) -> Result<(), BoxError> {
    use rivo_core::privacy::TranscriptFormat;
    let text = with_store(config, async |store| {
        let transcript = |format| match format {
            ExportFormat::Text => TranscriptFormat::Text,
            _ => TranscriptFormat::Csv,
        };
        Ok::<_, BoxError>(match target {
            Target::Client { id } => {
                let export = store.export_client(rivo_core::ClientId(id)).await?;
                match format {
                    ExportFormat::Json => serde_json::to_string_pretty(&export)?,
                    other => export.transcript(transcript(other)),
                }
            }
            Target::Session { session_id } => {
                let export = store.export_session(session_arg(&session_id)?).await?;
                match format {
                    ExportFormat::Json => serde_json::to_string_pretty(&export)?,
                    other => export.transcript(transcript(other)),
                }
            }
        })
    })
    .await?;
    print!("{text}");
    if matches!(format, ExportFormat::Json) {
        println!();
    }
    Ok(())
}

/// `rivo-server erase --yes client ID | session UUID`.
async fn erase(config: &Config, yes: bool, target: Target) -> Result<(), BoxError> {
    if !yes {
        return Err("erasing cannot be undone: repeat the command with --yes".into());
    }
    with_store(config, async |store| {
        match target {
            Target::Client { id } => {
                let e = store.erase_client(rivo_core::ClientId(id)).await?;
                println!(
                    "Erased client {}: {} sessions, {} messages, {} stage changes, {} \
                     assignments; {} earlier audit entries scrubbed.",
                    e.client_id,
                    e.sessions,
                    e.messages,
                    e.stage_changes,
                    e.assignments,
                    e.audit_entries_scrubbed
                );
            }
            Target::Session { session_id } => {
                let e = store.erase_session(session_arg(&session_id)?).await?;
                println!(
                    "Erased session {}: {} messages, {} client links cleared; {} earlier audit \
                     entries scrubbed.",
                    e.session_id, e.messages, e.links_cleared, e.audit_entries_scrubbed
                );
            }
        }
        Ok(())
    })
    .await
}

/// `rivo-server find-personal-data --email X | --phone Y`: one line per message.
async fn find_personal_data(
    config: &Config,
    email: Option<String>,
    phone: Option<String>,
    limit: u32,
) -> Result<(), BoxError> {
    use rivo_core::privacy::PersonalDataQuery;
    let query = match (email, phone) {
        (Some(email), _) => PersonalDataQuery::Email(email),
        (None, Some(phone)) => PersonalDataQuery::Phone(phone),
        (None, None) => return Err("give --email or --phone".into()),
    };
    let found = with_store(config, async |store| {
        store
            .find_unlinked_messages(&query, limit)
            .await
            .map_err(explain)
    })
    .await?;
    for m in &found {
        println!(
            "{}\t{}\t{}\t{}",
            m.session_id,
            m.id,
            m.sent_at.to_rfc3339(),
            m.message.replace(['\n', '\r', '\t'], " ")
        );
    }
    eprintln!("{} messages found.", found.len());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_age;

    #[test]
    fn ages_have_units() {
        assert_eq!(parse_age("90d").unwrap().as_secs(), 90 * 86_400);
        assert_eq!(parse_age("12h").unwrap().as_secs(), 12 * 3_600);
        assert_eq!(parse_age("3600s").unwrap().as_secs(), 3_600);
        assert_eq!(parse_age("7").unwrap().as_secs(), 7 * 86_400);
        assert!(parse_age("0d").is_err());
        assert!(parse_age("ninety").is_err());
        assert!(parse_age("5w").is_err());
    }
}
