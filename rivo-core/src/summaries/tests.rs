use serde_json::json;

use super::model::transcript;
use super::*;
use crate::chat::SenderType;

#[test]
fn answers_are_objects_with_fences_stripped() {
    let fenced = "```json\n{\"intent\": \"refinance\"}\n```";
    assert_eq!(
        parse_summary(fenced).unwrap().get("intent"),
        Some(&json!("refinance"))
    );
    assert!(parse_summary("```\n{\"a\": 1}\n```").is_ok());
    assert!(
        parse_summary("[1, 2]")
            .unwrap_err()
            .contains("not an object")
    );
    assert!(
        parse_summary("\"text\"")
            .unwrap_err()
            .contains("not an object")
    );
    assert!(
        parse_summary("Sure! Here you go")
            .unwrap_err()
            .contains("not valid JSON")
    );
}

#[test]
fn endpoints_keep_the_query_and_default_to_openai() {
    let mut o = SummaryOptions::default();
    assert!(!o.enabled());
    o.api_key = Some("k".into());
    assert!(o.enabled());
    assert_eq!(o.endpoint(), "https://api.openai.com/v1/chat/completions");
    o.base_url = Some("https://x.openai.azure.com/openai/v1/?api-version=preview".into());
    assert_eq!(
        o.endpoint(),
        "https://x.openai.azure.com/openai/v1/chat/completions?api-version=preview"
    );
    let ollama = SummaryOptions {
        base_url: Some("http://localhost:11434/v1".into()),
        ..Default::default()
    };
    assert!(ollama.enabled());
    assert!(!format!("{o:?}").contains("\"k\""));
}

#[test]
fn transcripts_keep_the_latest_messages() {
    let messages = vec![
        (SenderType::Client, "old old old old"),
        (SenderType::Bot, "hi"),
        (SenderType::Client, "refinance"),
    ];
    assert_eq!(
        transcript(&messages, 1000),
        "Client: old old old old\nBot: hi\nClient: refinance"
    );
    assert_eq!(
        transcript(&messages, 30),
        "[earlier messages omitted]\nBot: hi\nClient: refinance"
    );
}
