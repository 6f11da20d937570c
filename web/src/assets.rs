//! Our stylesheet and favicon, built into the binary so the tier runs from any directory.

use axum::Router;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

const STYLE: &str = include_str!("../../static/style.css");
const FAVICON: &str = include_str!("../../static/favicon.svg");

pub fn router() -> Router {
    Router::new()
        .route(
            "/static/style.css",
            get(|| async { asset("text/css; charset=utf-8", STYLE) }),
        )
        .route(
            "/static/favicon.svg",
            get(|| async { asset("image/svg+xml", FAVICON) }),
        )
        // Browsers ask for this path whatever the page says.
        .route(
            "/favicon.ico",
            get(|| async { Redirect::permanent("/static/favicon.svg") }),
        )
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (CONTENT_TYPE, content_type),
            (CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}
