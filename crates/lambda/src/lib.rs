//! Runs a tier's router as an AWS Lambda function behind API Gateway.
//!
//! The router is the very one the TCP binary serves; this crate only adapts the event
//! around it. `lambda_http` turns API Gateway REST (payload 1.0) and HTTP API (2.0)
//! events into requests: it decodes base64 bodies, joins the 2.0 `cookies` array into a
//! `Cookie` header, and puts each `Set-Cookie` of a response where the payload version
//! expects it (the 2.0 `cookies` field, the 1.0 `multiValueHeaders`); text responses go
//! back as text, other types as base64. Around it, [`event::tidy`] repairs what its
//! conversion would panic on or lose, and [`path`] gives the routes the path the client
//! asked for, without the stage.

use std::convert::Infallible;
use std::future::Future;
use std::process::ExitCode;

use axum::Router;
use axum::body::Body;
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderValue, Response, StatusCode};
use lambda_http::request::LambdaRequest;
use lambda_http::{Adapter, Context, LambdaEvent, service_fn};
use serde::Serialize;
use shared::config::Config;
use tower::ServiceExt as _;
use tower::util::MapRequest;

pub mod event;
pub mod path;
pub mod peer;

/// What a Lambda binary's `main` does: telemetry, configuration from the environment,
/// the tier's router from `build` (the same builder its TCP binary uses), then events
/// until the function instance is retired. A configuration or start-up error is printed
/// and ends the process with status 1, which Lambda reports as an init failure.
///
/// On Lambda only `/tmp` is writable, and nothing there outlives the instance: production
/// sets `MATCHLOG_ENV=production` with `MATCHLOG_SESSION_KEY` and `MATCHLOG_INTERNAL_KEY`,
/// and the PostgreSQL and DynamoDB stores (`MATCHLOG_CREDENTIALS_DB`,
/// `MATCHLOG_RESULTS_DB=dynamodb`), so the data dir (`MATCHLOG_DATA_DIR=/tmp/matchlog`)
/// holds nothing that matters.
pub async fn serve_tier<F, Fut>(name: &str, build: F) -> ExitCode
where
    F: FnOnce(Config) -> Fut,
    Fut: Future<Output = anyhow::Result<Router>>,
{
    shared::telemetry::init();
    // Outside Lambda the runtime would panic on the missing variable; say so plainly.
    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_none() {
        eprintln!(
            "{name}: AWS_LAMBDA_RUNTIME_API is not set; this binary runs inside AWS Lambda \
             (to try an event locally, use lambda::invoke)"
        );
        return ExitCode::FAILURE;
    }
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(err) => {
            eprintln!("{name}: configuration error: {err}");
            return ExitCode::FAILURE;
        }
    };
    let router = match build(config).await {
        Ok(router) => router,
        Err(err) => {
            eprintln!("{name}: {err:#}");
            return ExitCode::FAILURE;
        }
    };
    match run(router).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = %err, "the Lambda runtime stopped");
            eprintln!("{name}: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Serves `router` to the Lambda runtime until the function instance is retired.
pub async fn run(router: Router) -> Result<(), lambda_http::Error> {
    let handler = service_fn(move |event| handle(router.clone(), event));
    lambda_http::lambda_runtime::run(handler).await
}

/// The router behind the step that gives a converted event what a TCP request has: the
/// client's path without the stage, and the client's address. The step wraps the router
/// rather than being one of its layers, because a router's own layers run after it has
/// matched the path.
pub type Adapted = MapRequest<Router, fn(lambda_http::Request) -> lambda_http::Request>;

pub fn adapt(router: Router) -> Adapted {
    router.map_request(as_over_tcp as fn(lambda_http::Request) -> lambda_http::Request)
}

fn as_over_tcp(request: lambda_http::Request) -> lambda_http::Request {
    peer::with_source_addr(path::route_request(request))
}

/// One event through the router: tidied, converted, answered, and converted back into
/// the response document for the event's payload version.
fn handle(
    router: Router,
    mut event: LambdaEvent<LambdaRequest>,
) -> impl Future<Output = Result<impl Serialize, Infallible>> {
    let tidied = event::tidy(&mut event.payload);
    async move {
        match tidied {
            Ok(()) => Adapter::from(adapt(router)).oneshot(event).await,
            Err(event::UnreadableBody) => {
                tracing::warn!("an event's body was marked base64 but is not; answered 400");
                without_body(&mut event.payload);
                let refuse = service_fn(|_request: lambda_http::Request| async {
                    Ok::<_, Infallible>(unreadable_body())
                });
                Adapter::from(refuse).oneshot(event).await
            }
        }
    }
}

fn without_body(event: &mut LambdaRequest) {
    match event {
        LambdaRequest::ApiGatewayV1(event) => (event.body, event.is_base64_encoded) = (None, false),
        LambdaRequest::ApiGatewayV2(event) => (event.body, event.is_base64_encoded) = (None, false),
        _ => {}
    }
}

/// The answer for an event whose body cannot be decoded: API Gateway never sends one, so
/// a plain refusal is enough, in the shape of the event's payload version.
fn unreadable_body() -> Response<Body> {
    let mut response = Response::new(Body::from("The request body could not be read.\n"));
    *response.status_mut() = StatusCode::BAD_REQUEST;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// Feeds one API Gateway event document to `router` exactly as [`run`] would, and
/// returns the response document the function would give API Gateway. For tests, and
/// for trying an event by hand.
pub async fn invoke(router: Router, event: &str) -> Result<serde_json::Value, InvokeError> {
    let payload: LambdaRequest = serde_json::from_str(event).map_err(InvokeError::Event)?;
    let event = LambdaEvent::new(payload, Context::default());
    let response = match handle(router, event).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    serde_json::to_value(response).map_err(InvokeError::Response)
}

#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    #[error("the event is not an API Gateway event: {0}")]
    Event(serde_json::Error),
    #[error("the response could not be serialised: {0}")]
    Response(serde_json::Error),
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use axum::extract::ConnectInfo;
    use axum::http::Uri;
    use axum::routing::get;
    use serde_json::json;

    use super::*;

    fn echo_router() -> Router {
        let echo = get(|uri: Uri| async move { uri.to_string() });
        Router::new()
            .route("/games", echo.clone())
            .route("/v1/sessions", echo.clone())
            .route("/", echo)
    }

    fn rest_event(path: &str, stage: &str) -> serde_json::Value {
        json!({
            "resource": "/{proxy+}",
            "path": path,
            "httpMethod": "GET",
            "headers": {"Host": "example.execute-api.us-east-1.amazonaws.com"},
            "multiValueHeaders": {"Host": ["example.execute-api.us-east-1.amazonaws.com"]},
            "queryStringParameters": null,
            "multiValueQueryStringParameters": null,
            "requestContext": {
                "accountId": "123456789012", "resourceId": "abc", "stage": stage, "requestId": "r1",
                "identity": {"sourceIp": "203.0.113.9"}, "resourcePath": "/{proxy+}", "httpMethod": "GET",
                "path": format!("/{stage}{path}"), "apiId": "example"
            },
            "body": null,
            "isBase64Encoded": false
        })
    }

    fn http_event(raw_path: &str, raw_query: &str, stage: &str) -> serde_json::Value {
        json!({
            "version": "2.0",
            "routeKey": "$default",
            "rawPath": raw_path,
            "rawQueryString": raw_query,
            "headers": {"host": "example.execute-api.us-east-1.amazonaws.com"},
            "requestContext": {
                "accountId": "123456789012", "apiId": "example", "domainName": "example.execute-api.us-east-1.amazonaws.com",
                "domainPrefix": "example", "requestId": "r2", "routeKey": "$default", "stage": stage,
                "time": "12/Mar/2026:19:03:58 +0000", "timeEpoch": 1_773_342_238_000_i64,
                "http": {"method": "GET", "path": raw_path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.9", "userAgent": "test"}
            },
            "isBase64Encoded": false
        })
    }

    async fn body_of(router: Router, event: serde_json::Value) -> serde_json::Value {
        let response = invoke(router, &event.to_string()).await.unwrap();
        assert_eq!(response["statusCode"], 200, "{response}");
        response["body"].clone()
    }

    #[tokio::test]
    async fn a_rest_stage_never_reaches_the_routes() {
        let body = body_of(echo_router(), rest_event("/games", "prod")).await;
        assert_eq!(body, "/games");
        // A REST path that begins with the stage's name is still the client's own path.
        let body = body_of(echo_router(), rest_event("/v1/sessions", "v1")).await;
        assert_eq!(body, "/v1/sessions");
    }

    #[tokio::test]
    async fn an_http_api_stage_is_taken_off_the_raw_path() {
        for (raw_path, stage, seen) in [
            ("/prod/games", "prod", "/games"),
            ("/v1/v1/sessions", "v1", "/v1/sessions"),
            ("/games", "$default", "/games"),
            ("/prod", "prod", "/"),
        ] {
            let body = body_of(echo_router(), http_event(raw_path, "", stage)).await;
            assert_eq!(body, seen, "{raw_path} on {stage}");
        }
    }

    #[tokio::test]
    async fn the_source_address_is_the_peer_as_the_socket_is_over_tcp() {
        let router = Router::new().route(
            "/games",
            get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.ip().to_string() }),
        );
        let body = body_of(router.clone(), rest_event("/games", "prod")).await;
        assert_eq!(body, "203.0.113.9");
        let mut event = http_event("/games", "", "$default");
        event["requestContext"]["http"]["sourceIp"] = json!("2001:db8::7");
        assert_eq!(body_of(router, event).await, "2001:db8::7");
    }

    #[tokio::test]
    async fn a_query_that_a_uri_cannot_hold_is_answered_not_panicked_on() {
        let event = http_event("/games", "q=Ann Lee&x=\"<b>\"", "$default");
        let body = body_of(echo_router(), event).await;
        assert_eq!(body, "/games?q=Ann%20Lee&x=%22%3Cb%3E%22");
    }

    #[tokio::test]
    async fn a_body_that_is_not_base64_gets_a_400_in_the_events_shape() {
        let mut event = http_event("/games", "", "$default");
        event["body"] = json!("not base64 at all!");
        event["isBase64Encoded"] = json!(true);
        let response = invoke(echo_router(), &event.to_string()).await.unwrap();
        assert_eq!(response["statusCode"], 400, "{response}");
        assert_eq!(response["isBase64Encoded"], false);
        assert_eq!(response["body"], "The request body could not be read.\n");
    }

    #[tokio::test]
    async fn something_that_is_not_an_event_is_an_error_not_a_panic() {
        let err = invoke(echo_router(), r#"{"hello": "world"}"#)
            .await
            .unwrap_err();
        assert!(matches!(err, InvokeError::Event(_)), "{err}");
    }
}
