//! The bodies of the CSM client API, in the later original's shapes.

use std::collections::BTreeMap;

use chrono::{DateTime, Timelike, Utc};
use poem_openapi::Object;
use rivo_core::Stage;
use rivo_core::client_views::{ClientOverview, HistoryEntry};
use serde::{Serialize, Serializer};

use super::DEFAULT_LIMIT;
use crate::admin::examples::examples;

/// Python's `datetime.isoformat()` of a UTC time: `2026-12-01T23:28:45.954890+00:00`, the
/// fraction left out when it is zero.
pub fn python_isoformat(at: DateTime<Utc>) -> String {
    if at.nanosecond() / 1000 == 0 {
        at.format("%Y-%m-%dT%H:%M:%S+00:00").to_string()
    } else {
        at.format("%Y-%m-%dT%H:%M:%S%.6f+00:00").to_string()
    }
}

/// The stage label map in pipeline order (`{"lead": "Lead", "contacted": "Contacted", …}`).
pub(super) fn stage_labels() -> BTreeMap<String, String> {
    Stage::ALL
        .iter()
        .map(|s| (s.as_str().to_owned(), s.label().to_owned()))
        .collect()
}

/// Writes the stage label map in pipeline order (the original's dict order), not sorted.
fn serialize_stages<S: Serializer>(
    map: &BTreeMap<String, String>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut out = serializer.serialize_map(Some(map.len()))?;
    for stage in Stage::ALL {
        if let Some(label) = map.get(stage.as_str()) {
            out.serialize_entry(stage.as_str(), label)?;
        }
    }
    out.end()
}

/// A client in the list.
#[derive(Debug, Object, Serialize)]
pub struct CsmClient {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Email (may be empty).
    pub email: String,
    /// Phone (may be empty).
    pub phone: String,
    /// The stage code, e.g. `lead` (labels in `stages`).
    pub stage: String,
    /// The email of the user holding the active assignment; `null` when unassigned.
    pub assigned_to: Option<String>,
    /// The client's context (a JSON object; the AI summary is under `ai_summary`).
    pub context: serde_json::Value,
}

impl From<ClientOverview> for CsmClient {
    fn from(o: ClientOverview) -> Self {
        Self {
            id: o.client.id.0,
            name: o.client.name,
            email: o.client.email,
            phone: o.client.phone,
            stage: o.client.current_stage.as_str().to_owned(),
            assigned_to: o.assigned_to,
            context: serde_json::Value::Object(o.context),
        }
    }
}

/// The client list: the original's `{"clients", "stages"}` plus the paging keys.
#[derive(Debug, Object, Serialize)]
#[oai(example)]
pub struct CsmClientList {
    /// This page's clients, newest first.
    pub clients: Vec<CsmClient>,
    /// Stage code → label, in pipeline order.
    #[serde(serialize_with = "serialize_stages")]
    pub stages: BTreeMap<String, String>,
    /// This page (from 1).
    pub page: u64,
    /// Rows per page.
    pub limit: u32,
    /// Whether the next page has rows.
    pub has_more: bool,
}

/// One stage history entry.
#[derive(Debug, Object, Serialize)]
pub struct CsmHistory {
    /// The stage before (`null` for the first entry).
    pub from: Option<String>,
    /// The stage after.
    pub to: String,
    /// The email of who changed it (`null`: the system or a deleted user).
    pub by: Option<String>,
    /// When, as Python's `isoformat()` (`…+00:00`).
    pub at: String,
}

impl From<HistoryEntry> for CsmHistory {
    fn from(h: HistoryEntry) -> Self {
        Self {
            from: h.from.map(|s| s.as_str().to_owned()),
            to: h.to.as_str().to_owned(),
            by: h.by,
            at: python_isoformat(h.at),
        }
    }
}

/// One client, its history and the stage labels.
#[derive(Debug, Object, Serialize)]
#[oai(example)]
pub struct CsmClientDetail {
    /// The client (`assigned_to` is an addition to the original's keys).
    pub client: CsmClient,
    /// Stage history, newest first (at most 500 entries).
    pub history: Vec<CsmHistory>,
    /// Stage code → label, in pipeline order.
    #[serde(serialize_with = "serialize_stages")]
    pub stages: BTreeMap<String, String>,
}

/// A client to create.
#[derive(Debug, Object)]
#[oai(example)]
pub struct CsmCreateRequest {
    /// Name (required, 1 to 255 characters).
    pub name: String,
    /// Email (checked; may be empty).
    pub email: Option<String>,
    /// Phone (at most 20 characters; may be empty).
    pub phone: Option<String>,
    /// First stage (default `lead`; a known stage code).
    pub stage: Option<String>,
}

/// Changes to a client, made together in one transaction; absent keys stay as they are.
#[derive(Debug, Object)]
#[oai(example)]
pub struct CsmUpdateRequest {
    /// Name (1 to 255 characters).
    pub name: Option<String>,
    /// Email (checked).
    pub email: Option<String>,
    /// Phone (at most 20 characters).
    pub phone: Option<String>,
    /// A known stage code; writes a stage history entry by the caller when it changes.
    pub stage: Option<String>,
    /// Id of an active user who may view clients; `null` ends the assignment.
    pub assign_to: Option<i64>,
    /// Remarks for the stage history entry and the assignment.
    pub remarks: Option<String>,
}

/// `{"id": …}` of a created client.
#[derive(Debug, Object, Serialize)]
#[oai(example)]
pub struct CsmCreated {
    /// The new client's id.
    pub id: i64,
}

/// `{"message": "Updated"}`.
#[derive(Debug, Object, Serialize)]
#[oai(example)]
pub struct CsmUpdated {
    /// Always `Updated`.
    pub message: String,
}

examples! {
    CsmCreated => Self { id: 4 };

    CsmUpdated => Self {
        message: "Updated".into(),
    };
}

fn example_client() -> CsmClient {
    CsmClient {
        id: 4,
        name: "Ada Lovelace".into(),
        email: "ada@example.com".into(),
        phone: "+447700900123".into(),
        stage: "contacted".into(),
        assigned_to: Some("csm@example.com".into()),
        context: serde_json::json!({"ai_summary": {"intent": "refinance", "urgency": "high",
            "summary": "Wants to refinance before the fixed rate ends.",
            "model": "gpt-4o-mini", "generated_at": "2026-12-01T23:28:47.120000Z"}}),
    }
}

examples! {
    CsmClientList => Self {
        clients: vec![example_client()],
        stages: stage_labels(),
        page: 1,
        limit: DEFAULT_LIMIT,
        has_more: false,
    };

    CsmClientDetail => Self {
        client: example_client(),
        history: vec![
            CsmHistory {
                from: Some("lead".into()),
                to: "contacted".into(),
                by: Some("csm@example.com".into()),
                at: "2026-12-01T23:28:45.954890+00:00".into(),
            },
            CsmHistory {
                from: None,
                to: "lead".into(),
                by: None,
                at: "2026-12-01T23:20:01.002000+00:00".into(),
            },
        ],
        stages: stage_labels(),
    };

    CsmCreateRequest => Self {
        name: "Ada Lovelace".into(),
        email: Some("ada@example.com".into()),
        phone: Some("+447700900123".into()),
        stage: Some("lead".into()),
    };

    CsmUpdateRequest => Self {
        name: None,
        email: None,
        phone: Some("+447700900124".into()),
        stage: Some("contacted".into()),
        assign_to: Some(2),
        remarks: Some("Called back".into()),
    };
}
