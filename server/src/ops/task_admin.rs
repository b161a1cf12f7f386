//! Ops calls of the task center (behind the role gates of `ops/mod.rs`): publish a
//! task, change its status, confirm a completion of an ops task, list every task. In
//! cluster mode tasks and status changes are published to every shard, and completions
//! are applied by the player's shard, from its allotments (`cluster::ops_completions`).

use super::OpsState;
use super::admin::{answered, ask_game, body, call_game, error};
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
    let new = match body(payload) {
        Ok(new) => new,
        Err(body) => return error(body.code, body.message),
    };
    let answer = ask_game(&state, AdminOp::TaskCreate(Box::new(new))).await;
    answered(match (&state.cluster_services, answer) {
        (Some(cluster), Ok(text)) => cluster.budgets.publish(&text).await.map(|()| text),
        (_, answer) => answer,
    })
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
    let change = match body(payload) {
        Ok(change) => change,
        Err(body) => return error(body.code, body.message),
    };
    let (task, status) = (TaskId(id), change.status);
    let answer = ask_game(&state, AdminOp::TaskSetStatus(task, status)).await;
    answered(match (&state.cluster_services, answer) {
        (Some(cluster), Ok(text)) => cluster
            .budgets
            .publish_status(task, status)
            .await
            .map(|()| text),
        (_, answer) => answer,
    })
}

/// `POST /admin/tasks/{id}/complete`.
pub async fn complete(
    State(state): State<OpsState>,
    Path(id): Path<u64>,
    payload: Result<Json<CompleteTask>, JsonRejection>,
) -> Response {
    let completion = match body(payload) {
        Ok(completion) => completion,
        Err(body) => return error(body.code, body.message),
    };
    let (task, player) = (TaskId(id), completion.player_id);
    match &state.cluster_services {
        Some(cluster) => answered(cluster.completions.complete(task, player).await),
        None => call_game(&state, AdminOp::TaskComplete(task, player)).await,
    }
}
