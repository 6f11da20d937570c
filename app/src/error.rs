//! The app tier's one error type: each variant's status and wire error chosen in one match.

use std::collections::BTreeMap;

use accounts_store::StoreError;
use axum::http::header::RETRY_AFTER;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use shared::api::ApiError;
use shared::client::CallError;

/// Why an app request did not succeed. `Display` is for logs; clients see only the
/// [`ApiError`] that [`AppError::status_and_error`] picks.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Values that break a rule, with a message per field.
    #[error("invalid values in {}", .0.keys().cloned().collect::<Vec<_>>().join(", "))]
    Invalid(BTreeMap<String, String>),
    /// Unknown user name or wrong password: deliberately one answer for both.
    #[error("wrong user name or password")]
    BadCredentials,
    /// Too many password attempts for this account or from this client, for now.
    #[error("too many password attempts; retry after {retry_after_seconds} s")]
    TooManyAttempts { retry_after_seconds: u64 },
    /// The results tier could not remove a deleted account's matches.
    #[error("the results tier did not remove the account's matches")]
    Results(#[source] CallError),
    /// The session token is missing, unknown, expired or ended.
    #[error("no live session")]
    NoSession,
    /// The body is not JSON at all.
    #[error("the request body is not valid JSON")]
    MalformedBody,
    /// The body is JSON but misses a field or has a value of the wrong type.
    #[error("the request body does not have the expected fields")]
    BodyDoesNotFit,
    #[error("the request body is not declared as JSON")]
    NotJson,
    #[error("the request body is too large")]
    BodyTooLarge,
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A password hash could not be computed or checked.
    #[error("password hashing failed: {0}")]
    Hashing(String),
}

impl AppError {
    /// The one place where an error becomes a status and what the client reads.
    pub fn status_and_error(&self) -> (StatusCode, ApiError) {
        match self {
            AppError::Invalid(fields) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                ApiError::invalid(fields.clone()),
            ),
            AppError::BadCredentials => (
                StatusCode::UNAUTHORIZED,
                ApiError::new("bad_credentials", "Wrong user name or password."),
            ),
            AppError::TooManyAttempts {
                retry_after_seconds,
            } => (
                StatusCode::TOO_MANY_REQUESTS,
                ApiError {
                    retry_after_seconds: Some(*retry_after_seconds),
                    ..ApiError::new(
                        "too_many_attempts",
                        "Too many password attempts. Wait a little and try again.",
                    )
                },
            ),
            AppError::Results(CallError::Unavailable { .. }) => (
                StatusCode::SERVICE_UNAVAILABLE,
                ApiError::new(
                    "unavailable",
                    "Your matches could not be removed right now, so the account was kept. \
                     Please try again in a moment.",
                ),
            ),
            AppError::Results(CallError::Refused { .. }) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                ApiError::new("internal", "Something went wrong on our side."),
            ),
            AppError::NoSession => (
                StatusCode::UNAUTHORIZED,
                ApiError::new("no_session", "There is no such session, or it has ended."),
            ),
            AppError::MalformedBody => (
                StatusCode::BAD_REQUEST,
                ApiError::new("bad_request", "The request body is not valid JSON."),
            ),
            AppError::BodyDoesNotFit => (
                StatusCode::UNPROCESSABLE_ENTITY,
                ApiError::new(
                    "invalid",
                    "The request body misses a field or has a value of the wrong type.",
                ),
            ),
            AppError::NotJson => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                ApiError::new(
                    "unsupported_media_type",
                    "Send the request body as application/json.",
                ),
            ),
            AppError::BodyTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                ApiError::new("too_large", "The request body is too large."),
            ),
            AppError::Store(StoreError::NameTaken) => (
                StatusCode::CONFLICT,
                ApiError::new("name_taken", "That user name is taken."),
            ),
            AppError::Store(StoreError::Unavailable { .. }) => (
                StatusCode::SERVICE_UNAVAILABLE,
                ApiError::new(
                    "unavailable",
                    "The service is busy right now. Please try again in a moment.",
                ),
            ),
            AppError::Store(StoreError::Internal { .. }) | AppError::Hashing(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                ApiError::new("internal", "Something went wrong on our side."),
            ),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, error) = self.status_and_error();
        // Logged once, here at the boundary and inside the request span, with the chain of
        // causes; the client gets only the fixed message above.
        if status.is_server_error() {
            tracing::error!(error = %chain(&self), status = status.as_u16(), "request failed");
        } else {
            tracing::info!(error = %self, status = status.as_u16(), "request refused");
        }
        let retry_after = error.retry_after_seconds;
        let mut response = error.with_status(status);
        if let Some(seconds) = retry_after {
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// `error: cause: cause ...`, for one log line.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_errors_say_nothing_internal() {
        let internal = AppError::Store(StoreError::Internal {
            action: "insert an account",
            source: "near \"INSERT\": syntax error in accounts".into(),
        });
        let (status, error) = internal.status_and_error();
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!error.message.contains("INSERT"));
        assert!(
            chain(&internal).contains("syntax error"),
            "the log keeps the cause"
        );
    }
}
