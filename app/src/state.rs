//! What every app handler shares: the credentials store, the keys that verify callers,
//! the password hasher and the process lifecycle.

use std::sync::Arc;

use accounts_store::AccountStore;
use axum::extract::FromRef;
use shared::auth::InternalKeys;
use shared::http::Lifecycle;

use crate::error::AppError;
use crate::hashing::Hasher;

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn AccountStore>,
    pub keys: InternalKeys,
    pub hasher: Hasher,
    pub lifecycle: Lifecycle,
}

impl AppState {
    /// Prepares the state; takes as long as one hash at `bcrypt_cost` (the dummy hash).
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
        })
    }
}

/// Lets `shared::auth::Caller` find the keys in this state.
impl FromRef<AppState> for InternalKeys {
    fn from_ref(state: &AppState) -> Self {
        state.keys.clone()
    }
}
