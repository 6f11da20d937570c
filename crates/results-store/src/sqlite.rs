//! The embedded backend: one SQLite file in WAL mode, one `matches` table for every game.
//!
//! Every write is a single statement, so SQLite takes the write lock when the statement
//! starts and never has to upgrade a read lock mid-transaction (the upgrade is what makes
//! concurrent writers fail with "database is locked" despite a busy timeout).

use async_trait::async_trait;
use serde_json::{Map, Value as Json};
use shared::catalog::{Catalog, Game};
use shared::config::Config;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqlitePool, SqliteRow};
use sqlx::{AssertSqlSafe, Row};
use uuid::Uuid;

use crate::{Inserted, ResultStore, StoreError, StoredMatch};

const COLUMNS: &str = "id, user_id, fields, created_at, updated_at";

pub struct SqliteStore {
    pool: SqlitePool,
    catalog: &'static Catalog,
}

impl SqliteStore {
    /// Opens (creating when missing) the database at the `sqlite:` URL and applies the
    /// migrations.
    pub async fn open(
        url: &str,
        config: &Config,
        catalog: &'static Catalog,
    ) -> Result<Self, StoreError> {
        let pool = sql_support::open_sqlite(
            url,
            config.db_pool_size,
            config.db_acquire_timeout,
            &migrator(),
        )
        .await
        .map_err(|err| match err {
            sql_support::OpenError::Database(err) => classify("open the results database", err),
            other => StoreError::Internal(format!("open the results database: {other}")),
        })?;
        Ok(Self { pool, catalog })
    }

    async fn find_any_owner(
        &self,
        game: &Game,
        id: Uuid,
    ) -> Result<Option<StoredMatch>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM matches WHERE game = ? AND id = ?");
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(&game.slug)
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(|err| classify("read a match by id", err))?;
        row.map(|row| decode_row(&row)).transpose()
    }
}

/// The migrations in `migrations/sqlite/`, compiled into the binary so that a deployed
/// tier needs no files beside it.
fn migrator() -> Migrator {
    sql_support::migrator(&[(
        1,
        "matches",
        include_str!("../migrations/sqlite/0001_matches.sql"),
    )])
}

/// Sorts a sqlx error into "try again later" and "broken", saying what we were doing.
fn classify(doing: &str, err: sqlx::Error) -> StoreError {
    let busy = match &err {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::WorkerCrashed => true,
        // SQLITE_BUSY (5) and SQLITE_LOCKED (6), including their extended codes.
        sqlx::Error::Database(db) => db
            .code()
            .and_then(|code| code.parse::<i32>().ok())
            .is_some_and(|code| matches!(code & 0xff, 5 | 6)),
        _ => false,
    };
    if busy {
        StoreError::Unavailable(format!("{doing}: {err}"))
    } else {
        StoreError::Internal(format!("{doing}: {err}"))
    }
}

fn decode_row(row: &SqliteRow) -> Result<StoredMatch, StoreError> {
    let damaged = |what: &str| StoreError::Internal(format!("a stored match has a bad {what}"));
    let text = |column: &str| -> Result<String, StoreError> {
        row.try_get::<String, _>(column)
            .map_err(|_| damaged(column))
    };
    let number = |column: &str| -> Result<i64, StoreError> {
        row.try_get::<i64, _>(column).map_err(|_| damaged(column))
    };
    let fields: Map<String, Json> =
        serde_json::from_str(&text("fields")?).map_err(|_| damaged("fields"))?;
    Ok(StoredMatch {
        id: Uuid::parse_str(&text("id")?).map_err(|_| damaged("id"))?,
        user_id: Uuid::parse_str(&text("user_id")?).map_err(|_| damaged("user_id"))?,
        fields,
        created_at: number("created_at")?,
        updated_at: number("updated_at")?,
    })
}

fn encode_fields(fields: &Map<String, Json>) -> Result<String, StoreError> {
    serde_json::to_string(fields)
        .map_err(|err| StoreError::Internal(format!("encode the fields: {err}")))
}

#[async_trait]
impl ResultStore for SqliteStore {
    async fn insert(&self, game: &Game, record: &StoredMatch) -> Result<Inserted, StoreError> {
        let fields = encode_fields(&record.fields)?;
        // A conflicting row may be deleted between the insert and the read; try again then.
        for _ in 0..3 {
            let done = sqlx::query(
                "INSERT INTO matches
                     (game, id, user_id, match_date, fields, created_at, updated_at)
                 VALUES (?, ?, ?, ?, ?, ?, ?)
                 ON CONFLICT (game, id) DO NOTHING",
            )
            .bind(&game.slug)
            .bind(record.id.to_string())
            .bind(record.user_id.to_string())
            .bind(record.match_date())
            .bind(&fields)
            .bind(record.created_at)
            .bind(record.updated_at)
            .execute(&self.pool)
            .await
            .map_err(|err| classify("insert a match", err))?;
            if done.rows_affected() == 1 {
                return Ok(Inserted::Created);
            }
            match self.find_any_owner(game, record.id).await? {
                Some(existing) if existing.user_id == record.user_id => {
                    return Ok(Inserted::AlreadyExists(existing));
                }
                Some(_) => return Ok(Inserted::IdTaken),
                None => continue,
            }
        }
        Err(StoreError::Unavailable(
            "insert a match: the id kept appearing and vanishing".into(),
        ))
    }

    async fn get(
        &self,
        game: &Game,
        user: Uuid,
        id: Uuid,
    ) -> Result<Option<StoredMatch>, StoreError> {
        let found = self.find_any_owner(game, id).await?;
        Ok(found.filter(|record| record.user_id == user))
    }

    async fn update(
        &self,
        game: &Game,
        user: Uuid,
        id: Uuid,
        fields: &Map<String, Json>,
        now_ms: i64,
    ) -> Result<Option<StoredMatch>, StoreError> {
        let mut record = StoredMatch::new(id, user, fields.clone(), now_ms);
        let created_at: Option<i64> = sqlx::query(
            "UPDATE matches SET fields = ?, match_date = ?, updated_at = ?
             WHERE game = ? AND id = ? AND user_id = ?
             RETURNING created_at",
        )
        .bind(encode_fields(fields)?)
        .bind(record.match_date())
        .bind(now_ms)
        .bind(&game.slug)
        .bind(id.to_string())
        .bind(user.to_string())
        .fetch_optional(&self.pool)
        .await
        .map_err(|err| classify("update a match", err))?
        .map(|row| row.try_get("created_at"))
        .transpose()
        .map_err(|err| classify("read an updated match", err))?;
        Ok(created_at.map(|created_at| {
            record.created_at = created_at;
            record
        }))
    }

    async fn delete(&self, game: &Game, user: Uuid, id: Uuid) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM matches WHERE game = ? AND id = ? AND user_id = ?")
            .bind(&game.slug)
            .bind(id.to_string())
            .bind(user.to_string())
            .execute(&self.pool)
            .await
            .map_err(|err| classify("delete a match", err))?;
        Ok(done.rows_affected() > 0)
    }

    async fn list(&self, game: &Game, user: Uuid) -> Result<Vec<StoredMatch>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM matches WHERE game = ? AND user_id = ?
             ORDER BY match_date DESC, created_at DESC, id DESC"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(&game.slug)
            .bind(user.to_string())
            .fetch_all(&self.pool)
            .await
            .map_err(|err| classify("list matches", err))?;
        rows.iter().map(decode_row).collect()
    }

    async fn delete_all(&self, user: Uuid) -> Result<(), StoreError> {
        let games = self.catalog.games();
        if games.is_empty() {
            return Ok(());
        }
        // One statement over every game, so the deletion is all or nothing.
        let placeholders = vec!["?"; games.len()].join(", ");
        let sql = format!("DELETE FROM matches WHERE user_id = ? AND game IN ({placeholders})");
        let mut query = sqlx::query(AssertSqlSafe(sql)).bind(user.to_string());
        for game in games {
            query = query.bind(&game.slug);
        }
        query
            .execute(&self.pool)
            .await
            .map_err(|err| classify("delete all of a user's matches", err))?;
        Ok(())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(|err| classify("ping the results database", err))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_or_exhausted_database_is_unavailable_and_anything_else_internal() {
        let timed_out = classify("list matches", sqlx::Error::PoolTimedOut);
        assert!(
            matches!(timed_out, StoreError::Unavailable(ref d) if d.starts_with("list matches"))
        );
        let closed = classify("list matches", sqlx::Error::PoolClosed);
        assert!(matches!(closed, StoreError::Unavailable(_)));
        let missing = classify("read a match", sqlx::Error::RowNotFound);
        assert!(matches!(missing, StoreError::Internal(_)));
    }

    #[test]
    fn the_migration_creates_the_table_and_its_listing_index() {
        let migrator = migrator();
        let sql = migrator.migrations[0].sql.as_str();
        assert!(sql.contains("PRIMARY KEY (game, id)"));
        assert!(sql.contains("(game, user_id, match_date DESC, created_at DESC)"));
    }
}
