//! Extractors that answer bad input in our own error shape: axum's rejections carry
//! parser text and Rust type names, which must not reach a client (PC-14).

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::{BodyProblem, CrudError};

/// A JSON body; refusals say what was wrong without quoting the parser.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = CrudError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(request, state).await {
            Ok(Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(CrudError::BadBody(body_problem(&rejection))),
        }
    }
}

fn body_problem(rejection: &JsonRejection) -> BodyProblem {
    // The parser's own words stay in the log, at debug: they may quote the body.
    tracing::debug!(detail = %rejection.body_text(), "unreadable JSON body");
    match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => BodyProblem::TooLarge,
        StatusCode::UNSUPPORTED_MEDIA_TYPE => BodyProblem::NotJson,
        _ => BodyProblem::Malformed,
    }
}

/// Path parameters as text; the handlers parse them into domain types.
pub struct ApiPath<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = CrudError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(value)| Self(value))
            .map_err(|_| CrudError::BadPath("The address has a part that cannot be read."))
    }
}

/// The query string as name/value pairs in order, repeats kept.
pub struct ApiQuery(pub Vec<(String, String)>);

impl<S> FromRequestParts<S> for ApiQuery
where
    S: Send + Sync,
{
    type Rejection = CrudError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Query::<Vec<(String, String)>>::from_request_parts(parts, state)
            .await
            .map(|Query(pairs)| Self(pairs))
            .map_err(|_| CrudError::BadQuery("The query string cannot be read.".into()))
    }
}
