//! The session cookie, the signed-out CSRF cookie, and the extractors that turn a cookie
//! into a signed-in user.
//!
//! The cookie holds only the opaque session token, sealed with the session key so that a
//! forged or altered cookie is turned away without a call to `app`; `app` alone decides
//! whether the session is still alive (24 hours, ended by sign-out).

use axum::extract::FromRequestParts;
use axum::http::header::SET_COOKIE;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use shared::api::{NewSession, SessionInfo};
use shared::client::CallContext;
use shared::http::RequestId;
use shared::tokens::{self, KeyRing};
use uuid::Uuid;

use crate::WebState;
use crate::error::WebError;

pub const SESSION_COOKIE: &str = "matchlog_session";
pub const CSRF_COOKIE: &str = "matchlog_csrf";

/// What the session cookie of a request holds.
pub enum CookieState {
    Missing,
    /// Present but not sealed by our key: forged, altered or from an old key.
    Invalid,
    Token(String),
}

pub fn read_session_cookie(headers: &HeaderMap, keys: &KeyRing) -> CookieState {
    let jar = CookieJar::from_headers(headers);
    let Some(cookie) = jar.get(SESSION_COOKIE) else {
        return CookieState::Missing;
    };
    match tokens::open_session(keys, cookie.value()) {
        Some(token) => CookieState::Token(token.to_string()),
        None => CookieState::Invalid,
    }
}

/// The signed-out CSRF token from its cookie, if the browser has one.
pub fn read_csrf_cookie(headers: &HeaderMap) -> Option<String> {
    let jar = CookieJar::from_headers(headers);
    jar.get(CSRF_COOKIE)
        .map(|cookie| cookie.value().to_string())
        .filter(|value| !value.is_empty())
}

/// The cookie for a session just opened. It expires when `app` says the session does;
/// `app` enforces that lifetime itself, whatever a client does with the cookie.
pub fn session_cookie(keys: &KeyRing, session: &NewSession, secure: bool) -> HeaderValue {
    let lifetime = (session.expires_at - tokens::unix_now()).max(0);
    let cookie = Cookie::build((SESSION_COOKIE, tokens::seal_session(keys, &session.token)))
        .http_only(true)
        .same_site(SameSite::Lax)
        .path("/")
        .max_age(time::Duration::seconds(lifetime))
        .secure(secure)
        .build();
    header_value(&cookie)
}

pub fn clear_session_cookie() -> HeaderValue {
    let cookie = Cookie::build((SESSION_COOKIE, ""))
        .http_only(true)
        .same_site(SameSite::Lax)
        .path("/")
        .max_age(time::Duration::ZERO)
        .build();
    header_value(&cookie)
}

/// A browser-session cookie holding the token that signed-out forms must echo.
pub fn csrf_cookie(token: &str, secure: bool) -> HeaderValue {
    let cookie = Cookie::build((CSRF_COOKIE, token.to_string()))
        .http_only(true)
        .same_site(SameSite::Lax)
        .path("/")
        .secure(secure)
        .build();
    header_value(&cookie)
}

fn header_value(cookie: &Cookie<'_>) -> HeaderValue {
    HeaderValue::from_str(&cookie.to_string()).expect("cookie values are header-safe")
}

/// Appends a `Set-Cookie` header to a response's headers.
pub fn set_cookie(headers: &mut HeaderMap, value: HeaderValue) {
    headers.append(SET_COOKIE, value);
}

/// A signed-in user, checked with `app` for this request.
#[derive(Clone, Debug)]
pub struct SignedIn {
    pub token: String,
    pub user_id: Uuid,
    pub user_name: String,
    /// The CSRF token for forms shown in this session.
    pub csrf: String,
    pub request_id: String,
}

impl SignedIn {
    /// The context for calls acting for this user.
    pub fn context(&self) -> CallContext<'_> {
        CallContext {
            request_id: &self.request_id,
            user: Some(self.user_id),
        }
    }
}

/// The session token from a valid-looking cookie, not yet checked with `app`. Form posts
/// take this first so that a failed CSRF check never reaches an upstream tier.
#[derive(Clone, Debug)]
pub struct SessionCookie {
    pub token: String,
    pub request_id: String,
}

/// The id of this request, as the common layers set it; forwarded to `app` and `crud`.
async fn request_id(parts: &mut Parts, state: &WebState) -> String {
    let Ok(RequestId(id)) = RequestId::from_request_parts(parts, state).await;
    id
}

/// Where to come back after signing in: the page asked for, for reads only.
fn next_for(parts: &Parts) -> Option<String> {
    (parts.method == Method::GET).then(|| {
        parts
            .uri
            .path_and_query()
            .map_or_else(|| "/games".to_string(), |pq| pq.as_str().to_string())
    })
}

impl FromRequestParts<WebState> for SessionCookie {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &WebState) -> Result<Self, WebError> {
        let next = next_for(parts);
        match read_session_cookie(&parts.headers, &state.session_keys) {
            CookieState::Token(token) => Ok(SessionCookie {
                token,
                request_id: request_id(parts, state).await,
            }),
            CookieState::Missing => Err(WebError::SignInRequired {
                next,
                clear_cookie: false,
            }),
            CookieState::Invalid => Err(WebError::SignInRequired {
                next,
                clear_cookie: true,
            }),
        }
    }
}

impl FromRequestParts<WebState> for SignedIn {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &WebState) -> Result<Self, WebError> {
        let cookie = SessionCookie::from_request_parts(parts, state).await?;
        state.resolve(cookie, next_for(parts)).await
    }
}

impl WebState {
    /// Asks `app` who holds the session; an ended or expired one signs the browser out.
    pub async fn resolve(
        &self,
        cookie: SessionCookie,
        next: Option<String>,
    ) -> Result<SignedIn, WebError> {
        let context = CallContext {
            request_id: &cookie.request_id,
            user: None,
        };
        match self.app.session(context, &cookie.token).await {
            Ok(info) => Ok(self.signed_in(cookie, info)),
            Err(err)
                if err
                    .refusal()
                    .is_some_and(|(status, _)| status == StatusCode::UNAUTHORIZED) =>
            {
                Err(WebError::SignInRequired {
                    next,
                    clear_cookie: true,
                })
            }
            Err(err) => Err(err.into()),
        }
    }

    /// For form posts: the CSRF token must belong to the cookie's session before `app` is
    /// asked anything.
    pub async fn authorize(
        &self,
        cookie: SessionCookie,
        submitted_csrf: &str,
    ) -> Result<SignedIn, WebError> {
        if !tokens::check_session_csrf(&self.session_keys, &cookie.token, submitted_csrf) {
            return Err(WebError::Forbidden);
        }
        self.resolve(cookie, None).await
    }

    fn signed_in(&self, cookie: SessionCookie, info: SessionInfo) -> SignedIn {
        tracing::Span::current().record("user.id", tracing::field::display(info.user_id));
        SignedIn {
            csrf: tokens::csrf_for_session(&self.session_keys, &cookie.token),
            token: cookie.token,
            user_id: info.user_id,
            user_name: info.user_name,
            request_id: cookie.request_id,
        }
    }
}
