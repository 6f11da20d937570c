//! The client's address for an API Gateway event, where a TCP request has its socket peer.
//!
//! The TCP server gives every request axum's `ConnectInfo` with the peer's address, and
//! `web` uses it to tell `app` which client a sign-in attempt came from. On Lambda there
//! is no socket: the address API Gateway saw (`sourceIp`) is the peer, and it goes into
//! the same extension, so the attempt limits hold on both paths. It is API Gateway's own
//! observation, not a header the client could write.

use std::net::{IpAddr, SocketAddr};

use axum::extract::ConnectInfo;
use lambda_http::RequestExt as _;
use lambda_http::request::RequestContext;

/// Adds `ConnectInfo` with the event's source address, when the event names one.
pub fn with_source_addr(mut request: lambda_http::Request) -> lambda_http::Request {
    let source = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV1(context)) => context.identity.source_ip.as_deref(),
        Some(RequestContext::ApiGatewayV2(context)) => context.http.source_ip.as_deref(),
        _ => None,
    };
    let ip = source.and_then(|text| text.trim().parse::<IpAddr>().ok());
    if let Some(ip) = ip {
        // API Gateway does not pass the client's port on; nothing here reads it.
        request
            .extensions_mut()
            .insert(ConnectInfo(SocketAddr::new(ip, 0)));
    }
    request
}
