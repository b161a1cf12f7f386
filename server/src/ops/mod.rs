//! The ops HTTP surface (default port 7879): health, Prometheus metrics and the admin
//! calls. Health, metrics and the browser client are open; `/admin/*` calls need
//! `Authorization: Bearer <ops token>` with a role high enough for the call (see
//! [`auth`]); a player token never works here because no ops token is a player's.

mod admin;
pub mod auth;
mod campaign_admin;
mod gate;
mod partner_admin;
mod partner_api;
pub mod partner_gate;
mod risk;
mod task_admin;
mod web;

use crate::config::Config;
use crate::game_loop::GameHandle;
use crate::metrics::Metrics;
use crate::store::Store;
use auth::Role;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use canopy_shared::admin::ClusterView;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::watch;

/// What the ops handlers share.
#[derive(Clone)]
pub struct OpsState {
    /// The way to the game thread.
    pub game: GameHandle,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// The config in force; reload publishes a new one here.
    pub config: Arc<watch::Sender<Arc<Config>>>,
    /// The config file to reload from (`None`: the embedded default).
    pub config_path: Option<PathBuf>,
    /// The store, for backups: they read it off the game thread.
    pub store: Arc<dyn Store>,
    /// The game and ops addresses, so a reload cannot bring back the default token on
    /// a public one.
    pub listening: Vec<SocketAddr>,
    /// TLS of both listeners, whose certificate a reload reads again.
    pub tls: Arc<crate::tls::Tls>,
    /// Rate buckets and recent signatures of partner calls.
    pub partner_gate: Arc<partner_gate::PartnerGate>,
    /// The risk graph analysis: its latest report, and a run on demand.
    pub risk_graph: crate::risk_graph::GraphHandle,
    /// In cluster mode, this shard's place and the shard map it follows.
    pub cluster: Option<crate::cluster::Router>,
    /// Cluster mode: the cluster-wide audit (`GET /admin/audit?cluster=true`).
    pub cluster_audit: Option<crate::cluster::ClusterAuditor>,
    /// Cluster mode: task budgets and the partner registry across the shards.
    pub cluster_services: Option<crate::cluster::Services>,
    /// Cluster mode: the review queue of every shard (`?cluster=true`, reviews of
    /// other shards' flags forwarded to them).
    pub cluster_risk: Option<crate::cluster::ClusterRisk>,
}

/// The ops router: open routes, then each role's routes behind its gate.
pub fn router(state: OpsState) -> Router {
    let admin = Router::new()
        .route("/admin/actions", post(admin::partner_action))
        .route("/admin/props", post(admin::grant_props))
        .route("/admin/clock/advance", post(admin::advance_clock))
        .route("/admin/reload", post(admin::reload))
        .route("/admin/tick-rate", post(admin::tick_rate))
        .route("/admin/backup", post(admin::backup))
        .route("/admin/revoke-tokens", post(admin::revoke_tokens))
        .route("/admin/audit-log", get(admin::audit_log))
        .route("/admin/partners", post(partner_admin::add))
        .route(
            "/admin/partners/{id}/rotate-key",
            post(partner_admin::rotate_key),
        )
        .route("/admin/partners/{id}/suspend", post(partner_admin::suspend))
        .route(
            "/admin/partners/{id}/activate",
            post(partner_admin::activate),
        )
        .route("/admin/tasks", post(task_admin::create))
        .route("/admin/tasks/{id}/status", post(task_admin::set_status))
        .route("/admin/tasks/{id}/complete", post(task_admin::complete))
        .route("/admin/campaigns", post(campaign_admin::create))
        .route("/admin/campaigns/{id}/close", post(campaign_admin::close));
    let reviewer = Router::new()
        .route("/admin/risk/flags", get(risk::flags))
        .route("/admin/risk/flags/{id}/release", post(risk::release))
        .route("/admin/risk/flags/{id}/confirm", post(risk::confirm))
        .route("/admin/risk/graph", get(risk::graph))
        .route("/admin/risk/graph/run", post(risk::run_graph));
    let viewer = Router::new()
        .route("/admin/audit", get(admin::audit))
        .route("/admin/partners", get(partner_admin::list))
        .route("/admin/partners/{id}/audit", get(partner_admin::audit))
        .route("/admin/tasks", get(task_admin::list))
        .route("/admin/campaigns", get(campaign_admin::list));
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/cluster", get(cluster_view))
        .route("/partner/v1/actions", post(partner_api::report_action))
        .route("/partner/v1/tasks", post(partner_api::create_task))
        .route(
            "/partner/v1/tasks/{id}/status",
            post(partner_api::set_task_status),
        )
        .route(
            "/partner/v1/tasks/{id}/complete",
            post(partner_api::complete_task),
        )
        .merge(gate::behind(Role::Admin, admin, &state))
        .merge(gate::behind(Role::Reviewer, reviewer, &state))
        .merge(gate::behind(Role::Viewer, viewer, &state))
        .merge(web::routes())
        .with_state(state)
}

/// 200 `ok`, or 503 once the store failed and changes are refused.
async fn healthz(State(state): State<OpsState>) -> impl IntoResponse {
    if state.metrics.store_failed.get() != 0 {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "store failed: changes are refused until a restart\n",
        );
    }
    (StatusCode::OK, "ok\n")
}

async fn metrics(State(state): State<OpsState>) -> impl IntoResponse {
    (
        [(
            "content-type",
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
}

/// Where the shards are. Open like `/healthz`: the same URLs reach any client in
/// `WRONG_SHARD` redirects.
async fn cluster_view(State(state): State<OpsState>) -> axum::Json<ClusterView> {
    axum::Json(match &state.cluster {
        Some(router) => {
            let (partition, map) = router.view();
            ClusterView {
                shard: partition.shard,
                shards: partition.shards,
                epoch: map.epoch,
                urls: map.urls,
            }
        }
        None => ClusterView {
            shard: 0,
            shards: 1,
            epoch: 0,
            urls: std::collections::BTreeMap::new(),
        },
    })
}

/// Reloads the config file (and `CANOPY_*` variables), publishing it on success.
pub fn reload_config(state: &OpsState) -> Result<(), crate::config::ConfigError> {
    let current = state.config.borrow().clone();
    let fresh = Config::load(state.config_path.as_deref(), std::env::vars())?
        .keeping_restart_fields(&current);
    auth::refuse_default_token_beyond_loopback(&fresh, &state.listening)?;
    state
        .tls
        .reload(&fresh)
        .map_err(|reason| crate::config::ConfigError::Invalid {
            field: "tls".to_owned(),
            reason,
        })?;
    let fresh = Arc::new(fresh);
    // A closed game thread means the server is stopping; the reload is moot then.
    let _ = state
        .game
        .control(crate::game_loop::Control::Reload(fresh.clone()));
    state.config.send_replace(fresh);
    tracing::info!("config reloaded");
    Ok(())
}
