//! Layers around the pages: the origin check on form posts, the body size limit, panics
//! turned into our 500 page, error pages rendered with the request id, security headers.

use std::pin::Pin;

use askama::Template as _;
use axum::Router;
use axum::body::{Body, HttpBody as _};
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::header::{
    CACHE_CONTROL, CONTENT_LENGTH, CONTENT_SECURITY_POLICY, CONTENT_TYPE, EXPECT, HOST, ORIGIN,
    REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use shared::api::REQUEST_ID_HEADER;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::error::{ErrorPage, WebError};
use crate::views::{Chrome, ErrorView};

/// The largest form body accepted. matchlog's forms are a few hundred bytes; this sits far
/// below API Gateway's 10 MB and Lambda's 6 MB payload caps (PC-13).
pub const FORM_LIMIT: usize = 64 * 1024;
/// How much of an oversized body is read and thrown away so the client sees our 413 page
/// instead of a reset connection; beyond this the connection is simply closed.
const DRAIN_LIMIT: usize = 16 * 1024 * 1024;

pub const CONTENT_SECURITY_POLICY_VALUE: &str = "default-src 'self'; img-src 'self' data:; \
    style-src 'self'; script-src 'none'; frame-ancestors 'none'; form-action 'self'; \
    base-uri 'none'";

/// Wraps the page routes with the checks that run before any handler.
pub fn protect(pages: Router) -> Router {
    pages
        .layer(DefaultBodyLimit::max(FORM_LIMIT))
        .layer(middleware::from_fn(check_origin))
        .layer(middleware::from_fn(refuse_large_bodies))
        .layer(CatchPanicLayer::custom(|_panic| {
            WebError::Panicked.into_response()
        }))
        .layer(middleware::from_fn(render_error_pages))
        // Pages hold a user's results and form tokens: no shared or back-button caching.
        .layer(SetResponseHeaderLayer::if_not_present(
            CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
}

/// Sets the security headers on every response of `router`.
pub fn security_headers(router: Router) -> Router {
    let header = |name, value: &'static str| {
        SetResponseHeaderLayer::overriding(name, HeaderValue::from_static(value))
    };
    router
        .layer(header(
            CONTENT_SECURITY_POLICY,
            CONTENT_SECURITY_POLICY_VALUE,
        ))
        .layer(header(X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(header(REFERRER_POLICY, "same-origin"))
        .layer(header(X_FRAME_OPTIONS, "DENY"))
}

/// Refuses a state-changing request sent by a page of another site (PC-12). The CSRF
/// token is the main defence; this catches browsers that announce where a post came from.
async fn check_origin(request: Request, next: Next) -> Response {
    let safe = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    if !safe && !is_same_origin(request.headers(), request.uri()) {
        return WebError::Forbidden.into_response();
    }
    next.run(request).await
}

pub fn is_same_origin(headers: &HeaderMap, uri: &Uri) -> bool {
    let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    if header("sec-fetch-site") == Some("cross-site") {
        return false;
    }
    let Some(origin) = headers.get(ORIGIN) else {
        // Browsers that send no Origin on a post are old or privacy-stripped; the CSRF
        // token still decides.
        return true;
    };
    let host = headers
        .get(HOST)
        .and_then(|value| value.to_str().ok())
        .or_else(|| uri.authority().map(|authority| authority.as_str()));
    let (Ok(origin), Some(host)) = (origin.to_str(), host) else {
        return false;
    };
    origin.split_once("://").is_some_and(|(scheme, authority)| {
        matches!(scheme, "http" | "https") && authority.eq_ignore_ascii_case(host)
    })
}

/// Answers 413 at once for a body declared larger than any form.
async fn refuse_large_bodies(request: Request, next: Next) -> Response {
    let declared = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_none_or(|length| length <= FORM_LIMIT as u64) {
        return next.run(request).await;
    }
    // A client waiting for `100 Continue` never sends the body, so there is nothing to read.
    let waits = request.headers().contains_key(EXPECT);
    if !waits {
        drain(request.into_body()).await;
    }
    WebError::TooLarge.into_response()
}

/// Reads and discards a body, so that the client finishes sending and reads our answer.
async fn drain(mut body: Body) {
    let mut seen = 0;
    while seen <= DRAIN_LIMIT {
        match std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
            Some(Ok(frame)) => seen += frame.data_ref().map_or(0, |data| data.len()),
            Some(Err(_)) | None => break,
        }
    }
}

/// Fills in the body of error responses: our page, with this request's id.
async fn render_error_pages(request: Request, next: Next) -> Response {
    let request_id = request
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("")
        .to_string();
    let response = next.run(request).await;
    let page = match response.extensions().get::<ErrorPage>() {
        Some(page) => page.clone(),
        None if response.status() == StatusCode::METHOD_NOT_ALLOWED => ErrorPage {
            title: "Not allowed here",
            message: "This page does not take that kind of request. Go back and use the page's \
                      own links and buttons."
                .to_string(),
        },
        None => return response,
    };
    let (mut parts, _empty) = response.into_parts();
    let view = ErrorView {
        chrome: Chrome::neutral(page.title),
        status: parts.status.as_u16(),
        message: page.message,
        request_id,
    };
    let html = view.render().unwrap_or_else(|err| {
        tracing::error!(error = %err, "error page template failed");
        "<!doctype html><title>matchlog</title><p>Something went wrong.</p>".to_string()
    });
    parts.headers.remove(CONTENT_LENGTH);
    parts.headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    Response::from_parts(parts, Body::from(html))
}
