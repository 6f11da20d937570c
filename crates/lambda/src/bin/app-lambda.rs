//! The `app` tier as an AWS Lambda function: the router its TCP binary serves, fed API
//! Gateway events (see `lambda::serve_tier` for the environment it expects).

#[tokio::main]
async fn main() -> std::process::ExitCode {
    lambda::serve_tier(
        "app-lambda",
        |config| async move { app::build(&config).await },
    )
    .await
}
