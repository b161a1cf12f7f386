//! The Canopy game server as a library: `main.rs` only wires flags to [`server::run`],
//! so tests and benches start the same server in-process.

pub mod cluster;
pub mod config;
pub mod fuzzing;
pub mod game;
pub mod game_loop;
pub mod metrics;
pub mod net;
pub mod ops;
pub mod partner_secret;
pub mod risk_graph;
pub mod server;
pub mod social;
pub mod store;
pub mod tls;
pub mod worldgen;
