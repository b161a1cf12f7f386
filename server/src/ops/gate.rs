//! The gate in front of each role's routes: it names the caller from the bearer token
//! (among the tokens of the config in force, so a reload rotates them at once), lets
//! the call through only with a role high enough, so no handler checks roles itself,
//! and records every call it sees, refused or not, in the audit log of the store.
//! A refusal answers 401 (missing or unknown token) or 403 (too low a role).

use super::OpsState;
use super::admin::error;
use super::auth::{self, Refusal, Role};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use canopy_shared::ErrorCode;
use canopy_shared::admin::OpsCall;

/// The largest ops request body read (admin bodies are a few hundred bytes).
const MAX_BODY_BYTES: usize = 64 * 1024;

/// How much of a body the audit log keeps.
const LOGGED_BODY_BYTES: usize = 512;

/// What a gate knows: the shared state and the role its routes need.
#[derive(Clone)]
struct Gate {
    state: OpsState,
    needed: Role,
}

/// `routes`, each reachable only with a token holding `needed` (or a higher role).
pub fn behind(needed: Role, routes: Router<OpsState>, state: &OpsState) -> Router<OpsState> {
    let gate = Gate {
        state: state.clone(),
        needed,
    };
    routes.route_layer(middleware::from_fn_with_state(gate, admit))
}

/// Lets the call through to its handler or refuses it, then records it.
async fn admit(State(gate): State<Gate>, request: Request, next: Next) -> Response {
    let config = gate.state.config.borrow().clone();
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, MAX_BODY_BYTES).await else {
        return error(
            ErrorCode::BadRequest,
            format!("an ops request body holds at most {MAX_BODY_BYTES} bytes"),
        );
    };
    let verdict = auth::authorize(&config, auth::bearer(&parts.headers), gate.needed);
    let token = match &verdict {
        Ok(caller) => Some(caller.name.clone()),
        Err(Refusal::Forbidden { name, .. }) => Some(name.clone()),
        Err(Refusal::Unknown) => None,
    };
    let mut call = OpsCall {
        at: wall_now(),
        token,
        method: parts.method.to_string(),
        path: parts.uri.path_and_query().map_or_else(
            || parts.uri.path().to_owned(),
            |path| path.as_str().to_owned(),
        ),
        body: logged_body(&body),
        status: 0,
    };
    let response = match verdict {
        Ok(_) => next.run(Request::from_parts(parts, Body::from(body))).await,
        Err(refusal) => refusal.into_response(),
    };
    call.status = response.status().as_u16();
    record(&gate.state, call, config.ops.audit_log_keep).await;
    response
}

/// The start of a body, as text, for the log.
fn logged_body(body: &Bytes) -> String {
    let kept = &body[..body.len().min(LOGGED_BODY_BYTES)];
    String::from_utf8_lossy(kept).into_owned()
}

/// Milliseconds since the Unix epoch on the machine's clock (not the game clock: the
/// log says when an operator acted).
fn wall_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| {
            u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
        })
}

/// Writes the call to the store's audit log (off the async threads) and to the log. A
/// failed write is logged; the call itself has happened either way.
async fn record(state: &OpsState, call: OpsCall, keep: usize) {
    tracing::info!(
        token = call.token.as_deref().unwrap_or("-"),
        method = %call.method,
        path = %call.path,
        status = call.status,
        "ops call"
    );
    let store = state.store.clone();
    match tokio::task::spawn_blocking(move || store.record_ops_call(&call, keep)).await {
        Ok(Ok(())) => {}
        Ok(Err(err)) => tracing::error!(%err, "the ops call could not be added to the audit log"),
        Err(_) => tracing::error!("the audit log write panicked"),
    }
}
