//! The risk review queue over HTTP: list flags, release or confirm one, read or start
//! the graph analysis. They sit behind the `reviewer` gate (so `admin` tokens work too);
//! a viewer may not call them, since flags name players and evidence.

use super::OpsState;
use super::admin::{call_game, error, json_text};
use crate::game::AdminOp;
use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use canopy_shared::risk::{FlagQuery, FlagStatus};
use canopy_shared::{ErrorBody, ErrorCode, FlagId, PlayerId};

/// Reads `status=open|released|confirmed`, `player_id=N` and `cluster=true|false`,
/// refusing anything else; says whether every shard's flags are asked for.
fn parse_query(raw: Option<&str>) -> Result<(FlagQuery, bool), ErrorBody> {
    let mut query = FlagQuery::default();
    let mut cluster = false;
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
            "cluster" => {
                cluster = value.parse().map_err(|_| {
                    ErrorBody::new(
                        ErrorCode::BadRequest,
                        format!("`cluster` must be true or false, not `{value}`"),
                    )
                })?;
            }
            other => {
                return Err(ErrorBody::new(
                    ErrorCode::BadRequest,
                    format!(
                        "unknown query parameter `{other}` (use status, player_id and cluster)"
                    ),
                ));
            }
        }
    }
    Ok((query, cluster))
}

/// `GET /admin/risk/flags?status=open&player_id=N&cluster=true`: this shard's flags,
/// or with `cluster=true` every shard's (a server alone is its whole cluster).
pub async fn flags(State(state): State<OpsState>, RawQuery(raw): RawQuery) -> Response {
    match (parse_query(raw.as_deref()), &state.cluster_risk) {
        (Ok((query, true)), Some(cluster)) => match cluster.flags(&query).await {
            Ok(list) => Json(list).into_response(),
            Err(err) => error(ErrorCode::Internal, format!("{err:#}")),
        },
        (Ok((query, _)), _) => call_game(&state, AdminOp::RiskFlags(query)).await,
        (Err(body), _) => error(body.code, body.message),
    }
}

/// Releases or confirms a flag here, or in cluster mode on the shard that holds it
/// (its id says which), answering as that shard does.
async fn review(state: &OpsState, id: &str, to: FlagStatus) -> Response {
    let Ok(id) = id.parse().map(FlagId) else {
        return error(ErrorCode::NotFound, format!("no risk flag `{id}`"));
    };
    match &state.cluster_risk {
        Some(cluster) if !cluster.owns_flag(id) => match cluster.review(id, to).await {
            Ok(text) => json_text(text),
            Err(body) => error(body.code, body.message),
        },
        _ => call_game(state, AdminOp::RiskReview(id, to)).await,
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
        let (query, cluster) = parse_query(Some("status=open&player_id=7")).expect("valid");
        assert_eq!(query.status, Some(FlagStatus::Open));
        assert_eq!(query.player_id, Some(PlayerId(7)));
        assert!(!cluster);
        assert_eq!(
            parse_query(None).expect("empty"),
            (FlagQuery::default(), false)
        );
        assert!(parse_query(Some("cluster=true")).expect("valid").1);
        for (raw, named) in [
            ("status=shut", "status"),
            ("player_id=x", "player_id"),
            ("cluster=all", "cluster"),
            ("rule=ring", "rule"),
        ] {
            let err = parse_query(Some(raw)).expect_err("refused");
            assert_eq!(err.code, ErrorCode::BadRequest);
            assert!(err.message.contains(named), "{raw}: {}", err.message);
        }
    }
}
