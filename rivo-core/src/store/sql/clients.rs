//! Clients, their contexts, stage history and assignments.

use super::sqlx::{self, AssertSqlSafe, QueryBuilder};
use super::{Dialect, Sql, Tx, commit_recorded, emit, not_found, now, record};
use crate::audit::{Audit, AuditAction};
use crate::clients::{CleanClient, Client, ClientFilter, ClientSort, ClientUpdate, NewClient};
use crate::error::{Error, Result};
use crate::events::{ClientCreated, Event};
use crate::ids::ClientId;
use crate::query::{Page, PageRequest, Sort};
use crate::store::rows::{CLIENT_COLS, ClientRow};

/// Locks the client row for the rest of `tx` (where the backend locks rows:
/// [`Dialect::FOR_UPDATE`]), so that changes to one client serialise. A missing client is
/// [`Error::NotFound`].
pub(crate) async fn lock_client<DB: Dialect>(tx: &mut Tx<DB>, id: ClientId) -> Result<()> {
    locked_client(tx, id).await.map(drop)
}

/// The client as `tx` reads it, its row locked like [`lock_client`] does. A missing client is
/// [`Error::NotFound`].
pub(crate) async fn locked_client<DB: Dialect>(tx: &mut Tx<DB>, id: ClientId) -> Result<Client> {
    let row: Option<ClientRow> = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {CLIENT_COLS} FROM clients WHERE id = $1{}",
        DB::FOR_UPDATE
    )))
    .bind(id.0)
    .fetch_optional(&mut **tx)
    .await?;
    row.ok_or(Error::NotFound { entity: "client" })?.try_into()
}

impl<DB: Dialect> Sql<DB> {
    /// `(id, text)` pairs of `table` for `ids`, in one query (`column` chosen by rivo-core).
    pub(super) async fn labels_of(
        &self,
        table: &'static str,
        column: &'static str,
        ids: &[i64],
    ) -> Result<Vec<(i64, String)>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut query =
            QueryBuilder::<DB>::new(format!("SELECT id, {column} FROM {table} WHERE id IN ("));
        let mut list = query.separated(", ");
        for id in ids {
            list.push_bind(*id);
        }
        query.push(")");
        Ok(query.build_query_as().fetch_all(&self.read).await?)
    }

    pub(crate) async fn client_names(&self, ids: &[i64]) -> Result<Vec<(i64, String)>> {
        self.labels_of("clients", "name", ids).await
    }

    pub(crate) async fn user_emails(&self, ids: &[i64]) -> Result<Vec<(i64, String)>> {
        self.labels_of("users", "email", ids).await
    }

    pub(crate) async fn create_client(
        &self,
        clean: &CleanClient,
        client: &NewClient,
        audit: Audit<'_>,
    ) -> Result<Client> {
        let mut tx = self.begin().await?;
        Self::check_ref(
            &mut tx,
            "users",
            "created_by",
            client.created_by.map(|u| u.0),
        )
        .await?;
        let at = now();
        let row: ClientRow = sqlx::query_as(AssertSqlSafe(format!(
            "INSERT INTO clients (name, email, phone, current_stage, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $5) RETURNING {CLIENT_COLS}"
        )))
        .bind(&clean.name)
        .bind(&clean.email)
        .bind(&clean.phone)
        .bind(client.stage.as_str())
        .bind(at)
        .fetch_one(&mut *tx)
        .await?;
        let created = Client::try_from(row)?;
        sqlx::query(
            "INSERT INTO client_contexts (client_id, chat_session_id, context_data, created_at, \
             updated_at) VALUES ($1, $2, $3, $4, $4)",
        )
        .bind(created.id.0)
        .bind(client.chat_session_id.map(|s| s.0))
        .bind(sqlx::types::Json(&client.context))
        .bind(at)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO client_stage_history (client_id, from_stage, to_stage, changed_by_id, \
             remarks, created_at, updated_at) VALUES ($1, NULL, $2, $3, '', $4, $4)",
        )
        .bind(created.id.0)
        .bind(client.stage.as_str())
        .bind(client.created_by.map(|u| u.0))
        .bind(at)
        .execute(&mut *tx)
        .await?;
        record(
            &mut tx,
            &audit,
            AuditAction::Create,
            "client",
            created.id,
            &created.name,
        )
        .await?;
        emit(
            &mut tx,
            &Event::ClientCreated(ClientCreated {
                client: created.clone(),
                chat_session_id: client.chat_session_id,
            }),
        )
        .await?;
        tx.commit().await?;
        Ok(created)
    }

    pub(crate) async fn client(&self, id: ClientId) -> Result<Client> {
        let row: ClientRow = self
            .row_by_id(CLIENT_COLS, "clients", id.0, "client")
            .await?;
        row.try_into()
    }

    pub(crate) async fn update_client(
        &self,
        id: ClientId,
        update: &ClientUpdate,
        audit: Audit<'_>,
    ) -> Result<Client> {
        let mut tx = self.begin().await?;
        let mut qb = QueryBuilder::<DB>::new("UPDATE clients SET updated_at = ");
        qb.push_bind(now());
        for (column, value) in [
            ("name", &update.name),
            ("email", &update.email),
            ("phone", &update.phone),
        ] {
            if let Some(value) = value {
                qb.push(format_args!(", {column} = "))
                    .push_bind(value.clone());
            }
        }
        qb.push(" WHERE id = ").push_bind(id.0);
        qb.push(format_args!(" RETURNING {CLIENT_COLS}"));
        let row: ClientRow = qb
            .build_query_as()
            .fetch_one(&mut *tx)
            .await
            .map_err(not_found("client"))?;
        let client = Client::try_from(row)?;
        commit_recorded(tx, &audit, AuditAction::Update, "client", id, &client.name).await?;
        Ok(client)
    }

    pub(crate) async fn delete_client(&self, id: ClientId, audit: Audit<'_>) -> Result<()> {
        self.delete_returning_repr("clients", "name", "client", "client", id.0, audit)
            .await
    }

    pub(crate) async fn list_clients(
        &self,
        filter: &ClientFilter,
        sort: Sort<ClientSort>,
        page: PageRequest,
    ) -> Result<Page<Client>> {
        self.list::<ClientRow, _, _>(CLIENT_COLS, "clients", &filter.conds().0, sort, page)
            .await
    }
}
