//! The `app` tier as its own process, configured by environment variables.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    shared::startup::run_tier("app", app::run).await
}
