//! Extractors whose rejections are our own pages, never axum's or serde's text (PC-14).

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::WebError;

/// A url-encoded form body. A missing field, a wrong content type or bad encoding is a
/// 400 page; a body over the limit is a 413 page.
pub struct Form<T>(pub T);

impl<T, S> FromRequest<S> for Form<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = WebError;

    async fn from_request(request: Request, state: &S) -> Result<Self, WebError> {
        match axum::Form::<T>::from_request(request, state).await {
            Ok(axum::Form(value)) => Ok(Form(value)),
            Err(rejection) => {
                // The parser's text names our types: it goes to the log, not the page.
                tracing::info!(reason = %rejection.body_text(), "form refused");
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    Err(WebError::TooLarge)
                } else {
                    Err(WebError::BadForm)
                }
            }
        }
    }
}

/// Path parameters; any that cannot be read name no page, so they answer 404.
pub struct PagePath<T>(pub T);

impl<T, S> FromRequestParts<S> for PagePath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, WebError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(PagePath(value)),
            Err(rejection) => {
                tracing::info!(reason = %rejection.body_text(), "path refused");
                Err(WebError::NotFound)
            }
        }
    }
}

/// The query string as ordered pairs, kept as the browser sent them.
pub struct QueryPairs(pub Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for QueryPairs {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, WebError> {
        match axum::extract::Query::<Vec<(String, String)>>::try_from_uri(&parts.uri) {
            Ok(axum::extract::Query(pairs)) => Ok(QueryPairs(pairs)),
            Err(rejection) => {
                tracing::info!(reason = %rejection.body_text(), "query refused");
                Err(WebError::BadQuery)
            }
        }
    }
}

impl QueryPairs {
    /// The last value given for `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}
