//! The `app` tier as its own process, configured by environment variables.

use std::process::ExitCode;

use shared::config::Config;

#[tokio::main]
async fn main() -> ExitCode {
    shared::telemetry::init();
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(err) => {
            eprintln!("app: configuration error: {err}");
            return ExitCode::FAILURE;
        }
    };
    match app::run(config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = format!("{err:#}"), "the app tier stopped");
            ExitCode::FAILURE
        }
    }
}
