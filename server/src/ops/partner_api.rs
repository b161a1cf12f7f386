//! The partner API, `/partner/v1/*` on the ops port: signed calls from payment,
//! transit and bill partners. Each passes the [`PartnerGate`] (signature, replay
//! window, status, rate) and then goes to the game, which checks its scope, applies it
//! once per `ref` and audits it in the same commit.
//!
//! [`PartnerGate`]: super::partner_gate::PartnerGate

use super::OpsState;
use super::admin::{answered, call_game, error};
use super::partner_gate::{self, GateRefusal, Request};
use crate::game::AdminOp;
use crate::game::partners::{PartnerCall, PartnerRequest};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::http::{HeaderValue, Method, Uri};
use axum::response::{IntoResponse, Response};
use canopy_shared::ErrorCode;
use canopy_shared::TaskId;
use canopy_shared::admin::PartnerAction;
use canopy_shared::task::{CompleteTask, NewTask, TaskStatusChange};
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

impl IntoResponse for GateRefusal {
    fn into_response(self) -> Response {
        let retry_after = match &self {
            Self::RateLimited { retry_after, .. } => Some(retry_after.as_secs().max(1) + 1),
            _ => None,
        };
        let mut response = error(self.code(), self.to_string());
        if let Some(seconds) = retry_after {
            response
                .headers_mut()
                .insert("retry-after", HeaderValue::from(seconds));
        }
        response
    }
}

/// The wall clock in Unix seconds: the replay window is real time, whatever the game
/// clock does.
fn unix_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

/// Authenticates a call and hands it to the game with what `parse` makes of its body.
async fn serve(
    state: &OpsState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    parse: impl FnOnce(&[u8]) -> Result<PartnerRequest, String>,
) -> Response {
    let signed = match partner_gate::signed(headers) {
        Ok(signed) => signed,
        Err(refusal) => return refusal.into_response(),
    };
    let path = uri
        .path_and_query()
        .map_or(uri.path(), |whole| whole.as_str());
    let request = Request {
        method: method.as_str(),
        path,
        body,
    };
    let credentials = state.game.partner_credentials();
    let admitted = state.partner_gate.admit(
        &credentials,
        &signed,
        &request,
        unix_seconds(),
        Instant::now(),
    );
    let credential = match admitted {
        Ok(credential) => credential,
        Err(refusal) => {
            tracing::warn!(partner = %signed.partner, %path, %refusal, "partner call refused");
            return refusal.into_response();
        }
    };
    let request = match parse(body) {
        Ok(request) => request,
        Err(reason) => return error(ErrorCode::BadRequest, reason),
    };
    let call = PartnerCall {
        partner: signed.partner,
        key_version: credential.key_version,
        call: format!("{method} {}", uri.path()),
        body_sha256: Sha256::digest(body).into(),
        request,
    };
    match &state.cluster_services {
        Some(cluster) => answered(cluster.partners.call(call).await),
        None => call_game(state, AdminOp::PartnerCall(Box::new(call))).await,
    }
}

/// `POST /partner/v1/actions`: a green action for a player, with the same rules and
/// caps as every other report of its kind.
pub async fn report_action(
    State(state): State<OpsState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    serve(&state, &method, &uri, &headers, &body, |body| {
        parsed::<PartnerAction>(body).map(PartnerRequest::Action)
    })
    .await
}

/// The body as JSON of type `T`, or why not.
fn parsed<T: DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    serde_json::from_slice(body).map_err(|err| format!("the body does not fit this call: {err}"))
}

/// `POST /partner/v1/tasks`: publish a task (partners allowed to publish tasks).
pub async fn create_task(
    State(state): State<OpsState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    serve(&state, &method, &uri, &headers, &body, |body| {
        parsed::<NewTask>(body).map(PartnerRequest::CreateTask)
    })
    .await
}

/// `POST /partner/v1/tasks/{id}/status`: pause, reopen or close one of its tasks.
pub async fn set_task_status(
    State(state): State<OpsState>,
    Path(id): Path<u64>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    serve(&state, &method, &uri, &headers, &body, |body| {
        parsed::<TaskStatusChange>(body)
            .map(|change| PartnerRequest::SetTaskStatus(TaskId(id), change))
    })
    .await
}

/// `POST /partner/v1/tasks/{id}/complete`: a player completed one of its tasks.
pub async fn complete_task(
    State(state): State<OpsState>,
    Path(id): Path<u64>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    serve(&state, &method, &uri, &headers, &body, |body| {
        parsed::<CompleteTask>(body)
            .map(|completion| PartnerRequest::CompleteTask(TaskId(id), completion))
    })
    .await
}
