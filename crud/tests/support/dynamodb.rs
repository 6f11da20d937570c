//! Finding the DynamoDB API server that the test run started.

use std::net::{TcpStream, ToSocketAddrs as _};
use std::time::Duration;

/// The server in `MATCHLOG_TEST_DYNAMODB_URL`. Missing or silent, the test fails and says
/// what to start, unless `MATCHLOG_TEST_LOCAL_ONLY=1` asks to skip it on purpose.
pub fn endpoint() -> Option<String> {
    let local_only = std::env::var("MATCHLOG_TEST_LOCAL_ONLY").is_ok_and(|v| v == "1");
    let url = std::env::var("MATCHLOG_TEST_DYNAMODB_URL").ok();
    match url {
        Some(url) if answers(&url) => Some(url),
        _ if local_only => {
            eprintln!("DynamoDB test skipped: MATCHLOG_TEST_LOCAL_ONLY=1");
            None
        }
        other => panic!(
            "MATCHLOG_TEST_DYNAMODB_URL ({other:?}) is unset or does not answer. Start a \
             DynamoDB API server (.venv/bin/moto_server -H 127.0.0.1 -p PORT) and set it to \
             http://127.0.0.1:PORT, or run ./scripts/test, or set MATCHLOG_TEST_LOCAL_ONLY=1."
        ),
    }
}

fn answers(url: &str) -> bool {
    let host = url
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap_or_default();
    let addr = host
        .to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next());
    addr.is_some_and(|addr| TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_ok())
}
