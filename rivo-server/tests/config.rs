//! Configuration: defaults, parsing, refusal to start insecurely, secrets kept out of output.

#![allow(clippy::unwrap_used)] // Test helpers: a failure should panic.

use std::collections::HashMap;
use std::process::Command;
use std::time::Duration;

use rivo_server::config::{DEFAULT_DATABASE_URL, DEVELOPMENT_SECRET_KEY};
use rivo_server::{Config, ConfigError};

fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let vars: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    Config::from_vars(|name| vars.get(name).cloned())
}

/// Asserts that each of `settings`, set alone, is refused with an error that names it.
fn assert_each_refused(settings: &[(&str, &str)]) {
    for &(name, value) in settings {
        let err = config(&[(name, value)]).unwrap_err();
        assert!(err.to_string().contains(name), "{name}={value}: {err}");
    }
}

/// Asserts that `c` lets every host of `allowed` in and refuses every host of `refused`.
fn assert_hosts(c: &Config, allowed: &[&str], refused: &[&str]) {
    for ok in allowed {
        assert!(c.host_allowed(ok), "{ok:?} refused");
    }
    for bad in refused {
        assert!(!c.host_allowed(bad), "{bad:?} allowed");
    }
}

#[test]
fn defaults_match_the_original() {
    let c = config(&[]).unwrap();
    assert_eq!(c.database_url, DEFAULT_DATABASE_URL);
    assert_eq!(c.database_url, "sqlite://rivo.sqlite3?mode=rwc");
    assert!(c.debug);
    assert_eq!(c.bind.to_string(), "0.0.0.0:5000");
    assert_eq!(c.allowed_hosts, None);
    assert!(c.cors_allowed_origins.is_empty());
    assert_eq!(c.max_body_bytes, 8 * 1024 * 1024);
    assert_eq!(c.db_timeout.as_secs(), 5);
    // DEBUG without ALLOWED_HOSTS: Django's local names only (it used to be any host; issue
    // 15, finding 9).
    assert!(c.host_allowed("localhost:5000"));
    assert!(!c.host_allowed("anything.example:1234"));
    assert!(c.check_secure().is_ok());
}

#[test]
fn debug_false_refuses_the_development_secret_key() {
    let err = config(&[("DEBUG", "False"), ("ALLOWED_HOSTS", "chat.example.com")])
        .unwrap()
        .check_secure()
        .unwrap_err();
    assert_eq!(err, ConfigError::InsecureSecretKey);
    assert!(err.to_string().contains("SECRET_KEY"));
    let err = config(&[
        ("DEBUG", "False"),
        ("SECRET_KEY", DEVELOPMENT_SECRET_KEY),
        ("ALLOWED_HOSTS", "chat.example.com"),
    ])
    .unwrap()
    .check_secure()
    .unwrap_err();
    assert_eq!(err, ConfigError::InsecureSecretKey);
}

#[test]
fn debug_false_refuses_unset_allowed_hosts() {
    for hosts in [None, Some(""), Some(" , ")] {
        let mut vars = vec![
            ("DEBUG", "False"),
            ("SECRET_KEY", "a-real-secret-0123456789"),
        ];
        if let Some(hosts) = hosts {
            vars.push(("ALLOWED_HOSTS", hosts));
        }
        let err = config(&vars).unwrap().check_secure().unwrap_err();
        assert_eq!(err, ConfigError::AllowedHostsUnset, "{hosts:?}");
        assert!(err.to_string().contains("ALLOWED_HOSTS"));
    }
}

#[test]
fn production_settings_are_accepted() {
    let c = config(&[
        ("DEBUG", "False"),
        ("SECRET_KEY", "a-real-secret-0123456789"),
        ("ALLOWED_HOSTS", "chat.example.com, .rivo.test"),
        ("PORT", "8080"),
        ("BIND_ADDRESS", "127.0.0.1"),
        (
            "CORS_ALLOWED_ORIGINS",
            "https://shop.example/, https://blog.example",
        ),
        ("RIVO_MAX_BODY_BYTES", "1024"),
        ("RIVO_DB_TIMEOUT_SECS", "2"),
    ])
    .unwrap();
    c.check_secure().unwrap();
    assert!(!c.debug);
    assert_eq!(c.bind.to_string(), "127.0.0.1:8080");
    assert_eq!(
        c.allowed_hosts,
        Some(vec!["chat.example.com".to_owned(), ".rivo.test".to_owned()])
    );
    assert_eq!(
        c.cors_allowed_origins,
        vec![
            "https://shop.example".to_owned(),
            "https://blog.example".to_owned()
        ]
    );
    assert_eq!(c.max_body_bytes, 1024);
    assert_eq!(c.db_timeout.as_secs(), 2);
}

#[test]
fn allowed_hosts_follow_django_rules() {
    let c = config(&[("ALLOWED_HOSTS", "chat.example.com,.rivo.test,[::1]")]).unwrap();
    assert_hosts(
        &c,
        &[
            "chat.example.com",
            "CHAT.Example.com:5000",
            "chat.example.com.",
            "rivo.test",
            "a.b.rivo.test:80",
            "[::1]:5000",
        ],
        &[
            "",
            "example.com",
            "evil-rivo.test",
            "chat.example.com.evil",
            "[::2]",
        ],
    );
    let any = config(&[("ALLOWED_HOSTS", "*")]).unwrap();
    assert!(any.host_allowed("whatever.example"));
}

/// Issue 15, finding 9: Django's `host_validation_re` first, then the patterns.
#[test]
fn host_syntax_is_checked_before_the_patterns() {
    let c = config(&[("ALLOWED_HOSTS", ".example.org,[::1]")]).unwrap();
    assert!(c.host_allowed("example.org"));
    assert!(c.host_allowed("www.example.org:8080"));
    for bad in [
        "evil.com/.example.org",
        "evil.com?.example.org",
        "evil.com#.example.org",
        "user@www.example.org",
        "evil.com\\.example.org",
        "www.example.org:",
        "www.example.org:80x",
        "www example.org",
        "www.example.org:80:80",
        "[::1",
        "[::1]x",
        "[zz::1]",
    ] {
        assert!(!c.host_allowed(bad), "{bad}");
        assert_eq!(rivo_server::config::host_domain(bad), None, "{bad}");
    }
    assert_eq!(
        rivo_server::config::host_domain("WWW.Example.org.:80").as_deref(),
        Some("www.example.org")
    );
    assert_eq!(
        rivo_server::config::host_domain("[::1]:5000").as_deref(),
        Some("[::1]")
    );
}

/// With `DEBUG=True` and no `ALLOWED_HOSTS`, only Django's local names pass (it used to be
/// every host).
#[test]
fn debug_without_allowed_hosts_allows_only_local_names() {
    let c = config(&[("DEBUG", "True")]).unwrap();
    assert_eq!(c.allowed_hosts, None);
    assert_hosts(
        &c,
        &[
            "localhost",
            "localhost:5000",
            "app.localhost",
            "127.0.0.1:8000",
            "[::1]:5000",
            // No Host header at all (HTTP/1.0, in-process calls): checked as `localhost`.
            "",
        ],
        &[
            "example.com",
            "10.0.0.7",
            "127.0.0.2",
            "localhost.evil.com",
            "[::2]",
        ],
    );
}

#[test]
fn invalid_values_are_refused_with_the_variable_name() {
    assert_each_refused(&[
        ("DEBUG", "maybe"),
        ("PORT", "http"),
        ("BIND_ADDRESS", "localhost:1"),
        ("RIVO_MAX_BODY_BYTES", "-1"),
    ]);
    for (value, debug) in [
        ("True", true),
        ("true", true),
        ("1", true),
        ("False", false),
        ("no", false),
    ] {
        assert_eq!(config(&[("DEBUG", value)]).unwrap().debug, debug, "{value}");
    }
}

#[test]
fn secrets_never_appear_in_debug_output() {
    let c = config(&[
        ("SECRET_KEY", "super-secret-key-value"),
        (
            "DATABASE_URL",
            "postgres://rivo:db-password@db.internal:5432/rivo",
        ),
    ])
    .unwrap();
    let shown = format!("{c:?}");
    assert!(!shown.contains("super-secret-key-value"), "{shown}");
    assert!(!shown.contains("db-password"), "{shown}");
    assert!(
        shown.contains("postgres://rivo:***@db.internal:5432/rivo"),
        "{shown}"
    );
}

#[test]
fn metrics_settings_are_parsed_checked_and_the_token_redacted() {
    let off = config(&[]).unwrap();
    assert!(!off.metrics_enabled(), "metrics are off by default");
    assert_eq!(
        (off.metrics_token.as_deref(), off.metrics_bind),
        (None, None)
    );

    let token = "a-metrics-token-that-is-long-enough-0123";
    let c = config(&[
        ("RIVO_METRICS_TOKEN", token),
        ("RIVO_METRICS_BIND", "127.0.0.1:9464"),
    ])
    .unwrap();
    assert!(c.metrics_enabled());
    assert_eq!(c.metrics_token.as_deref(), Some(token));
    assert_eq!(c.metrics_bind, Some("127.0.0.1:9464".parse().unwrap()));
    let shown = format!("{c:?}");
    assert!(!shown.contains(token), "{shown}");
    assert!(shown.contains("metrics_token: Some(\"***\")"), "{shown}");
    let ids = |c: &Config| -> Vec<&str> { c.deploy_checklist().iter().map(|i| i.id).collect() };
    assert!(!ids(&c).contains(&"rivo.W020") && !ids(&c).contains(&"rivo.W021"));

    // Only a bind address: on, no token.
    let c = config(&[("RIVO_METRICS_BIND", "[::1]:9464")]).unwrap();
    assert!(c.metrics_enabled() && c.metrics_token.is_none());

    let err = config(&[("RIVO_METRICS_BIND", "localhost")]).unwrap_err();
    assert!(err.to_string().contains("RIVO_METRICS_BIND"), "{err}");

    // The checklist: a short token, and a public metrics port without a token.
    let c = config(&[("RIVO_METRICS_TOKEN", "tok3n")]).unwrap();
    assert!(ids(&c).contains(&"rivo.W020"));
    assert!(
        !c.deploy_checklist()
            .iter()
            .any(|i| i.message.contains("tok3n"))
    );
    let c = config(&[("RIVO_METRICS_BIND", "0.0.0.0:9464")]).unwrap();
    assert!(ids(&c).contains(&"rivo.W021"));
}

/// The real binary refuses to start insecurely, says why, and never prints the secret.
#[test]
fn binary_refuses_to_start_insecurely() {
    let dir = tempfile::tempdir().unwrap();
    for (vars, expected) in [
        (
            vec![("DEBUG", "False"), ("ALLOWED_HOSTS", "chat.example.com")],
            "SECRET_KEY",
        ),
        (
            vec![("DEBUG", "False"), ("SECRET_KEY", "top-secret-value-123")],
            "ALLOWED_HOSTS",
        ),
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_rivo-server"))
            .arg("serve")
            .current_dir(dir.path())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DATABASE_URL", "sqlite://refused.sqlite3?mode=rwc")
            .envs(vars)
            .output()
            .unwrap();
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("refusing to start"), "{stderr}");
        assert!(stderr.contains(expected), "{stderr}");
        assert!(!stderr.contains("top-secret-value-123"), "{stderr}");
        // Nothing was created: the refusal comes before the database is opened.
        assert!(!dir.path().join("refused.sqlite3").exists());
    }
}

/// `check` validates the configuration, connects and reports pending migrations.
#[test]
fn check_reports_pending_migrations_then_migrate_applies_them() {
    let dir = tempfile::tempdir().unwrap();
    let run = |cmd: &str| {
        Command::new(env!("CARGO_BIN_EXE_rivo-server"))
            .arg(cmd)
            .current_dir(dir.path())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("SECRET_KEY", "top-secret-value-123")
            .output()
            .unwrap()
    };
    let check = run("check");
    let stdout = String::from_utf8_lossy(&check.stdout);
    assert!(
        check.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(stdout.contains("pending"), "{stdout}");
    assert!(!stdout.contains("top-secret-value-123"), "{stdout}");
    // The default database is an SQLite file in the working directory.
    assert!(dir.path().join("rivo.sqlite3").exists());
    let migrate = run("migrate");
    assert!(migrate.status.success());
    let check = run("check");
    let stdout = String::from_utf8_lossy(&check.stdout);
    assert!(stdout.contains("migrations: up to date"), "{stdout}");
}

#[test]
fn openapi_command_prints_the_spec() {
    let output = Command::new(env!("CARGO_BIN_EXE_rivo-server"))
        .arg("openapi")
        .output()
        .unwrap();
    assert!(output.status.success());
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim_end(),
        rivo_server::openapi_json()
    );
}

/// A `.env` file in the working directory is read; real environment variables win over it.
#[test]
fn dotenv_file_is_read() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(".env"),
        "DEBUG=False\nALLOWED_HOSTS=chat.example.com\nDATABASE_URL=sqlite://from-dotenv.sqlite3?mode=rwc\n",
    )
    .unwrap();
    let run = |extra: &[(&str, &str)]| {
        Command::new(env!("CARGO_BIN_EXE_rivo-server"))
            .arg("check")
            .current_dir(dir.path())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(extra.iter().copied())
            .output()
            .unwrap()
    };
    let refused = run(&[]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("SECRET_KEY"));
    let accepted = run(&[("SECRET_KEY", "top-secret-value-123")]);
    assert!(
        accepted.status.success(),
        "{}",
        String::from_utf8_lossy(&accepted.stderr)
    );
    assert!(dir.path().join("from-dotenv.sqlite3").exists());
}

#[test]
fn webhook_settings_are_read_and_checked() {
    let defaults = config(&[]).unwrap().webhooks;
    assert!(!defaults.allow_private);
    assert!(defaults.allow_networks.is_empty());
    assert_eq!(defaults.max_age, Duration::from_secs(3 * 24 * 3600));
    let c = config(&[
        ("RIVO_WEBHOOK_ALLOW_PRIVATE", "True"),
        ("RIVO_WEBHOOK_ALLOW_NETWORKS", "10.0.0.0/8, fd00::/8"),
        ("RIVO_WEBHOOK_TIMEOUT_SECS", "3"),
        ("RIVO_WEBHOOK_MAX_AGE_SECS", "60"),
        ("RIVO_WEBHOOK_BACKOFF_BASE_MS", "250"),
        ("RIVO_WEBHOOK_BACKOFF_CAP_SECS", "30"),
        ("RIVO_WEBHOOK_CONCURRENCY", "4"),
        ("RIVO_WEBHOOK_RETENTION_DAYS", "2"),
    ])
    .unwrap()
    .webhooks;
    assert!(c.allow_private);
    assert_eq!(c.allow_networks.len(), 2);
    assert!(c.allow_networks[0].contains("10.9.8.7".parse().unwrap()));
    assert_eq!(c.timeout, Duration::from_secs(3));
    assert_eq!(c.max_age, Duration::from_secs(60));
    assert_eq!(c.backoff_base, Duration::from_millis(250));
    assert_eq!(c.backoff_cap, Duration::from_secs(30));
    assert_eq!(c.concurrency, 4);
    assert_eq!(c.delivered_retention, Duration::from_secs(2 * 86_400));
    assert_each_refused(&[
        ("RIVO_WEBHOOK_ALLOW_NETWORKS", "10.0.0.0/40"),
        ("RIVO_WEBHOOK_ALLOW_NETWORKS", "intranet"),
        ("RIVO_WEBHOOK_ALLOW_PRIVATE", "maybe"),
        ("RIVO_WEBHOOK_MAX_AGE_SECS", "-1"),
    ]);
}

#[test]
fn summary_settings_are_read_and_checked() {
    let defaults = config(&[]).unwrap().summaries;
    assert!(!defaults.enabled(), "no key and no base URL: disabled");
    assert_eq!(defaults.model, "gpt-4o-mini");
    // A key alone: OpenAI's API.
    let c = config(&[("AI_INTEGRATIONS_OPENAI_API_KEY", "sk-test-secret")])
        .unwrap()
        .summaries;
    assert!(c.enabled());
    assert_eq!(c.endpoint(), "https://api.openai.com/v1/chat/completions");
    let dir = tempfile::tempdir().unwrap();
    let prompt = dir.path().join("prompt.txt");
    std::fs::write(&prompt, "Return {\"intent\": …} only.").unwrap();
    // A base URL alone (Ollama needs no key), with our own settings.
    let c = config(&[
        (
            "AI_INTEGRATIONS_OPENAI_BASE_URL",
            "http://localhost:11434/v1/",
        ),
        ("RIVO_AI_MODEL", "llama3.1:8b"),
        ("RIVO_AI_TIMEOUT_SECS", "15"),
        ("RIVO_AI_MAX_ATTEMPTS", "2"),
        ("RIVO_AI_PROMPT_FILE", prompt.to_str().unwrap()),
        ("RIVO_AI_MAX_TRANSCRIPT_CHARS", "5000"),
    ])
    .unwrap();
    let s = &c.summaries;
    assert!(s.enabled());
    assert_eq!(s.endpoint(), "http://localhost:11434/v1/chat/completions");
    assert_eq!(s.model, "llama3.1:8b");
    assert_eq!(s.timeout, Duration::from_secs(15));
    assert_eq!(s.max_attempts, 2);
    assert_eq!(s.prompt, "Return {\"intent\": …} only.");
    assert_eq!(s.max_transcript_chars, 5000);
    // The key never appears in the debug output.
    let c = config(&[("AI_INTEGRATIONS_OPENAI_API_KEY", "sk-test-secret")]).unwrap();
    assert!(!format!("{c:?}").contains("sk-test-secret"));
    assert_each_refused(&[
        ("AI_INTEGRATIONS_OPENAI_BASE_URL", "localhost:11434"),
        ("AI_INTEGRATIONS_OPENAI_BASE_URL", "ftp://example.com/v1"),
        ("RIVO_AI_PROMPT_FILE", "/nonexistent/prompt.txt"),
        ("RIVO_AI_TIMEOUT_SECS", "soon"),
        ("RIVO_AI_MAX_ATTEMPTS", "-1"),
    ]);
}

#[test]
fn chat_contract_and_lead_capture_settings_are_read_and_checked() {
    use rivo_core::leads::{AssignmentRule, LeadCaptureOptions};
    use rivo_server::config::ChatCompat;
    let c = config(&[]).unwrap();
    assert_eq!(c.chat_compat, ChatCompat::Original);
    assert_eq!(c.lead_capture, LeadCaptureOptions::default());
    for (value, expected) in [
        ("original", ChatCompat::Original),
        ("lead-capture", ChatCompat::LeadCapture),
        (" Lead-Capture ", ChatCompat::LeadCapture),
    ] {
        assert_eq!(
            config(&[("RIVO_CHAT_COMPAT", value)]).unwrap().chat_compat,
            expected
        );
    }
    let c = config(&[
        ("RIVO_LEAD_ANY_SENDER", "True"),
        ("RIVO_LEAD_ASSIGN_ROLE", "CSM"),
        ("RIVO_LEAD_ASSIGN_CAP", "7"),
    ])
    .unwrap();
    assert_eq!(
        c.lead_capture,
        LeadCaptureOptions {
            any_sender: true,
            assignment: AssignmentRule::RoundRobin {
                role: "CSM".into(),
                cap: 7
            },
        }
    );
    assert_eq!(
        config(&[("RIVO_LEAD_ASSIGN_ROLE", "CSM")])
            .unwrap()
            .lead_capture
            .assignment,
        AssignmentRule::RoundRobin {
            role: "CSM".into(),
            cap: 50
        }
    );
    assert_each_refused(&[
        ("RIVO_CHAT_COMPAT", "later"),
        ("RIVO_LEAD_ANY_SENDER", "sometimes"),
        ("RIVO_LEAD_ASSIGN_CAP", "0"),
        ("RIVO_LEAD_ASSIGN_CAP", "many"),
    ]);
}

/// A `DATABASE_URL` rivo cannot use is a configuration error: `serve` and `check` refuse to
/// start and say so (never a 503 "unavailable" later), and if an embedder's request meets one
/// it is a 500, not a 503.
#[test]
fn a_bad_database_url_scheme_is_a_configuration_error() {
    let dir = tempfile::tempdir().unwrap();
    for cmd in ["serve", "check"] {
        let output = Command::new(env!("CARGO_BIN_EXE_rivo-server"))
            .arg(cmd)
            .current_dir(dir.path())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("SECRET_KEY", "top-secret-value-123")
            .env("DATABASE_URL", "mysql://rivo:hunter2@localhost/rivo")
            .env("DEBUG", "True")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{cmd}: {stderr}");
        assert!(stderr.contains("configuration error"), "{cmd}: {stderr}");
        assert!(
            stderr.contains("unsupported database URL scheme"),
            "{cmd}: {stderr}"
        );
        assert!(!stderr.contains("hunter2"), "{cmd}: {stderr}");
    }
    let err = rivo_server::ApiError::from(rivo_core::Error::Config("bad URL".into()));
    assert_eq!(
        poem::error::ResponseError::status(&err),
        poem::http::StatusCode::INTERNAL_SERVER_ERROR
    );
}
