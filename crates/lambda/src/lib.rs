//! Runs a tier's router as an AWS Lambda function behind API Gateway.
//!
//! The router is the very one the TCP binary serves; this module only adapts the event
//! around it. `lambda_http` turns API Gateway REST (payload 1.0) and HTTP API (2.0)
//! events into requests: it decodes base64 bodies, joins the 2.0 `cookies` array into a
//! `Cookie` header, and puts each `Set-Cookie` of a response where the payload version
//! expects it. What it leaves to us is the stage: without
//! `AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH` it adds a REST stage to the path
//! (`/prod/games`), which our routes do not match, so [`adapt`] takes it off again.

use axum::Router;
use axum::http::Uri;
use lambda_http::RequestExt as _;
use lambda_http::request::RequestContext;
use tower::ServiceExt as _;
use tower::util::MapRequest;

/// Serves `router` to the Lambda runtime until the function instance is retired.
pub async fn run(router: Router) -> Result<(), lambda_http::Error> {
    lambda_http::run(adapt(router)).await
}

/// What the Lambda runtime calls: the router behind a stage-stripping step. The step
/// wraps the router rather than being one of its layers, because a router's own layers
/// run after it has matched the path.
pub type Adapted = MapRequest<Router, fn(lambda_http::Request) -> lambda_http::Request>;

pub fn adapt(router: Router) -> Adapted {
    router.map_request(strip_stage as fn(lambda_http::Request) -> lambda_http::Request)
}

fn strip_stage(mut request: lambda_http::Request) -> lambda_http::Request {
    if let Some(path) = path_without_stage(&request) {
        let query = request
            .uri()
            .query()
            .map(|q| format!("?{q}"))
            .unwrap_or_default();
        if let Ok(uri) = format!("{path}{query}").parse::<Uri>() {
            *request.uri_mut() = uri;
        }
    }
    request
}

/// The event's own path with a leading `/{stage}` removed, for API Gateway events.
fn path_without_stage(request: &lambda_http::Request) -> Option<String> {
    let stage = match request.extensions().request_context_ref()? {
        RequestContext::ApiGatewayV1(context) => context.stage.clone(),
        RequestContext::ApiGatewayV2(context) => context.stage.clone(),
        _ => None,
    }
    .filter(|stage| stage != "$default")?;
    let path = request.uri().path();
    let prefix = format!("/{stage}");
    let rest = path.strip_prefix(&prefix)?;
    match rest {
        "" => Some("/".to_string()),
        rest if rest.starts_with('/') => Some(rest.to_string()),
        _ => None,
    }
}

/// Feeds one API Gateway event document to `router` exactly as [`run`] would, and
/// returns the response document the function would give API Gateway. For tests, and
/// for trying an event by hand.
pub async fn invoke(router: Router, event: &str) -> Result<serde_json::Value, InvokeError> {
    let payload: lambda_http::request::LambdaRequest =
        serde_json::from_str(event).map_err(InvokeError::Event)?;
    let adapter = lambda_http::Adapter::from(adapt(router));
    let event = lambda_http::LambdaEvent::new(payload, lambda_http::Context::default());
    let response = match adapter.oneshot(event).await {
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
    use axum::routing::get;
    use serde_json::json;

    use super::*;

    fn echo_router() -> Router {
        Router::new().route("/games", get(|uri: Uri| async move { uri.to_string() }))
    }

    fn rest_event(path: &str, stage: &str) -> String {
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
        .to_string()
    }

    #[tokio::test]
    async fn a_rest_stage_is_taken_off_the_path() {
        let response = invoke(echo_router(), &rest_event("/games", "prod"))
            .await
            .unwrap();
        assert_eq!(response["statusCode"], 200, "{response}");
        assert_eq!(response["body"], "/games");
    }
}
