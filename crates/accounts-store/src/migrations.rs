//! The schema migrations, kept as SQL files in `migrations/` and compiled into the binary so
//! that a container needs no copy of the repository to start.

use sql_support::{Script, migrator};
use sqlx::migrate::Migrator;

const SQLITE: &[Script] = &[(
    1,
    "accounts and sessions",
    include_str!("../migrations/sqlite/0001_accounts_and_sessions.sql"),
)];

const POSTGRES: &[Script] = &[(
    1,
    "accounts and sessions",
    include_str!("../migrations/postgres/0001_accounts_and_sessions.sql"),
)];

pub(crate) fn sqlite() -> Migrator {
    migrator(SQLITE)
}

pub(crate) fn postgres() -> Migrator {
    migrator(POSTGRES)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A SQL file added to `migrations/` but not listed above would never run.
    #[test]
    fn every_migration_file_is_listed() {
        for (dir, scripts) in [("sqlite", SQLITE), ("postgres", POSTGRES)] {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("migrations")
                .join(dir);
            let mut files: Vec<i64> = std::fs::read_dir(&path)
                .unwrap()
                .map(|entry| entry.unwrap().file_name().into_string().unwrap())
                .filter(|name| name.ends_with(".sql"))
                .map(|name| name.split('_').next().unwrap().parse().unwrap())
                .collect();
            files.sort_unstable();
            let listed: Vec<i64> = scripts.iter().map(|script| script.0).collect();
            assert_eq!(files, listed, "{dir}");
        }
    }

    #[test]
    fn both_backends_have_the_same_versions() {
        let versions = |scripts: &[Script]| scripts.iter().map(|s| s.0).collect::<Vec<_>>();
        assert_eq!(versions(SQLITE), versions(POSTGRES));
    }
}
