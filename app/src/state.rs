//! What every app handler shares: the credentials store, the keys that verify callers,
//! the password hasher, the attempt limits, the client for `crud` and the process
//! lifecycle.

use std::sync::Arc;

use accounts_store::AccountStore;
use axum::extract::FromRef;
use shared::auth::InternalKeys;
use shared::client::CrudClient;
use shared::http::Lifecycle;

use crate::error::AppError;
use crate::hashing::Hasher;
use crate::limits::SignInLimits;
use crate::sessions::SESSION_TTL_SECONDS;

/// Attempt bursts when nothing else is configured (the configuration's own defaults).
const DEFAULT_ACCOUNT_BURST: u32 = 10;
const DEFAULT_CLIENT_BURST: u32 = 50;

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn AccountStore>,
    pub keys: InternalKeys,
    pub hasher: Hasher,
    pub lifecycle: Lifecycle,
    pub limits: SignInLimits,
    /// Seconds a session lives after sign-in.
    pub session_ttl_seconds: i64,
    /// Where a deleted account's matches are removed; without it, deletion answers 503
    /// and keeps the account.
    pub crud: Option<CrudClient>,
}

impl AppState {
    /// Prepares the state; takes as long as one hash at `bcrypt_cost` (the dummy hash).
    /// Sessions last 24 hours, the attempt limits are the defaults, and no `crud` is
    /// attached: see [`AppState::with_crud`] and the other `with_` methods.
    pub async fn new(
        store: Arc<dyn AccountStore>,
        keys: InternalKeys,
        bcrypt_cost: u32,
        hash_concurrency: usize,
        lifecycle: Lifecycle,
    ) -> Result<Self, AppError> {
        Ok(Self {
            store,
            keys,
            hasher: Hasher::new(bcrypt_cost, hash_concurrency).await?,
            lifecycle,
            limits: SignInLimits::new(DEFAULT_ACCOUNT_BURST, DEFAULT_CLIENT_BURST),
            session_ttl_seconds: SESSION_TTL_SECONDS,
            crud: None,
        })
    }

    /// The client through which account deletion removes the account's matches.
    pub fn with_crud(mut self, crud: CrudClient) -> Self {
        self.crud = Some(crud);
        self
    }

    pub fn with_limits(mut self, limits: SignInLimits) -> Self {
        self.limits = limits;
        self
    }

    pub fn with_session_ttl(mut self, seconds: i64) -> Self {
        self.session_ttl_seconds = seconds.max(1);
        self
    }
}

/// Lets `shared::auth::Caller` find the keys in this state.
impl FromRef<AppState> for InternalKeys {
    fn from_ref(state: &AppState) -> Self {
        state.keys.clone()
    }
}
