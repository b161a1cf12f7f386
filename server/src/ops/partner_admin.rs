//! Ops calls that manage partners (behind the role gates of `ops/mod.rs`): register one (its API key is made here, shown once
//! and handed to the game only as a digest), list them, rotate a key, suspend or
//! reactivate, and read a partner's audit log.

use super::OpsState;
use super::admin::{ask_game, body, call_game, error};
use crate::cluster::partners::Change;
use crate::game::AdminOp;
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use canopy_shared::partner::{
    self, API_KEY_PREFIX, NewPartner, PartnerAudit, PartnerKey, PartnerStatus, PartnerView,
};
use canopy_shared::{ErrorBody, ErrorCode, PartnerId};
use serde::Deserialize;

/// The most audit entries one page holds.
const MAX_AUDIT_PAGE: usize = 500;

/// A fresh API key: 256 random bits from the OS-seeded generator, as hex after the
/// recognisable prefix.
fn new_api_key() -> String {
    let bytes: [u8; 32] = rand::random();
    format!("{API_KEY_PREFIX}{}", partner::to_hex(&bytes))
}

/// Sets a partner's key with `set` and answers the partner with the key: the one time
/// it is shown.
async fn with_new_key<F>(set: impl FnOnce([u8; 32]) -> F) -> Response
where
    F: Future<Output = Result<PartnerView, ErrorBody>>,
{
    let api_key = new_api_key();
    match set(partner::key_digest(&api_key)).await {
        Ok(partner) => Json(PartnerKey { partner, api_key }).into_response(),
        Err(body) => error(body.code, body.message),
    }
}

/// Asks the game for a change of a partner and reads its answer.
async fn partner_change(state: &OpsState, op: AdminOp) -> Result<PartnerView, ErrorBody> {
    let text = ask_game(state, op).await?;
    serde_json::from_str(&text)
        .map_err(|err| ErrorBody::new(ErrorCode::Internal, format!("the game's answer: {err}")))
}

/// `POST /admin/partners`: registers a partner and answers its API key. In cluster
/// mode the partner is published to the cluster's registry before the answer.
pub async fn add(
    State(state): State<OpsState>,
    payload: Result<Json<NewPartner>, JsonRejection>,
) -> Response {
    let new = match body(payload) {
        Ok(new) => new,
        Err(body) => return error(body.code, body.message),
    };
    with_new_key(|digest| async move {
        let partner = partner_change(&state, AdminOp::PartnerAdd(Box::new(new), digest)).await?;
        if let Some(cluster) = &state.cluster_services {
            cluster.partners.registered(partner.partner_id).await?;
        }
        Ok(partner)
    })
    .await
}

/// `GET /admin/partners`.
pub async fn list(State(state): State<OpsState>) -> Response {
    call_game(&state, AdminOp::PartnerList).await
}

/// `POST /admin/partners/{id}/rotate-key`: a new key, answered once; the old one is
/// refused from the answer on.
pub async fn rotate_key(State(state): State<OpsState>, Path(id): Path<u64>) -> Response {
    let partner = PartnerId(id);
    with_new_key(|digest| async move {
        match &state.cluster_services {
            Some(cluster) => {
                cluster
                    .partners
                    .change(partner, Change::Rotate(digest))
                    .await
            }
            None => partner_change(&state, AdminOp::PartnerRotateKey(partner, digest)).await,
        }
    })
    .await
}

/// `POST /admin/partners/{id}/suspend`.
pub async fn suspend(State(state): State<OpsState>, Path(id): Path<u64>) -> Response {
    set_status(state, id, PartnerStatus::Suspended).await
}

/// `POST /admin/partners/{id}/activate`.
pub async fn activate(State(state): State<OpsState>, Path(id): Path<u64>) -> Response {
    set_status(state, id, PartnerStatus::Active).await
}

async fn set_status(state: OpsState, id: u64, status: PartnerStatus) -> Response {
    let partner = PartnerId(id);
    let changed = match &state.cluster_services {
        Some(cluster) => {
            cluster
                .partners
                .change(partner, Change::Status(status))
                .await
        }
        None => partner_change(&state, AdminOp::PartnerSetStatus(partner, status)).await,
    };
    match changed {
        Ok(view) => Json(view).into_response(),
        Err(body) => error(body.code, body.message),
    }
}

/// The query of an audit page.
#[derive(Deserialize)]
pub struct AuditPage {
    /// Entries with sequence numbers below this one (default: from the newest).
    before: Option<u64>,
    /// How many (default 100, at most 500).
    limit: Option<usize>,
}

/// `GET /admin/partners/{id}/audit?before=&limit=`: the partner's calls, newest
/// first, read from the store off the game thread.
pub async fn audit(
    State(state): State<OpsState>,
    Path(id): Path<u64>,
    Query(page): Query<AuditPage>,
) -> Response {
    let limit = page.limit.unwrap_or(100).clamp(1, MAX_AUDIT_PAGE);
    let before = page.before.unwrap_or(u64::MAX);
    let store = state.store.clone();
    let read =
        tokio::task::spawn_blocking(move || store.partner_audit(PartnerId(id), before, limit));
    match read.await {
        Ok(Ok(entries)) => Json(PartnerAudit { entries }).into_response(),
        Ok(Err(err)) => error(ErrorCode::Internal, err.to_string()),
        Err(_) => error(ErrorCode::Internal, "the audit read panicked"),
    }
}
