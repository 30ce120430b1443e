use chrono::{DateTime, Utc};
use poem_openapi::types::Example;

use super::bodies::{CsmClientList, python_isoformat};

#[test]
fn times_are_python_isoformat() {
    let at = DateTime::parse_from_rfc3339("2026-12-01T23:28:45.954890Z")
        .unwrap()
        .with_timezone(&Utc);
    assert_eq!(python_isoformat(at), "2026-12-01T23:28:45.954890+00:00");
    let whole = DateTime::parse_from_rfc3339("2026-12-01T23:28:45Z")
        .unwrap()
        .with_timezone(&Utc);
    assert_eq!(python_isoformat(whole), "2026-12-01T23:28:45+00:00");
}

#[test]
fn stages_keep_pipeline_order() {
    let body = serde_json::to_string(&CsmClientList::example()).unwrap();
    let lead = body.find("\"lead\":\"Lead\"").unwrap();
    let contacted = body.find("\"contacted\":\"Contacted\"").unwrap();
    let rejected = body.find("\"rejected\":\"Rejected\"").unwrap();
    assert!(lead < contacted && contacted < rejected);
}
