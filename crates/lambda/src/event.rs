//! Repairs to an API Gateway event before `lambda_http` turns it into a request, where
//! its conversion would panic (a 502 for the user) or lose what a TCP request keeps.

use axum::http::header::COOKIE;
use axum::http::{HeaderMap, HeaderValue};
use base64::Engine as _;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::{DecodePaddingMode, general_purpose};
use lambda_http::request::LambdaRequest;

/// The event's body was marked base64 but is not.
#[derive(Debug, PartialEq, Eq)]
pub struct UnreadableBody;

/// Makes `event` safe to convert and faithful to what the client sent.
pub fn tidy(event: &mut LambdaRequest) -> Result<(), UnreadableBody> {
    match event {
        LambdaRequest::ApiGatewayV1(event) => {
            keep_every_header_value(&mut event.headers, &event.multi_value_headers);
            check_base64(&mut event.body, event.is_base64_encoded)
        }
        LambdaRequest::ApiGatewayV2(event) => {
            if let Some(query) = &mut event.raw_query_string {
                *query = encode_query(query);
            }
            if let Some(cookies) = event.cookies.take() {
                set_cookie_header(&mut event.headers, &cookies);
            }
            check_base64(&mut event.body, event.is_base64_encoded)
        }
        _ => Ok(()),
    }
}

/// A REST event lists each header once in `headers` (its last value) and in full in
/// `multiValueHeaders`. `lambda_http` lets the single value replace the list, so a
/// request that sent two `Cookie` headers (HTTP/2 browsers split cookies that way) would
/// lose all but the last cookie; dropping the single copies keeps every value.
fn keep_every_header_value(headers: &mut HeaderMap, multi_value_headers: &HeaderMap) {
    for name in multi_value_headers.keys() {
        headers.remove(name);
    }
}

/// `lambda_http` appends `rawQueryString` to the URI as it is, and a byte that a URI
/// cannot hold (a space, a quote, `<`) makes it panic. Such bytes are percent-encoded
/// here; everything else, `+` and existing escapes included, is left for the handler to
/// decode exactly as it would over TCP.
pub fn encode_query(query: &str) -> String {
    let mut out = String::with_capacity(query.len());
    for ch in query.chars() {
        let unsafe_byte =
            ch.is_ascii() && matches!(ch as u8, 0..=0x20 | b'"' | b'#' | b'<' | b'>' | 0x7f);
        if unsafe_byte {
            out.push_str(&format!("%{:02X}", ch as u8));
        } else {
            out.push(ch);
        }
    }
    out
}

/// The `cookies` of a 2.0 event as one `Cookie` header. `lambda_http` drops every cookie
/// when one of them cannot go into a header; here only that one is dropped.
fn set_cookie_header(headers: &mut HeaderMap, cookies: &[String]) {
    let usable: Vec<&str> = cookies
        .iter()
        .map(String::as_str)
        .filter(|cookie| HeaderValue::from_str(cookie).is_ok())
        .collect();
    if usable.len() < cookies.len() {
        tracing::info!(
            dropped = cookies.len() - usable.len(),
            "cookies that cannot be sent in a header were dropped"
        );
    }
    if let Ok(value) = HeaderValue::from_str(&usable.join("; ")) {
        headers.insert(COOKIE, value);
    }
}

/// Base64 that decodes with or without padding and with line breaks, as some clients
/// and tools write it; `lambda_http` accepts only the strict form and panics otherwise.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

fn check_base64(body: &mut Option<String>, is_base64: bool) -> Result<(), UnreadableBody> {
    let Some(text) = body.as_mut().filter(|_| is_base64) else {
        return Ok(());
    };
    if general_purpose::STANDARD.decode(text.as_bytes()).is_ok() {
        return Ok(());
    }
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let bytes = LENIENT.decode(compact).map_err(|_| UnreadableBody)?;
    *text = STANDARD.encode(bytes);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_bytes_a_uri_cannot_hold_are_encoded_and_nothing_else() {
        assert_eq!(encode_query("q=Ann+Lee&x=a%2Bb"), "q=Ann+Lee&x=a%2Bb");
        assert_eq!(encode_query("q=Ann Lee"), "q=Ann%20Lee");
        assert_eq!(encode_query("q=\"<x>\"#"), "q=%22%3Cx%3E%22%23");
        assert_eq!(encode_query("q=Åsa"), "q=Åsa");
        let uri = format!("/?{}", encode_query("a=\u{1}\t b"));
        assert!(uri.parse::<axum::http::Uri>().is_ok(), "{uri}");
    }

    #[test]
    fn strict_base64_is_left_alone_and_loose_base64_is_made_strict() {
        let mut strict = Some(STANDARD.encode("Åsa & Bo=1+2%"));
        let before = strict.clone();
        assert_eq!(check_base64(&mut strict, true), Ok(()));
        assert_eq!(strict, before);

        let mut loose = Some("w4Vz\nYQ".to_string());
        assert_eq!(check_base64(&mut loose, true), Ok(()));
        assert_eq!(STANDARD.decode(loose.unwrap()).unwrap(), "Åsa".as_bytes());

        assert_eq!(
            check_base64(&mut Some("not base64!".into()), true),
            Err(UnreadableBody)
        );
        assert_eq!(check_base64(&mut Some("plain text!".into()), false), Ok(()));
    }

    #[test]
    fn one_bad_cookie_does_not_take_the_others_with_it() {
        let mut headers = HeaderMap::new();
        let cookies = ["a=1".to_string(), "bad=\u{1}".into(), "b=x=y==".into()];
        set_cookie_header(&mut headers, &cookies);
        assert_eq!(headers[COOKIE], "a=1; b=x=y==");
    }

    #[test]
    fn every_value_of_a_repeated_rest_header_survives() {
        let mut single = HeaderMap::new();
        single.insert(COOKIE, HeaderValue::from_static("b=2"));
        single.insert("x-one", HeaderValue::from_static("1"));
        let mut multi = HeaderMap::new();
        multi.append(COOKIE, HeaderValue::from_static("a=1"));
        multi.append(COOKIE, HeaderValue::from_static("b=2"));
        keep_every_header_value(&mut single, &multi);
        assert!(single.get(COOKIE).is_none());
        assert_eq!(single["x-one"], "1");
    }
}
