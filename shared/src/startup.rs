//! The `main` every tier binary shares: telemetry, configuration read once, then the tier.

use std::future::Future;
use std::process::ExitCode;

use crate::config::Config;

/// Reads the configuration and runs `tier_main` with it; a configuration error or a
/// failure of the tier is printed (naming the tier) and turns into a non-zero exit.
pub async fn run_tier<F, Fut, E>(tier: &str, tier_main: F) -> ExitCode
where
    F: FnOnce(Config) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: std::fmt::Display + std::fmt::Debug,
{
    crate::telemetry::init();
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(err) => {
            eprintln!("{tier}: configuration error: {err}");
            return ExitCode::FAILURE;
        }
    };
    match tier_main(config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = %format!("{err:#}"), "the {tier} tier stopped");
            eprintln!("{tier}: {err:#}");
            ExitCode::FAILURE
        }
    }
}
