//! Calls from one tier to another: the credential, the request id, timeouts, and one
//! error type that tells an unreachable tier from a refusal.

use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::api::{
    Account, AccountDeletion, ApiError, CLIENT_HEADER, Credentials, ErrorBody, MatchList,
    MatchRecord, MatchUpdate, NewMatch, NewSession, PasswordChange, REQUEST_ID_HEADER,
    SESSION_HEADER, SessionInfo,
};
use crate::tokens::{KeyRing, mint_credential, unix_now};
use crate::upstream::{Endpoint, Side, Upstreams, answers_live};

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

/// Where a [`TierClient`] sends its calls.
#[derive(Clone, Debug)]
enum Targets {
    /// One base URL, no failover (tests, tools).
    Fixed(String),
    /// The primary or the gateway, as the health view and the routing rules pick.
    Routed {
        upstreams: Arc<Upstreams>,
        side: Side,
    },
}

/// Whether a call may be sent again on the other path after a failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Retry {
    /// Idempotent, or made idempotent by an id the caller chose: always.
    Safe,
    /// Only when the first attempt never reached the tier (connection refused).
    IfNotSent,
}

/// Why one attempt failed to get an answer.
enum Failure {
    /// The tier never saw the request.
    NotSent(String),
    /// The request may have reached the tier, and the connection broke.
    MaybeSent(String),
    /// The request may have reached the tier, and no answer came in time.
    TimedOut(String),
    /// The tier answered that it cannot serve now (its store is down). The other path
    /// shares that store, so neither a retry nor a switch would help.
    Declined(String),
}

impl Failure {
    fn detail(&self) -> String {
        match self {
            Failure::NotSent(detail)
            | Failure::MaybeSent(detail)
            | Failure::TimedOut(detail)
            | Failure::Declined(detail) => detail.clone(),
        }
    }
}

/// A client for one side of the system, with the credential and the request id on
/// every call.
#[derive(Clone, Debug)]
pub struct TierClient {
    tier: &'static str,
    targets: Targets,
    http: reqwest::Client,
    keys: KeyRing,
}

impl TierClient {
    /// A client for one base URL, without failover.
    pub fn new(tier: &'static str, base_url: &str, keys: KeyRing, timeout: Duration) -> Self {
        let targets = Targets::Fixed(base_url.trim_end_matches('/').to_string());
        Self {
            tier,
            targets,
            http: http_client(timeout),
            keys,
        }
    }

    /// A client that follows the health view: the primary for `side` while the rules
    /// allow, else the gateway, retrying a safe call on the other path at once.
    pub fn routed(upstreams: Arc<Upstreams>, side: Side, keys: KeyRing, timeout: Duration) -> Self {
        let tier = match side {
            Side::Accounts => "app",
            Side::Results => "crud",
        };
        Self {
            tier,
            targets: Targets::Routed { upstreams, side },
            http: http_client(timeout),
            keys,
        }
    }

    fn request(&self, base_url: &str, call: &Call<'_>) -> reqwest::RequestBuilder {
        let credential = mint_credential(&self.keys, call.context.user, unix_now());
        let mut request = self
            .http
            .request(call.method.clone(), format!("{base_url}{}", call.path))
            .bearer_auth(credential)
            .header(REQUEST_ID_HEADER, call.context.request_id)
            .query(call.query);
        if let Some(token) = call.session {
            request = request.header(SESSION_HEADER, token);
        }
        if let Some(client) = call.client {
            request = request.header(CLIENT_HEADER, client);
        }
        if let Some(body) = &call.body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.clone());
        }
        request
    }

    async fn send(&self, call: Call<'_>) -> Result<reqwest::Response, CallError> {
        match &self.targets {
            Targets::Fixed(base_url) => match self.attempt(base_url, &call).await {
                Ok(outcome) => outcome,
                Err(failure) => Err(self.unavailable(failure.detail())),
            },
            Targets::Routed { upstreams, side } => self.send_routed(upstreams, *side, &call).await,
        }
    }

    /// Tries the endpoint the rules pick, then, after a failure that allows it, the other
    /// path.
    async fn send_routed(
        &self,
        upstreams: &Arc<Upstreams>,
        side: Side,
        call: &Call<'_>,
    ) -> Result<reqwest::Response, CallError> {
        let [first, second] = upstreams.route(side);
        first.count_call(side);
        let failure = match self.attempt(&first.base_url, call).await {
            Ok(outcome) => return outcome,
            Err(Failure::Declined(detail)) => return Err(self.unavailable(detail)),
            Err(failure) => failure,
        };
        self.judge(upstreams, first, &failure);
        let may_retry = call.retry == Retry::Safe || matches!(failure, Failure::NotSent(_));
        if !may_retry {
            return Err(self.unavailable(failure.detail()));
        }
        tracing::warn!(
            from = first.name,
            to = second.name,
            reason = %failure.detail(),
            "retrying a call on the other path"
        );
        second.count_call(side);
        match self.attempt(&second.base_url, call).await {
            Ok(outcome) => outcome,
            Err(failure) => {
                self.judge(upstreams, second, &failure);
                Err(self.unavailable(failure.detail()))
            }
        }
    }

    /// Takes `endpoint` out of use after a failed call when the failure shows it gone: at
    /// once for a connection that failed or broke; after a timeout only if its liveness
    /// endpoint stays silent too. A tier that is alive but slow (a queue of password hashes
    /// in a burst of sign-ins, PC-07) keeps its traffic, and only the late call goes to the
    /// other path; a switch would send every later call there as well. A frozen or hung
    /// tier fails the liveness check too. The check runs on its own task, so it never adds
    /// to the user's wait.
    fn judge(&self, upstreams: &Arc<Upstreams>, endpoint: &Endpoint, failure: &Failure) {
        match failure {
            Failure::NotSent(detail) | Failure::MaybeSent(detail) => endpoint.mark_down(detail),
            Failure::TimedOut(detail) => {
                let upstreams = Arc::clone(upstreams);
                let http = self.http.clone();
                let name = endpoint.name;
                let detail = detail.clone();
                tokio::spawn(async move {
                    let Some(endpoint) = upstreams.endpoints().find(|e| e.name == name) else {
                        return;
                    };
                    let timeout = upstreams.policy.probe_timeout;
                    if answers_live(&http, endpoint, timeout).await {
                        tracing::info!(
                            upstream = name,
                            "a call timed out on a tier that is alive: kept in use"
                        );
                    } else {
                        endpoint.mark_down(&detail);
                    }
                });
            }
            Failure::Declined(_) => {}
        }
    }

    fn unavailable(&self, detail: String) -> CallError {
        CallError::Unavailable {
            tier: self.tier,
            detail,
        }
    }

    /// One attempt at one base URL: `Ok` with the answer (a success or a refusal in our
    /// error shape), or why no usable answer came.
    async fn attempt(
        &self,
        base_url: &str,
        call: &Call<'_>,
    ) -> Result<Result<reqwest::Response, CallError>, Failure> {
        let response = match self.request(base_url, call).send().await {
            Ok(response) => response,
            Err(err) if err.is_connect() => return Err(Failure::NotSent(describe(&err))),
            Err(err) if err.is_timeout() => return Err(Failure::TimedOut(describe(&err))),
            Err(err) => return Err(Failure::MaybeSent(describe(&err))),
        };
        let status = response.status();
        if status.is_success() {
            return Ok(Ok(response));
        }
        match response.json::<ErrorBody>().await {
            Ok(body) if status == StatusCode::SERVICE_UNAVAILABLE => {
                Err(Failure::Declined(body.error.message))
            }
            Ok(body) => Ok(Err(CallError::Refused {
                tier: self.tier,
                status,
                error: body.error,
            })),
            // A balancer's own answer: no tier of ours behind it is serving.
            Err(_) if is_unavailable_status(status) => {
                Err(Failure::MaybeSent(format!("status {status}")))
            }
            Err(_) => Ok(Err(CallError::Refused {
                tier: self.tier,
                status,
                error: ApiError::new("unexpected", "The other tier gave an unexpected answer."),
            })),
        }
    }

    async fn json<T: DeserializeOwned>(&self, call: Call<'_>) -> Result<T, CallError> {
        let response = self.send(call).await?;
        response.json().await.map_err(|err| CallError::Unavailable {
            tier: self.tier,
            detail: describe(&err),
        })
    }

    async fn empty(&self, call: Call<'_>) -> Result<(), CallError> {
        self.send(call).await.map(drop)
    }
}

/// Everything needed to send a call again on another path.
struct Call<'a> {
    method: Method,
    path: String,
    context: CallContext<'a>,
    query: &'a [(String, String)],
    session: Option<&'a str>,
    /// The browser's address, for the sign-in limits.
    client: Option<&'a str>,
    body: Option<Vec<u8>>,
    retry: Retry,
}

impl<'a> Call<'a> {
    fn new(method: Method, path: String, context: CallContext<'a>) -> Self {
        Self {
            method,
            path,
            context,
            query: &[],
            session: None,
            client: None,
            body: None,
            retry: Retry::Safe,
        }
    }

    fn json(mut self, body: &impl Serialize) -> Self {
        self.body = Some(serde_json::to_vec(body).expect("API bodies serialise"));
        self
    }

    fn session(mut self, token: &'a str) -> Self {
        self.session = Some(token);
        self
    }

    fn client(mut self, client: Option<&'a str>) -> Self {
        self.client = client;
        self
    }

    fn query(mut self, query: &'a [(String, String)]) -> Self {
        self.query = query;
        self
    }

    fn retry(mut self, retry: Retry) -> Self {
        self.retry = retry;
        self
    }
}

fn http_client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(timeout.min(Duration::from_secs(2)))
        .timeout(timeout)
        // Shorter than the servers' keep-alive, so we never reuse a connection they are closing.
        .pool_idle_timeout(Duration::from_secs(50))
        .build()
        .expect("the HTTP client builds with static settings")
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
    /// Sent again on the other path only if it never arrived: a sign-up that reached a
    /// dying `app` may have created the account, and a second try would call the name taken.
    pub async fn sign_up(
        &self,
        context: CallContext<'_>,
        credentials: &Credentials,
    ) -> Result<Account, CallError> {
        let call = Call::new(Method::POST, "/v1/accounts".into(), context).json(credentials);
        self.0.json(call.retry(Retry::IfNotSent)).await
    }

    pub async fn sign_in(
        &self,
        context: CallContext<'_>,
        credentials: &Credentials,
    ) -> Result<NewSession, CallError> {
        self.sign_in_from(context, credentials, None).await
    }

    /// A sign-in from the browser at `client`, which `app` counts for its attempt limits.
    pub async fn sign_in_from(
        &self,
        context: CallContext<'_>,
        credentials: &Credentials,
        client: Option<&str>,
    ) -> Result<NewSession, CallError> {
        let call = Call::new(Method::POST, "/v1/sessions".into(), context).json(credentials);
        self.0.json(call.client(client)).await
    }

    /// Changes the password of the session's account and ends its other sessions. Sent
    /// again only if it never arrived: a second try would meet the new password.
    pub async fn change_password(
        &self,
        context: CallContext<'_>,
        token: &str,
        change: &PasswordChange,
        client: Option<&str>,
    ) -> Result<(), CallError> {
        let path = "/v1/accounts/current/password".into();
        let call = Call::new(Method::PUT, path, context)
            .session(token)
            .json(change)
            .client(client);
        self.0.empty(call.retry(Retry::IfNotSent)).await
    }

    /// Deletes the session's account, its sessions and its matches.
    pub async fn delete_account(
        &self,
        context: CallContext<'_>,
        token: &str,
        deletion: &AccountDeletion,
        client: Option<&str>,
    ) -> Result<(), CallError> {
        let path = "/v1/accounts/current".into();
        let call = Call::new(Method::DELETE, path, context)
            .session(token)
            .json(deletion)
            .client(client);
        self.0.empty(call.retry(Retry::IfNotSent)).await
    }

    /// Who holds this session token; `Refused` with 401 when it is unknown, expired or ended.
    pub async fn session(
        &self,
        context: CallContext<'_>,
        token: &str,
    ) -> Result<SessionInfo, CallError> {
        self.0
            .json(Call::new(Method::GET, "/v1/sessions/current".into(), context).session(token))
            .await
    }

    pub async fn sign_out(&self, context: CallContext<'_>, token: &str) -> Result<(), CallError> {
        self.0
            .empty(Call::new(Method::DELETE, "/v1/sessions/current".into(), context).session(token))
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
        self.0
            .json(Call::new(Method::GET, matches_path(game), context).query(query))
            .await
    }

    /// Safe to send twice: the store creates the match only if its id is new.
    pub async fn create(
        &self,
        context: CallContext<'_>,
        game: &str,
        new: &NewMatch,
    ) -> Result<MatchRecord, CallError> {
        self.0
            .json(Call::new(Method::POST, matches_path(game), context).json(new))
            .await
    }

    pub async fn get(
        &self,
        context: CallContext<'_>,
        game: &str,
        id: Uuid,
    ) -> Result<MatchRecord, CallError> {
        self.0
            .json(Call::new(Method::GET, match_path(game, id), context))
            .await
    }

    pub async fn update(
        &self,
        context: CallContext<'_>,
        game: &str,
        id: Uuid,
        update: &MatchUpdate,
    ) -> Result<MatchRecord, CallError> {
        self.0
            .json(Call::new(Method::PUT, match_path(game, id), context).json(update))
            .await
    }

    pub async fn delete(
        &self,
        context: CallContext<'_>,
        game: &str,
        id: Uuid,
    ) -> Result<(), CallError> {
        self.0
            .empty(Call::new(Method::DELETE, match_path(game, id), context))
            .await
    }

    /// Removes every match of the calling user in every game (account deletion).
    pub async fn delete_all(&self, context: CallContext<'_>) -> Result<(), CallError> {
        self.0
            .empty(Call::new(Method::DELETE, "/v1/matches".into(), context))
            .await
    }
}

fn matches_path(game: &str) -> String {
    format!("/v1/games/{}/matches", encode_segment(game))
}

fn match_path(game: &str, id: Uuid) -> String {
    format!("/v1/games/{}/matches/{id}", encode_segment(game))
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

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use axum::routing::get;

    use super::*;
    use crate::upstream::HealthPolicy;
    use crate::upstream::tests::{serve, silent};

    const SESSION: &str = "/v1/sessions/current";

    /// A tier that resolves every session to the same user.
    fn session_router() -> axum::Router {
        let info = SessionInfo {
            user_id: Uuid::nil(),
            user_name: "ann".into(),
            expires_at: 0,
        };
        axum::Router::new().route(SESSION, get(move || async move { axum::Json(info) }))
    }

    /// A tier that is alive (liveness answers at once) and slow to resolve sessions.
    fn slow_router() -> axum::Router {
        axum::Router::new()
            .route(
                SESSION,
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(3)).await;
                    "late"
                }),
            )
            .route("/health/live", get(|| async { "live" }))
    }

    /// An account client whose `app` is `app_url`, with the gateway serving sessions.
    async fn client_with_app(app_url: &str) -> (AppClient, Arc<Upstreams>) {
        let gateway = serve(session_router()).await;
        let policy = HealthPolicy {
            probe_timeout: Duration::from_millis(200),
            ..HealthPolicy::default()
        };
        let upstreams = Arc::new(Upstreams::new(
            Some(app_url),
            "http://127.0.0.1:9",
            &gateway,
            policy,
        ));
        let client = TierClient::routed(
            Arc::clone(&upstreams),
            Side::Accounts,
            KeyRing::generate(),
            Duration::from_millis(300),
        );
        (AppClient(client), upstreams)
    }

    fn context() -> CallContext<'static> {
        CallContext {
            request_id: "test",
            user: None,
        }
    }

    fn app_status(upstreams: &Upstreams) -> crate::upstream::EndpointStatus {
        upstreams.app.as_ref().unwrap().status()
    }

    #[tokio::test]
    async fn a_call_that_outlasts_the_timeout_on_a_live_tier_is_retried_and_the_tier_kept() {
        let (client, upstreams) = client_with_app(&serve(slow_router()).await).await;
        let started = Instant::now();
        let info = client.session(context(), "token").await.unwrap();
        assert_eq!(info.user_name, "ann", "answered by the gateway");
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "no wait on the check"
        );

        tokio::time::sleep(Duration::from_millis(500)).await;
        let app = app_status(&upstreams);
        assert!(app.up, "alive and slow is no reason to switch: {app:?}");
        assert_eq!(app.switches, 0);
        assert_eq!(upstreams.gateway.status().account_calls, 1);
    }

    #[tokio::test]
    async fn a_call_that_times_out_on_a_silent_tier_takes_it_out_of_use() {
        let (client, upstreams) = client_with_app(&silent().await).await;
        let info = client.session(context(), "token").await.unwrap();
        assert_eq!(info.user_name, "ann", "answered by the gateway");

        tokio::time::sleep(Duration::from_millis(500)).await;
        let app = app_status(&upstreams);
        assert!(
            !app.up,
            "a frozen tier fails its liveness check too: {app:?}"
        );
        assert_eq!(app.switches, 1);
    }

    #[tokio::test]
    async fn a_refused_connection_takes_the_tier_out_of_use_at_once() {
        let closed = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            format!("http://{}", listener.local_addr().unwrap())
        };
        let (client, upstreams) = client_with_app(&closed).await;
        client.session(context(), "token").await.unwrap();
        assert!(!app_status(&upstreams).up);
        let [first, _] = upstreams.route(Side::Accounts);
        assert_eq!(
            first.name, "gateway",
            "the next call goes to the gateway first"
        );
    }
}
