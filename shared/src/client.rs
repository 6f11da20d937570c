//! Calls from one tier to another: the credential, the request id, timeouts, and one
//! error type that tells an unreachable tier from a refusal.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::api::{
    Account, ApiError, Credentials, ErrorBody, MatchList, MatchRecord, MatchUpdate, NewMatch,
    REQUEST_ID_HEADER, SESSION_HEADER, SessionInfo,
};
use crate::tokens::{KeyRing, mint_credential, unix_now};

/// Why a call to another tier did not give the answer asked for.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The tier could not be reached, timed out, or answered that it cannot serve now.
    #[error("the {tier} tier is unavailable: {detail}")]
    Unavailable { tier: &'static str, detail: String },
    /// The tier answered with a refusal in our error shape.
    #[error("the {tier} tier refused the call ({status}): {}", error.code)]
    Refused {
        tier: &'static str,
        status: StatusCode,
        error: ApiError,
    },
}

impl CallError {
    /// The refusal's status and error, when the tier answered with one.
    pub fn refusal(&self) -> Option<(StatusCode, &ApiError)> {
        match self {
            CallError::Refused { status, error, .. } => Some((*status, error)),
            CallError::Unavailable { .. } => None,
        }
    }
}

/// Who the call acts for and which user request it belongs to.
#[derive(Clone, Copy, Debug)]
pub struct CallContext<'a> {
    pub request_id: &'a str,
    pub user: Option<Uuid>,
}

/// A client for one tier at one base URL.
#[derive(Clone, Debug)]
pub struct TierClient {
    tier: &'static str,
    base_url: String,
    http: reqwest::Client,
    keys: KeyRing,
}

impl TierClient {
    pub fn new(tier: &'static str, base_url: &str, keys: KeyRing, timeout: Duration) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(timeout.min(Duration::from_secs(2)))
            .timeout(timeout)
            .pool_idle_timeout(Duration::from_secs(50))
            .build()
            .expect("the HTTP client builds with static settings");
        Self {
            tier,
            base_url: base_url.trim_end_matches('/').to_string(),
            http,
            keys,
        }
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    fn request(
        &self,
        method: Method,
        path: &str,
        context: CallContext<'_>,
    ) -> reqwest::RequestBuilder {
        let credential = mint_credential(&self.keys, context.user, unix_now());
        self.http
            .request(method, format!("{}{path}", self.base_url))
            .bearer_auth(credential)
            .header(REQUEST_ID_HEADER, context.request_id)
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Result<reqwest::Response, CallError> {
        let unavailable = |detail: String| CallError::Unavailable {
            tier: self.tier,
            detail,
        };
        let response = request
            .send()
            .await
            .map_err(|err| unavailable(describe(&err)))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let error = match response.json::<ErrorBody>().await {
            Ok(body) => body.error,
            Err(_) if is_unavailable_status(status) => {
                return Err(unavailable(format!("status {status}")));
            }
            Err(_) => ApiError::new("unexpected", "The other tier gave an unexpected answer."),
        };
        if status == StatusCode::SERVICE_UNAVAILABLE {
            return Err(unavailable(error.message));
        }
        Err(CallError::Refused {
            tier: self.tier,
            status,
            error,
        })
    }

    async fn json<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<T, CallError> {
        let response = self.send(request).await?;
        response.json().await.map_err(|err| CallError::Unavailable {
            tier: self.tier,
            detail: describe(&err),
        })
    }

    async fn empty(&self, request: reqwest::RequestBuilder) -> Result<(), CallError> {
        self.send(request).await.map(drop)
    }
}

fn is_unavailable_status(status: StatusCode) -> bool {
    matches!(
        status,
        StatusCode::BAD_GATEWAY | StatusCode::SERVICE_UNAVAILABLE | StatusCode::GATEWAY_TIMEOUT
    )
}

fn describe(err: &reqwest::Error) -> String {
    if err.is_timeout() {
        "timed out".into()
    } else if err.is_connect() {
        "connection failed".into()
    } else if err.is_decode() {
        "unreadable answer".into()
    } else {
        "request failed".into()
    }
}

/// The account side: `app`, or the gateway serving its routes.
#[derive(Clone, Debug)]
pub struct AppClient(pub TierClient);

impl AppClient {
    pub async fn sign_up(
        &self,
        context: CallContext<'_>,
        credentials: &Credentials,
    ) -> Result<Account, CallError> {
        self.0
            .json(
                self.0
                    .request(Method::POST, "/v1/accounts", context)
                    .json(credentials),
            )
            .await
    }

    pub async fn sign_in(
        &self,
        context: CallContext<'_>,
        credentials: &Credentials,
    ) -> Result<crate::api::NewSession, CallError> {
        self.0
            .json(
                self.0
                    .request(Method::POST, "/v1/sessions", context)
                    .json(credentials),
            )
            .await
    }

    /// Who holds this session token; `Refused` with 401 when it is unknown, expired or ended.
    pub async fn session(
        &self,
        context: CallContext<'_>,
        token: &str,
    ) -> Result<SessionInfo, CallError> {
        self.0
            .json(
                self.0
                    .request(Method::GET, "/v1/sessions/current", context)
                    .header(SESSION_HEADER, token),
            )
            .await
    }

    pub async fn sign_out(&self, context: CallContext<'_>, token: &str) -> Result<(), CallError> {
        self.0
            .empty(
                self.0
                    .request(Method::DELETE, "/v1/sessions/current", context)
                    .header(SESSION_HEADER, token),
            )
            .await
    }
}

/// The results side: `crud`, or the gateway serving its routes. Every call acts for
/// `context.user`.
#[derive(Clone, Debug)]
pub struct CrudClient(pub TierClient);

impl CrudClient {
    pub async fn list(
        &self,
        context: CallContext<'_>,
        game: &str,
        query: &[(String, String)],
    ) -> Result<MatchList, CallError> {
        let path = format!("/v1/games/{}/matches", encode_segment(game));
        self.0
            .json(self.0.request(Method::GET, &path, context).query(query))
            .await
    }

    pub async fn create(
        &self,
        context: CallContext<'_>,
        game: &str,
        new: &NewMatch,
    ) -> Result<MatchRecord, CallError> {
        let path = format!("/v1/games/{}/matches", encode_segment(game));
        self.0
            .json(self.0.request(Method::POST, &path, context).json(new))
            .await
    }

    pub async fn get(
        &self,
        context: CallContext<'_>,
        game: &str,
        id: Uuid,
    ) -> Result<MatchRecord, CallError> {
        let path = format!("/v1/games/{}/matches/{id}", encode_segment(game));
        self.0
            .json(self.0.request(Method::GET, &path, context))
            .await
    }

    pub async fn update(
        &self,
        context: CallContext<'_>,
        game: &str,
        id: Uuid,
        update: &MatchUpdate,
    ) -> Result<MatchRecord, CallError> {
        let path = format!("/v1/games/{}/matches/{id}", encode_segment(game));
        self.0
            .json(self.0.request(Method::PUT, &path, context).json(update))
            .await
    }

    pub async fn delete(
        &self,
        context: CallContext<'_>,
        game: &str,
        id: Uuid,
    ) -> Result<(), CallError> {
        let path = format!("/v1/games/{}/matches/{id}", encode_segment(game));
        self.0
            .empty(self.0.request(Method::DELETE, &path, context))
            .await
    }

    /// Removes every match of the calling user in every game (account deletion).
    pub async fn delete_all(&self, context: CallContext<'_>) -> Result<(), CallError> {
        self.0
            .empty(self.0.request(Method::DELETE, "/v1/matches", context))
            .await
    }
}

/// Game slugs are catalog data, but a path segment is encoded all the same.
fn encode_segment(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// Serialises any body the same way for tests and callers that build requests by hand.
pub fn to_json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("API bodies serialise")
}
