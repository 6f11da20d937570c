//! Which browser a sign-in attempt comes from, for `app`'s per-address attempt limits.
//!
//! Trust assumption: with `MATCHLOG_TRUST_FORWARDED_FOR` set, `web` is reachable only
//! through a balancer or API Gateway that appends the address it saw to
//! `X-Forwarded-For`. Anything a client wrote there itself comes before that last hop,
//! so the last hop is the only part we believe. Without the setting the socket's peer
//! is the client; a header it sent is ignored, since it could name any address.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;

use crate::WebState;

/// The client's address, when it can be known.
#[derive(Clone, Copy, Debug)]
pub struct ClientAddr(pub Option<IpAddr>);

impl ClientAddr {
    /// The text `app` reads from the client header.
    pub fn header_value(&self) -> Option<String> {
        self.0.map(|ip| ip.to_string())
    }
}

impl FromRequestParts<WebState> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &WebState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip());
        Ok(ClientAddr(client_address(
            &parts.headers,
            peer,
            state.trust_forwarded_for,
        )))
    }
}

/// The last `X-Forwarded-For` hop when the balancer in front is trusted, else the peer.
pub fn client_address(
    headers: &HeaderMap,
    peer: Option<IpAddr>,
    trust_forwarded: bool,
) -> Option<IpAddr> {
    if !trust_forwarded {
        return peer;
    }
    let last_hop = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .next_back()
        .and_then(|hop| hop.trim().parse().ok());
    last_hop.or(peer)
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append("x-forwarded-for", HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    #[test]
    fn the_last_hop_is_the_one_the_balancer_wrote() {
        let peer: IpAddr = "10.0.0.9".parse().unwrap();
        let spoofed = headers(&["1.2.3.4, 203.0.113.5"]);
        assert_eq!(
            client_address(&spoofed, Some(peer), true),
            Some("203.0.113.5".parse().unwrap())
        );
        let two_headers = headers(&["1.2.3.4", "2001:db8::7"]);
        assert_eq!(
            client_address(&two_headers, Some(peer), true),
            Some("2001:db8::7".parse().unwrap())
        );
    }

    #[test]
    fn without_a_trusted_balancer_the_header_is_ignored() {
        let peer: IpAddr = "127.0.0.1".parse().unwrap();
        let spoofed = headers(&["203.0.113.5"]);
        assert_eq!(client_address(&spoofed, Some(peer), false), Some(peer));
        assert_eq!(
            client_address(&headers(&["junk"]), Some(peer), true),
            Some(peer)
        );
        assert_eq!(client_address(&HeaderMap::new(), None, true), None);
    }
}
