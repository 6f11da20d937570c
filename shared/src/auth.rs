//! Checking the credential that `web` (or `app`) attaches to every call between tiers.
//!
//! `app`, `crud` and the gateway extract [`Caller`] or [`User`] in their handlers; a call
//! with no credential, a forged one or an expired one is answered 401 before any handler
//! code runs. No handler takes a user id from a path, a query or a body.

use axum::extract::{FromRef, FromRequestParts};
use axum::http::StatusCode;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use uuid::Uuid;

use crate::api::ApiError;
use crate::tokens::{CredentialError, KeyRing, unix_now, verify_credential};

/// The key ring that verifies credentials between tiers, for `FromRef` in tier states.
#[derive(Clone, Debug)]
pub struct InternalKeys(pub KeyRing);

/// A verified caller, acting for a user or for nobody yet (sign-in, sign-up).
#[derive(Clone, Copy, Debug)]
pub struct Caller {
    pub user: Option<Uuid>,
}

/// A verified caller acting for a user.
#[derive(Clone, Copy, Debug)]
pub struct User {
    pub id: Uuid,
}

/// Why a call between tiers was refused.
#[derive(Debug)]
pub struct Unauthenticated(&'static str);

impl IntoResponse for Unauthenticated {
    fn into_response(self) -> Response {
        ApiError::new("unauthenticated", self.0).with_status(StatusCode::UNAUTHORIZED)
    }
}

impl<S> FromRequestParts<S> for Caller
where
    InternalKeys: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Unauthenticated;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let keys = InternalKeys::from_ref(state);
        let token = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .ok_or(Unauthenticated("This call needs a credential."))?;
        let claims = verify_credential(&keys.0, token, unix_now()).map_err(|err| match err {
            CredentialError::Expired => Unauthenticated("The credential has expired."),
            CredentialError::Invalid => Unauthenticated("The credential is not valid."),
        })?;
        if let Some(user) = claims.sub {
            tracing::Span::current().record("user.id", tracing::field::display(user));
        }
        Ok(Caller { user: claims.sub })
    }
}

impl<S> FromRequestParts<S> for User
where
    InternalKeys: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Unauthenticated;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let caller = Caller::from_request_parts(parts, state).await?;
        let id = caller
            .user
            .ok_or(Unauthenticated("This call must act for a user."))?;
        Ok(User { id })
    }
}
