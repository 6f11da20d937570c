//! The backend at scale: PostgreSQL (RDS), same behaviour as the embedded one.
//!
//! The pool is bounded by `MATCHLOG_DB_POOL_SIZE` so that a storm of sign-ins cannot open
//! more connections than the budget, and a caller that gets no connection within the
//! acquire timeout is told the store is unavailable (503) instead of hanging
//! (launchbadge/sqlx#1137).

use std::str::FromStr as _;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use shared::tokens::unix_now;
use shared::username::Username;
use sqlx::Row as _;
use sqlx::migrate::MigrateError;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use tokio::sync::OnceCell;
use uuid::Uuid;

use crate::error::is_name_taken;
use crate::{AccountRecord, AccountStore, SessionOwner, StoreError, StoreSettings};

#[derive(Clone, Debug)]
pub struct PostgresStore {
    pool: PgPool,
    /// Set once the schema is known to be current: migrations run on first contact.
    schema: Arc<OnceCell<()>>,
}

impl PostgresStore {
    /// A store on the database that `settings.url` names, migrated when it answers.
    ///
    /// A database that does not answer yet (a tier that starts before it, or during an
    /// outage) is not an error: the tier starts, reports itself not ready, and migrates
    /// on first contact. A database that answers and refuses is an error.
    pub async fn connect(settings: &StoreSettings) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(&settings.url)
            .map_err(|err| StoreError::internal("read the PostgreSQL URL", err))?
            .application_name("matchlog-app");
        let pool = PgPoolOptions::new()
            .max_connections(settings.pool_size)
            .acquire_timeout(settings.acquire_timeout)
            .connect_lazy_with(options);
        let store = Self {
            pool,
            schema: Arc::default(),
        };
        match store.schema().await {
            Ok(()) => Ok(store),
            Err(err @ StoreError::Unavailable { .. }) => {
                tracing::warn!(error = %err, "PostgreSQL does not answer yet; starting anyway");
                Ok(store)
            }
            Err(err) => Err(err),
        }
    }

    /// The pool, for tests that look at rows directly.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Brings the schema up to date once; every operation waits for it. The migrator holds
    /// an advisory lock, so tiers starting together migrate once. It runs as a task of its
    /// own so that a caller giving up (a timeout, a closed connection) never cuts it short
    /// while it holds that lock.
    async fn schema(&self) -> Result<(), StoreError> {
        if self.schema.initialized() {
            return Ok(());
        }
        let store = self.clone();
        let migrating = tokio::spawn(async move {
            let migrate = || async {
                crate::migrations::postgres()
                    .run(&store.pool)
                    .await
                    .map_err(migration_failed)
            };
            store.schema.get_or_try_init(migrate).await.map(drop)
        });
        migrating
            .await
            .map_err(|err| StoreError::internal("migrate the PostgreSQL schema", err))?
    }
}

fn migration_failed(err: MigrateError) -> StoreError {
    const ACTION: &str = "migrate the PostgreSQL schema";
    match err {
        MigrateError::Execute(err) => StoreError::from_sqlx(ACTION, err, transient),
        other => StoreError::internal(ACTION, other),
    }
}

/// How long a readiness ping may take. Readiness probes give up after a second by default
/// (`MATCHLOG_HEALTH_TIMEOUT_MS`) and take a silent tier for dead, so a ping does not wait
/// out the acquire timeout: a database that cannot answer within this budget is reported
/// down, which callers know the other path shares.
const PING_BUDGET: Duration = Duration::from_millis(300);

/// SQLSTATE classes that mean "not now": connection exceptions (08), insufficient
/// resources such as too many connections (53), and an operator shutting the server down
/// (57P01 to 57P03).
fn transient(code: &str) -> bool {
    code.starts_with("08") || code.starts_with("53") || code.starts_with("57P")
}

fn failed(action: &'static str) -> impl Fn(sqlx::Error) -> StoreError + Copy {
    move |err| StoreError::from_sqlx(action, err, transient)
}

fn parse_uuid(text: &str) -> Result<Uuid, StoreError> {
    Uuid::parse_str(text).map_err(|err| StoreError::internal("read a stored id", err))
}

fn account_from_row(row: &PgRow) -> Result<AccountRecord, StoreError> {
    let read = failed("read an account row");
    let id: String = row.try_get("id").map_err(read)?;
    Ok(AccountRecord {
        id: parse_uuid(&id)?,
        user_name: row.try_get("user_name").map_err(read)?,
        canonical_name: row.try_get("canonical_name").map_err(read)?,
        password_hash: row.try_get("password_hash").map_err(read)?,
        created_at: row.try_get("created_at").map_err(read)?,
    })
}

#[async_trait]
impl AccountStore for PostgresStore {
    async fn create_account(
        &self,
        id: Uuid,
        name: &Username,
        password_hash: &str,
    ) -> Result<AccountRecord, StoreError> {
        self.schema().await?;
        let record = AccountRecord {
            id,
            user_name: name.as_str().to_string(),
            canonical_name: name.canonical().to_string(),
            password_hash: password_hash.to_string(),
            created_at: unix_now(),
        };
        // No prior SELECT: the unique constraint alone decides between racing sign-ups.
        let inserted = sqlx::query(
            "INSERT INTO accounts (id, user_name, canonical_name, password_hash, created_at)
             VALUES ($1::uuid, $2, $3, $4, $5)",
        )
        .bind(record.id.to_string())
        .bind(&record.user_name)
        .bind(&record.canonical_name)
        .bind(&record.password_hash)
        .bind(record.created_at)
        .execute(&self.pool)
        .await;
        match inserted {
            Ok(_) => Ok(record),
            Err(err) if is_name_taken(&err) => Err(StoreError::NameTaken),
            Err(err) => Err(failed("insert an account")(err)),
        }
    }

    async fn find_account(
        &self,
        canonical_name: &str,
    ) -> Result<Option<AccountRecord>, StoreError> {
        self.schema().await?;
        let row = sqlx::query(
            "SELECT id::text AS id, user_name, canonical_name, password_hash, created_at
             FROM accounts WHERE canonical_name = $1",
        )
        .bind(canonical_name)
        .fetch_optional(&self.pool)
        .await
        .map_err(failed("look up an account"))?;
        row.as_ref().map(account_from_row).transpose()
    }

    async fn account(&self, user_id: Uuid) -> Result<Option<AccountRecord>, StoreError> {
        self.schema().await?;
        let row = sqlx::query(
            "SELECT id::text AS id, user_name, canonical_name, password_hash, created_at
             FROM accounts WHERE id = $1::uuid",
        )
        .bind(user_id.to_string())
        .fetch_optional(&self.pool)
        .await
        .map_err(failed("look up an account by id"))?;
        row.as_ref().map(account_from_row).transpose()
    }

    async fn set_password(
        &self,
        user_id: Uuid,
        password_hash: &str,
        keep_digest: &str,
    ) -> Result<bool, StoreError> {
        self.schema().await?;
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(failed("start changing a password"))?;
        let id = user_id.to_string();
        let done = sqlx::query("UPDATE accounts SET password_hash = $1 WHERE id = $2::uuid")
            .bind(password_hash)
            .bind(&id)
            .execute(&mut *tx)
            .await
            .map_err(failed("store a new password hash"))?;
        sqlx::query("DELETE FROM sessions WHERE user_id = $1::uuid AND token_digest <> $2")
            .bind(&id)
            .bind(keep_digest)
            .execute(&mut *tx)
            .await
            .map_err(failed("end the other sessions after a password change"))?;
        tx.commit()
            .await
            .map_err(failed("commit a password change"))?;
        Ok(done.rows_affected() == 1)
    }

    async fn create_session(
        &self,
        token_digest: &str,
        user_id: Uuid,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        self.schema().await?;
        sqlx::query(
            "INSERT INTO sessions (token_digest, user_id, created_at, expires_at)
             VALUES ($1, $2::uuid, $3, $4)",
        )
        .bind(token_digest)
        .bind(user_id.to_string())
        .bind(unix_now())
        .bind(expires_at)
        .execute(&self.pool)
        .await
        .map_err(failed("insert a session"))?;
        Ok(())
    }

    async fn resolve_session(
        &self,
        token_digest: &str,
        now: i64,
    ) -> Result<Option<SessionOwner>, StoreError> {
        self.schema().await?;
        let row = sqlx::query(
            "SELECT s.user_id::text AS user_id, a.user_name, s.expires_at
             FROM sessions s JOIN accounts a ON a.id = s.user_id
             WHERE s.token_digest = $1 AND s.expires_at > $2",
        )
        .bind(token_digest)
        .bind(now)
        .fetch_optional(&self.pool)
        .await
        .map_err(failed("look up a session"))?;
        let Some(row) = row else {
            return Ok(None);
        };
        let read = failed("read a session row");
        let user_id: String = row.try_get("user_id").map_err(read)?;
        Ok(Some(SessionOwner {
            user_id: parse_uuid(&user_id)?,
            user_name: row.try_get("user_name").map_err(read)?,
            expires_at: row.try_get("expires_at").map_err(read)?,
        }))
    }

    async fn delete_session(&self, token_digest: &str) -> Result<(), StoreError> {
        self.schema().await?;
        sqlx::query("DELETE FROM sessions WHERE token_digest = $1")
            .bind(token_digest)
            .execute(&self.pool)
            .await
            .map_err(failed("delete a session"))?;
        Ok(())
    }

    async fn delete_other_sessions(
        &self,
        user_id: Uuid,
        keep_digest: &str,
    ) -> Result<u64, StoreError> {
        self.schema().await?;
        let done =
            sqlx::query("DELETE FROM sessions WHERE user_id = $1::uuid AND token_digest <> $2")
                .bind(user_id.to_string())
                .bind(keep_digest)
                .execute(&self.pool)
                .await
                .map_err(failed("delete a user's other sessions"))?;
        Ok(done.rows_affected())
    }

    async fn delete_account(&self, user_id: Uuid) -> Result<bool, StoreError> {
        self.schema().await?;
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(failed("start deleting an account"))?;
        let id = user_id.to_string();
        sqlx::query("DELETE FROM sessions WHERE user_id = $1::uuid")
            .bind(&id)
            .execute(&mut *tx)
            .await
            .map_err(failed("delete an account's sessions"))?;
        let done = sqlx::query("DELETE FROM accounts WHERE id = $1::uuid")
            .bind(&id)
            .execute(&mut *tx)
            .await
            .map_err(failed("delete an account"))?;
        tx.commit()
            .await
            .map_err(failed("commit an account's deletion"))?;
        Ok(done.rows_affected() == 1)
    }

    /// Bounded by [`PING_BUDGET`], whatever the acquire timeout: see there.
    async fn ping(&self) -> Result<(), StoreError> {
        let check = async {
            self.schema().await?;
            let query = sqlx::query("SELECT 1").execute(&self.pool).await;
            query.map(drop).map_err(failed("ping PostgreSQL"))
        };
        match tokio::time::timeout(PING_BUDGET, check).await {
            Ok(outcome) => outcome,
            Err(_) => Err(StoreError::Unavailable {
                action: "ping PostgreSQL",
                source: format!("no answer within {PING_BUDGET:?}").into(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_and_capacity_codes_are_transient() {
        assert!(transient("08006"), "connection failure");
        assert!(transient("53300"), "too many connections");
        assert!(transient("57P01"), "admin shutdown");
        assert!(!transient("23505"), "a unique violation is not transient");
        assert!(!transient("42P01"), "a missing table is a bug");
    }
}
