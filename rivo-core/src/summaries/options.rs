//! How summaries are made: the provider, the model, the limits of one attempt.

use std::time::Duration;

use super::{DEFAULT_PROMPT, OPENAI_BASE_URL};
#[cfg(doc)]
use crate::store::Store;

/// How summaries are made. Set with [`Store::set_summary_options`].
#[derive(Clone, PartialEq, Eq)]
pub struct SummaryOptions {
    /// Sent as `Authorization: Bearer <key>` (and `api-key` to Azure hosts). Optional for
    /// servers that need none (Ollama, llama.cpp, vLLM without `--api-key`).
    pub api_key: Option<String>,
    /// The API root, e.g. `https://api.openai.com/v1`, `http://localhost:11434/v1` (Ollama),
    /// `http://localhost:8000/v1` (vLLM), `http://localhost:8080/v1` (llama.cpp),
    /// `https://NAME.openai.azure.com/openai/v1`. A query string (`?api-version=…`) is kept.
    /// With a key and no base URL: OpenAI's.
    pub base_url: Option<String>,
    /// The model name sent. Default `gpt-4o-mini`.
    pub model: String,
    /// The system message. Default [`DEFAULT_PROMPT`].
    pub prompt: String,
    /// One attempt's limit (connect, request and the whole answer). Default 60 s.
    pub timeout: Duration,
    /// Attempts before a job fails. Default 4.
    pub max_attempts: u32,
    /// The first retry waits this long, each further one twice as long (capped at 1 hour).
    /// Default 10 s.
    pub backoff_base: Duration,
    /// Most characters of conversation sent (the latest messages are kept). Default 24 000.
    pub max_transcript_chars: usize,
    /// Most messages read. Default 400.
    pub max_messages: u32,
    /// Most bytes of the provider's answer read; a larger answer is an error. Default 1 MiB.
    pub max_response_bytes: usize,
    /// `max_tokens` sent. Default 800.
    pub max_tokens: u32,
    /// Jobs one worker runs at once. Default 2.
    pub concurrency: usize,
    /// How often the worker looks for due jobs without being woken. Default 2 s.
    pub poll_interval: Duration,
}

impl std::fmt::Debug for SummaryOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SummaryOptions")
            .field("api_key", &self.api_key.as_ref().map(|_| "***"))
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("timeout", &self.timeout)
            .field("max_attempts", &self.max_attempts)
            .finish_non_exhaustive()
    }
}

impl Default for SummaryOptions {
    fn default() -> Self {
        Self {
            api_key: None,
            base_url: None,
            model: "gpt-4o-mini".into(),
            prompt: DEFAULT_PROMPT.into(),
            timeout: Duration::from_secs(60),
            max_attempts: 4,
            backoff_base: Duration::from_secs(10),
            max_transcript_chars: 24_000,
            max_messages: 400,
            max_response_bytes: 1024 * 1024,
            max_tokens: 800,
            concurrency: 2,
            poll_interval: Duration::from_secs(2),
        }
    }
}

impl SummaryOptions {
    /// Whether summaries are made: a key or a base URL is configured.
    pub fn enabled(&self) -> bool {
        self.api_key.as_deref().is_some_and(|k| !k.is_empty())
            || self.base_url.as_deref().is_some_and(|u| !u.is_empty())
    }

    /// The chat-completions URL called.
    pub fn endpoint(&self) -> String {
        let base = self
            .base_url
            .as_deref()
            .filter(|u| !u.is_empty())
            .unwrap_or(OPENAI_BASE_URL);
        let (path, query) = match base.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (base, None),
        };
        let mut url = format!("{}/chat/completions", path.trim_end_matches('/'));
        if let Some(q) = query {
            url.push('?');
            url.push_str(q);
        }
        url
    }

    /// How long a worker's claim lasts: twice the timeout plus 30 s.
    pub fn lease(&self) -> Duration {
        self.timeout * 2 + Duration::from_secs(30)
    }

    /// Why summaries are off, when they are.
    pub fn disabled_reason() -> &'static str {
        "AI summaries are disabled: set AI_INTEGRATIONS_OPENAI_API_KEY and/or \
         AI_INTEGRATIONS_OPENAI_BASE_URL."
    }
}
