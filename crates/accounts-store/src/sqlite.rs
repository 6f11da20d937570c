//! The embedded backend: one SQLite file in WAL mode.
//!
//! Many writers share the file, so every connection waits for the write lock (busy
//! timeout) instead of failing at once, and a write of several statements takes the lock
//! up front with `BEGIN IMMEDIATE`: a deferred transaction that reads and then writes can
//! be refused with "database is locked" without the busy timeout ever applying
//! (launchbadge/sqlx#451).

use async_trait::async_trait;
use shared::tokens::unix_now;
use shared::username::Username;
use sqlx::sqlite::{SqlitePool, SqliteRow};
use sqlx::{Connection as _, Row as _};
use uuid::Uuid;

use crate::error::is_name_taken;
use crate::{AccountRecord, AccountStore, SessionOwner, StoreError, StoreSettings};

#[derive(Clone, Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if needed) the file that `settings.url` names and migrates it.
    pub async fn connect(settings: &StoreSettings) -> Result<Self, StoreError> {
        let migrator = crate::migrations::sqlite();
        let pool = sql_support::open_sqlite(
            &settings.url,
            settings.pool_size,
            settings.acquire_timeout,
            &migrator,
        )
        .await
        .map_err(|err| match err {
            sql_support::OpenError::Database(err) => failed("open the SQLite file")(err),
            other => StoreError::internal("open and migrate the SQLite file", other),
        })?;
        Ok(Self { pool })
    }

    /// The pool, for tests that look at rows directly.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

/// SQLITE_BUSY (5) and SQLITE_LOCKED (6), in any extended form: another writer held on
/// for longer than the busy timeout.
fn transient(code: &str) -> bool {
    code.parse::<i32>()
        .is_ok_and(|code| matches!(code & 0xff, 5 | 6))
}

fn failed(action: &'static str) -> impl Fn(sqlx::Error) -> StoreError + Copy {
    move |err| StoreError::from_sqlx(action, err, transient)
}

fn parse_uuid(text: &str) -> Result<Uuid, StoreError> {
    Uuid::parse_str(text).map_err(|err| StoreError::internal("read a stored id", err))
}

fn account_from_row(row: &SqliteRow) -> Result<AccountRecord, StoreError> {
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
impl AccountStore for SqliteStore {
    async fn create_account(
        &self,
        id: Uuid,
        name: &Username,
        password_hash: &str,
    ) -> Result<AccountRecord, StoreError> {
        let record = AccountRecord {
            id,
            user_name: name.as_str().to_string(),
            canonical_name: name.canonical().to_string(),
            password_hash: password_hash.to_string(),
            created_at: unix_now(),
        };
        // No prior SELECT: the unique index alone decides between racing sign-ups.
        let inserted = sqlx::query(
            "INSERT INTO accounts (id, user_name, canonical_name, password_hash, created_at)
             VALUES (?, ?, ?, ?, ?)",
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
        let row = sqlx::query(
            "SELECT id, user_name, canonical_name, password_hash, created_at
             FROM accounts WHERE canonical_name = ?",
        )
        .bind(canonical_name)
        .fetch_optional(&self.pool)
        .await
        .map_err(failed("look up an account"))?;
        row.as_ref().map(account_from_row).transpose()
    }

    async fn account(&self, user_id: Uuid) -> Result<Option<AccountRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT id, user_name, canonical_name, password_hash, created_at
             FROM accounts WHERE id = ?",
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
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(failed("get a connection to change a password"))?;
        let mut tx = conn
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(failed("start changing a password"))?;
        let id = user_id.to_string();
        let done = sqlx::query("UPDATE accounts SET password_hash = ? WHERE id = ?")
            .bind(password_hash)
            .bind(&id)
            .execute(&mut *tx)
            .await
            .map_err(failed("store a new password hash"))?;
        sqlx::query("DELETE FROM sessions WHERE user_id = ? AND token_digest <> ?")
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
        sqlx::query(
            "INSERT INTO sessions (token_digest, user_id, created_at, expires_at)
             VALUES (?, ?, ?, ?)",
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
        let row = sqlx::query(
            "SELECT s.user_id, a.user_name, s.expires_at
             FROM sessions s JOIN accounts a ON a.id = s.user_id
             WHERE s.token_digest = ? AND s.expires_at > ?",
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
        sqlx::query("DELETE FROM sessions WHERE token_digest = ?")
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
        let done = sqlx::query("DELETE FROM sessions WHERE user_id = ? AND token_digest <> ?")
            .bind(user_id.to_string())
            .bind(keep_digest)
            .execute(&self.pool)
            .await
            .map_err(failed("delete a user's other sessions"))?;
        Ok(done.rows_affected())
    }

    async fn delete_account(&self, user_id: Uuid) -> Result<bool, StoreError> {
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(failed("get a connection to delete an account"))?;
        let mut tx = conn
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(failed("start deleting an account"))?;
        let id = user_id.to_string();
        sqlx::query("DELETE FROM sessions WHERE user_id = ?")
            .bind(&id)
            .execute(&mut *tx)
            .await
            .map_err(failed("delete an account's sessions"))?;
        let done = sqlx::query("DELETE FROM accounts WHERE id = ?")
            .bind(&id)
            .execute(&mut *tx)
            .await
            .map_err(failed("delete an account"))?;
        tx.commit()
            .await
            .map_err(failed("commit an account's deletion"))?;
        Ok(done.rows_affected() == 1)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(failed("ping the SQLite file"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_and_locked_codes_are_transient() {
        assert!(transient("5"));
        assert!(transient("517"), "SQLITE_BUSY_SNAPSHOT");
        assert!(transient("6"));
        assert!(!transient("2067"), "a unique violation is not transient");
        assert!(!transient("1"));
        assert!(!transient("not a number"));
    }
}
