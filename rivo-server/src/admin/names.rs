//! Names of the objects list rows refer to (Django's `__str__`: a client's name, a user's
//! email), looked up for a whole page in one query per kind, so that the UI needs no request
//! per row.

use std::collections::BTreeSet;

use rivo_core::{ClientId, Store, UserId};

use super::bodies::{AssignmentBody, ContextBody, StageChangeBody};

/// Client names and user emails of the ids a page mentions.
struct Lookup {
    clients: std::collections::BTreeMap<ClientId, String>,
    users: std::collections::BTreeMap<UserId, String>,
}

impl Lookup {
    /// `clients` and `users` are the ids (repeats allowed) to name.
    async fn new(
        store: &Store,
        clients: BTreeSet<i64>,
        users: BTreeSet<i64>,
    ) -> Result<Self, rivo_core::Error> {
        let clients: Vec<ClientId> = clients.into_iter().map(ClientId).collect();
        let users: Vec<UserId> = users.into_iter().map(UserId).collect();
        Ok(Self {
            clients: store.client_names(&clients).await?,
            users: store.user_emails(&users).await?,
        })
    }

    fn client(&self, id: i64) -> Option<String> {
        self.clients.get(&ClientId(id)).cloned()
    }

    fn user(&self, id: Option<i64>) -> Option<String> {
        id.and_then(|id| self.users.get(&UserId(id)).cloned())
    }
}

/// Fills `client_name` and `changed_by_repr`.
pub async fn stage_changes(
    store: &Store,
    rows: &mut [StageChangeBody],
) -> Result<(), rivo_core::Error> {
    let clients = rows.iter().map(|r| r.client).collect();
    let users = rows.iter().filter_map(|r| r.changed_by).collect();
    let names = Lookup::new(store, clients, users).await?;
    for row in rows {
        row.client_name = names.client(row.client);
        row.changed_by_repr = names.user(row.changed_by);
    }
    Ok(())
}

/// Fills `client_name`, `assigned_to_repr` and `assigned_by_repr`.
pub async fn assignments(
    store: &Store,
    rows: &mut [AssignmentBody],
) -> Result<(), rivo_core::Error> {
    let clients = rows.iter().map(|r| r.client).collect();
    let users = rows
        .iter()
        .flat_map(|r| [r.assigned_to, r.assigned_by])
        .flatten()
        .collect();
    let names = Lookup::new(store, clients, users).await?;
    for row in rows {
        row.client_name = names.client(row.client);
        row.assigned_to_repr = names.user(row.assigned_to);
        row.assigned_by_repr = names.user(row.assigned_by);
    }
    Ok(())
}

/// Fills `client_name`.
pub async fn contexts(store: &Store, rows: &mut [ContextBody]) -> Result<(), rivo_core::Error> {
    let clients = rows.iter().map(|r| r.client).collect();
    let names = Lookup::new(store, clients, BTreeSet::new()).await?;
    for row in rows {
        row.client_name = names.client(row.client);
    }
    Ok(())
}
