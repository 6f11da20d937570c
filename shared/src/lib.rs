//! What every matchlog tier shares: domain types, the game catalog, tokens between
//! tiers, the wire API, configuration and telemetry.

pub mod api;
pub mod auth;
pub mod catalog;
pub mod client;
pub mod config;
pub mod http;
pub mod secret;
pub mod startup;
pub mod stats;
pub mod telemetry;
pub mod tokens;
pub mod upstream;
pub mod username;
