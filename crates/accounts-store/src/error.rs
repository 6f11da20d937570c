//! The one error type of the credentials store, and how database errors sort into it.

use std::error::Error as StdError;

type BoxError = Box<dyn StdError + Send + Sync>;

/// Why a store call failed. The text is for logs only; callers answer from the variant.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another account already holds this canonical name.
    #[error("the user name is already taken")]
    NameTaken,
    /// The database cannot serve now (no pooled connection in time, refused, shutting down,
    /// busy); worth retrying later.
    #[error("the credentials store is unavailable: could not {action}")]
    Unavailable {
        action: &'static str,
        #[source]
        source: BoxError,
    },
    /// Anything else: a bug, a broken schema, a corrupt row.
    #[error("the credentials store failed to {action}")]
    Internal {
        action: &'static str,
        #[source]
        source: BoxError,
    },
}

impl StoreError {
    pub(crate) fn internal(action: &'static str, source: impl Into<BoxError>) -> Self {
        Self::Internal {
            action,
            source: source.into(),
        }
    }

    /// Sorts a database error: `transient` tells which database codes mean "try later" on
    /// the backend at hand.
    pub(crate) fn from_sqlx(
        action: &'static str,
        err: sqlx::Error,
        transient: fn(&str) -> bool,
    ) -> Self {
        if is_unavailable(&err, transient) {
            Self::Unavailable {
                action,
                source: Box::new(err),
            }
        } else {
            Self::internal(action, err)
        }
    }
}

fn is_unavailable(err: &sqlx::Error, transient: fn(&str) -> bool) -> bool {
    match err {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_) => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| transient(&code)),
        _ => false,
    }
}

/// Whether `err` is the unique index on canonical names refusing a second holder.
pub(crate) fn is_name_taken(err: &sqlx::Error) -> bool {
    const CONSTRAINT: &str = "accounts_canonical_name_key";
    let sqlx::Error::Database(db) = err else {
        return false;
    };
    // PostgreSQL names the constraint; SQLite names the column in its message instead.
    db.is_unique_violation()
        && (db.constraint() == Some(CONSTRAINT) || db.message().contains("accounts.canonical_name"))
}
