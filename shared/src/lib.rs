//! Canopy's wire protocol, shared by the server, the `canopy` CLI and any Rust client.
//!
//! The types here are the contract of `PROTOCOL.md`: one JSON object per WebSocket text
//! frame, requests tagged by `op`, replies echoing the request `id`, events tagged by
//! `event`. Keeping them in one crate means the server and the CLI agree by construction.

pub mod admin;
pub mod campaign;
pub mod error;
pub mod event;
pub mod frame;
pub mod ids;
pub mod model;
pub mod partner;
pub mod rain;
pub mod reply;
pub mod request;
pub mod risk;
pub mod task;

pub use error::{ErrorBody, ErrorCode};
pub use event::Event;
pub use ids::{
    BallId, CampaignId, CertificateId, FlagId, Millis, PartnerId, PlayerId, TaskId, TeamId,
};
pub use request::Request;

/// The protocol version this crate speaks; `hello` with any other version is refused.
pub const PROTOCOL_VERSION: u32 = 1;
