//! Ops calls that manage partners (behind the role gates of `ops/mod.rs`): register one (its API key is made here, shown once
//! and handed to the game only as a digest), list them, rotate a key, suspend or
//! reactivate, and read a partner's audit log.

use super::OpsState;
use super::admin::{ask_game, body, call_game, error};
use crate::game::AdminOp;
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use canopy_shared::partner::{
    self, API_KEY_PREFIX, NewPartner, PartnerAudit, PartnerKey, PartnerStatus, PartnerView,
};
use canopy_shared::{ErrorCode, PartnerId};
use serde::Deserialize;

/// The most audit entries one page holds.
const MAX_AUDIT_PAGE: usize = 500;

/// A fresh API key: 256 random bits from the OS-seeded generator, as hex after the
/// recognisable prefix.
fn new_api_key() -> String {
    let bytes: [u8; 32] = rand::random();
    format!("{API_KEY_PREFIX}{}", partner::to_hex(&bytes))
}

/// Runs an op that sets a partner's key and answers the partner with the key: the
/// one time it is shown.
async fn with_new_key(state: &OpsState, op: impl FnOnce([u8; 32]) -> AdminOp) -> Response {
    let api_key = new_api_key();
    let answer = ask_game(state, op(partner::key_digest(&api_key))).await;
    match answer.map(|text| serde_json::from_str::<PartnerView>(&text)) {
        Ok(Ok(partner)) => Json(PartnerKey { partner, api_key }).into_response(),
        Ok(Err(err)) => error(ErrorCode::Internal, format!("the game's answer: {err}")),
        Err(body) => error(body.code, body.message),
    }
}

/// `POST /admin/partners`: registers a partner and answers its API key.
pub async fn add(
    State(state): State<OpsState>,
    payload: Result<Json<NewPartner>, JsonRejection>,
) -> Response {
    match body(payload) {
        Ok(new) => with_new_key(&state, |digest| AdminOp::PartnerAdd(Box::new(new), digest)).await,
        Err(body) => error(body.code, body.message),
    }
}

/// `GET /admin/partners`.
pub async fn list(State(state): State<OpsState>) -> Response {
    call_game(&state, AdminOp::PartnerList).await
}

/// `POST /admin/partners/{id}/rotate-key`: a new key, answered once; the old one is
/// refused from the answer on.
pub async fn rotate_key(State(state): State<OpsState>, Path(id): Path<u64>) -> Response {
    with_new_key(&state, |digest| {
        AdminOp::PartnerRotateKey(PartnerId(id), digest)
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
    call_game(&state, AdminOp::PartnerSetStatus(PartnerId(id), status)).await
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
