//! A JSON body extractor whose refusals are our own error shape, never serde's or axum's
//! text (tokio-rs/axum#1167).

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use crate::error::AppError;

/// Like [`axum::Json`], but a body that cannot be read answers with an [`AppError`].
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(JsonBody(value)),
            Err(rejection) => Err(refusal(&rejection)),
        }
    }
}

/// Sorts a rejection by its status only: its text may quote the body (a password sent as
/// a number, say), so it is neither shown nor logged.
fn refusal(rejection: &JsonRejection) -> AppError {
    match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => AppError::BodyTooLarge,
        StatusCode::UNSUPPORTED_MEDIA_TYPE => AppError::NotJson,
        StatusCode::UNPROCESSABLE_ENTITY => AppError::BodyDoesNotFit,
        _ => AppError::MalformedBody,
    }
}
