//! Ops calls of the campaigns (behind the role gates of `ops/mod.rs`): define one,
//! close one, list them. In cluster mode a definition and a closing are published to
//! every shard before the answer (`cluster::budgets`).

use super::OpsState;
use super::admin::{answered, ask_game, body, call_game, error};
use crate::game::AdminOp;
use crate::game::campaigns::bonus_unit;
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::response::Response;
use canopy_shared::campaign::{CampaignStatus, CampaignView, NewCampaign};
use canopy_shared::{CampaignId, ErrorBody, ErrorCode};

/// `POST /admin/campaigns`.
pub async fn create(
    State(state): State<OpsState>,
    payload: Result<Json<NewCampaign>, JsonRejection>,
) -> Response {
    let new = match body(payload) {
        Ok(new) => new,
        Err(body) => return error(body.code, body.message),
    };
    let answer = ask_game(&state, AdminOp::CampaignCreate(Box::new(new))).await;
    answered(match (&state.cluster_services, answer) {
        (Some(cluster), Ok(text)) => match serde_json::from_str::<CampaignView>(&text) {
            Ok(defined) => {
                let unit = bonus_unit(&state.config.borrow(), &defined.definition);
                let published = cluster.budgets.publish_campaign(&defined, unit).await;
                published.map(|()| text)
            }
            Err(err) => Err(unreadable(&err)),
        },
        (_, answer) => answer,
    })
}

/// `GET /admin/campaigns`.
pub async fn list(State(state): State<OpsState>) -> Response {
    call_game(&state, AdminOp::CampaignList).await
}

/// `POST /admin/campaigns/{id}/close`.
pub async fn close(State(state): State<OpsState>, Path(id): Path<u64>) -> Response {
    let campaign = CampaignId(id);
    let answer = ask_game(&state, AdminOp::CampaignClose(campaign)).await;
    answered(match (&state.cluster_services, answer) {
        (Some(cluster), Ok(text)) => cluster
            .budgets
            .publish_campaign_status(campaign, CampaignStatus::Closed)
            .await
            .map(|()| text),
        (_, answer) => answer,
    })
}

/// The game answered a campaign call with something that is not a campaign.
fn unreadable(err: &serde_json::Error) -> ErrorBody {
    ErrorBody::new(
        ErrorCode::Internal,
        format!("the game's answer is not a campaign: {err}"),
    )
}
