//! The `gateway` binary: the failover path as one local process.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    shared::startup::run_tier("gateway", gateway::run).await
}
