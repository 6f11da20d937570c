//! The crud tier as its own process, configured by environment variables.

use std::process::ExitCode;

use shared::config::Config;

#[tokio::main]
async fn main() -> ExitCode {
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(err) => {
            eprintln!("crud: configuration error: {err}");
            return ExitCode::FAILURE;
        }
    };
    shared::telemetry::init();
    match crud::run(config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = %format!("{err:#}"), "crud tier stopped");
            eprintln!("crud: {err:#}");
            ExitCode::FAILURE
        }
    }
}
