//! Ops calls of the task center (behind the role gates of `ops/mod.rs`): publish a
//! task, change its status, confirm a completion of an ops task, list every task.

use super::OpsState;
use super::admin::{body, call_game, error};
use crate::game::AdminOp;
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::response::Response;
use canopy_shared::TaskId;
use canopy_shared::task::{CompleteTask, NewTask, TaskStatusChange};

/// `POST /admin/tasks`.
pub async fn create(
    State(state): State<OpsState>,
    payload: Result<Json<NewTask>, JsonRejection>,
) -> Response {
    match body(payload) {
        Ok(new) => call_game(&state, AdminOp::TaskCreate(Box::new(new))).await,
        Err(body) => error(body.code, body.message),
    }
}

/// `GET /admin/tasks`.
pub async fn list(State(state): State<OpsState>) -> Response {
    call_game(&state, AdminOp::TaskList).await
}

/// `POST /admin/tasks/{id}/status`.
pub async fn set_status(
    State(state): State<OpsState>,
    Path(id): Path<u64>,
    payload: Result<Json<TaskStatusChange>, JsonRejection>,
) -> Response {
    match body(payload) {
        Ok(change) => call_game(&state, AdminOp::TaskSetStatus(TaskId(id), change.status)).await,
        Err(body) => error(body.code, body.message),
    }
}

/// `POST /admin/tasks/{id}/complete`.
pub async fn complete(
    State(state): State<OpsState>,
    Path(id): Path<u64>,
    payload: Result<Json<CompleteTask>, JsonRejection>,
) -> Response {
    match body(payload) {
        Ok(completion) => {
            call_game(
                &state,
                AdminOp::TaskComplete(TaskId(id), completion.player_id),
            )
            .await
        }
        Err(body) => error(body.code, body.message),
    }
}
