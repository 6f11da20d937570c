//! The `web` tier as an AWS Lambda function: the router its TCP binary serves, fed API
//! Gateway events (see `lambda::serve_tier` for the environment it expects).

#[tokio::main]
async fn main() -> std::process::ExitCode {
    lambda::serve_tier(
        "web-lambda",
        |config| async move { web::build(&config).await },
    )
    .await
}
