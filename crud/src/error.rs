//! The crud tier's one error type: every refusal and failure, with its status and the
//! body a client sees chosen in one place.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use results_store::StoreError;
use shared::api::ApiError;
use shared::catalog::FieldErrors;

#[derive(Debug, thiserror::Error)]
pub enum CrudError {
    #[error("the game slug is not in the catalog")]
    UnknownGame,
    /// Missing, someone else's, or an id that cannot exist: one answer for all three.
    #[error("no such match for this user")]
    NotFound,
    /// A path with an empty or unreadable part; the message says which part.
    #[error("bad path: {0}")]
    BadPath(&'static str),
    #[error("bad query: {0}")]
    BadQuery(String),
    #[error("bad body: {0:?}")]
    BadBody(BodyProblem),
    #[error("invalid field values")]
    Invalid(FieldErrors),
    #[error("the match id belongs to another user")]
    IdTaken,
    #[error("no route for this path")]
    NoRoute,
    #[error("the route does not take this method")]
    MethodNotAllowed,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a JSON body could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyProblem {
    TooLarge,
    NotJson,
    Malformed,
}

impl IntoResponse for CrudError {
    fn into_response(self) -> Response {
        let (status, error) = match self {
            CrudError::UnknownGame => (
                StatusCode::NOT_FOUND,
                ApiError::new("unknown_game", "There is no game with that name."),
            ),
            CrudError::NotFound => (
                StatusCode::NOT_FOUND,
                ApiError::new("not_found", "There is no such match."),
            ),
            CrudError::BadPath(message) => (
                StatusCode::BAD_REQUEST,
                ApiError::new("invalid_path", message),
            ),
            CrudError::BadQuery(message) => (
                StatusCode::BAD_REQUEST,
                ApiError::new("invalid_query", &message),
            ),
            CrudError::BadBody(BodyProblem::TooLarge) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                ApiError::new("too_large", "The request body is too large."),
            ),
            CrudError::BadBody(BodyProblem::NotJson) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                ApiError::new(
                    "unsupported_media_type",
                    "Send the body as JSON with Content-Type: application/json.",
                ),
            ),
            CrudError::BadBody(BodyProblem::Malformed) => (
                StatusCode::BAD_REQUEST,
                ApiError::new(
                    "invalid_json",
                    "The body must be a JSON object with the fields this call takes.",
                ),
            ),
            CrudError::Invalid(fields) => {
                (StatusCode::UNPROCESSABLE_ENTITY, ApiError::invalid(fields))
            }
            CrudError::IdTaken => (
                StatusCode::CONFLICT,
                ApiError::new("id_taken", "That match id is already in use."),
            ),
            CrudError::NoRoute => (
                StatusCode::NOT_FOUND,
                ApiError::new("not_found", "There is nothing at this address."),
            ),
            CrudError::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                ApiError::new(
                    "method_not_allowed",
                    "This address does not take that method.",
                ),
            ),
            CrudError::Store(StoreError::Unavailable(detail)) => {
                tracing::warn!(error = %detail, "results store unavailable");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    ApiError::new(
                        "unavailable",
                        "Results cannot be reached right now; try again shortly.",
                    ),
                )
            }
            CrudError::Store(StoreError::Internal(detail)) => {
                tracing::error!(error = %detail, "results store failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    ApiError::new("internal", "Something went wrong on our side."),
                )
            }
        };
        error.with_status(status)
    }
}
