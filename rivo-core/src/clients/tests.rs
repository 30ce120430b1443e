use super::*;

#[test]
fn stages_round_trip_in_order() {
    assert_eq!(Stage::ALL.len(), 14);
    assert_eq!(Stage::default(), Stage::Lead);
    for s in Stage::ALL {
        assert_eq!(s.as_str().parse::<Stage>().unwrap(), s);
    }
    assert!(Stage::ALL.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(
        Stage::ApplicationInProcess.as_str(),
        "application_in_process"
    );
    assert!("Lead".parse::<Stage>().is_err());
}
