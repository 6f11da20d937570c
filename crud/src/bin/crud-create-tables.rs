//! `crud-create-tables`: creates the DynamoDB table of every catalog game that is missing
//! (`MATCHLOG_DYNAMODB_TABLE_PREFIX` + slug) and waits until each is usable. Safe to run
//! again: existing tables are left alone.

use std::process::ExitCode;

use results_store::DynamoStore;
use shared::catalog::Catalog;
use shared::config::{Config, ResultsDb};

#[tokio::main]
async fn main() -> ExitCode {
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(err) => {
            eprintln!("crud-create-tables: configuration error: {err}");
            return ExitCode::FAILURE;
        }
    };
    if config.results_db != ResultsDb::DynamoDb {
        println!(
            "MATCHLOG_RESULTS_DB is a SQLite file, which crud prepares itself; nothing to do."
        );
        return ExitCode::SUCCESS;
    }
    match create(&config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("crud-create-tables: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn create(config: &Config) -> Result<(), results_store::StoreError> {
    let catalog = Catalog::builtin();
    let store = DynamoStore::from_env(&config.table_prefix, catalog).await?;
    let created = store.create_tables().await?;
    for game in catalog.games() {
        let table = store.table_name(game);
        let state = if created.contains(&table) {
            "created"
        } else {
            "exists"
        };
        println!("{table}: {state}");
    }
    Ok(())
}
