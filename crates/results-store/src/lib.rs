//! The results store: each player's matches, per game, behind one trait with a SQLite
//! backend (the embedded default) and a DynamoDB backend (one table per game).
//!
//! Every operation names the game and the owner; a match of another user is treated as
//! absent, so no caller can reach someone else's data by guessing an id.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Map, Value as Json};
use shared::catalog::{Catalog, Game};
use shared::config::{Config, ResultsDb};
use uuid::Uuid;

pub mod dynamo;
mod sqlite;

pub use dynamo::DynamoStore;
pub use sqlite::SqliteStore;

/// One stored match.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredMatch {
    pub id: Uuid,
    pub user_id: Uuid,
    /// The values in the catalog's encoded form ([`Game::encode`]).
    pub fields: Map<String, Json>,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
    pub updated_at: i64,
}

impl StoredMatch {
    /// A match created now by `user_id`.
    pub fn new(id: Uuid, user_id: Uuid, fields: Map<String, Json>, now_ms: i64) -> Self {
        Self {
            id,
            user_id,
            fields,
            created_at: now_ms,
            updated_at: now_ms,
        }
    }

    /// The `date` field as `YYYY-MM-DD`, the key that listings are ordered by; empty when
    /// absent (the catalog requires a date, so only a damaged record lacks one).
    pub fn match_date(&self) -> &str {
        self.fields
            .get("date")
            .and_then(Json::as_str)
            .unwrap_or_default()
    }
}

/// What an insert did.
#[derive(Clone, Debug, PartialEq)]
pub enum Inserted {
    /// The match was new and is now stored.
    Created,
    /// This user already stored a match with this id in this game (a retried create);
    /// nothing was written and this is the stored one.
    AlreadyExists(StoredMatch),
    /// The id belongs to another user's match; nothing was written.
    IdTaken,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend cannot serve now (pool exhausted, database busy or unreachable,
    /// throttled); a caller may try again later.
    #[error("the results store is unavailable: {0}")]
    Unavailable(String),
    /// Anything else: a bug, a damaged record, a missing table.
    #[error("the results store failed: {0}")]
    Internal(String),
}

/// The operations the crud tier needs. Callers hold an `Arc<dyn ResultStore>` and never
/// know which backend serves them.
#[async_trait]
pub trait ResultStore: Send + Sync + 'static {
    /// Stores `record` (owned by `record.user_id`) only if its id is new in this game.
    async fn insert(&self, game: &Game, record: &StoredMatch) -> Result<Inserted, StoreError>;

    /// The user's match with this id; `None` when missing or owned by someone else.
    async fn get(
        &self,
        game: &Game,
        user: Uuid,
        id: Uuid,
    ) -> Result<Option<StoredMatch>, StoreError>;

    /// Replaces the values of the user's match; `None` when missing or someone else's.
    async fn update(
        &self,
        game: &Game,
        user: Uuid,
        id: Uuid,
        fields: &Map<String, Json>,
        now_ms: i64,
    ) -> Result<Option<StoredMatch>, StoreError>;

    /// Removes the user's match; `false` when missing or someone else's.
    async fn delete(&self, game: &Game, user: Uuid, id: Uuid) -> Result<bool, StoreError>;

    /// All of the user's matches in the game: newest match date first, ties by newest
    /// creation first, then by id.
    async fn list(&self, game: &Game, user: Uuid) -> Result<Vec<StoredMatch>, StoreError>;

    /// Removes every match of the user in every game of the catalog (account deletion).
    async fn delete_all(&self, user: Uuid) -> Result<(), StoreError>;

    /// Whether the backend answers; for readiness.
    async fn ping(&self) -> Result<(), StoreError>;
}

/// Opens the store that `config` selects, for the shipped catalog.
pub async fn connect(config: &Config) -> Result<Arc<dyn ResultStore>, StoreError> {
    connect_with_catalog(config, Catalog::builtin()).await
}

/// Opens the store that `config` selects, for `catalog` (tests use their own catalogs).
pub async fn connect_with_catalog(
    config: &Config,
    catalog: &'static Catalog,
) -> Result<Arc<dyn ResultStore>, StoreError> {
    match &config.results_db {
        ResultsDb::Sqlite(url) => {
            let store = SqliteStore::open(url, config, catalog).await?;
            Ok(Arc::new(store))
        }
        ResultsDb::DynamoDb => {
            let store = DynamoStore::from_env(&config.table_prefix, catalog).await?;
            Ok(Arc::new(store))
        }
    }
}

/// The order every backend lists in: newest match date, then newest creation, then id.
pub fn listing_order(a: &StoredMatch, b: &StoredMatch) -> std::cmp::Ordering {
    b.match_date()
        .cmp(a.match_date())
        .then_with(|| b.created_at.cmp(&a.created_at))
        .then_with(|| b.id.cmp(&a.id))
}
