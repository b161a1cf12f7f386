//! The risk review queue over HTTP: list flags, release or confirm one, read or start
//! the graph analysis. They sit behind the `reviewer` gate (so `admin` tokens work too);
//! a viewer may not call them, since flags name players and evidence.

use super::OpsState;
use super::admin::{call_game, error};
use crate::game::AdminOp;
use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use canopy_shared::risk::{FlagQuery, FlagStatus};
use canopy_shared::{ErrorBody, ErrorCode, FlagId, PlayerId};

/// Reads `status=open|released|confirmed` and `player_id=N`, refusing anything else.
fn parse_query(raw: Option<&str>) -> Result<FlagQuery, ErrorBody> {
    let mut query = FlagQuery::default();
    for pair in raw.unwrap_or("").split('&').filter(|pair| !pair.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        match name {
            "status" => {
                query.status = Some(FlagStatus::parse(value).ok_or_else(|| {
                    ErrorBody::new(
                        ErrorCode::BadRequest,
                        format!("`status` must be open, released or confirmed, not `{value}`"),
                    )
                })?);
            }
            "player_id" => {
                query.player_id = Some(PlayerId(value.parse().map_err(|_| {
                    ErrorBody::new(
                        ErrorCode::BadRequest,
                        format!("`player_id` must be a player id, not `{value}`"),
                    )
                })?));
            }
            other => {
                return Err(ErrorBody::new(
                    ErrorCode::BadRequest,
                    format!("unknown query parameter `{other}` (use status and player_id)"),
                ));
            }
        }
    }
    Ok(query)
}

/// `GET /admin/risk/flags?status=open&player_id=N`.
pub async fn flags(State(state): State<OpsState>, RawQuery(raw): RawQuery) -> Response {
    match parse_query(raw.as_deref()) {
        Ok(query) => call_game(&state, AdminOp::RiskFlags(query)).await,
        Err(body) => error(body.code, body.message),
    }
}

async fn review(state: &OpsState, id: &str, to: FlagStatus) -> Response {
    match id.parse() {
        Ok(id) => call_game(state, AdminOp::RiskReview(FlagId(id), to)).await,
        Err(_) => error(ErrorCode::NotFound, format!("no risk flag `{id}`")),
    }
}

/// `POST /admin/risk/flags/{id}/release`: the held energy goes to the player.
pub async fn release(State(state): State<OpsState>, Path(id): Path<String>) -> Response {
    review(&state, &id, FlagStatus::Released).await
}

/// `POST /admin/risk/flags/{id}/confirm`: the held energy is forfeited.
pub async fn confirm(State(state): State<OpsState>, Path(id): Path<String>) -> Response {
    review(&state, &id, FlagStatus::Confirmed).await
}

/// `GET /admin/risk/graph`: the latest graph analysis (`ran_at` 0 before the first).
pub async fn graph(State(state): State<OpsState>) -> Response {
    Json(state.risk_graph.latest()).into_response()
}

/// `POST /admin/risk/graph/run`: starts an analysis now; 202, and its report replaces
/// the latest when done.
pub async fn run_graph(State(state): State<OpsState>) -> Response {
    state.risk_graph.run_now();
    (
        StatusCode::ACCEPTED,
        Json(serde_json::json!({"started": true})),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_queries_parse_and_bad_ones_are_named() {
        let query = parse_query(Some("status=open&player_id=7")).expect("valid");
        assert_eq!(query.status, Some(FlagStatus::Open));
        assert_eq!(query.player_id, Some(PlayerId(7)));
        assert_eq!(parse_query(None).expect("empty"), FlagQuery::default());
        for (raw, named) in [
            ("status=shut", "status"),
            ("player_id=x", "player_id"),
            ("rule=ring", "rule"),
        ] {
            let err = parse_query(Some(raw)).expect_err("refused");
            assert_eq!(err.code, ErrorCode::BadRequest);
            assert!(err.message.contains(named), "{raw}: {}", err.message);
        }
    }
}
