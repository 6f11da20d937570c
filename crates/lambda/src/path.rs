//! The path our routes see for an API Gateway event: the path the client asked for, with
//! the stage taken off and made a valid URI path.
//!
//! `lambda_http` puts the stage in front of every path that does not already start with
//! it, which our routes do not match. Where the stage really is depends on the event:
//!
//! - HTTP API (payload 2.0): `rawPath` starts with the stage unless the stage is
//!   `$default`, and HTTP APIs deliver it percent-decoded.
//! - REST API (payload 1.0): `path` has no stage; `requestContext.path` is the whole path
//!   the client asked for (`/prod/games`). An HTTP API sending payload 1.0 gives the stage
//!   in both, which is how the two are told apart.
//!
//! So the route path is built from the event's own path, never by undoing `lambda_http`'s
//! guess, which goes wrong for a path that happens to begin with the stage's name
//! (`/v1/sessions` on a stage called `v1`).

use axum::http::Uri;
use lambda_http::RequestExt as _;
use lambda_http::request::RequestContext;

/// Rewrites the request's URI to `path?query` in origin form, as a TCP request has it.
pub fn route_request(mut request: lambda_http::Request) -> lambda_http::Request {
    let Some(path) = route_path(&request) else {
        return request;
    };
    let query = match (request.uri().query(), is_rest(&request)) {
        (None, _) => String::new(),
        (Some(query), true) => format!("?{}", sorted_query(query)),
        (Some(query), false) => format!("?{query}"),
    };
    match format!("{path}{query}").parse::<Uri>() {
        Ok(uri) => *request.uri_mut() = uri,
        Err(err) => tracing::warn!(error = %err, "kept the event's URI as lambda_http built it"),
    }
    request
}

/// The path to route, for API Gateway events; `None` for anything else.
fn route_path(request: &lambda_http::Request) -> Option<String> {
    let raw = request.raw_http_path();
    let path = match request.request_context_ref()? {
        RequestContext::ApiGatewayV2(context) => without_stage(raw, context.stage.as_deref()),
        RequestContext::ApiGatewayV1(context) => match context.path.as_deref() {
            // The client's whole path: it carries the stage (payload 1.0 from an HTTP API).
            Some(full) if full == raw => without_stage(raw, context.stage.as_deref()),
            None => without_stage(raw, context.stage.as_deref()),
            // A REST API's path, which never carries the stage.
            Some(_) => raw,
        },
        _ => return None,
    };
    Some(encode_path(if path.is_empty() { "/" } else { path }))
}

fn is_rest(request: &lambda_http::Request) -> bool {
    matches!(
        request.request_context_ref(),
        Some(RequestContext::ApiGatewayV1(_))
    )
}

/// `path` without a leading `/{stage}` segment; `$default` is never in a path.
fn without_stage<'a>(path: &'a str, stage: Option<&str>) -> &'a str {
    let Some(stage) = stage.filter(|stage| !stage.is_empty() && *stage != "$default") else {
        return path;
    };
    let rest = path
        .strip_prefix('/')
        .and_then(|rest| rest.strip_prefix(stage));
    match rest {
        Some("") => "/",
        Some(rest) if rest.starts_with('/') => rest,
        _ => path,
    }
}

/// Percent-encodes what cannot stand in a URI path as it is: spaces, non-ASCII, `?`, `#`,
/// a `%` that starts no escape, and the like. A path that arrives encoded (REST APIs keep
/// the client's encoding) comes out unchanged; one that arrives decoded (HTTP APIs decode
/// `rawPath`) comes out encoded, so it cannot panic the conversion or split at a `?`.
pub fn encode_path(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    for (at, &byte) in bytes.iter().enumerate() {
        let keep = match byte {
            b'%' => starts_escape(&bytes[at + 1..]),
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' => true,
            b'-' | b'.' | b'_' | b'~' | b'/' | b':' | b'@' => true,
            b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'=' => true,
            _ => false,
        };
        if keep {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn starts_escape(rest: &[u8]) -> bool {
    rest.len() >= 2 && rest[0].is_ascii_hexdigit() && rest[1].is_ascii_hexdigit()
}

/// A REST API gives the query only as decoded parameters in a map, so its original order
/// is lost and `lambda_http` writes it out in hash order; sorting by name makes the same
/// event give the same URI every time. Repeats of one name keep their order.
fn sorted_query(query: &str) -> String {
    let mut pairs: Vec<&str> = query.split('&').collect();
    pairs.sort_by_key(|pair| pair.split('=').next().unwrap_or_default());
    pairs.join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_named_stage_is_taken_off_once_and_default_never() {
        assert_eq!(without_stage("/prod/games", Some("prod")), "/games");
        assert_eq!(without_stage("/prod", Some("prod")), "/");
        assert_eq!(without_stage("/v1/v1/sessions", Some("v1")), "/v1/sessions");
        assert_eq!(
            without_stage("/production/x", Some("prod")),
            "/production/x"
        );
        assert_eq!(without_stage("/games", Some("$default")), "/games");
        assert_eq!(without_stage("/games", None), "/games");
    }

    #[test]
    fn encoded_paths_pass_unchanged_and_decoded_ones_are_encoded() {
        for kept in [
            "/games/apex",
            "/a%20b/%C3%85sa",
            "/v1/games/hots/matches",
            "/",
        ] {
            assert_eq!(encode_path(kept), kept);
        }
        assert_eq!(encode_path("/Åsa Lee"), "/%C3%85sa%20Lee");
        assert_eq!(encode_path("/a?b#c"), "/a%3Fb%23c");
        assert_eq!(encode_path("/100%"), "/100%25");
        assert_eq!(encode_path("/{\"x\"}"), "/%7B%22x%22%7D");
        assert!(encode_path("/\u{7f}\t\n").parse::<Uri>().is_ok());
    }

    #[test]
    fn rest_queries_are_ordered_by_name_keeping_repeats_in_order() {
        assert_eq!(sorted_query("z=1&a=2&m=x&m=y"), "a=2&m=x&m=y&z=1");
    }
}
