//! Admin calls: the partner channel, prop grants, the manual clock, reload, tick rate,
//! the audit, backups and token revocation. The role each needs is checked before the
//! handler runs, by the gate its route sits behind (see `gate`).

use super::OpsState;
use super::auth::Refusal;
use crate::game::AdminOp;
use crate::game_loop::Control;
use crate::store::backup::BackupError;
use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use canopy_shared::admin::{
    AdminError, AuditLog, BackupRequest, ClockAdvance, GrantProps, PartnerAction, RevokeTokens,
    TickRate,
};
use canopy_shared::{ErrorBody, ErrorCode};
use std::path::PathBuf;

/// The HTTP status for an error code.
fn status(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::BadRequest | ErrorCode::UnsupportedVersion => StatusCode::BAD_REQUEST,
        ErrorCode::Unauthenticated => StatusCode::UNAUTHORIZED,
        ErrorCode::Forbidden => StatusCode::FORBIDDEN,
        ErrorCode::NotFound => StatusCode::NOT_FOUND,
        ErrorCode::Conflict => StatusCode::CONFLICT,
        ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::Overloaded | ErrorCode::ShuttingDown | ErrorCode::ShardTimeout => {
            StatusCode::SERVICE_UNAVAILABLE
        }
        ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    }
}

/// An error answer: the status of the code and `{"error": {code, message}}`.
pub(super) fn error(code: ErrorCode, message: impl Into<String>) -> Response {
    let body = AdminError {
        error: ErrorBody::new(code, message),
    };
    (status(code), Json(body)).into_response()
}

/// A JSON answer from its text.
pub(super) fn json_text(text: String) -> Response {
    ([("content-type", "application/json")], text).into_response()
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        error(self.code(), self.to_string())
    }
}

/// The typed JSON body, or a `BAD_REQUEST` naming what is wrong with it.
pub(super) fn body<T>(payload: Result<Json<T>, JsonRejection>) -> Result<T, ErrorBody> {
    payload
        .map(|Json(value)| value)
        .map_err(|rejection| ErrorBody::new(ErrorCode::BadRequest, rejection.body_text()))
}

/// Sends an admin op to the game thread and waits for its durable answer.
pub(super) async fn ask_game(state: &OpsState, op: AdminOp) -> Result<String, ErrorBody> {
    state.game.ask(op).await
}

/// [`ask_game`], answered as HTTP.
pub(super) async fn call_game(state: &OpsState, op: AdminOp) -> Response {
    answered(ask_game(state, op).await)
}

/// A game answer as HTTP: its JSON text, or its error.
pub(super) fn answered(answer: Result<String, ErrorBody>) -> Response {
    match answer {
        Ok(text) => json_text(text),
        Err(body) => error(body.code, body.message),
    }
}

/// `POST /admin/actions`.
pub async fn partner_action(
    State(state): State<OpsState>,
    payload: Result<Json<PartnerAction>, JsonRejection>,
) -> Response {
    match body(payload) {
        Ok(action) => call_game(&state, AdminOp::PartnerAction(action)).await,
        Err(body) => error(body.code, body.message),
    }
}

/// `POST /admin/props`.
pub async fn grant_props(
    State(state): State<OpsState>,
    payload: Result<Json<GrantProps>, JsonRejection>,
) -> Response {
    match body(payload) {
        Ok(grant) => call_game(&state, AdminOp::GrantProps(grant)).await,
        Err(body) => error(body.code, body.message),
    }
}

/// `POST /admin/clock/advance`: 409 unless the server runs `--clock manual`.
pub async fn advance_clock(
    State(state): State<OpsState>,
    payload: Result<Json<ClockAdvance>, JsonRejection>,
) -> Response {
    match body(payload) {
        Ok(advance) => call_game(&state, AdminOp::AdvanceClock(advance.ms)).await,
        Err(body) => error(body.code, body.message),
    }
}

/// `POST /admin/revoke-tokens` with `{"player_id": N}`: revokes every session token
/// of the player and closes their sessions; answers `{"revoked": <tokens>}`.
pub async fn revoke_tokens(
    State(state): State<OpsState>,
    payload: Result<Json<RevokeTokens>, JsonRejection>,
) -> Response {
    match body(payload) {
        Ok(revoke) => call_game(&state, AdminOp::RevokeTokens(revoke.player_id)).await,
        Err(body) => error(body.code, body.message),
    }
}

/// How many calls `GET /admin/audit-log` answers unless `?limit=` says otherwise.
const AUDIT_LOG_PAGE: usize = 100;

/// The `limit` of a `?limit=N` query (the only parameter `GET /admin/audit-log` takes).
fn limit_of(query: Option<&str>) -> Result<usize, ErrorBody> {
    let Some(query) = query.filter(|query| !query.is_empty()) else {
        return Ok(AUDIT_LOG_PAGE);
    };
    query
        .strip_prefix("limit=")
        .and_then(|limit| limit.parse().ok())
        .ok_or_else(|| {
            ErrorBody::new(
                ErrorCode::BadRequest,
                "the only query is `?limit=N` (a whole number of calls)",
            )
        })
}

/// `GET /admin/audit-log?limit=N`: the newest ops calls (100 by default), newest first,
/// read off the async threads.
pub async fn audit_log(State(state): State<OpsState>, uri: Uri) -> Response {
    let limit = match limit_of(uri.query()) {
        Ok(limit) => limit,
        Err(body) => return error(body.code, body.message),
    };
    let store = state.store.clone();
    match tokio::task::spawn_blocking(move || store.ops_calls(limit)).await {
        Ok(Ok(calls)) => Json(AuditLog { calls }).into_response(),
        Ok(Err(err)) => error(ErrorCode::Internal, err.to_string()),
        Err(_) => error(ErrorCode::Internal, "reading the audit log panicked"),
    }
}

/// `GET /admin/audit`: the conservation identities over the whole world and ledger.
/// With `?cluster=true` (cluster mode), over every shard and the transfers in flight
/// between them. Read-only, so any role may call it.
pub async fn audit(State(state): State<OpsState>, uri: Uri) -> Response {
    match uri.query().filter(|query| !query.is_empty()) {
        None | Some("cluster=false") => call_game(&state, AdminOp::Audit).await,
        Some("cluster=true") => match &state.cluster_audit {
            Some(auditor) => match auditor.audit().await {
                Ok(report) => Json(report).into_response(),
                Err(err) => error(ErrorCode::Internal, format!("{err:#}")),
            },
            None => error(
                ErrorCode::Conflict,
                "this server runs alone (cluster mode is off): its audit is the whole world",
            ),
        },
        Some(_) => error(
            ErrorCode::BadRequest,
            "the only query is `?cluster=true` (every shard of the cluster)",
        ),
    }
}

/// `POST /admin/reload`: 200, or 400 naming the config error (the old config stays).
pub async fn reload(State(state): State<OpsState>) -> Response {
    match super::reload_config(&state) {
        Ok(()) => json_text(r#"{"reloaded":true}"#.to_owned()),
        Err(err) => error(ErrorCode::BadRequest, err.to_string()),
    }
}

/// `POST /admin/tick-rate` with `{"hz": 1–120}`.
pub async fn tick_rate(
    State(state): State<OpsState>,
    payload: Result<Json<TickRate>, JsonRejection>,
) -> Response {
    let rate = match body(payload) {
        Ok(rate) => rate,
        Err(body) => return error(body.code, body.message),
    };
    if !(1..=120).contains(&rate.hz) {
        return error(ErrorCode::BadRequest, "`hz` must be 1–120");
    }
    if state.game.control(Control::TickRate(rate.hz)).is_err() {
        return error(ErrorCode::ShuttingDown, "the server is stopping");
    }
    json_text(format!(r#"{{"hz":{}}}"#, rate.hz))
}

/// `POST /admin/backup` with `{"to": "/abs/path"}`: writes a consistent copy of the
/// store to that new file on a blocking thread, while the game keeps committing (see
/// `store/backup.rs`), and answers with what it wrote. Admin only: it writes a file on
/// the server's machine.
pub async fn backup(
    State(state): State<OpsState>,
    payload: Result<Json<BackupRequest>, JsonRejection>,
) -> Response {
    let to = match body(payload) {
        Ok(request) => PathBuf::from(request.to),
        Err(body) => return error(body.code, body.message),
    };
    if !to.is_absolute() {
        return error(
            ErrorCode::BadRequest,
            "`to` must be an absolute path: the server writes the file, and a relative path \
             would depend on the server's working directory",
        );
    }
    let store = state.store.clone();
    match tokio::task::spawn_blocking(move || store.backup(&to)).await {
        Ok(Ok(report)) => {
            tracing::info!(
                path = %report.path,
                bytes = report.bytes,
                records = report.records,
                commits_replayed = report.commits_replayed,
                "backup written"
            );
            Json(report).into_response()
        }
        Ok(Err(err)) => {
            tracing::error!(%err, "backup failed");
            let code = match err {
                BackupError::Busy | BackupError::TargetExists(_) => ErrorCode::Conflict,
                BackupError::Store(_) | BackupError::Unsupported => ErrorCode::Internal,
                _ => ErrorCode::BadRequest,
            };
            error(code, err.to_string())
        }
        Err(_) => error(ErrorCode::Internal, "the backup task panicked"),
    }
}
