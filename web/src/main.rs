//! The `web` tier as its own process, configured by environment variables.

use shared::config::Config;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    shared::telemetry::init();
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(err) => {
            eprintln!("web: configuration error: {err}");
            std::process::exit(1);
        }
    };
    web::run(config).await
}
