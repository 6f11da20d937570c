//! `cargo run --release`: every matchlog tier and the failover gateway in one process, each
//! on its own listener, so that the tiers still talk to each other over real sockets.

use std::process::ExitCode;

use anyhow::Context as _;
use shared::config::Config;
use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> ExitCode {
    shared::telemetry::init();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("matchlog: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<()> {
    let config = Config::from_env().context("read configuration")?;
    config
        .ensure_data_dir()
        .context("prepare the data directory")?;

    let app = bind("app", config.app_addr).await?;
    let crud = bind("crud", config.crud_addr).await?;
    let gateway = bind("gateway", config.gateway_addr).await?;
    let web = bind("web", config.web_addr).await?;
    let url = format!(
        "http://{}/",
        web.local_addr().context("read the web address")?
    );
    println!(
        "matchlog is running at {url} (data in {})",
        config.data_dir.display()
    );

    tokio::try_join!(
        app::serve_on(app, config.clone()),
        crud::serve_on(crud, config.clone()),
        gateway::serve_on(gateway, config.clone()),
        web::serve_on(web, config.clone()),
    )?;
    Ok(())
}

async fn bind(tier: &str, addr: std::net::SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr).await.with_context(|| {
        format!("listen for the {tier} tier on {addr} (is another matchlog running?)")
    })
}
