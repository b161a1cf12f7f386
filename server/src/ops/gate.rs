//! The gate in front of each role's routes: it names the caller from the bearer token
//! (among the tokens of the config in force, so a reload rotates them at once) and lets
//! the call through only with a role high enough, so no handler checks roles itself.
//! A refusal answers 401 (missing or unknown token) or 403 (too low a role).

use super::OpsState;
use super::auth::{self, Role};
use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};

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

/// Lets the call through to its handler, or refuses it.
async fn admit(State(gate): State<Gate>, request: Request, next: Next) -> Response {
    let config = gate.state.config.borrow().clone();
    match auth::authorize(&config, auth::bearer(request.headers()), gate.needed) {
        Ok(_) => next.run(request).await,
        Err(refusal) => refusal.into_response(),
    }
}
