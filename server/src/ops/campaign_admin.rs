//! Ops calls of the campaigns (behind the role gates of `ops/mod.rs`): define one,
//! close one, list them.

use super::OpsState;
use super::admin::{body, call_game, error};
use crate::game::AdminOp;
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::response::Response;
use canopy_shared::CampaignId;
use canopy_shared::campaign::NewCampaign;

/// `POST /admin/campaigns`.
pub async fn create(
    State(state): State<OpsState>,
    payload: Result<Json<NewCampaign>, JsonRejection>,
) -> Response {
    match body(payload) {
        Ok(new) => call_game(&state, AdminOp::CampaignCreate(Box::new(new))).await,
        Err(body) => error(body.code, body.message),
    }
}

/// `GET /admin/campaigns`.
pub async fn list(State(state): State<OpsState>) -> Response {
    call_game(&state, AdminOp::CampaignList).await
}

/// `POST /admin/campaigns/{id}/close`.
pub async fn close(State(state): State<OpsState>, Path(id): Path<u64>) -> Response {
    call_game(&state, AdminOp::CampaignClose(CampaignId(id))).await
}
