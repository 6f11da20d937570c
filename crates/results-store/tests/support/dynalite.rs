//! A pass-through proxy in front of dynalite for the one call it lacks.
//!
//! dynalite has no TransactWriteItems (architect/dynalite#151: it answers
//! `UnknownOperationException`), and the results store writes a match and its id guard in
//! one transaction. This proxy forwards every other request to dynalite untouched and
//! replays a transaction as its single-item calls (PutItem, DeleteItem, UpdateItem), so
//! dynalite still checks every expression the store sends, transactions included.
//!
//! Atomicity is emulated, not dynalite's: the proxy runs one transaction at a time, reads
//! each item first, and puts the items back when an action fails. The real transaction
//! semantics are exercised on moto, which has them.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;

const TARGET: &str = "x-amz-target";
const API: &str = "DynamoDB_20120810.";
/// Headers that belong to one connection, or that the proxy sets itself.
const NOT_FORWARDED: [&str; 5] = [
    "host",
    "content-length",
    "connection",
    "transfer-encoding",
    TARGET,
];

#[derive(Clone)]
struct Proxy {
    /// dynalite's `host:port`.
    upstream: Arc<str>,
    /// One transaction at a time.
    transactions: Arc<Mutex<()>>,
    /// Each table's key attribute names, read once.
    keys: Arc<Mutex<HashMap<String, Vec<String>>>>,
}

/// What dynalite answered.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    fn error_type(&self) -> String {
        let kind = self.json()["__type"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        kind.rsplit('#').next().unwrap_or_default().to_string()
    }
}

/// Starts a proxy for the dynalite at `upstream_url` on a free loopback port; returns
/// the proxy's URL. It lives as long as the test's runtime.
pub async fn start(upstream_url: &str) -> String {
    let upstream = upstream_url
        .trim_start_matches("http://")
        .trim_end_matches('/');
    let proxy = Proxy {
        upstream: upstream.into(),
        transactions: Arc::default(),
        keys: Arc::default(),
    };
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the dynalite proxy");
    let addr = listener.local_addr().expect("read the proxy's address");
    let router = axum::Router::new().fallback(handle).with_state(proxy);
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{addr}")
}

async fn handle(State(proxy): State<Proxy>, headers: HeaderMap, body: Bytes) -> Response {
    let target = headers
        .get(TARGET)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let forwarded = forwarded_headers(&headers);
    let answer = if target == format!("{API}TransactWriteItems") {
        proxy.transact(&forwarded, &body).await
    } else {
        proxy.send(&forwarded, &target, &body).await
    };
    respond(answer)
}

fn forwarded_headers(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .filter(|(name, _)| !NOT_FORWARDED.contains(&name.as_str()))
        .filter_map(|(name, value)| Some((name.to_string(), value.to_str().ok()?.to_string())))
        .collect()
}

fn respond(answer: Answer) -> Response {
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut response = (status, answer.body).into_response();
    for (name, value) in answer.headers {
        let lower = name.to_ascii_lowercase();
        if matches!(
            lower.as_str(),
            "content-type" | "x-amz-crc32" | "x-amzn-requestid"
        ) && let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(lower.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

impl Proxy {
    /// One request to dynalite on a fresh connection.
    async fn send(&self, headers: &[(String, String)], target: &str, body: &[u8]) -> Answer {
        let mut stream = TcpStream::connect(&*self.upstream)
            .await
            .expect("dynalite behind the proxy answers");
        let mut head = format!("POST / HTTP/1.1\r\nHost: {}\r\n", self.upstream);
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str(&format!(
            "{TARGET}: {target}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        ));
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(body).await.unwrap();
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.unwrap();
        parse_answer(&raw)
    }

    async fn call(&self, headers: &[(String, String)], operation: &str, input: &Value) -> Answer {
        let body = serde_json::to_vec(input).unwrap();
        self.send(headers, &format!("{API}{operation}"), &body)
            .await
    }

    /// The key attribute names of `table`.
    async fn key_names(&self, headers: &[(String, String)], table: &str) -> Vec<String> {
        if let Some(names) = self.keys.lock().await.get(table) {
            return names.clone();
        }
        let described = self
            .call(headers, "DescribeTable", &json!({"TableName": table}))
            .await
            .json();
        let names: Vec<String> = described["Table"]["KeySchema"]
            .as_array()
            .map(|schema| {
                schema
                    .iter()
                    .filter_map(|k| k["AttributeName"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        self.keys.lock().await.insert(table.into(), names.clone());
        names
    }

    /// Replays a TransactWriteItems as single-item calls, undoing them if one fails.
    async fn transact(&self, headers: &[(String, String)], body: &[u8]) -> Answer {
        let _one_at_a_time = self.transactions.lock().await;
        let request: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let actions = request["TransactItems"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let mut steps = Vec::new();
        for action in &actions {
            steps.push(self.step(headers, action).await);
        }
        for (index, step) in steps.iter().enumerate() {
            let answer = self.call(headers, step.operation, &step.input).await;
            if answer.status == 200 {
                continue;
            }
            self.undo(headers, &steps[..index]).await;
            return if answer.error_type() == "ConditionalCheckFailedException" {
                cancelled(steps.len(), index)
            } else {
                // dynalite refused the action itself (a bad expression, say): that is
                // what these tests are for, so its answer goes back unchanged.
                answer
            };
        }
        Answer {
            status: 200,
            headers: vec![("content-type".into(), "application/x-amz-json-1.0".into())],
            body: b"{}".to_vec(),
        }
    }

    /// The single-item call for one transaction action, and the item as it is now.
    async fn step(&self, headers: &[(String, String)], action: &Value) -> Step {
        let (kind, mut input) = action
            .as_object()
            .and_then(|map| map.iter().next())
            .map(|(kind, input)| (kind.clone(), input.clone()))
            .expect("a transaction action");
        let operation = match kind.as_str() {
            "Put" => "PutItem",
            "Delete" => "DeleteItem",
            "Update" => "UpdateItem",
            other => panic!("the dynalite proxy does not replay {other} actions"),
        };
        if let Some(map) = input.as_object_mut() {
            map.remove("ReturnValuesOnConditionCheckFailure");
        }
        let table = input["TableName"].as_str().unwrap_or_default().to_string();
        let key = match operation {
            "PutItem" => {
                let names = self.key_names(headers, &table).await;
                let item = input["Item"].as_object().cloned().unwrap_or_default();
                Value::Object(
                    item.into_iter()
                        .filter(|(name, _)| names.contains(name))
                        .collect::<Map<_, _>>(),
                )
            }
            _ => input["Key"].clone(),
        };
        let read = json!({"TableName": table, "Key": key, "ConsistentRead": true});
        let before = self.call(headers, "GetItem", &read).await.json()["Item"].clone();
        Step {
            operation,
            input,
            table,
            key,
            before,
        }
    }

    /// Puts back the items that `done` changed.
    async fn undo(&self, headers: &[(String, String)], done: &[Step]) {
        for step in done.iter().rev() {
            let (operation, input) = if step.before.is_object() {
                (
                    "PutItem",
                    json!({"TableName": step.table, "Item": step.before}),
                )
            } else {
                (
                    "DeleteItem",
                    json!({"TableName": step.table, "Key": step.key}),
                )
            };
            let answer = self.call(headers, operation, &input).await;
            assert_eq!(answer.status, 200, "the proxy could not undo a step");
        }
    }
}

/// One action of a transaction as a single-item call.
struct Step {
    operation: &'static str,
    input: Value,
    table: String,
    key: Value,
    /// The item before the transaction; `Null` when there was none.
    before: Value,
}

/// DynamoDB's answer to a transaction whose action at `failed` had its condition fail.
fn cancelled(actions: usize, failed: usize) -> Answer {
    let reasons: Vec<Value> = (0..actions)
        .map(|i| {
            if i == failed {
                json!({"Code": "ConditionalCheckFailed", "Message": "The conditional request failed"})
            } else {
                json!({"Code": "None"})
            }
        })
        .collect();
    let body = json!({
        "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
        "Message": "Transaction cancelled, please refer cancellation reasons for specific reasons",
        "CancellationReasons": reasons,
    });
    Answer {
        status: 400,
        headers: vec![("content-type".into(), "application/x-amz-json-1.0".into())],
        body: serde_json::to_vec(&body).unwrap(),
    }
}

/// Splits a raw HTTP/1.1 response (sent with a Content-Length, then closed).
fn parse_answer(raw: &[u8]) -> Answer {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("dynalite answered with HTTP headers");
    let head = String::from_utf8_lossy(&raw[..split]);
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|code| code.parse().ok())
        .expect("a status line");
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_string(), value.trim().to_string()))
        .collect();
    Answer {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    }
}
