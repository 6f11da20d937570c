//! `POST /v1/accounts`: sign-up.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use shared::api::{Account, Credentials};
use shared::auth::Caller;
use shared::username::{Password, Username};
use uuid::Uuid;

use crate::error::AppError;
use crate::json::JsonBody;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/accounts", post(create_account))
}

async fn create_account(
    State(state): State<AppState>,
    _caller: Caller,
    JsonBody(credentials): JsonBody<Credentials>,
) -> Result<(StatusCode, Json<Account>), AppError> {
    let (name, password) = parse_new_account(&credentials)?;
    let hash = state.hasher.hash(password).await?;
    // The store's unique index, not a lookup beforehand, decides a race for one name.
    let account = state
        .store
        .create_account(Uuid::now_v7(), &name, &hash)
        .await?;
    tracing::info!(user.id = %account.id, "account created");
    let body = Account {
        user_id: account.id,
        user_name: account.user_name,
    };
    Ok((StatusCode::CREATED, Json(body)))
}

/// Both fields checked, so the form can mark every field at fault at once.
fn parse_new_account(credentials: &Credentials) -> Result<(Username, Password), AppError> {
    let name = Username::parse(&credentials.user_name);
    let password = Password::parse_new(&credentials.user_pass);
    match (name, password) {
        (Ok(name), Ok(password)) => Ok((name, password)),
        (name, password) => {
            let mut fields = BTreeMap::new();
            if let Err(err) = name {
                fields.insert("user_name".to_string(), err.to_string());
            }
            if let Err(err) = password {
                fields.insert("user_pass".to_string(), err.to_string());
            }
            Err(AppError::Invalid(fields))
        }
    }
}
