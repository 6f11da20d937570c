//! The one error type of the web tier and the page and status each variant becomes.
//!
//! An error answers with its status and an [`ErrorPage`] extension; the error-page layer
//! in `guard` turns that into HTML carrying the request id, which a handler's
//! `IntoResponse` cannot see.

use axum::http::header::{LOCATION, RETRY_AFTER, SET_COOKIE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use shared::client::CallError;

use crate::session;
use crate::urls;

#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("no such page")]
    NotFound,
    /// No valid session: back to the sign-in page, forgetting a cookie that failed.
    #[error("sign-in required")]
    SignInRequired {
        next: Option<String>,
        clear_cookie: bool,
    },
    #[error("CSRF or origin check failed")]
    Forbidden,
    #[error("form body could not be read")]
    BadForm,
    #[error("query string could not be read")]
    BadQuery,
    #[error("request body too large")]
    TooLarge,
    /// `app` refused a password attempt until the wait is over.
    #[error("too many password attempts; retry after {retry_after_seconds} s")]
    TooManyAttempts { retry_after_seconds: u64 },
    #[error(transparent)]
    Upstream(#[from] CallError),
    #[error("page template failed: {0}")]
    Render(#[from] askama::Error),
    #[error("a handler panicked")]
    Panicked,
}

/// What an error page says; rendered with the request id by the error-page layer.
#[derive(Clone, Debug)]
pub struct ErrorPage {
    pub title: &'static str,
    pub message: String,
}

const GENERIC_FAILURE: &str = "Something went wrong on our side. Try again; if it keeps happening, tell us the request id below.";

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let (status, title, message) = match &self {
            WebError::SignInRequired { next, clear_cookie } => {
                return sign_in_redirect(next.as_deref(), *clear_cookie);
            }
            WebError::NotFound
            | WebError::Upstream(CallError::Refused {
                status: StatusCode::NOT_FOUND,
                ..
            }) => (
                StatusCode::NOT_FOUND,
                "Page not found",
                "There is nothing here. The match may have been deleted, or the link is wrong."
                    .to_string(),
            ),
            WebError::Forbidden => (
                StatusCode::FORBIDDEN,
                "Form refused",
                "This form has expired or came from another site. Go back, reload and try again."
                    .to_string(),
            ),
            WebError::BadForm => (
                StatusCode::BAD_REQUEST,
                "Form not understood",
                "The form arrived incomplete or garbled. Go back, reload the page and try again."
                    .to_string(),
            ),
            WebError::BadQuery => (
                StatusCode::BAD_REQUEST,
                "Link not understood",
                "This link's settings could not be read. Go back and follow a link from the page."
                    .to_string(),
            ),
            WebError::TooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "Form too large",
                "That form was far larger than any matchlog form. Go back, reload and try again."
                    .to_string(),
            ),
            WebError::TooManyAttempts {
                retry_after_seconds,
            } => {
                return too_many_attempts(*retry_after_seconds);
            }
            WebError::Upstream(CallError::Unavailable { tier, .. }) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Service unavailable",
                format!(
                    "matchlog cannot reach its {} service right now; try again in a minute.",
                    service_name(tier)
                ),
            ),
            WebError::Upstream(CallError::Refused { .. })
            | WebError::Render(_)
            | WebError::Panicked => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                GENERIC_FAILURE.to_string(),
            ),
        };
        if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
        } else {
            tracing::info!(error = %self, "request refused");
        }
        let mut response = status.into_response();
        response
            .extensions_mut()
            .insert(ErrorPage { title, message });
        response
    }
}

/// A 429 page that says how long to wait, with `Retry-After` for clients that read it.
fn too_many_attempts(seconds: u64) -> Response {
    tracing::info!(retry_after = seconds, "password attempts limited");
    let wait = if seconds <= 90 {
        format!("{seconds} seconds")
    } else {
        format!("{} minutes", seconds.div_ceil(60))
    };
    let mut response = StatusCode::TOO_MANY_REQUESTS.into_response();
    response
        .headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from(seconds));
    response.extensions_mut().insert(ErrorPage {
        title: "Too many attempts",
        message: format!(
            "There have been too many password attempts for this account or from your \
             network. Your account is safe. Wait {wait} and try again."
        ),
    });
    response
}

/// The name a user knows each upstream tier by.
fn service_name(tier: &str) -> &'static str {
    match tier {
        "app" => "account",
        "crud" => "results",
        _ => "backing",
    }
}

fn sign_in_redirect(next: Option<&str>, clear_cookie: bool) -> Response {
    let location = match next {
        Some(next) => format!("/?next={}", urls::encode_component(next)),
        None => "/".to_string(),
    };
    let mut response = StatusCode::SEE_OTHER.into_response();
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&location) {
        headers.insert(LOCATION, value);
    }
    if clear_cookie {
        headers.append(SET_COOKIE, session::clear_session_cookie());
    }
    response
}

/// The answer for any path that names no page.
pub async fn not_found() -> WebError {
    WebError::NotFound
}
