//! The `gateway` binary: the failover path as one local process.

use std::process::ExitCode;

use shared::config::Config;

#[tokio::main]
async fn main() -> ExitCode {
    shared::telemetry::init();
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(err) => {
            eprintln!("gateway: {err}");
            return ExitCode::FAILURE;
        }
    };
    match gateway::run(config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("gateway: {err:#}");
            ExitCode::FAILURE
        }
    }
}
