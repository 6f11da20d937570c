//! Finding the DynamoDB API servers that the test run started: moto, and dynalite, which
//! is stricter where AWS is.

use std::net::{TcpStream, ToSocketAddrs as _};
use std::time::Duration;

/// moto's server in `MATCHLOG_TEST_DYNAMODB_URL`. Missing or silent, the test fails and
/// says what to start, unless `MATCHLOG_TEST_LOCAL_ONLY=1` asks to skip it on purpose.
pub fn endpoint() -> Option<String> {
    server(
        "MATCHLOG_TEST_DYNAMODB_URL",
        ".venv/bin/moto_server -H 127.0.0.1 -p PORT",
    )
}

/// dynalite in `MATCHLOG_TEST_DYNALITE_URL`, on the same terms.
#[allow(dead_code)] // Not every test target runs on dynalite.
pub fn dynalite_endpoint() -> Option<String> {
    server(
        "MATCHLOG_TEST_DYNALITE_URL",
        "npm install --prefix target/test-services/dynalite dynalite, then \
         target/test-services/dynalite/node_modules/.bin/dynalite --host 127.0.0.1 \
         --port PORT --createTableMs 0",
    )
}

fn server(variable: &str, how_to_start: &str) -> Option<String> {
    let local_only = std::env::var("MATCHLOG_TEST_LOCAL_ONLY").is_ok_and(|v| v == "1");
    let url = std::env::var(variable).ok();
    match url {
        Some(url) if answers(&url) => Some(url),
        _ if local_only => {
            eprintln!("{variable}: DynamoDB test skipped: MATCHLOG_TEST_LOCAL_ONLY=1");
            None
        }
        other => panic!(
            "{variable} ({other:?}) is unset or does not answer. Start the server \
             ({how_to_start}) and set it to http://127.0.0.1:PORT, or run ./scripts/test, \
             or set MATCHLOG_TEST_LOCAL_ONLY=1."
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
