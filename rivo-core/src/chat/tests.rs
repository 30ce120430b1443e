use super::*;

#[test]
fn cursor_round_trips() {
    let cursor = HistoryCursor {
        sent_at: DateTime::from_timestamp_micros(1_764_000_000_123_456).unwrap(),
        id: MessageId(42),
    };
    assert_eq!(cursor.to_string().parse::<HistoryCursor>().unwrap(), cursor);
    assert!("x.1".parse::<HistoryCursor>().is_err());
}

#[test]
fn data_type_round_trips_and_is_case_sensitive() {
    for t in DataType::ALL {
        assert_eq!(t.as_str().parse::<DataType>().unwrap(), t);
    }
    assert_eq!(DataType::default(), DataType::Message);
    assert!(DataType::Phone.is_contact() && !DataType::Message.is_contact());
    assert_eq!(
        "Email".parse::<DataType>().unwrap_err().to_string(),
        "\"Email\" is not a valid choice."
    );
}

#[test]
fn sender_type_is_case_sensitive() {
    assert_eq!("bot".parse::<SenderType>().unwrap(), SenderType::Bot);
    assert_eq!(
        "Bot".parse::<SenderType>().unwrap_err().to_string(),
        "\"Bot\" is not a valid choice."
    );
}
