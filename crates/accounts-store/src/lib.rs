//! Credentials and sessions for the `app` tier: one trait, a SQLite backend for the embedded
//! default and a PostgreSQL backend for scale, chosen by the URL in the configuration.
//!
//! User names are compared in their canonical form, computed in Rust by
//! [`shared::username::canonical_form`]; the database's unique index on that form decides
//! which of two racing sign-ups wins. Session tokens are stored only as their digest.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use shared::config::Config;
use shared::username::Username;
use uuid::Uuid;

mod error;
mod migrations;
pub mod postgres;
pub mod sqlite;

pub use error::StoreError;
pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

/// A stored account.
#[derive(Clone, PartialEq, Eq)]
pub struct AccountRecord {
    pub id: Uuid,
    /// The name as its owner wrote it.
    pub user_name: String,
    pub canonical_name: String,
    pub password_hash: String,
    /// Seconds since the Unix epoch.
    pub created_at: i64,
}

impl fmt::Debug for AccountRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccountRecord")
            .field("id", &self.id)
            .field("user_name", &self.user_name)
            .finish_non_exhaustive()
    }
}

/// Who holds a live session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionOwner {
    pub user_id: Uuid,
    pub user_name: String,
    /// Seconds since the Unix epoch.
    pub expires_at: i64,
}

/// The credentials store. Object safe: the `app` tier holds an `Arc<dyn AccountStore>`.
#[async_trait]
pub trait AccountStore: Send + Sync + 'static {
    /// Stores a new account; [`StoreError::NameTaken`] when its canonical name is in use.
    async fn create_account(
        &self,
        id: Uuid,
        name: &Username,
        password_hash: &str,
    ) -> Result<AccountRecord, StoreError>;

    /// The account whose canonical name is `canonical_name`.
    async fn find_account(&self, canonical_name: &str)
    -> Result<Option<AccountRecord>, StoreError>;

    /// The account with this id.
    async fn account(&self, user_id: Uuid) -> Result<Option<AccountRecord>, StoreError>;

    /// Replaces an account's password hash and, in the same transaction, ends every
    /// session of the account but the one under `keep_digest`; returns whether the
    /// account exists.
    async fn set_password(
        &self,
        user_id: Uuid,
        password_hash: &str,
        keep_digest: &str,
    ) -> Result<bool, StoreError>;

    /// Opens a session under the digest of its token.
    async fn create_session(
        &self,
        token_digest: &str,
        user_id: Uuid,
        expires_at: i64,
    ) -> Result<(), StoreError>;

    /// The owner of a session that has not expired at `now` (seconds since the epoch).
    async fn resolve_session(
        &self,
        token_digest: &str,
        now: i64,
    ) -> Result<Option<SessionOwner>, StoreError>;

    /// Ends one session; ending a session that is already gone is not an error.
    async fn delete_session(&self, token_digest: &str) -> Result<(), StoreError>;

    /// Ends every session of `user_id` but the one under `keep_digest`; returns how many ended.
    async fn delete_other_sessions(
        &self,
        user_id: Uuid,
        keep_digest: &str,
    ) -> Result<u64, StoreError>;

    /// Removes an account and all its sessions; returns whether the account existed.
    async fn delete_account(&self, user_id: Uuid) -> Result<bool, StoreError>;

    /// Whether the store answers, for readiness.
    async fn ping(&self) -> Result<(), StoreError>;
}

/// How to reach the credentials store and how many connections to hold.
#[derive(Clone)]
pub struct StoreSettings {
    /// A `sqlite:` or `postgres://` URL.
    pub url: String,
    pub pool_size: u32,
    /// How long a caller waits for a pooled connection before the store is `Unavailable`.
    pub acquire_timeout: Duration,
}

impl fmt::Debug for StoreSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The URL may hold a database password.
        f.debug_struct("StoreSettings")
            .field("pool_size", &self.pool_size)
            .field("acquire_timeout", &self.acquire_timeout)
            .finish_non_exhaustive()
    }
}

impl StoreSettings {
    pub fn from_config(config: &Config) -> Self {
        Self {
            url: config.credentials_db.expose().clone(),
            pool_size: config.db_pool_size,
            acquire_timeout: config.db_acquire_timeout,
        }
    }
}

/// Opens the store that `config` names and brings its schema up to date.
pub async fn connect(config: &Config) -> Result<Arc<dyn AccountStore>, StoreError> {
    connect_with(&StoreSettings::from_config(config)).await
}

/// Opens the store that `settings` names and brings its schema up to date.
pub async fn connect_with(settings: &StoreSettings) -> Result<Arc<dyn AccountStore>, StoreError> {
    let url = settings.url.as_str();
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(PostgresStore::connect(settings).await?))
    } else if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::connect(settings).await?))
    } else {
        Err(StoreError::internal(
            "choose a backend",
            "the credentials URL is neither sqlite: nor postgres://",
        ))
    }
}
