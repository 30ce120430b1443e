use super::export::csv_field;
use super::*;

#[test]
fn csv_fields_are_quoted_only_when_needed() {
    let mut out = String::new();
    for f in ["plain", "a,b", "say \"hi\"", "two\nlines", "cr\r", ""] {
        csv_field(&mut out, f);
        out.push('|');
    }
    assert_eq!(
        out,
        "plain|\"a,b\"|\"say \"\"hi\"\"\"|\"two\nlines\"|\"cr\r\"||"
    );
}

#[test]
fn phone_queries_keep_digits_and_refuse_letters_and_short_numbers() {
    assert_eq!(
        PersonalDataQuery::Phone("+1 (555) 010-9999".into())
            .needle()
            .unwrap(),
        "15550109999"
    );
    assert!(PersonalDataQuery::Phone("12345".into()).needle().is_err());
    assert!(
        PersonalDataQuery::Phone("555-CALL-NOW".into())
            .needle()
            .is_err()
    );
    assert!(PersonalDataQuery::Email("nobody".into()).needle().is_err());
    assert!(PersonalDataQuery::Email("  ".into()).needle().is_err());
}

#[test]
fn transcript_format_parses() {
    assert_eq!(
        "csv".parse::<TranscriptFormat>().unwrap(),
        TranscriptFormat::Csv
    );
    assert_eq!(
        "text".parse::<TranscriptFormat>().unwrap(),
        TranscriptFormat::Text
    );
    assert!("pdf".parse::<TranscriptFormat>().is_err());
}
