//! The match routes: list, create, read, update, delete, and delete-all for an account.
//!
//! The user always comes from the verified credential ([`User`]), never from the path, the
//! query or the body, and every store call names that user.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use results_store::{Inserted, StoredMatch};
use serde_json::{Map, Value as JsonValue};
use shared::api::{MatchList, MatchRecord, MatchUpdate, NewMatch};
use shared::auth::User;
use shared::catalog::Game;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::CrudState;
use crate::error::CrudError;
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::listing::{self, ListQuery};

pub fn router() -> Router<CrudState> {
    Router::new()
        .route(
            "/v1/games/{game}/matches",
            get(list_matches).post(create_match),
        )
        .route(
            "/v1/games/{game}/matches/{id}",
            get(get_match).put(update_match).delete(delete_match),
        )
        .route("/v1/matches", delete(delete_all_matches))
}

async fn list_matches(
    State(state): State<CrudState>,
    user: User,
    ApiPath(slug): ApiPath<String>,
    ApiQuery(pairs): ApiQuery,
) -> Result<Json<MatchList>, CrudError> {
    let game = state.game(&slug)?;
    let query = ListQuery::parse(game, &pairs)?;
    let records = state.store.list(game, user.id).await?;
    Ok(Json(listing::build(game, &query, records)))
}

async fn create_match(
    State(state): State<CrudState>,
    user: User,
    ApiPath(slug): ApiPath<String>,
    ApiJson(new): ApiJson<NewMatch>,
) -> Result<Response, CrudError> {
    let game = state.game(&slug)?;
    let values = parse_values(game, &new.fields)?;
    let record = StoredMatch::new(new.id, user.id, values, now_ms());
    match state.store.insert(game, &record).await? {
        Inserted::Created => {
            tracing::info!(game = %game.slug, result.id = %record.id, "match stored");
            let body = Json(listing::to_record(game, record));
            Ok((StatusCode::CREATED, body).into_response())
        }
        Inserted::AlreadyExists(existing) => {
            tracing::info!(
                game = %game.slug,
                result.id = %existing.id,
                "retried create answered with the stored match"
            );
            Ok(Json(listing::to_record(game, existing)).into_response())
        }
        Inserted::IdTaken => Err(CrudError::IdTaken),
    }
}

async fn get_match(
    State(state): State<CrudState>,
    user: User,
    ApiPath((slug, id)): ApiPath<(String, String)>,
) -> Result<Json<MatchRecord>, CrudError> {
    let game = state.game(&slug)?;
    let id = match_id(&id)?;
    let record = state.store.get(game, user.id, id).await?;
    let record = record.ok_or(CrudError::NotFound)?;
    Ok(Json(listing::to_record(game, record)))
}

async fn update_match(
    State(state): State<CrudState>,
    user: User,
    ApiPath((slug, id)): ApiPath<(String, String)>,
    ApiJson(update): ApiJson<MatchUpdate>,
) -> Result<Json<MatchRecord>, CrudError> {
    let game = state.game(&slug)?;
    let id = match_id(&id)?;
    let values = parse_values(game, &update.fields)?;
    let updated = state
        .store
        .update(game, user.id, id, &values, now_ms())
        .await?;
    let record = updated.ok_or(CrudError::NotFound)?;
    tracing::info!(game = %game.slug, result.id = %id, "match updated");
    Ok(Json(listing::to_record(game, record)))
}

async fn delete_match(
    State(state): State<CrudState>,
    user: User,
    ApiPath((slug, id)): ApiPath<(String, String)>,
) -> Result<StatusCode, CrudError> {
    let game = state.game(&slug)?;
    let id = match_id(&id)?;
    if !state.store.delete(game, user.id, id).await? {
        return Err(CrudError::NotFound);
    }
    tracing::info!(game = %game.slug, result.id = %id, "match deleted");
    Ok(StatusCode::NO_CONTENT)
}

async fn delete_all_matches(
    State(state): State<CrudState>,
    user: User,
) -> Result<StatusCode, CrudError> {
    state.store.delete_all(user.id).await?;
    tracing::info!("every match of the user deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// Checks submitted values against the catalog (today is the UTC date) and returns them in
/// the stored form.
fn parse_values(
    game: &Game,
    fields: &Map<String, JsonValue>,
) -> Result<Map<String, JsonValue>, CrudError> {
    let today = OffsetDateTime::now_utc().date();
    let values = game.parse_json(fields, today).map_err(CrudError::Invalid)?;
    Ok(game.encode(&values))
}

/// An id from the path. One that is not a UUID names no match, so it gets the same answer
/// as a missing one.
fn match_id(text: &str) -> Result<Uuid, CrudError> {
    if text.trim().is_empty() {
        return Err(CrudError::BadPath(
            "The match id is missing from the address.",
        ));
    }
    Uuid::parse_str(text).map_err(|_| CrudError::NotFound)
}

fn now_ms() -> i64 {
    let nanos = OffsetDateTime::now_utc().unix_timestamp_nanos();
    i64::try_from(nanos / 1_000_000).unwrap_or(i64::MAX)
}
