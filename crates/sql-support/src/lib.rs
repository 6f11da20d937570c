//! What the SQL-backed stores share: SQLite opened for many concurrent writers, and
//! migrations compiled into the binary and applied once even when several processes
//! start on the same file at the same moment.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::str::FromStr as _;
use std::time::Duration;

use sqlx::SqlSafeStr as _;
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

/// How long a statement waits for another connection's write lock before giving up.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// One migration: `(version, description, sql)`.
pub type Script = (i64, &'static str, &'static str);

/// A migrator over scripts compiled into the binary, so a deployed tier needs no files.
pub fn migrator(scripts: &[Script]) -> Migrator {
    let migrations = scripts
        .iter()
        .map(|&(version, description, sql)| {
            Migration::new(
                version,
                Cow::Borrowed(description),
                MigrationType::Simple,
                sql.into_sql_str(),
                false,
            )
        })
        .collect();
    Migrator::with_migrations(migrations)
}

/// Why a SQLite store could not be opened.
#[derive(Debug)]
pub enum OpenError {
    /// The URL, the directory or the migration lock: a setup problem.
    Setup(String),
    /// The database itself refused.
    Database(sqlx::Error),
    /// A migration failed.
    Migrate(sqlx::migrate::MigrateError),
}

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OpenError::Setup(message) => f.write_str(message),
            OpenError::Database(err) => write!(f, "{err}"),
            OpenError::Migrate(err) => write!(f, "migration failed: {err}"),
        }
    }
}

impl std::error::Error for OpenError {}

/// Opens (creating when missing) the SQLite file at `url` for many writers: WAL, a busy
/// timeout, foreign keys, and its directory created; then applies `migrator`.
///
/// sqlx takes no lock around SQLite migrations, so two processes opening one new file
/// (`app` and the gateway, say) would both try to create the tables. A lock file beside
/// the database makes the second wait for the first.
pub async fn open_sqlite(
    url: &str,
    pool_size: u32,
    acquire_timeout: Duration,
    migrator: &Migrator,
) -> Result<SqlitePool, OpenError> {
    let options = SqliteConnectOptions::from_str(url)
        .map_err(|err| OpenError::Setup(format!("read the SQLite URL: {err}")))?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(BUSY_TIMEOUT)
        .foreign_keys(true);
    let file = options.get_filename().to_path_buf();
    let in_memory = file.as_os_str().is_empty() || file == Path::new(":memory:");
    if !in_memory && let Some(dir) = file.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|err| OpenError::Setup(format!("create {}: {err}", dir.display())))?;
    }
    let pool = SqlitePoolOptions::new()
        .max_connections(pool_size)
        .acquire_timeout(acquire_timeout)
        .connect_with(options)
        .await
        .map_err(OpenError::Database)?;
    let _lock = if in_memory {
        None
    } else {
        Some(MigrationLock::acquire(&file).await?)
    };
    migrator.run(&pool).await.map_err(OpenError::Migrate)?;
    Ok(pool)
}

/// An exclusive lock on `<database>.migrate-lock`, released when dropped.
struct MigrationLock(std::fs::File);

impl MigrationLock {
    async fn acquire(database: &Path) -> Result<Self, OpenError> {
        let path = PathBuf::from(format!("{}.migrate-lock", database.display()));
        let setup =
            |err: std::io::Error| OpenError::Setup(format!("lock {}: {err}", path.display()));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(setup)?;
        let file = tokio::task::spawn_blocking(move || file.lock().map(|()| file))
            .await
            .map_err(|err| OpenError::Setup(format!("wait for the migration lock: {err}")))?
            .map_err(setup)?;
        Ok(Self(file))
    }
}

impl Drop for MigrationLock {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCRIPTS: &[Script] = &[(1, "things", "CREATE TABLE things (id INTEGER PRIMARY KEY);")];

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn many_openers_of_one_new_file_migrate_it_once() {
        let dir = std::env::temp_dir().join(format!("sql-support-{}", uuid::Uuid::new_v4()));
        let url = format!("sqlite://{}?mode=rwc", dir.join("db/test.db").display());
        let opens: Vec<_> = (0..32)
            .map(|_| {
                let url = url.clone();
                tokio::spawn(async move {
                    open_sqlite(&url, 2, Duration::from_secs(5), &migrator(SCRIPTS)).await
                })
            })
            .collect();
        for open in opens {
            let result = open.await.unwrap();
            assert!(result.is_ok(), "{:?}", result.err());
        }
        std::fs::remove_dir_all(dir).unwrap();
    }
}
