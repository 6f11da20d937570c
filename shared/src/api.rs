//! The JSON API between tiers: request and response bodies, the error shape, header names.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json};
use uuid::Uuid;

/// The request id header, set by the first tier a request meets and forwarded onwards.
pub const REQUEST_ID_HEADER: &str = "x-request-id";
/// Carries the opaque session token from `web` to `app`.
pub const SESSION_HEADER: &str = "x-matchlog-session";
/// The browser's address as `web` saw it, for `app`'s sign-in limits. `app` reads it only
/// on calls that carry a valid internal credential, so a client cannot choose its own.
pub const CLIENT_HEADER: &str = "x-matchlog-client";

/// A sign-up or sign-in, with the form's field names.
#[derive(Clone, Serialize, Deserialize)]
pub struct Credentials {
    pub user_name: String,
    pub user_pass: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("user_name", &self.user_name)
            .finish_non_exhaustive()
    }
}

/// A password change: the current password proves it is the owner at the keyboard.
#[derive(Clone, Serialize, Deserialize)]
pub struct PasswordChange {
    pub current_password: String,
    pub new_password: String,
}

impl std::fmt::Debug for PasswordChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordChange([redacted])")
    }
}

/// An account deletion, confirmed with the password.
#[derive(Clone, Serialize, Deserialize)]
pub struct AccountDeletion {
    pub password: String,
}

impl std::fmt::Debug for AccountDeletion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AccountDeletion([redacted])")
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub user_id: Uuid,
    pub user_name: String,
}

/// A session just opened; `token` goes into the cookie, sealed by `web`.
#[derive(Clone, Serialize, Deserialize)]
pub struct NewSession {
    pub token: String,
    pub user_id: Uuid,
    pub user_name: String,
    /// Seconds since the Unix epoch.
    pub expires_at: i64,
}

/// Who a session belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionInfo {
    pub user_id: Uuid,
    pub user_name: String,
    pub expires_at: i64,
}

/// A new match; `web` chooses the id so that a retried create stores it once.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NewMatch {
    pub id: Uuid,
    pub fields: Map<String, Json>,
}

/// New values for a match.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MatchUpdate {
    pub fields: Map<String, Json>,
}

/// A stored match as the API returns it; `fields` in the catalog's wire form.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MatchRecord {
    pub id: Uuid,
    pub game: String,
    pub fields: Map<String, Json>,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SortDir {
    Asc,
    #[default]
    Desc,
}

/// One page of a game's matches, with stats over every match that the filters keep.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MatchList {
    pub items: Vec<MatchRecord>,
    pub total: usize,
    pub page: u32,
    pub per_page: u32,
    pub pages: u32,
    pub sort: String,
    pub dir: SortDir,
    /// Active filters, by field name.
    pub filters: BTreeMap<String, String>,
    pub stats: Stats,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    pub matches: u64,
    pub wins: u64,
    /// Sum and average of each whole-number field.
    pub totals: Vec<Total>,
    /// Matches, wins and kills per value of each breakdown field (legend, hero, map, mode).
    pub breakdowns: Vec<Breakdown>,
    /// Matches and wins per month, oldest first, for the chart.
    pub months: Vec<MonthCount>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Total {
    pub field: String,
    pub label: String,
    pub sum: i64,
    /// Rounded to one decimal place.
    pub average: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Breakdown {
    pub field: String,
    pub label: String,
    pub rows: Vec<BreakdownRow>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BreakdownRow {
    pub value: String,
    pub matches: u64,
    pub wins: u64,
    pub kills: i64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MonthCount {
    /// `YYYY-MM`.
    pub month: String,
    pub matches: u64,
    pub wins: u64,
}

/// The one error shape every JSON endpoint answers with: `{"error": {...}}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    /// Machine-readable: `invalid`, `name_taken`, `unauthenticated`, `not_found`, ...
    pub code: String,
    /// A sentence a person can read; never internal detail.
    pub message: String,
    /// Messages per field, for `invalid`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<String, String>,
    /// For `too_many_attempts`: seconds until another attempt is taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_seconds: Option<u64>,
}

#[derive(Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ApiError,
}

impl ApiError {
    pub fn new(code: &str, message: &str) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
            fields: BTreeMap::new(),
            retry_after_seconds: None,
        }
    }

    pub fn invalid(fields: BTreeMap<String, String>) -> Self {
        Self {
            fields,
            ..Self::new("invalid", "Some values are not valid.")
        }
    }

    /// The response for this error with `status`.
    pub fn with_status(self, status: StatusCode) -> Response {
        (status, axum::Json(ErrorBody { error: self })).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_never_print_the_password() {
        let credentials = Credentials {
            user_name: "ann".into(),
            user_pass: "hunter22".into(),
        };
        assert!(!format!("{credentials:?}").contains("hunter22"));
    }

    #[test]
    fn errors_have_one_wire_shape() {
        let body = serde_json::to_value(ErrorBody {
            error: ApiError::new("not_found", "No such match."),
        })
        .unwrap();
        assert_eq!(
            body,
            serde_json::json!({"error": {"code": "not_found", "message": "No such match."}})
        );
    }
}
