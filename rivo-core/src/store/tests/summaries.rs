//! AI summaries and the CSM client views on every backend. Summaries run against a fake
//! OpenAI-protocol server on loopback: a success merges one key (with the model and the time)
//! into the context; a timeout, an HTTP error, invalid JSON and a non-object answer are recorded
//! on the job and never touch the context; failures are retried with backoff.

#[path = "fake_openai.rs"]
mod fake_openai;

use std::collections::BTreeSet;
use std::time::Duration;

use fake_openai::{FakeOpenAi, Reply};
use serde_json::json;

use super::{
    TestDb, Worker, WorkerKind, append, count, deactivate, plain_user, session, staff,
    validation_fields,
};
use crate::accounts::*;
use crate::client_views::*;
use crate::clients::*;
use crate::summaries::*;
use crate::*;

db_behaviours!(
    a_summary_merges_one_key_with_model_and_time,
    failures_are_recorded_and_never_stored_in_the_context,
    failures_are_retried_with_backoff,
    disabled_summaries_say_so_and_missing_sessions_fail_clearly,
    a_new_request_while_running_runs_again,
    overviews_join_assignee_and_context_in_one_page,
    edit_client_is_one_transaction,
    csms_need_not_be_staff_to_be_assigned,
    a_completed_chat_lead_is_summarised_once_without_its_contact_details,
);

const SUMMARY: &str = r#"{"intent": "refinance", "loan_details": {"current_loan_amount": 250000,
"monthly_payment": null, "interest_rate": 4.5, "property_value": null},
"financial_info": {"income": null, "debt_to_income": null, "employment_status": "employed"},
"preferences": ["lower payment"], "sentiment": "positive", "urgency": "high",
"summary": "Wants to refinance a 250k loan at 4.5%."}"#;

fn options(base_url: &str) -> SummaryOptions {
    SummaryOptions {
        api_key: Some("test-key".into()),
        base_url: Some(base_url.into()),
        model: "test-model".into(),
        timeout: Duration::from_secs(2),
        max_attempts: 1,
        backoff_base: Duration::from_millis(20),
        poll_interval: Duration::from_millis(20),
        ..SummaryOptions::default()
    }
}

/// A client linked to a session with a short conversation, and a context key of its own.
async fn lead(store: &Store, name: &str) -> Client {
    let s = session();
    append(
        store,
        s,
        "Hi, I want to refinance my mortgage",
        SenderType::Client,
    )
    .await;
    append(store, s, "Sure! What is the loan amount?", SenderType::Bot).await;
    append(store, s, "About 250k at 4.5%", SenderType::Client).await;
    let mut context = serde_json::Map::new();
    context.insert("source".into(), json!("website"));
    store
        .create_client(NewClient {
            chat_session_id: Some(s),
            context,
            ..NewClient::new(name)
        })
        .await
        .unwrap()
}

/// Runs a worker until `done` says the client's job finished; returns the job.
async fn wait_finished(store: &Store, client: ClientId) -> SummaryJob {
    for _ in 0..1000 {
        if let Some(job) = store.summary_job(client).await.unwrap()
            && matches!(job.status, SummaryStatus::Done | SummaryStatus::Failed)
        {
            return job;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the summary job of {client} did not finish");
}

/// Requests a summary of `client` and runs a worker until it finished; returns the job.
async fn summarise(store: &Store, client: ClientId) -> SummaryJob {
    let w = worker(store);
    store.request_summary(client).await.unwrap();
    let job = wait_finished(store, client).await;
    w.stop().await;
    job
}

/// Starts a summary worker on `store`.
fn worker(store: &Store) -> Worker {
    Worker::start(store, WorkerKind::Summaries)
}

async fn a_summary_merges_one_key_with_model_and_time(db: &TestDb) {
    let store = &db.store;
    let (fake, base) =
        FakeOpenAi::start(vec![Reply::Content(format!("```json\n{SUMMARY}\n```"))]).await;
    store.set_summary_options(options(&base));
    let client = lead(store, "Ada").await;
    let w = worker(store);
    let job = store.request_summary(client.id).await.unwrap();
    assert_eq!(job.status, SummaryStatus::Pending);
    assert_eq!(job.reason, SummaryReason::OnDemand);
    let job = wait_finished(store, client.id).await;
    w.stop().await;
    assert_eq!(job.status, SummaryStatus::Done, "{job:?}");
    assert_eq!(job.attempts, 1);
    assert_eq!(job.last_error, None);
    assert_eq!(job.model.as_deref(), Some("fake-model-1"));
    let context = store.context(client.id).await.unwrap();
    assert_eq!(context.data["source"], json!("website"), "other keys stay");
    let summary = context.data[SUMMARY_KEY].as_object().unwrap();
    assert_eq!(summary["intent"], json!("refinance"));
    assert_eq!(summary["urgency"], json!("high"));
    assert_eq!(summary["loan_details"]["interest_rate"], json!(4.5));
    assert_eq!(summary["model"], json!("fake-model-1"));
    let at = summary["generated_at"].as_str().unwrap();
    assert!(chrono::DateTime::parse_from_rfc3339(at).is_ok(), "{at}");
    assert_eq!(context.data.len(), 2, "one key added: {:?}", context.data);
    // The request: the configured model, the prompt and the transcript, the key as bearer.
    let requests = fake.requests.lock().unwrap().clone();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].path, "/v1/chat/completions");
    assert_eq!(requests[0].headers["authorization"], "Bearer test-key");
    assert_eq!(requests[0].body["model"], json!("test-model"));
    let system = requests[0].body["messages"][0]["content"].as_str().unwrap();
    for field in [
        "intent",
        "loan_details",
        "financial_info",
        "preferences",
        "sentiment",
        "urgency",
        "summary",
    ] {
        assert!(system.contains(field), "the prompt asks for {field}");
    }
    let user = requests[0].body["messages"][1]["content"].as_str().unwrap();
    assert!(user.contains(
        "Client: Hi, I want to refinance my mortgage\nBot: Sure! What is the loan amount?\nClient: About 250k at 4.5%"
    ), "{user}");
}

async fn failures_are_recorded_and_never_stored_in_the_context(db: &TestDb) {
    let store = &db.store;
    let cases: Vec<(&str, Reply, &str)> = vec![
        (
            "timeout",
            Reply::Sleep(
                Duration::from_secs(30),
                Box::new(Reply::Content(SUMMARY.into())),
            ),
            "did not answer within",
        ),
        (
            "invalid JSON",
            Reply::Content("Sure! The visitor wants to refinance.".into()),
            "not valid JSON",
        ),
        (
            "non-object",
            Reply::Content("```json\n[\"refinance\", \"high\"]\n```".into()),
            "not an object",
        ),
        (
            "HTTP error",
            Reply::Raw(
                401,
                r#"{"error": {"message": "Incorrect API key provided"}}"#.into(),
            ),
            "HTTP 401",
        ),
        (
            "not a completion",
            Reply::Raw(200, "<html>gateway</html>".into()),
            "not a chat completion",
        ),
    ];
    let w = worker(store);
    for (name, reply, expected) in cases {
        let (fake, base) = FakeOpenAi::start(vec![reply]).await;
        store.set_summary_options(SummaryOptions {
            timeout: Duration::from_millis(500),
            ..options(&base)
        });
        let client = lead(store, name).await;
        let before = store.context(client.id).await.unwrap().data;
        store.request_summary(client.id).await.unwrap();
        let job = wait_finished(store, client.id).await;
        assert_eq!(job.status, SummaryStatus::Failed, "{name}: {job:?}");
        let error = job.last_error.clone().unwrap();
        assert!(error.contains(expected), "{name}: {error}");
        assert!(job.detail.contains("Gave up"), "{name}: {}", job.detail);
        assert_eq!(
            store.context(client.id).await.unwrap().data,
            before,
            "{name}: the context is untouched"
        );
        assert_eq!(
            fake.requests.lock().unwrap().len(),
            1,
            "{name}: one attempt"
        );
    }
    w.stop().await;
}

async fn failures_are_retried_with_backoff(db: &TestDb) {
    let store = &db.store;
    let (fake, base) = FakeOpenAi::start(vec![
        Reply::Raw(503, r#"{"error": "overloaded"}"#.into()),
        Reply::Content("no JSON here".into()),
        Reply::Content(SUMMARY.into()),
    ])
    .await;
    store.set_summary_options(SummaryOptions {
        max_attempts: 3,
        ..options(&base)
    });
    let client = lead(store, "Retry").await;
    let job = summarise(store, client.id).await;
    assert_eq!(job.status, SummaryStatus::Done, "{job:?}");
    assert_eq!(job.attempts, 3);
    assert_eq!(fake.requests.lock().unwrap().len(), 3);
    let summary = store
        .context_value(client.id, SUMMARY_KEY)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(summary["intent"], json!("refinance"));

    // A provider that never recovers: gives up after max_attempts, context untouched.
    let (fake, base) = FakeOpenAi::start(vec![Reply::Raw(500, "{}".into())]).await;
    store.set_summary_options(SummaryOptions {
        max_attempts: 2,
        ..options(&base)
    });
    let other = lead(store, "Down").await;
    let job = summarise(store, other.id).await;
    assert_eq!(job.status, SummaryStatus::Failed);
    assert_eq!(job.attempts, 2);
    assert_eq!(fake.requests.lock().unwrap().len(), 2);
    assert!(job.last_error.unwrap().contains("HTTP 500"));
    assert_eq!(
        store.context_value(other.id, SUMMARY_KEY).await.unwrap(),
        None
    );
}

async fn disabled_summaries_say_so_and_missing_sessions_fail_clearly(db: &TestDb) {
    let store = &db.store;
    let client = lead(store, "Off").await;
    // Default options: no key, no base URL.
    assert!(!store.summary_options().enabled());
    let w = worker(store);
    let job = store.request_summary(client.id).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let job2 = store.summary_job(client.id).await.unwrap().unwrap();
    assert_eq!(
        job2.status,
        SummaryStatus::Pending,
        "nothing runs while disabled"
    );
    assert_eq!(job.detail, SummaryOptions::disabled_reason());
    assert!(job2.detail.contains("AI_INTEGRATIONS_OPENAI_API_KEY"));
    w.stop().await;
    assert!(matches!(
        store.request_summary(ClientId(999_999)).await,
        Err(Error::NotFound { entity: "client" })
    ));

    // Enabled, but the client has no conversation: a clear failure, no model call.
    let (fake, base) = FakeOpenAi::start(vec![Reply::Content(SUMMARY.into())]).await;
    store.set_summary_options(options(&base));
    let bare = store.create_client(NewClient::new("Bare")).await.unwrap();
    let w = worker(store);
    store.request_summary(bare.id).await.unwrap();
    let job = wait_finished(store, bare.id).await;
    assert_eq!(job.status, SummaryStatus::Failed);
    assert!(job.last_error.unwrap().contains("no linked chat session"));
    // The disabled job of `client` ran once enabled.
    let job = wait_finished(store, client.id).await;
    w.stop().await;
    assert_eq!(job.status, SummaryStatus::Done);
    assert_eq!(fake.requests.lock().unwrap().len(), 1);
    // Deleting the client deletes its job.
    store.delete_client(client.id).await.unwrap();
    assert_eq!(store.summary_job(client.id).await.unwrap(), None);
    assert_eq!(count(store, "summary_jobs").await, 1);
}

async fn a_new_request_while_running_runs_again(db: &TestDb) {
    let store = &db.store;
    let first = format!("{{\"intent\": \"first\", \"summary\": \"{}\"}}", "one");
    let (fake, base) = FakeOpenAi::start(vec![
        Reply::Sleep(Duration::from_millis(400), Box::new(Reply::Content(first))),
        Reply::Content(r#"{"intent": "second"}"#.into()),
    ])
    .await;
    store.set_summary_options(options(&base));
    let client = lead(store, "Twice").await;
    let w = worker(store);
    store.request_summary(client.id).await.unwrap();
    // While the first call runs, a second request re-arms the job.
    for _ in 0..500 {
        if fake.started.load(std::sync::atomic::Ordering::SeqCst) > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        store.summary_job(client.id).await.unwrap().unwrap().status,
        SummaryStatus::Running
    );
    let again = store.request_summary(client.id).await.unwrap();
    assert_eq!(again.status, SummaryStatus::Pending);
    assert_eq!(again.attempts, 0);
    for _ in 0..1000 {
        if fake.requests.lock().unwrap().len() == 2
            && store.summary_job(client.id).await.unwrap().unwrap().status == SummaryStatus::Done
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    w.stop().await;
    assert_eq!(
        fake.requests.lock().unwrap().len(),
        2,
        "the newer request ran"
    );
    let summary = store
        .context_value(client.id, SUMMARY_KEY)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(summary["intent"], json!("second"));
}

// ---------- client views ----------

async fn csm(store: &Store, name: &str) -> User {
    let permissions: BTreeSet<Permission> = [
        Permission::new(Action::View, Model::Client),
        Permission::new(Action::Change, Model::Client),
    ]
    .into_iter()
    .collect();
    store
        .create_user(NewUser {
            permissions,
            ..NewUser::new(format!("{name}@example.com"), name)
        })
        .await
        .unwrap()
}

async fn overviews_join_assignee_and_context_in_one_page(db: &TestDb) {
    let store = &db.store;
    let a = staff(store, "agent").await;
    let b = csm(store, "cee").await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let mut context = serde_json::Map::new();
        context.insert("n".into(), json!(i));
        let c = store
            .create_client(NewClient {
                context,
                ..NewClient::new(format!("Client {i}"))
            })
            .await
            .unwrap();
        ids.push(c.id);
    }
    store.assign(ids[0], a.id, None, "").await.unwrap();
    store.assign(ids[1], b.id, None, "").await.unwrap();
    store.assign(ids[1], a.id, None, "").await.unwrap();
    store.assign(ids[2], b.id, None, "").await.unwrap();
    let page = store
        .client_overviews(&OverviewFilter::default(), 0, 3)
        .await
        .unwrap();
    assert!(page.has_more);
    let names: Vec<&str> = page.items.iter().map(|o| o.client.name.as_str()).collect();
    assert_eq!(names, ["Client 4", "Client 3", "Client 2"], "newest first");
    assert_eq!(
        page.items[2].assigned_to.as_deref(),
        Some("cee@example.com")
    );
    assert_eq!(page.items[0].assigned_to, None);
    assert_eq!(page.items[0].context["n"], json!(4));
    let rest = store
        .client_overviews(&OverviewFilter::default(), 3, 3)
        .await
        .unwrap();
    assert!(!rest.has_more);
    assert_eq!(rest.items.len(), 2);
    assert_eq!(
        rest.items[0].assigned_to.as_deref(),
        Some("agent@example.com"),
        "active only"
    );
    let mine = store
        .client_overviews(
            &OverviewFilter {
                assigned_to: Some(a.id),
                stage: None,
            },
            0,
            100,
        )
        .await
        .unwrap();
    let mine: Vec<ClientId> = mine.items.iter().map(|o| o.client.id).collect();
    assert_eq!(mine, [ids[1], ids[0]]);
    let detail = store.client_detail(ids[1]).await.unwrap();
    assert_eq!(
        detail.overview.assigned_to.as_deref(),
        Some("agent@example.com")
    );
    assert_eq!(detail.history.len(), 1);
    assert_eq!(detail.history[0].from, None);
    assert_eq!(detail.history[0].to, Stage::Lead);
    assert!(matches!(
        store.client_detail(ClientId(999_999)).await,
        Err(Error::NotFound { .. })
    ));
}

/// The edit after a first call: phone `+1 555`, stage qualified, assigned to `agent`.
fn call_qualify_and_assign(agent: UserId, remarks: &str) -> ClientEdit {
    ClientEdit {
        fields: ClientUpdate {
            phone: Some("+1 555".into()),
            ..Default::default()
        },
        stage: Some(Stage::Qualified),
        assignment: AssignmentChange::To(agent),
        remarks: remarks.into(),
    }
}

async fn edit_client_is_one_transaction(db: &TestDb) {
    let store = &db.store;
    let by = staff(store, "boss").await;
    let agent = csm(store, "agent").await;
    let plain = plain_user(store, "plain@example.com", "plain").await;
    let client = store.create_client(NewClient::new("Dot")).await.unwrap();
    // Every edit of the test is of Dot, by the boss.
    let edit = |edit: ClientEdit| store.edit_client(client.id, edit, Some(by.id));
    // Everything wrong at once: nothing written.
    let err = edit(ClientEdit {
        fields: ClientUpdate {
            name: Some(String::new()),
            email: Some("not an email".into()),
            phone: Some("1".repeat(21)),
        },
        stage: Some(Stage::Qualified),
        assignment: AssignmentChange::To(UserId(999_999)),
        remarks: String::new(),
    })
    .await
    .unwrap_err();
    let fields: BTreeSet<String> = validation_fields(err).into_iter().map(|(f, _)| f).collect();
    assert_eq!(
        fields,
        ["assign_to", "email", "name", "phone"]
            .map(String::from)
            .into()
    );
    // A user who may not work clients cannot be assigned: still nothing written.
    let err = edit(call_qualify_and_assign(plain.id, ""))
        .await
        .unwrap_err();
    assert_eq!(validation_fields(err)[0].0, "assign_to");
    assert_eq!(store.client(client.id).await.unwrap(), client);
    assert_eq!(count(store, "client_stage_history").await, 1);
    assert_eq!(count(store, "client_assignments").await, 0);
    // All three together.
    let edited = edit(call_qualify_and_assign(agent.id, "called"))
        .await
        .unwrap();
    assert_eq!(edited.phone, "+1 555");
    assert_eq!(edited.current_stage, Stage::Qualified);
    let detail = store.client_detail(client.id).await.unwrap();
    assert_eq!(
        detail.overview.assigned_to.as_deref(),
        Some("agent@example.com")
    );
    assert_eq!(detail.history[0].from, Some(Stage::Lead));
    assert_eq!(detail.history[0].to, Stage::Qualified);
    assert_eq!(detail.history[0].by.as_deref(), Some("boss@example.com"));
    // The same stage and assignee again: no new rows.
    edit(ClientEdit {
        stage: Some(Stage::Qualified),
        assignment: AssignmentChange::To(agent.id),
        ..Default::default()
    })
    .await
    .unwrap();
    assert_eq!(count(store, "client_stage_history").await, 2);
    assert_eq!(count(store, "client_assignments").await, 1);
    // Unassign.
    edit(ClientEdit {
        assignment: AssignmentChange::Unassign,
        ..Default::default()
    })
    .await
    .unwrap();
    assert_eq!(store.active_assignment(client.id).await.unwrap(), None);
    assert!(matches!(
        store
            .edit_client(ClientId(999_999), ClientEdit::default(), None)
            .await,
        Err(Error::NotFound { .. })
    ));
}

async fn csms_need_not_be_staff_to_be_assigned(db: &TestDb) {
    let store = &db.store;
    let cee = csm(store, "cee").await;
    assert!(!cee.is_staff);
    assert!(store.may_be_assigned(&cee).await.unwrap());
    let plain = plain_user(store, "plain@example.com", "plain").await;
    assert!(!store.may_be_assigned(&plain).await.unwrap());
    let client = store.create_client(NewClient::new("Dot")).await.unwrap();
    let a = store.assign(client.id, cee.id, None, "").await.unwrap();
    assert!(a.is_active);
    let inactive = deactivate(store, cee.id).await;
    assert!(!store.may_be_assigned(&inactive).await.unwrap());
}

/// Lead capture and summaries together: the message that completes a lead queues its summary
/// in the capture's transaction (reason `lead_completed`); the worker sends the conversation
/// without the contact details; a repeated contact message does not summarise again.
async fn a_completed_chat_lead_is_summarised_once_without_its_contact_details(db: &TestDb) {
    use crate::chat::DataType;
    let store = &db.store;
    let (fake, base) = FakeOpenAi::start(vec![Reply::Content(SUMMARY.into())]).await;
    store.set_summary_options(options(&base));
    let w = worker(store);
    let s = session();
    let c = SenderType::Client;
    store
        .capture(
            s,
            "Hi, I want to refinance my mortgage",
            c,
            DataType::Message,
        )
        .await
        .unwrap();
    store
        .capture(s, "Sure! Your name?", SenderType::Bot, DataType::Message)
        .await
        .unwrap();
    let named = store
        .capture(s, "ada lovelace", c, DataType::Name)
        .await
        .unwrap();
    let client = named.client.unwrap().id;
    assert_eq!(
        store.summary_job(client).await.unwrap(),
        None,
        "not complete yet"
    );
    store
        .capture(s, "Ada@Example.com", c, DataType::Email)
        .await
        .unwrap();
    let done = store
        .capture(s, "+1 (555) 123-4567", c, DataType::Phone)
        .await
        .unwrap();
    assert!(done.completed);
    let job = wait_finished(store, client).await;
    assert_eq!(job.status, SummaryStatus::Done, "{job:?}");
    assert_eq!(job.reason, SummaryReason::LeadCompleted);
    let context = store.context(client).await.unwrap();
    assert_eq!(context.data[SUMMARY_KEY]["intent"], json!("refinance"));
    // A repeated phone message neither completes the lead again nor queues a summary.
    let again = store
        .capture(s, "+1 (555) 123-4567", c, DataType::Phone)
        .await
        .unwrap();
    assert!(!again.completed);
    tokio::time::sleep(Duration::from_millis(200)).await;
    w.stop().await;
    let requests = fake.requests.lock().unwrap().clone();
    assert_eq!(requests.len(), 1, "summarised once");
    let user = requests[0].body["messages"][1]["content"].as_str().unwrap();
    assert!(
        user.contains("Client: Hi, I want to refinance my mortgage\nBot: Sure! Your name?"),
        "{user}"
    );
    for contact in ["ada lovelace", "Ada@Example.com", "555"] {
        assert!(
            !user.contains(contact),
            "{contact} sent to the model: {user}"
        );
    }
}
